//! The `ferry` binary as a newcomer runs it: init, mappings check, status, help and exit codes.

use crate::helpers::{ferry, repo_file};
use std::fs;

#[test]
fn init_then_check_then_status_works_in_a_fresh_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferry(dir.path(), &["init", "site"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("wrote site/ferry.toml"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("wrote site/mapping.toml"),
        "{}",
        out.stdout
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("site/mapping.toml")).unwrap(),
        fs::read_to_string(repo_file("mappings/default.toml")).unwrap()
    );

    let out = ferry(
        dir.path(),
        &["--config", "site/ferry.toml", "mappings", "check"],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let table: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        table[0],
        [
            "field",
            "kind",
            "rule",
            "photoshelter",
            "preservica",
            "max",
            "bytes"
        ]
    );
    assert!(table.contains(&vec![
        "keywords",
        "set",
        "union",
        "iptc.keywords",
        "oai_dc:dc:subject",
        "ps",
        "64"
    ]));
    assert!(
        out.stdout
            .contains("20 fields (18 reconciled in both systems)")
    );

    let out = ferry(dir.path(), &["--config", "site/ferry.toml", "status"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("schema version  5"), "{}", out.stdout);
    assert!(out.stdout.contains("runs            0"), "{}", out.stdout);
    assert!(dir.path().join("site/ferry.db").exists());
}

#[test]
fn init_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("site")).unwrap();
    fs::write(dir.path().join("site/mapping.toml"), "mine").unwrap();
    let out = ferry(dir.path(), &["init", "site"], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("site/mapping.toml already exists; ferry init never overwrites files"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("site/ferry.toml").exists());
    assert_eq!(
        fs::read_to_string(dir.path().join("site/mapping.toml")).unwrap(),
        "mine"
    );
}

#[test]
fn an_invalid_mapping_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(repo_file("mappings/default.toml"))
        .unwrap()
        .replacen("rule = \"union\"", "rule = \"merge\"", 1);
    fs::write(dir.path().join("bad.toml"), &text).unwrap();
    let line = text.lines().position(|l| l == "rule = \"merge\"").unwrap() + 1;
    let out = ferry(dir.path(), &["mappings", "check", "bad.toml"], &[]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "error: bad.toml:{line}: field 'keywords': unknown rule 'merge' (expected one of: \
             photoshelter, preservica, newest, union, most_restrictive, manual)"
        )
    );
}

#[test]
fn a_mapping_naming_a_malformed_element_or_unknown_iptc_field_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(repo_file("mappings/default.toml"))
        .unwrap()
        .replacen("element = \"creator\"", "element = \"Head line<>\"", 1)
        .replacen("iptc = \"headline\"", "iptc = \"Head_line\"", 1);
    fs::write(dir.path().join("bad.toml"), &text).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let out = ferry(dir.path(), &["mappings", "check", "bad.toml"], &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "bad.toml:{}: field 'creator': element 'Head line<>' is not an XML name",
            line_of("Head line<>")
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "bad.toml:{}: field 'headline': unknown PhotoShelter IPTC field 'Head_line'",
            line_of("Head_line")
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_store_from_a_newer_ferry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(ferry(dir.path(), &["init", "."], &[]).code, 0);
    let db = dir.path().join("ferry.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let out = ferry(dir.path(), &["status"], &[]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .contains("was written by a newer ferry (schema version 99; this ferry knows up to 5)"),
        "{}",
        out.stderr
    );
}

#[test]
fn secrets_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(ferry(dir.path(), &["init", "."], &[]).code, 0);
    let secret = "pw-Zq8!never-print-me";
    let env = [
        ("FERRY_PRESERVICA_PASSWORD", secret),
        ("FERRY_PHOTOSHELTER_PASSWORD", secret),
        ("FERRY_PHOTOSHELTER_API_KEY", secret),
    ];
    for args in [
        &["-vv", "status"][..],
        &["-vv", "mappings", "check"][..],
        &["--log-format", "json", "-vv", "status"][..],
    ] {
        let out = ferry(dir.path(), args, &env);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
    }
    // And not in an error either: a bad override next to the secrets.
    let mut bad = env.to_vec();
    bad.push(("FERRY_GUARD_MIN_ASSETS", "many"));
    let out = ferry(dir.path(), &["status"], &bad);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("FERRY_GUARD_MIN_ASSETS"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(secret));
}

#[test]
fn help_lists_only_commands_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferry(dir.path(), &["--help"], &[]);
    assert_eq!(out.code, 0);
    let commands: Vec<&str> = out
        .stdout
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "init",
            "mappings",
            "status",
            "sync",
            "report",
            "conflicts",
            "pairs",
            "archive",
            "republish",
            "doctor",
            "search",
            "index",
            "serve",
            "demo",
            "emulate",
            "help"
        ]
    );
}

#[test]
fn a_missing_config_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferry(dir.path(), &["status"], &[]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("run 'ferry init"), "{}", out.stderr);
}

#[test]
fn the_demo_runs_two_cycles_and_leaves_a_store_to_look_at() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferry(dir.path(), &["demo", "site", "--media", "80"], &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let second = out
        .stdout
        .split("A second sync, straight after:")
        .nth(1)
        .unwrap();
    assert!(
        second.contains("pushed 0 to PhotoShelter, 0 to Preservica"),
        "{second}"
    );
    assert!(second.contains("0 failures"), "{second}");
    let tonight = out
        .stdout
        .split("Tonight's sync:")
        .nth(1)
        .unwrap()
        .split("A second sync")
        .next()
        .unwrap();
    assert!(
        !tonight.contains("pushed 0 to PhotoShelter, 0 to Preservica"),
        "{tonight}"
    );
    assert!(tonight.contains("waiting for a person"));
    // The ready gallery went into the archive; the 1962 photograph came back out.
    let archived = out.stdout.split("ferry archive").nth(1).unwrap();
    assert!(
        archived.contains("6 done, 0 failed, 0 unfinished"),
        "{archived}"
    );
    assert!(archived.contains("contract-harbour-museum-2026.pdf"));
    let republished = out.stdout.split("ferry republish").nth(1).unwrap();
    assert!(
        republished.contains("1 done, 0 failed")
            && republished.contains("regatta-1962-negative-scan.tif"),
        "{republished}"
    );
    // ferry's own files are private; reports follow the umask, because people share them.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let site = dir.path().join("site");
        let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&site.join("secrets")), 0o700);
        assert_eq!(mode(&site.join("secrets/preservica-password")), 0o600);
        assert_eq!(mode(&site.join("ferry.db")), 0o600);
        for sqlite_file in ["ferry.db-wal", "ferry.db-shm"] {
            let p = site.join(sqlite_file);
            if p.exists() {
                assert_eq!(mode(&p), 0o600, "{sqlite_file}");
            }
        }
        assert_eq!(mode(&site.join("index")), 0o700);
        // What a directory made with the umask looks like here.
        fs::create_dir(dir.path().join("umask-probe")).unwrap();
        let shared = mode(&dir.path().join("umask-probe"));
        assert_eq!(mode(&site.join("reports")), shared);
    }
    // The store and reports stay for the other commands.
    let config = dir.path().join("site/ferry.toml");
    let config = config.to_str().unwrap();
    let out = ferry(dir.path(), &["--config", config, "conflicts", "list"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("copyright_notice"), "{}", out.stdout);
    let out = ferry(dir.path(), &["--config", config, "report"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("run 5 (republish)"), "{}", out.stdout);
    assert!(
        out.stdout.contains("transfers 1: done 1, failed 0"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("run-5.html"));
    // The demo leaves a search index: a misspelt query finds the regatta pictures.
    let out = ferry(
        dir.path(),
        &[
            "--config", config, "search", "regata", "--format", "json", "--limit", "5",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["total"].as_u64().unwrap() > 0, "{}", out.stdout);
    // CSV for spreadsheets: a byte-order mark with --excel or [output] excel, none otherwise.
    let csv = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["--config", config, "search", "regata", "--format", "csv"];
        args.extend_from_slice(extra);
        let out = ferry(dir.path(), &args, env);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    let plain = csv(&[], &[]);
    assert!(plain.starts_with("asset_id,"), "{plain}");
    assert_eq!(csv(&["--excel"], &[]), format!("\u{feff}{plain}"));
    assert_eq!(
        csv(&[], &[("FERRY_OUTPUT_EXCEL", "true")]),
        format!("\u{feff}{plain}")
    );
    // Resolving a conflict is recorded for the next sync.
    let id = ferry(dir.path(), &["--config", config, "conflicts", "list"], &[])
        .stdout
        .lines()
        .find(|l| l.contains("copyright_notice"))
        .and_then(|l| l.split_whitespace().next())
        .map(|s| s.trim_start_matches('#').to_string())
        .unwrap();
    let out = ferry(
        dir.path(),
        &[
            "--config",
            config,
            "conflicts",
            "resolve",
            &id,
            "--take",
            "photoshelter",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = ferry(dir.path(), &["--config", config, "conflicts", "list"], &[]);
    assert!(!out.stdout.contains("copyright_notice"));
}

/// Writes a ferry.toml for both emulators into `dir`; returns the environment with secrets.
pub(crate) fn emulator_config(
    dir: &std::path::Path,
    ps: &ferry::photoshelter::emulator::PhotoShelterEmulator,
    pv: &ferry::preservica::emulator::PreservicaEmulator,
    probes: bool,
) -> Vec<(String, String)> {
    let o = ps.options();
    let media = ps.media_ids()[0].clone();
    let asset = pv.asset_refs()[0].clone();
    let probe_ps = if probes {
        format!("probe_media_id = \"{media}\"\n")
    } else {
        String::new()
    };
    let probe_pv = if probes {
        format!("probe_asset = \"{asset}\"\n")
    } else {
        String::new()
    };
    fs::write(
        dir.join("ferry.toml"),
        format!(
            "[photoshelter]\nbase_url = \"{}\"\nemail = \"{}\"\norg_id = \"{}\"\n{probe_ps}\n[preservica]\nserver = \"{}\"\nprotocol = \"http\"\ntenant = \"{}\"\nusername = \"{}\"\n{probe_pv}",
            ps.url(),
            o.email,
            o.org_id,
            pv.server(),
            pv.options().tenant,
            pv.options().username
        ),
    )
    .unwrap();
    fs::write(
        dir.join("mapping.toml"),
        ferry::mapping::Mapping::default_text(),
    )
    .unwrap();
    vec![
        ("FERRY_PHOTOSHELTER_API_KEY".into(), o.api_key_v4.clone()),
        ("FERRY_PHOTOSHELTER_API_KEY_V3".into(), o.api_key_v3.clone()),
        ("FERRY_PHOTOSHELTER_PASSWORD".into(), o.password.clone()),
        (
            "FERRY_PRESERVICA_PASSWORD".into(),
            pv.options().password.clone(),
        ),
    ]
}

#[test]
fn doctor_is_green_against_the_emulators_and_names_a_stopped_one() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ps, pv) = crate::helpers::emulators(&rt, 20, 5);
    let dir = tempfile::tempdir().unwrap();
    let env = emulator_config(dir.path(), &ps, &pv, true);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = ferry(dir.path(), &["doctor"], &env);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        !out.stdout.contains("FAIL") && !out.stdout.contains("warn"),
        "{}",
        out.stdout
    );
    for line in [
        "API key       ok",
        "v3 login      ok",
        "organisation  ok",
        "API version   ok",
        "licence       ok",
        "write probe   ok",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
    assert!(out.stdout.contains("both tenants are ready"));
    // Every custom metadata field the mapping names is one the account defines.
    for name in [
        "Campaign",
        "Model Release Status",
        "Property Release Status",
        "Archive Status",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains("custom field ") && l.contains(" ok ") && l.contains(name)),
            "{name}\n{}",
            out.stdout
        );
    }
    // No store yet: nothing to say about its permissions.
    assert!(
        out.stdout.contains("store mode    skipped"),
        "{}",
        out.stdout
    );
    // The probe restored what it touched.
    let asset = pv.asset_refs()[0].clone();
    assert!(!pv.title(&asset).unwrap().contains("probe"));
    for (_, secret) in &env {
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
    }
    // Where the account keeps licences, and the mapping line that reads them.
    assert!(
        out.stdout
            .contains(r#"photoshelter = { license = "expiration_date" }"#),
        "{}",
        out.stdout
    );
    // A wrong v3 key fails doctor, though v4 logs in: republish would fail on it.
    let mut wrong: Vec<(&str, &str)> = env
        .iter()
        .filter(|(k, _)| *k != "FERRY_PHOTOSHELTER_API_KEY_V3")
        .copied()
        .collect();
    wrong.push(("FERRY_PHOTOSHELTER_API_KEY_V3", "wrong.key_3"));
    let out = ferry(dir.path(), &["doctor"], &wrong);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout.contains("not ready: photoshelter v3 login"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("photoshelter.api_key_v3"),
        "{}",
        out.stdout
    );
    // A store others can read is a warning (ferry creates it 0600; this one was loosened).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(ferry(dir.path(), &["status"], &env).code, 0);
        let db = dir.path().join("ferry.db");
        let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&db), 0o600);
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        let out = ferry(dir.path(), &["doctor"], &env);
        assert_eq!(out.code, 0, "a warning is not a failure: {}", out.stdout);
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains("store mode"))
            .unwrap_or_default();
        assert!(
            line.contains("warn")
                && line.contains("ferry.db (every user of this machine)")
                && line.contains("chmod 600"),
            "{}",
            out.stdout
        );
    }
    // A custom field the account does not define fails, naming the mapping's line.
    let mapping = fs::read_to_string(dir.path().join("mapping.toml")).unwrap();
    let line = mapping
        .lines()
        .position(|l| l.contains("custom = \"Campaign\""))
        .unwrap()
        + 1;
    fs::write(
        dir.path().join("mapping.toml"),
        mapping.replace("custom = \"Campaign\"", "custom = \"Campagne\""),
    )
    .unwrap();
    let out = ferry(dir.path(), &["doctor"], &env);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "mapping.toml:{line}: field 'campaign': PhotoShelter refused custom metadata field 'Campagne'"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("not ready: photoshelter custom field"),
        "{}",
        out.stdout
    );
    fs::write(dir.path().join("mapping.toml"), mapping).unwrap();
    // Stop PhotoShelter: doctor names it and exits non-zero.
    rt.block_on(ps.stop());
    let out = ferry(dir.path(), &["doctor"], &env);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout.contains("not ready: photoshelter reachable"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("cannot connect"), "{}", out.stdout);
    rt.block_on(pv.stop());
}
