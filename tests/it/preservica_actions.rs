//! The Preservica emulator's links, event actions and added access representations, over raw
//! HTTP as pyPreservica drives them (the conformance script drives pyPreservica itself).

use ferry::preservica::emulator::{self, EmulatorOptions, PreservicaEmulator};
use ferry::preservica::wire::Version;
use ferry::xml::{self, Element};
use reqwest::Method;

async fn emulator(version: Version, assets: usize) -> PreservicaEmulator {
    emulator::start(
        EmulatorOptions {
            version,
            seed_assets: assets,
            ..EmulatorOptions::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("the emulator starts")
}

/// An Entity API session on the emulator as its own user.
struct Api {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn new(emu: &PreservicaEmulator) -> Api {
        let o = emu.options();
        let http = reqwest::Client::new();
        let v: serde_json::Value = http
            .post(format!("{}/api/accesstoken/login", emu.url()))
            .form(&[
                ("username", o.username.as_str()),
                ("password", o.password.as_str()),
                ("tenant", o.tenant.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            url: format!("{}/api/entity", emu.url()),
            token: v["token"].as_str().unwrap().to_string(),
            http,
        }
    }

    /// `method` on `path` (below `/api/entity`, or an absolute URL): (status, body).
    async fn call(&self, method: Method, path: &str, body: impl Into<Vec<u8>>) -> (u16, String) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.url)
        };
        let resp = self
            .http
            .request(method, url)
            .header("Preservica-Access-Token", &self.token)
            .body(body.into())
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// A GET that must answer 200 with XML.
    async fn get_xml(&self, path: &str) -> Element {
        let (status, body) = self.call(Method::GET, path, "").await;
        assert_eq!(status, 200, "GET {path}: {body}");
        xml::parse(&body).unwrap().root
    }
}

fn all<'a>(root: &'a Element, local: &str) -> Vec<&'a Element> {
    root.descendants()
        .into_iter()
        .filter(|e| e.local == local)
        .collect()
}

fn texts(root: &Element, local: &str) -> Vec<String> {
    all(root, local).iter().map(|e| e.text.clone()).collect()
}

fn link_body(link_type: &str, from: &str, to: &str) -> String {
    format!(
        r#"<Link  xmlns="http://preservica.com/XIP/v7.7"><Type>{link_type}</Type><FromEntity>{from}</FromEntity><ToEntity>{to}</ToEntity></Link >"#
    )
}

/// (linkType, linkDirection, ref, type, apiId) of each link listed for an entity.
async fn links_of(api: &Api, path: &str) -> Vec<[String; 5]> {
    let root = api.get_xml(&format!("{path}/links")).await;
    all(&root, "Link")
        .iter()
        .map(|l| {
            ["linkType", "linkDirection", "ref", "type", "apiId"]
                .map(|a| l.attr(a).unwrap_or_default().to_string())
        })
        .collect()
}

#[tokio::test]
async fn links_are_seen_from_both_ends_and_bad_links_refused() {
    let emu = emulator(Version::new(7, 7, 0), 2).await;
    let api = Api::new(&emu).await;
    let refs = emu.asset_refs();
    let (a, b) = (refs[0].clone(), refs[1].clone());
    let (io_a, io_b) = (
        format!("/information-objects/{a}"),
        format!("/information-objects/{b}"),
    );
    let rep = api
        .get_xml(&format!("{io_a}/representations/Preservation/1"))
        .await;
    let co = texts(&rep, "ContentObject")[0].clone();
    let refs_type = "http://purl.org/dc/terms/references";

    let (status, body) = api
        .call(
            Method::POST,
            &format!("{io_a}/links"),
            link_body(refs_type, &a, &b),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let root = xml::parse(&body).unwrap().root;
    let link = root.child("Link").unwrap();
    assert_eq!(
        link.namespace.as_deref(),
        Some("http://preservica.com/XIP/v7.7")
    );
    assert_eq!(link.child_text("Type").as_deref(), Some(refs_type));
    let self_url = root.path(&["AdditionalInformation", "Self"]).unwrap();
    let api_id = self_url.text.rsplit('/').next().unwrap().to_string();
    assert!(self_url.text.ends_with(&format!("{io_a}/links/{api_id}")));
    assert_eq!(api.get_xml(&self_url.text).await.child("Link"), Some(link));

    let from = |d: &str, r: &str| [refs_type, d, r, "IO", &api_id].map(str::to_string);
    assert_eq!(links_of(&api, &io_a).await, vec![from("From", &b)]);
    assert_eq!(links_of(&api, &io_b).await, vec![from("To", &a)]);

    // The same link again is the same link.
    let (status, again) = api
        .call(
            Method::POST,
            &format!("{io_a}/links"),
            link_body(refs_type, &a, &b),
        )
        .await;
    assert_eq!((status, again), (200, body));

    for (path, body, reason) in [
        (
            &io_a,
            link_body("t", &b, &a),
            "is not the entity in the URL",
        ),
        (&io_a, link_body("t", &a, &a), "cannot be linked to itself"),
        (&io_a, link_body("t", &a, "no-such-ref"), "does not exist"),
        (
            &io_a,
            link_body("t", &a, &co),
            "content objects cannot be linked",
        ),
        (&io_a, link_body("", &a, &b), "1 to 1024 bytes"),
        (
            &io_a,
            link_body(&"x".repeat(1025), &a, &b),
            "1 to 1024 bytes",
        ),
        (&io_a, link_body("a\tb", &a, &b), "control character"),
        (
            &io_a,
            link_body("t", &a, &b).replace("http://preservica.com/XIP/v7.7", "urn:other"),
            "Preservica XIP namespace",
        ),
        (&io_a, "<Link".to_string(), "malformed XML body"),
        (
            &io_a,
            format!(
                "<Identifier xmlns=\"http://preservica.com/XIP/v7.7\"><Type>{a}</Type></Identifier>"
            ),
            "must be a Link",
        ),
        (
            &io_a,
            "<Link xmlns=\"http://preservica.com/XIP/v7.7\"><Type>t</Type></Link>".to_string(),
            "needs Type, FromEntity and ToEntity",
        ),
        (
            &format!("/content-objects/{co}"),
            link_body("t", &co, &b),
            "content objects cannot be linked",
        ),
    ] {
        let (status, text) = api.call(Method::POST, &format!("{path}/links"), body).await;
        assert_eq!(status, 400, "{reason}: {text}");
        assert!(text.contains(reason), "{reason}: {text}");
    }
    assert_eq!(links_of(&api, &io_a).await.len(), 1);
    let far = api
        .get_xml(&format!("{io_a}/links?start={}&max=1000", usize::MAX))
        .await;
    assert!(all(&far, "Link").is_empty());

    // Deleted through the target's end: gone from both; a second delete finds nothing.
    let gone = format!("{io_b}/links/{api_id}");
    assert_eq!(api.call(Method::DELETE, &gone, "").await.0, 204);
    assert!(links_of(&api, &io_a).await.is_empty());
    assert!(links_of(&api, &io_b).await.is_empty());
    assert_eq!(api.call(Method::DELETE, &gone, "").await.0, 404);
}

/// Every `(commandType, Event type)` in an `EventActionsResponse`.
fn actions(root: &Element) -> Vec<(String, String)> {
    all(root, "EventAction")
        .iter()
        .map(|a| {
            let event = a.child("Event").unwrap();
            (
                a.attr("commandType").unwrap().to_string(),
                event.attr("type").unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn event_actions_record_every_change_in_the_version_namespaces() {
    for version in [Version::new(7, 7, 0), Version::new(8, 1, 0)] {
        let emu = emulator(version, 2).await;
        let api = Api::new(&emu).await;
        let xip = format!("http://preservica.com/XIP/v{}", version.api());
        let a = emu.asset_refs()[0].clone();
        let io = format!("/information-objects/{a}");
        let root_folder = emu.folder_refs(None)[0].clone();
        let other = emu.add_folder(Some(&root_folder), "Elsewhere");
        let changes = [
            (
                Method::PUT,
                io.clone(),
                format!(
                    "<InformationObject xmlns=\"{xip}\"><Ref>{a}</Ref><Title>New title</Title><SecurityTag>open</SecurityTag></InformationObject>"
                ),
            ),
            (
                Method::POST,
                format!("{io}/metadata"),
                format!(
                    "<MetadataContainer xmlns=\"{xip}\" schemaUri=\"urn:t\"><Entity>{a}</Entity><Content><t:doc xmlns:t=\"urn:t\"/></Content></MetadataContainer>"
                ),
            ),
            (
                Method::PUT,
                format!("{io}/security-descriptor"),
                "closed".into(),
            ),
            (Method::PUT, format!("{io}/parent-ref"), other.clone()),
            (
                Method::POST,
                format!("{io}/identifiers"),
                format!(
                    "<Identifier xmlns=\"{xip}\"><Type>t</Type><Value>v</Value><Entity>{a}</Entity></Identifier>"
                ),
            ),
        ];
        for (method, path, body) in changes {
            let (status, text) = api.call(method, &path, body).await;
            assert!(status == 200 || status == 202, "{path}: {status} {text}");
        }
        let wanted = [
            ("command_create", "Ingest"),
            ("UpdateEntity", "Modified"),
            ("AddMetadata", "Modified"),
            ("UpdateSecurityDescriptor", "Modified"),
            ("MoveEntity", "Moved"),
            ("AddIdentifier", "Modified"),
        ]
        .map(|(c, t)| (c.to_string(), t.to_string()));
        let root = api.get_xml(&format!("{io}/event-actions")).await;
        assert_eq!(
            root.namespace.as_deref(),
            Some(format!("http://preservica.com/EntityAPI/v{}", version.api()).as_str())
        );
        assert_eq!(actions(&root), wanted);
        for action in all(&root, "EventAction") {
            assert_eq!(action.namespace.as_deref(), Some(xip.as_str()));
            assert_eq!(action.child_text("Entity").as_deref(), Some(a.as_str()));
            let event = action.child("Event").unwrap();
            assert_eq!(
                event.child_text("User").as_deref(),
                Some(emu.options().username.as_str())
            );
            assert_eq!(event.child_text("Date"), action.child_text("Date"));
        }
        assert_eq!(texts(&root, "TotalResults"), ["6"]);
        assert!(texts(&root, "Next").is_empty());

        // Paged: the Next URL carries on where the page stopped.
        let page = api
            .get_xml(&format!("{io}/event-actions?start=0&max=4"))
            .await;
        assert_eq!(actions(&page), wanted[..4]);
        let next = texts(&page, "Next").pop().expect("a Next link");
        let rest = api.get_xml(&next).await;
        assert_eq!(actions(&rest), wanted[4..]);
        assert!(texts(&rest, "Next").is_empty());
        // A page far past the end is empty, not an overflow.
        let far = api
            .get_xml(&format!("{io}/event-actions?start={}", usize::MAX))
            .await;
        assert!(actions(&far).is_empty());
        assert_eq!(texts(&far, "TotalResults"), ["6"]);

        // One event by its ref.
        let refs = texts(&root, "Ref");
        let moved = api
            .get_xml(&format!("/events/{}/event-actions", refs[4]))
            .await;
        assert_eq!(actions(&moved), wanted[4..5]);
        assert_eq!(texts(&moved, "Entity"), std::slice::from_ref(&a));

        // The repository-wide list and its filters.
        let moves = api.get_xml("/events?types=Moved").await;
        assert_eq!(texts(&moves, "Ref"), [refs[4].clone()]);
        let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
        let recent = api
            .get_xml(&format!(
                "/events?from={}",
                url::form_urlencoded::byte_serialize(since.as_bytes()).collect::<String>()
            ))
            .await;
        // The new folder's creation and the five changes; the seeded creations are from 2024.
        assert_eq!(all(&recent, "Event").len(), 6);
        assert!(all(&api.get_xml("/events?username=someone-else").await, "Event").is_empty());
        for (path, status, reason) in [
            (
                "/events?from=yesterday",
                400,
                "from must be an ISO-8601 date",
            ),
            (
                &format!("{io}/event-actions?start=x") as &str,
                400,
                "start must be a whole number",
            ),
            ("/events/not-an-event/event-actions", 404, "no event"),
        ] {
            let (got, text) = api.call(Method::GET, path, "").await;
            assert_eq!(got, status, "{path}: {text}");
            assert!(text.contains(reason), "{path}: {text}");
        }
        emu.stop().await;
    }
}

/// (type, name, URL) of each representation of an asset.
async fn representations(api: &Api, io: &str) -> Vec<(String, String, String)> {
    let root = api.get_xml(&format!("{io}/representations")).await;
    all(&root, "Representation")
        .iter()
        .map(|r| {
            (
                r.attr("type").unwrap().to_string(),
                r.attr("name").unwrap().to_string(),
                r.text.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_access_copy_is_added_read_back_and_bad_uploads_refused() {
    use sha2::Digest;
    let emu = emulator(Version::new(8, 1, 0), 2).await;
    let api = Api::new(&emu).await;
    let a = emu.asset_refs()[0].clone();
    let io = format!("/information-objects/{a}");
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let add = |query: &str| format!("{io}/representations?{query}");

    let (status, token) = api
        .call(
            Method::POST,
            &add("type=Access&name=Web%20copy&filename=web.jpg"),
            bytes.clone(),
        )
        .await;
    assert_eq!(status, 202, "{token}");
    assert!(!token.trim().is_empty());
    let reps = representations(&api, &io).await;
    assert_eq!(
        reps.iter()
            .map(|(t, n, _)| (t.as_str(), n.as_str()))
            .collect::<Vec<_>>(),
        [("Preservation", "Preservation"), ("Access", "Web copy")]
    );
    assert!(
        reps[1]
            .2
            .ends_with(&format!("{io}/representations/Access/1"))
    );

    // representation -> content object -> generation -> bitstream -> content.
    let rep = api.get_xml(&reps[1].2).await;
    let co = texts(&rep, "ContentObject")[0].clone();
    let entity = api.get_xml(&format!("/content-objects/{co}")).await;
    assert_eq!(texts(&entity, "Title"), ["web.jpg"]);
    assert_eq!(texts(&entity, "Parent")[0], a);
    let generation = api
        .get_xml(&format!("/content-objects/{co}/generations/1"))
        .await;
    let g = generation.child("Generation").unwrap();
    assert_eq!(
        (g.attr("original"), g.attr("active")),
        (Some("true"), Some("true"))
    );
    let bs_url = texts(&generation, "Bitstream").pop().unwrap();
    let bitstream = api.get_xml(&bs_url).await;
    assert_eq!(texts(&bitstream, "FileSize"), [bytes.len().to_string()]);
    let fixities = texts(&bitstream, "FixityValue");
    assert_eq!(fixities[0], hex::encode(sha1::Sha1::digest(&bytes)));
    assert_eq!(fixities[1], hex::encode(sha2::Sha256::digest(&bytes)));
    let content = texts(&bitstream, "Content").pop().unwrap();
    let got = api
        .http
        .get(&content)
        .header("Preservica-Access-Token", &api.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());

    // A second copy is Access/2 and can be renamed by Type_n.
    let second = add("type=Access&filename=small.jpg");
    assert_eq!(api.call(Method::POST, &second, "x").await.0, 202);
    let rename = format!("{io}/representations/Access_2/name?name=Thumbnail");
    assert_eq!(
        api.call(Method::PUT, &rename, "").await,
        (200, "Thumbnail".into())
    );
    let names: Vec<String> = representations(&api, &io)
        .await
        .into_iter()
        .map(|(_, n, _)| n)
        .collect();
    assert_eq!(names, ["Preservation", "Web copy", "Thumbnail"]);

    let folder = emu.folder_refs(None)[0].clone();
    let long = "n".repeat(256);
    for (method, path, body, status, reason) in [
        (
            Method::POST,
            add("filename=a.jpg"),
            "x",
            400,
            "type is required",
        ),
        (
            Method::POST,
            add("type=Preservation&filename=a.jpg"),
            "x",
            400,
            "only Access",
        ),
        (
            Method::POST,
            add("type=Access"),
            "x",
            400,
            "filename is required",
        ),
        (
            Method::POST,
            add("type=Access&filename=..%2Fa.jpg"),
            "x",
            400,
            "plain file name",
        ),
        (
            Method::POST,
            add("type=Access&filename=a%07.jpg"),
            "x",
            400,
            "control character",
        ),
        (
            Method::POST,
            add(&format!("type=Access&filename=a.jpg&name={long}")),
            "x",
            400,
            "1 to 255 bytes",
        ),
        (
            Method::POST,
            add("type=Access&filename=a.jpg"),
            "",
            400,
            "no file content",
        ),
        (
            Method::POST,
            format!("/structural-objects/{folder}/representations?type=Access&filename=a.jpg"),
            "x",
            400,
            "only assets have representations",
        ),
        (
            Method::PUT,
            format!("{io}/representations/Access_0/name?name=x"),
            "",
            400,
            "is not a representation",
        ),
        (
            Method::PUT,
            format!("{io}/representations/Access_9/name?name=x"),
            "",
            404,
            "no representation",
        ),
        (
            Method::PUT,
            format!("{io}/representations/Access/name"),
            "",
            400,
            "name is required",
        ),
    ] {
        let (got, text) = api.call(method, &path, body).await;
        assert_eq!(got, status, "{path}: {text}");
        assert!(text.contains(reason), "{path}: {text}");
    }
    assert_eq!(representations(&api, &io).await.len(), 3);
    let history = api.get_xml(&format!("{io}/event-actions")).await;
    assert_eq!(
        actions(&history)
            .into_iter()
            .map(|(c, _)| c)
            .collect::<Vec<_>>(),
        [
            "command_create",
            "AddRepresentation",
            "AddRepresentation",
            "RenameRepresentation"
        ]
    );
}
