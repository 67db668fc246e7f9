//! Republish checks what it will write before uploading anything (web and command line, one
//! check), previews in the web app like `--dry-run`, and a `--query` republished twice into
//! the same gallery adds nothing the second time.

use crate::helpers::ferry;
use crate::transfer::{Lab, archive_asset, index_everything, jpeg, lab, web_app};

/// Uploads the PhotoShelter emulator has received.
fn uploads(lab: &Lab) -> usize {
    lab.world
        .photoshelter
        .log()
        .entries()
        .iter()
        .filter(|r| r.path.contains("upload"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_refuses_a_campaign_that_is_not_a_preset_and_previews_what_would_go() {
    let mut lab = lab().await;
    let regatta = archive_asset(&lab, "Regatta 1962", "Pier", None, &jpeg(62, 2000));
    index_everything(&mut lab).await;
    let (app, tx) = web_app(&lab).await;
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/?q=regatta+1962", app.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"dry_run\""), "a preview is offered");
    let csrf = crate::server::csrf_of(&page);
    let post = |form: Vec<(&'static str, String)>| {
        http.post(format!("{}/republish", app.url()))
            .header("Origin", app.url())
            .form(&form)
            .send()
    };
    let before = uploads(&lab);
    let refused = post(vec![
        ("ref", regatta.clone()),
        ("gallery", "Web picks".into()),
        ("campaign", "Spring <Sale>".into()),
        ("csrf", csrf.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(!text.contains("<pre"), "{text}");
    assert!(text.contains("Nothing was uploaded"), "{text}");
    // The archive asset's id, whole in the text and the title (the stylesheet shortens it).
    assert!(
        text.contains(&format!("title=\"{regatta}\">{regatta}</code>")),
        "{text}"
    );
    assert!(text.contains("<td>campaign</td>"), "{text}");
    assert!(text.contains("Spring &lt;Sale&gt;"), "escaped: {text}");
    assert!(
        text.contains("Anniversary 2027"),
        "the presets are named: {text}"
    );
    assert_eq!(uploads(&lab), before, "nothing uploaded");
    assert!(
        lab.ps
            .galleries_named("Web picks")
            .await
            .unwrap()
            .is_empty()
    );

    let preview = post(vec![
        ("ref", regatta.clone()),
        ("gallery", "Web picks".into()),
        ("campaign", "Anniversary 2027".into()),
        ("dry_run", "1".into()),
        ("csrf", csrf.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(preview.status(), 200);
    let text = preview.text().await.unwrap();
    assert!(text.contains("dry run: 1 to move"), "{text}");
    // The archive asset's id, whole in the text and the title (the stylesheet shortens it).
    assert!(
        text.contains(&format!("title=\"{regatta}\">{regatta}</code>")),
        "{text}"
    );
    assert!(text.contains("Regatta 1962.tif"), "{text}");
    assert!(text.contains("would be uploaded"), "{text}");
    // The picture that would be sent, as a thumbnail beside its row.
    assert!(
        text.contains("/thumb/small\" width=\"64\" height=\"48\" loading=\"lazy\" alt=\"the picture that will be sent\""),
        "{text}"
    );
    assert_eq!(uploads(&lab), before, "a preview uploads nothing");
    assert!(
        lab.ps
            .galleries_named("Web picks")
            .await
            .unwrap()
            .is_empty()
    );
    let _ = tx.send(());
    app.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_refuses_the_same_value_before_uploading_with_exit_2() {
    let mut lab = lab().await;
    let regatta = archive_asset(&lab, "Regatta 1962", "Pier", None, &jpeg(62, 2000));
    index_everything(&mut lab).await;
    let dir = lab.dir.path().to_path_buf();
    ferry::world::write_config(&dir, &lab.world, "").unwrap();
    let before = uploads(&lab);
    let args = [
        "republish",
        "--ref",
        regatta.as_str(),
        "--to-gallery",
        "Cli picks",
        "--set",
        "campaign=Spring Sale",
    ];
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ferry(&dir, &args, &[])
        }
    })
    .await
    .unwrap();
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains(&format!("asset {regatta} field campaign"))
            && out.stderr.contains("not one of the preset values"),
        "{}",
        out.stderr
    );
    assert_eq!(uploads(&lab), before, "nothing uploaded");
    assert!(
        lab.ps
            .galleries_named("Cli picks")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republishing_a_query_twice_into_one_gallery_adds_nothing_the_second_time() {
    let mut lab = lab().await;
    for i in 0..4u8 {
        archive_asset(
            &lab,
            &format!("Regatta 1962 heat {i}"),
            "The harbour regatta",
            None,
            &jpeg(i, 900),
        );
    }
    index_everything(&mut lab).await;
    let dir = lab.dir.path().to_path_buf();
    ferry::world::write_config(&dir, &lab.world, "").unwrap();
    let run = |dir: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            ferry(
                &dir,
                &[
                    "republish",
                    "--query",
                    "regatta",
                    "--limit",
                    "2",
                    "--to-gallery",
                    "Heats",
                ],
                &[],
            )
        })
    };
    let first = run(dir.clone()).await.unwrap();
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(first.stdout.contains("2 done"), "{}", first.stdout);
    let gallery = lab.ps.galleries_named("Heats").await.unwrap();
    let media = |lab: &Lab| {
        lab.world
            .photoshelter
            .gallery_media(&gallery[0])
            .unwrap()
            .len()
    };
    assert_eq!(media(&lab), 2);
    let before = uploads(&lab);
    let second = run(dir.clone()).await.unwrap();
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(second.stdout.contains("0 done"), "{}", second.stdout);
    assert_eq!(
        second.stdout.matches("already in gallery").count(),
        2,
        "{}",
        second.stdout
    );
    assert_eq!(uploads(&lab), before, "nothing uploaded");
    assert_eq!(media(&lab), 2, "the second run adds nothing");
}
