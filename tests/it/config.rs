//! `ferry.toml` loading: defaults, every kind of error message (exactly, since the messages are
//! the interface for the person fixing the file), secrets and their redaction, environment
//! overrides, and the `ferry init` files.

use std::fs;
use std::path::{Path, PathBuf};

use ferry::config::{
    Config, ConfigError, ENV_OTHER, ENV_OVERRIDES, ENV_SECRETS, Env, INIT_TEMPLATE, Protocol,
    ScheduleConfig, write_init,
};

const MINIMAL: &str = r#"[photoshelter]
base_url = "https://www.photoshelter.com"
email = "archivist@example.org"

[preservica]
server = "eu.preservica.com"
username = "archivist@example.org"
"#;

/// Writes `ferry.toml` with `text` into a fresh `site` directory.
fn site(text: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("site");
    fs::create_dir(&dir).unwrap();
    let file = dir.join("ferry.toml");
    fs::write(&file, text).unwrap();
    (tmp, file)
}

fn load(text: &str, env: &Env) -> (tempfile::TempDir, PathBuf, Result<Config, ConfigError>) {
    let (tmp, file) = site(text);
    let result = Config::load(&file, env);
    (tmp, file, result)
}

/// The error message for `text`, with the config file's path written as `ferry.toml` so that
/// expected messages read like what a user sees.
fn error(text: &str, env: &Env) -> String {
    let (_tmp, file, result) = load(text, env);
    let e = result.expect_err("the config should be refused");
    e.to_string()
        .replace(&file.display().to_string(), "ferry.toml")
}

#[cfg(unix)]
fn write_secret(path: &Path, content: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn minimal_file_gets_the_documented_defaults() {
    let (_tmp, file, result) = load(MINIMAL, &Env::empty());
    let cfg = result.unwrap();
    let dir = file.parent().unwrap();
    assert_eq!(cfg.file, file);
    assert_eq!(cfg.photoshelter.base_url, "https://www.photoshelter.com");
    assert_eq!(cfg.photoshelter.email, "archivist@example.org");
    assert_eq!(cfg.photoshelter.org_id, None);
    assert_eq!(cfg.photoshelter.concurrency, 32);
    assert!(cfg.photoshelter.adaptive);
    assert_eq!(cfg.photoshelter.timeout_secs, 60);
    assert!(cfg.photoshelter.api_key.is_none());
    assert!(cfg.photoshelter.api_key_v3.is_none());
    assert!(cfg.photoshelter.password.is_none());
    assert!(cfg.photoshelter.oauth_token.is_none());
    assert_eq!(cfg.preservica.server, "eu.preservica.com");
    assert_eq!(cfg.preservica.protocol, Protocol::Https);
    assert_eq!(cfg.preservica.tenant, None);
    assert_eq!(cfg.preservica.username, "archivist@example.org");
    assert_eq!(cfg.preservica.concurrency, 32);
    assert!(cfg.preservica.adaptive);
    assert_eq!(cfg.preservica.timeout_secs, 60);
    assert!(cfg.preservica.password.is_none());
    assert_eq!(cfg.paths.store, dir.join("ferry.db"));
    assert_eq!(cfg.paths.index, dir.join("index"));
    assert_eq!(cfg.paths.reports, dir.join("reports"));
    assert_eq!(cfg.mapping, dir.join("mapping.toml"));
    assert_eq!(cfg.schedule.nightly, "30 2 * * *");
    assert_eq!(cfg.schedule.timezone, "UTC");
    assert_eq!(cfg.guard.max_change_share, 0.10);
    assert_eq!(cfg.guard.min_assets, 50);
}

#[test]
fn unknown_key_names_file_line_section_and_valid_keys() {
    let text = "[photoshelter]\nbase_url = \"https://www.photoshelter.com\"\nemail = \"a@example.org\"\ncolour = \"blue\"\n";
    assert_eq!(
        error(text, &Env::empty()),
        "ferry.toml:4: unknown key 'colour' in [photoshelter]; valid keys: base_url, email, \
         org_id, probe_media_id, concurrency, adaptive, timeout_secs, allow_insecure_http, max_login_mib, \
         max_page_mib, max_record_mib, max_pages, api_key_file, api_key_v3_file, password_file, \
         oauth_token_file"
    );
    assert_eq!(
        error(
            &format!("{MINIMAL}\n[guard]\nmax_share = 0.2\n"),
            &Env::empty()
        ),
        "ferry.toml:10: unknown key 'max_share' in [guard]; valid keys: max_change_share, min_assets"
    );
    assert_eq!(
        error(&format!("colour = 1\n{MINIMAL}"), &Env::empty()),
        "ferry.toml:1: unknown key 'colour' at the top level; valid keys: photoshelter, \
         preservica, paths, schedule, mapping, guard, notify, server, rights, archive, republish, \
         thumbnails, output, live"
    );
}

#[test]
fn bad_type_names_file_line_and_dotted_key() {
    let text = format!("{MINIMAL}[guard]\nmax_change_share = \"ten\"\n");
    assert_eq!(
        error(&text, &Env::empty()),
        "ferry.toml:9: guard.max_change_share: invalid type: string \"ten\", expected f64"
    );
    let text = MINIMAL.replace("[preservica]\n", "[preservica]\nconcurrency = \"8\"\n");
    assert_eq!(
        error(&text, &Env::empty()),
        "ferry.toml:6: preservica.concurrency: invalid type: string \"8\", expected usize"
    );
    assert_eq!(
        error("photoshelter = 3\n", &Env::empty()),
        "ferry.toml:1: photoshelter: invalid type: integer `3`, expected a table"
    );
}

#[test]
fn missing_required_key_says_where_to_set_it() {
    let text = MINIMAL.replace("email = \"archivist@example.org\"\n", "");
    assert_eq!(
        error(&text, &Env::empty()),
        "ferry.toml: missing required key 'email' in [photoshelter]; add it, or set \
         FERRY_PHOTOSHELTER_EMAIL"
    );
    assert_eq!(
        error("", &Env::empty()),
        "ferry.toml: missing required key 'base_url' in [photoshelter]; add it, or set \
         FERRY_PHOTOSHELTER_BASE_URL"
    );
    let (_tmp, _file, result) = load(
        &text,
        &Env::from_pairs([("FERRY_PHOTOSHELTER_EMAIL", "env@example.org")]),
    );
    assert_eq!(result.unwrap().photoshelter.email, "env@example.org");
}

#[test]
fn toml_syntax_errors_name_file_and_line() {
    assert_eq!(
        error(
            "[photoshelter]\nbase_url = \"https://www.photoshelter.com\n",
            &Env::empty()
        ),
        "ferry.toml:2: invalid TOML: invalid basic string, expected `\"`"
    );
    assert_eq!(
        error(&format!("{MINIMAL}[paths\n"), &Env::empty()),
        "ferry.toml:8: invalid TOML: unclosed table, expected `]`"
    );
    assert_eq!(
        error(
            &MINIMAL.replace("[preservica]\n", "[preservica]\nusername = \"x\"\n"),
            &Env::empty()
        ),
        "ferry.toml:8: invalid TOML: duplicate key"
    );
}

#[test]
fn invalid_values_name_the_key_and_the_allowed_form() {
    let with = |section: &str, line: &str| {
        if MINIMAL.contains(&format!("[{section}]")) {
            MINIMAL.replace(&format!("[{section}]\n"), &format!("[{section}]\n{line}\n"))
        } else {
            format!("{MINIMAL}[{section}]\n{line}\n")
        }
    };
    let cases = [
        (
            with("photoshelter", "concurrency = 0"),
            "ferry.toml:2: photoshelter.concurrency: must be between 1 and 64, got 0",
        ),
        (
            with("preservica", "concurrency = 65"),
            "ferry.toml:6: preservica.concurrency: must be between 1 and 64, got 65",
        ),
        (
            with("photoshelter", "timeout_secs = 0"),
            "ferry.toml:2: photoshelter.timeout_secs: must be between 1 and 3600, got 0",
        ),
        (
            with("guard", "max_change_share = 1.5"),
            "ferry.toml:9: guard.max_change_share: must be a share greater than 0 and at most 1 \
             (0.10 means 10%), got 1.5",
        ),
        (
            with("guard", "max_change_share = 0"),
            "ferry.toml:9: guard.max_change_share: must be a share greater than 0 and at most 1 \
             (0.10 means 10%), got 0",
        ),
        (
            with("schedule", "nightly = \"0 30 2 * * *\""),
            "ferry.toml:9: schedule.nightly: \"0 30 2 * * *\" has 6 fields; ferry takes the \
             ordinary 5-field cron form \"minute hour day-of-month month day-of-week\", e.g. \
             \"30 2 * * *\" (leave out seconds and year)",
        ),
        (
            with("schedule", "nightly = \"61 2 * * *\""),
            "ferry.toml:9: schedule.nightly: invalid minute field '61' in \"61 2 * * *\": 61 is \
             outside 0-59; each field takes a number, *, */n, a range a-b (optionally /n) or a \
             list a,b",
        ),
        (
            with("schedule", "nightly = \"30 2 * * someday\""),
            "ferry.toml:9: schedule.nightly: invalid day-of-week field 'someday' in \
             \"30 2 * * someday\": 'someday' is not a number from 0 to 7 or a name like 'sun'; \
             each field takes a number, *, */n, a range a-b (optionally /n) or a list a,b",
        ),
        (
            with("schedule", "nightly = \"@daily\""),
            "ferry.toml:9: schedule.nightly: \"@daily\" has 1 fields; expected the 5-field cron \
             form \"minute hour day-of-month month day-of-week\", e.g. \"30 2 * * *\"",
        ),
        (
            with("schedule", "timezone = \"Europe/London\""),
            "ferry.toml:9: schedule.timezone: \"Europe/London\": other time zones are not \
             supported yet; use \"UTC\"",
        ),
        (
            MINIMAL.replace("https://www.photoshelter.com", "www.photoshelter.com"),
            "ferry.toml:2: photoshelter.base_url: must be a URL starting with http:// or \
             https://, e.g. \"https://www.photoshelter.com\"; got \"www.photoshelter.com\"",
        ),
        (
            MINIMAL.replace("\"eu.preservica.com\"", "\"https://eu.preservica.com\""),
            "ferry.toml:6: preservica.server: has a scheme; expected host[:port] without a \
             scheme, e.g. \"eu.preservica.com\" (preservica.protocol sets http or https); got \
             \"https://eu.preservica.com\"",
        ),
        (
            MINIMAL.replace("\"eu.preservica.com\"", "\"eu.preservica.com:http\""),
            "ferry.toml:6: preservica.server: has a port that is not a number from 1 to 65535; \
             expected host[:port] without a scheme, e.g. \"eu.preservica.com\" \
             (preservica.protocol sets http or https); got \"eu.preservica.com:http\"",
        ),
        (
            with("preservica", "protocol = \"ftp\""),
            "ferry.toml:6: preservica.protocol: must be \"https\" or \"http\", got \"ftp\"",
        ),
        (
            MINIMAL.replace("email = \"archivist@example.org\"", "email = \"  \""),
            "ferry.toml:3: photoshelter.email: must not be empty",
        ),
        (
            with("paths", "store = \"\""),
            "ferry.toml:9: paths.store: must not be empty",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(&text, &Env::empty()), expected, "for:\n{text}");
    }
}

#[test]
fn accepted_values_at_the_edges() {
    let text = MINIMAL
        .replace("[photoshelter]\n", "[photoshelter]\nconcurrency = 64\n")
        .replace(
            "\"eu.preservica.com\"",
            "\"localhost:8443\"\nprotocol = \"http\"",
        )
        + "[guard]\nmax_change_share = 1.0\nmin_assets = 0\n[schedule]\nnightly = \"  */15   0-6/2 1,15 jan-mar mon-fri \"\n";
    let (_tmp, _file, result) = load(&text, &Env::empty());
    let cfg = result.unwrap();
    assert_eq!(cfg.photoshelter.concurrency, 64);
    assert_eq!(cfg.preservica.server, "localhost:8443");
    assert_eq!(cfg.preservica.protocol, Protocol::Http);
    assert_eq!(cfg.guard.max_change_share, 1.0);
    assert_eq!(cfg.guard.min_assets, 0);
    assert_eq!(cfg.schedule.nightly, "*/15 0-6/2 1,15 jan-mar mon-fri");
}

#[test]
fn missing_config_file_suggests_ferry_init() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("site");
    let file = dir.join("ferry.toml");
    let e = Config::load(&file, &Env::empty()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2); run 'ferry init {}' to \
             create one",
            file.display(),
            dir.display()
        )
    );
    let e = Config::load(Path::new("ferry.toml.missing/ferry.toml"), &Env::empty()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot read ferry.toml.missing/ferry.toml: No such file or directory (os error 2); run \
         'ferry init ferry.toml.missing' to create one"
    );
}

#[test]
fn default_path_comes_from_ferry_config() {
    assert_eq!(
        Config::default_path(&Env::empty()),
        PathBuf::from("./ferry.toml")
    );
    assert_eq!(
        Config::default_path(&Env::from_pairs([(
            "FERRY_CONFIG",
            "/etc/ferry/ferry.toml"
        )])),
        PathBuf::from("/etc/ferry/ferry.toml")
    );
}

#[test]
fn inline_secrets_are_refused_without_echoing_them() {
    let cases = [
        (
            "photoshelter",
            "password = \"hunter2-inline\"",
            "ferry.toml:2: photoshelter.password: secrets are not allowed in ferry.toml; set \
             FERRY_PHOTOSHELTER_PASSWORD or photoshelter.password_file (a file only its owner \
             can read: chmod 600)",
        ),
        (
            "photoshelter",
            "api_key = \"hunter2-inline\"",
            "ferry.toml:2: photoshelter.api_key: secrets are not allowed in ferry.toml; set \
             FERRY_PHOTOSHELTER_API_KEY or photoshelter.api_key_file (a file only its owner can \
             read: chmod 600)",
        ),
        (
            "photoshelter",
            "oauth_token = \"hunter2-inline\"",
            "ferry.toml:2: photoshelter.oauth_token: secrets are not allowed in ferry.toml; set \
             FERRY_PHOTOSHELTER_OAUTH_TOKEN or photoshelter.oauth_token_file (a file only its \
             owner can read: chmod 600)",
        ),
        (
            "preservica",
            "password = \"hunter2-inline\"",
            "ferry.toml:6: preservica.password: secrets are not allowed in ferry.toml; set \
             FERRY_PRESERVICA_PASSWORD or preservica.password_file (a file only its owner can \
             read: chmod 600)",
        ),
    ];
    for (section, line, expected) in cases {
        let text = MINIMAL.replace(&format!("[{section}]\n"), &format!("[{section}]\n{line}\n"));
        let message = error(&text, &Env::empty());
        assert_eq!(message, expected);
        assert!(!message.contains("hunter2"));
    }
    // Even a secret the parser cannot read is not quoted back.
    let text = MINIMAL.replace(
        "[photoshelter]\n",
        "[photoshelter]\npassword = hunter2-bare\n",
    );
    let message = error(&text, &Env::empty());
    assert_eq!(
        message,
        "ferry.toml:2: invalid TOML: string values must be quoted, expected literal string"
    );
}

#[cfg(unix)]
#[test]
fn too_open_secret_file_is_refused_with_a_chmod_hint() {
    let text = MINIMAL.replace(
        "[photoshelter]\n",
        "[photoshelter]\npassword_file = \"secrets/ps-password\"\n",
    );
    let (_tmp, file) = site(&text);
    let secret = file.parent().unwrap().join("secrets/ps-password");
    for mode in [0o644, 0o640, 0o604, 0o620] {
        write_secret(&secret, "hunter2-open\n", mode);
        let message = Config::load(&file, &Env::empty()).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{0}: secret file is readable by others (mode {mode:04o}); run: chmod 600 {0}",
                secret.display()
            )
        );
        assert!(!message.contains("hunter2"));
    }
    // With the secret in the environment the file is not consulted at all.
    let env = Env::from_pairs([("FERRY_PHOTOSHELTER_PASSWORD", "from-env")]);
    let cfg = Config::load(&file, &env).unwrap();
    assert_eq!(cfg.photoshelter.password.unwrap().expose(), "from-env");
}

#[cfg(unix)]
#[test]
fn missing_or_unreadable_secret_file_names_file_key_and_os_error() {
    use std::os::unix::fs::PermissionsExt;
    let text = MINIMAL.replace(
        "[preservica]\n",
        "[preservica]\npassword_file = \"secrets/pv-password\"\n",
    );
    let (_tmp, file) = site(&text);
    let secret = file.parent().unwrap().join("secrets/pv-password");
    let message = Config::load(&file, &Env::empty()).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}:6: preservica.password_file: cannot read secret file {}: No such file or \
             directory (os error 2)",
            file.display(),
            secret.display()
        )
    );
    // A directory passes the mode check but cannot be read as a file (a chmod 000 file would
    // not do: tests may run as root, who can read it).
    fs::create_dir_all(&secret).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o700)).unwrap();
    let message = Config::load(&file, &Env::empty()).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}:6: preservica.password_file: cannot read secret file {}: Is a directory (os \
             error 21)",
            file.display(),
            secret.display()
        )
    );
    fs::remove_dir(&secret).unwrap();
    write_secret(&secret, "\n", 0o600);
    let message = Config::load(&file, &Env::empty()).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}:6: preservica.password_file: secret file {} is empty",
            file.display(),
            secret.display()
        )
    );
}

#[cfg(unix)]
#[test]
fn secrets_come_from_owner_only_files_and_the_environment_wins() {
    let text = MINIMAL
        .replace(
            "[photoshelter]\n",
            "[photoshelter]\napi_key_file = \"secrets/ps-key\"\npassword_file = \"secrets/ps-password\"\n",
        )
        .replace(
            "[preservica]\n",
            "[preservica]\npassword_file = \"/nonexistent/ignored-because-env-wins\"\n",
        );
    let (_tmp, file) = site(&text);
    let secrets = file.parent().unwrap().join("secrets");
    // Only one trailing newline is stripped: the rest is part of the secret.
    write_secret(&secrets.join("ps-key"), "key-from-file\n\n", 0o600);
    write_secret(&secrets.join("ps-password"), "pw-from-file\r\n", 0o400);
    let env = Env::from_pairs([
        ("FERRY_PHOTOSHELTER_PASSWORD", "pw-from-env"),
        ("FERRY_PRESERVICA_PASSWORD", "pv-from-env"),
        ("FERRY_PHOTOSHELTER_OAUTH_TOKEN", "token-from-env"),
    ]);
    let cfg = Config::load(&file, &env).unwrap();
    let ps = &cfg.photoshelter;
    assert_eq!(ps.api_key.as_ref().unwrap().expose(), "key-from-file\n");
    assert_eq!(ps.require_api_key().unwrap().expose(), "key-from-file\n");
    assert_eq!(ps.require_password().unwrap().expose(), "pw-from-env");
    assert_eq!(ps.oauth_token.as_ref().unwrap().expose(), "token-from-env");
    assert!(ps.api_key_v3.is_none());
    assert_eq!(
        cfg.preservica.require_password().unwrap().expose(),
        "pv-from-env"
    );

    let cfg = Config::load(
        &file,
        &Env::from_pairs([("FERRY_PRESERVICA_PASSWORD", "x")]),
    )
    .unwrap();
    assert_eq!(cfg.photoshelter.password.unwrap().expose(), "pw-from-file");
    // An empty variable counts as unset, so the file is used.
    let cfg = Config::load(
        &file,
        &Env::from_pairs([
            ("FERRY_PRESERVICA_PASSWORD", "x"),
            ("FERRY_PHOTOSHELTER_API_KEY", ""),
        ]),
    )
    .unwrap();
    assert_eq!(
        cfg.photoshelter.api_key.unwrap().expose(),
        "key-from-file\n"
    );
}

#[test]
fn missing_secrets_are_reported_only_when_required() {
    let (_tmp, file, result) = load(MINIMAL, &Env::empty());
    let cfg = result.unwrap();
    let name = file.display();
    assert_eq!(
        cfg.photoshelter.require_password().unwrap_err().to_string(),
        format!(
            "no PhotoShelter password: set FERRY_PHOTOSHELTER_PASSWORD or \
             photoshelter.password_file in {name}"
        )
    );
    assert_eq!(
        cfg.photoshelter.require_api_key().unwrap_err().to_string(),
        format!(
            "no PhotoShelter API key: set FERRY_PHOTOSHELTER_API_KEY or photoshelter.api_key_file \
             in {name}"
        )
    );
    assert_eq!(
        cfg.preservica.require_password().unwrap_err().to_string(),
        format!(
            "no Preservica password: set FERRY_PRESERVICA_PASSWORD or preservica.password_file in \
             {name}"
        )
    );
}

#[cfg(unix)]
#[test]
fn secrets_never_show_in_debug_output_or_errors() {
    let text = MINIMAL.replace(
        "[photoshelter]\n",
        "[photoshelter]\npassword_file = \"ps-password\"\napi_key_v3_file = \"ps-key3\"\n",
    );
    let (_tmp, file) = site(&text);
    let dir = file.parent().unwrap();
    write_secret(&dir.join("ps-password"), "s3cret-from-file", 0o600);
    write_secret(&dir.join("ps-key3"), "s3cret-key3", 0o600);
    let env = Env::from_pairs([
        ("FERRY_PRESERVICA_PASSWORD", "s3cret-from-env"),
        ("FERRY_PHOTOSHELTER_API_KEY", "s3cret-api-key"),
    ]);
    let cfg = Config::load(&file, &env).unwrap();
    let debug = format!("{cfg:?} {cfg:#?} {env:?}");
    for secret in [
        "s3cret-from-file",
        "s3cret-key3",
        "s3cret-from-env",
        "s3cret-api-key",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }
    assert!(debug.contains("Secret([redacted])"));
    assert_eq!(
        format!("{:?}", cfg.photoshelter.password),
        "Some(Secret([redacted]))"
    );

    // A too-open file holding the secret: the error does not contain it.
    write_secret(&dir.join("ps-password"), "s3cret-from-file", 0o644);
    let e = Config::load(&file, &env).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn environment_overrides_are_applied_and_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let abs = tmp.path().join("abs");
    let env = Env::from_pairs([
        ("FERRY_PHOTOSHELTER_BASE_URL", "http://127.0.0.1:9001/"),
        ("FERRY_PHOTOSHELTER_EMAIL", "env@example.org"),
        ("FERRY_PHOTOSHELTER_ORG_ID", "O123"),
        ("FERRY_PHOTOSHELTER_CONCURRENCY", "3"),
        ("FERRY_PRESERVICA_SERVER", "127.0.0.1:9002"),
        ("FERRY_PRESERVICA_PROTOCOL", "http"),
        ("FERRY_PRESERVICA_TENANT", "DEMO"),
        ("FERRY_PRESERVICA_USERNAME", "env-user"),
        ("FERRY_PRESERVICA_CONCURRENCY", "5"),
        ("FERRY_PATHS_STORE", "state/override.db"),
        ("FERRY_PATHS_INDEX", abs.to_str().unwrap()),
        ("FERRY_PATHS_REPORTS", "out/reports"),
        ("FERRY_MAPPING", "maps/mine.toml"),
        ("FERRY_SCHEDULE_NIGHTLY", "0 4 * * sun"),
        ("FERRY_SCHEDULE_TIMEZONE", "UTC"),
        ("FERRY_GUARD_MAX_CHANGE_SHARE", "0.25"),
        ("FERRY_GUARD_MIN_ASSETS", "7"),
        ("FERRY_CONFIG", "ignored-here"),
        ("FERRY_LOG", "debug"),
        ("PATH", "/usr/bin"),
    ]);
    assert_eq!(
        ENV_OVERRIDES.len(),
        17,
        "this test sets every override; add new ones here"
    );
    let text = MINIMAL.replace("[photoshelter]\n", "[photoshelter]\norg_id = \"O999\"\n");
    let (_tmp, _file, result) = load(&text, &env);
    let cfg = result.unwrap();
    assert_eq!(cfg.photoshelter.base_url, "http://127.0.0.1:9001");
    assert_eq!(cfg.photoshelter.email, "env@example.org");
    assert_eq!(cfg.photoshelter.org_id.as_deref(), Some("O123"));
    assert_eq!(cfg.photoshelter.concurrency, 3);
    assert_eq!(cfg.preservica.server, "127.0.0.1:9002");
    assert_eq!(cfg.preservica.protocol, Protocol::Http);
    assert_eq!(cfg.preservica.tenant.as_deref(), Some("DEMO"));
    assert_eq!(cfg.preservica.username, "env-user");
    assert_eq!(cfg.preservica.concurrency, 5);
    // Relative override paths resolve against the current directory, made absolute.
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(cfg.paths.store, cwd.join("state/override.db"));
    assert_eq!(cfg.paths.index, abs);
    assert_eq!(cfg.paths.reports, cwd.join("out/reports"));
    assert_eq!(cfg.mapping, cwd.join("maps/mine.toml"));
    assert_eq!(cfg.schedule.nightly, "0 4 * * sun");
    assert_eq!(cfg.schedule.timezone, "UTC");
    assert_eq!(cfg.guard.max_change_share, 0.25);
    assert_eq!(cfg.guard.min_assets, 7);

    // An empty override clears an optional value set in the file.
    let (_tmp, _file, result) = load(&text, &Env::from_pairs([("FERRY_PHOTOSHELTER_ORG_ID", "")]));
    assert_eq!(result.unwrap().photoshelter.org_id, None);
}

#[test]
fn bad_override_values_name_the_variable() {
    let cases = [
        (
            "FERRY_PHOTOSHELTER_CONCURRENCY",
            "many",
            "environment variable FERRY_PHOTOSHELTER_CONCURRENCY: photoshelter.concurrency: \
             expected a whole number, got 'many'",
        ),
        (
            "FERRY_PRESERVICA_CONCURRENCY",
            "0",
            "environment variable FERRY_PRESERVICA_CONCURRENCY: preservica.concurrency: must be \
             between 1 and 64, got 0",
        ),
        (
            "FERRY_GUARD_MIN_ASSETS",
            "-1",
            "environment variable FERRY_GUARD_MIN_ASSETS: guard.min_assets: expected a whole \
             number, got '-1'",
        ),
        (
            "FERRY_GUARD_MAX_CHANGE_SHARE",
            "10%",
            "environment variable FERRY_GUARD_MAX_CHANGE_SHARE: guard.max_change_share: expected \
             a number such as 0.10, got '10%'",
        ),
        (
            "FERRY_GUARD_MAX_CHANGE_SHARE",
            "2",
            "environment variable FERRY_GUARD_MAX_CHANGE_SHARE: guard.max_change_share: must be a \
             share greater than 0 and at most 1 (0.10 means 10%), got 2",
        ),
        (
            "FERRY_PRESERVICA_PROTOCOL",
            "ftp",
            "environment variable FERRY_PRESERVICA_PROTOCOL: preservica.protocol: must be \
             \"https\" or \"http\", got \"ftp\"",
        ),
        (
            "FERRY_SCHEDULE_NIGHTLY",
            "0 0 4 * * *",
            "environment variable FERRY_SCHEDULE_NIGHTLY: schedule.nightly: \"0 0 4 * * *\" has 6 \
             fields; ferry takes the ordinary 5-field cron form \"minute hour day-of-month month \
             day-of-week\", e.g. \"30 2 * * *\" (leave out seconds and year)",
        ),
        (
            "FERRY_PHOTOSHELTER_EMAIL",
            "",
            "environment variable FERRY_PHOTOSHELTER_EMAIL: photoshelter.email: must not be empty",
        ),
    ];
    for (var, value, expected) in cases {
        assert_eq!(
            error(MINIMAL, &Env::from_pairs([(var, value)])),
            expected,
            "{var}={value}"
        );
    }
}

#[test]
fn unknown_ferry_variables_are_refused() {
    assert_eq!(
        error(
            MINIMAL,
            &Env::from_pairs([("FERRY_PHOTOSHELER_EMAIL", "a@example.org")])
        ),
        "unknown environment variable FERRY_PHOTOSHELER_EMAIL (did you mean \
         FERRY_PHOTOSHELTER_EMAIL?)"
    );
    assert_eq!(
        error(MINIMAL, &Env::from_pairs([("FERRY_COLOUR", "blue")])),
        "unknown environment variable FERRY_COLOUR"
    );
    // Every variable ferry documents is accepted.
    let documented = ENV_OVERRIDES
        .iter()
        .map(|o| o.var)
        .chain(ENV_SECRETS.iter().map(|s| s.var))
        .chain(ENV_OTHER.iter().copied());
    for var in documented {
        let value = match var {
            v if v.ends_with("CONCURRENCY") || v.ends_with("MIN_ASSETS") => "4",
            v if v.ends_with("SHARE") => "0.5",
            v if v.ends_with("NIGHTLY") => "0 3 * * *",
            "FERRY_SCHEDULE_TIMEZONE" => "UTC",
            "FERRY_PRESERVICA_PROTOCOL" => "https",
            "FERRY_PHOTOSHELTER_BASE_URL" => "https://example.org",
            _ => "x",
        };
        let (_tmp, _file, result) = load(MINIMAL, &Env::from_pairs([(var, value)]));
        assert!(result.is_ok(), "{var}: {:?}", result.err());
    }
}

#[cfg(unix)]
#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let text = format!(
        "mapping = \"maps/house.toml\"\n{MINIMAL}\n[paths]\nstore = \"state/ferry.db\"\nindex = \"/var/lib/ferry/index\"\nreports = \"../reports\"\n"
    )
    .replace(
        "[preservica]\n",
        "[preservica]\npassword_file = \"secrets/pv\"\n",
    );
    let (_tmp, file) = site(&text);
    let dir = file.parent().unwrap();
    write_secret(&dir.join("secrets/pv"), "pv", 0o600);
    let cfg = Config::load(&file, &Env::empty()).unwrap();
    assert_eq!(cfg.mapping, dir.join("maps/house.toml"));
    assert_eq!(cfg.paths.store, dir.join("state/ferry.db"));
    assert_eq!(cfg.paths.index, PathBuf::from("/var/lib/ferry/index"));
    assert_eq!(cfg.paths.reports, dir.join("../reports"));
    assert_eq!(cfg.preservica.password.unwrap().expose(), "pv");
}

#[test]
fn init_writes_both_files_and_they_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new/site");
    let default_mapping =
        fs::read_to_string(crate::helpers::repo_file("mappings/default.toml")).unwrap();
    let written = write_init(&dir, &default_mapping).unwrap();
    assert_eq!(
        written,
        vec![dir.join("ferry.toml"), dir.join("mapping.toml")]
    );
    assert_eq!(fs::read_to_string(&written[0]).unwrap(), INIT_TEMPLATE);
    assert_eq!(fs::read_to_string(&written[1]).unwrap(), default_mapping);
    let cfg = Config::load(&written[0], &Env::empty()).unwrap();
    assert_eq!(cfg.photoshelter.base_url, "https://www.photoshelter.com");
    assert_eq!(cfg.photoshelter.email, "archivist@example.org");
    assert_eq!(cfg.preservica.server, "eu.preservica.com");
    assert_eq!(cfg.preservica.username, "archivist@example.org");
    assert_eq!(cfg.mapping, written[1]);
    assert_eq!(cfg.schedule.six_field_cron(), "0 30 2 * * *");
    assert_eq!(cfg.guard.max_change_share, 0.10);
    assert_eq!(cfg.guard.min_assets, 50);
}

#[test]
fn init_template_documents_every_variable_and_secret_file() {
    for var in ENV_OVERRIDES
        .iter()
        .map(|o| o.var)
        .chain(ENV_SECRETS.iter().map(|s| s.var))
        .chain(ENV_OTHER.iter().copied())
    {
        assert!(
            INIT_TEMPLATE.contains(var),
            "template does not mention {var}"
        );
    }
    for secret in ENV_SECRETS {
        let name = secret.key.rsplit('.').next().unwrap();
        assert!(
            INIT_TEMPLATE.contains(&format!("# {name}_file = ")),
            "template does not show {name}_file"
        );
    }
    assert!(INIT_TEMPLATE.contains("chmod 600"));
}

#[test]
fn init_never_overwrites_and_writes_nothing_when_refusing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("site");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("mapping.toml"), "# mine\n").unwrap();
    let e = write_init(&dir, "# default\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} already exists; ferry init never overwrites files",
            dir.join("mapping.toml").display()
        )
    );
    assert!(!dir.join("ferry.toml").exists());
    assert_eq!(
        fs::read_to_string(dir.join("mapping.toml")).unwrap(),
        "# mine\n"
    );

    fs::remove_file(dir.join("mapping.toml")).unwrap();
    write_init(&dir, "# default\n").unwrap();
    fs::write(dir.join("ferry.toml"), "# edited\n").unwrap();
    let e = write_init(&dir, "# other\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} already exists; ferry init never overwrites files",
            dir.join("ferry.toml").display()
        )
    );
    assert_eq!(
        fs::read_to_string(dir.join("ferry.toml")).unwrap(),
        "# edited\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("mapping.toml")).unwrap(),
        "# default\n"
    );
}

#[test]
fn six_field_cron_adds_seconds_for_the_scheduler() {
    let schedule = |nightly: &str| ScheduleConfig {
        nightly: nightly.to_owned(),
        timezone: "UTC".to_owned(),
    };
    assert_eq!(schedule("30 2 * * *").six_field_cron(), "0 30 2 * * *");
    assert_eq!(
        schedule("*/15 0-6/2 1,15 jan-mar mon-fri").six_field_cron(),
        "0 */15 0-6/2 1,15 jan-mar mon-fri"
    );

    // What ferry accepts, the scheduler accepts too.
    for nightly in [
        "30 2 * * *",
        "*/15 0-6/2 1,15 jan-mar mon-fri",
        "0 3 * * sun",
        "0 3 * * 7",
        "0 3 * * mon-sun",
    ] {
        let text = format!("{MINIMAL}[schedule]\nnightly = \"{nightly}\"\n");
        let (_tmp, _file, result) = load(&text, &Env::empty());
        let cron = result.unwrap().schedule.six_field_cron();
        assert!(
            tokio_cron_scheduler::Job::new(cron.as_str(), |_, _| {}).is_ok(),
            "scheduler refused {cron}"
        );
    }
}

#[test]
fn variable_names_follow_their_keys() {
    // Users guess a variable's name from its key; the table must not surprise them.
    let mut keys: Vec<&str> = ENV_OVERRIDES.iter().map(|o| o.key).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), ENV_OVERRIDES.len(), "a key is overridden twice");
    let pairs = ENV_OVERRIDES
        .iter()
        .map(|o| (o.var, o.key))
        .chain(ENV_SECRETS.iter().map(|s| (s.var, s.key)));
    for (var, key) in pairs {
        let expected = format!("FERRY_{}", key.replace('.', "_").to_ascii_uppercase());
        assert_eq!(var, expected);
    }
}

#[test]
fn cron_fields_are_checked_one_by_one() {
    let nightly = |cron: &str| {
        let text = format!("{MINIMAL}[schedule]\nnightly = \"{cron}\"\n");
        let (_tmp, _file, result) = load(&text, &Env::empty());
        result.map(|cfg| cfg.schedule.nightly)
    };
    for ok in [
        "30 2 * * *",
        "*/15 * * * *",
        "0 0-23/2 1,15 * mon-fri",
        "0 3 * JAN-Mar sun",
        "0 3 * * mon-sun",
        "0 3 * * 0,7",
        "59 23 31 12 6",
    ] {
        assert_eq!(nightly(ok).unwrap(), ok);
    }
    let bad = [
        (
            "60 * * * *",
            "invalid minute field '60' in \"60 * * * *\": 60 is outside 0-59",
        ),
        (
            "* 24 * * *",
            "invalid hour field '24' in \"* 24 * * *\": 24 is outside 0-23",
        ),
        (
            "* * 0 * *",
            "invalid day-of-month field '0' in \"* * 0 * *\": 0 is outside 1-31",
        ),
        (
            "* * * 13 *",
            "invalid month field '13' in \"* * * 13 *\": 13 is outside 1-12",
        ),
        (
            "* * * * 8",
            "invalid day-of-week field '8' in \"* * * * 8\": 8 is outside 0-7",
        ),
        (
            "5/15 * * * *",
            "invalid minute field '5/15' in \"5/15 * * * *\": a step needs * or a range before \
             it, e.g. */15 or 0-30/15, not '5/15'",
        ),
        (
            "* * * smarch *",
            "invalid month field 'smarch' in \"* * * smarch *\": 'smarch' is not a number from 1 \
             to 12 or a name like 'jan'",
        ),
        (
            "1,,2 * * * *",
            "invalid minute field '1,,2' in \"1,,2 * * * *\": a value is missing",
        ),
        (
            "10-5 * * * *",
            "invalid minute field '10-5' in \"10-5 * * * *\": range '10-5' runs backwards",
        ),
        (
            "*/0 * * * *",
            "invalid minute field '*/0' in \"*/0 * * * *\": step '0' must be a number from 1 to 59",
        ),
        (
            "x * * * *",
            "invalid minute field 'x' in \"x * * * *\": 'x' is not a number from 0 to 59",
        ),
    ];
    for (cron, why) in bad {
        let message = nightly(cron).unwrap_err().to_string();
        assert!(
            message.contains(&format!("schedule.nightly: {why}; each field takes")),
            "{message}"
        );
    }
}

#[test]
fn notify_and_server_sections_load_with_secrets_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.toml");
    std::fs::write(
        &path,
        format!("{MINIMAL}\n[notify]\nfile = \"notes.jsonl\"\nexpiring_days = 14\n\n[server]\nlisten = \"0.0.0.0:9000\"\n"),
    )
    .unwrap();
    let env = Env::from_pairs([
        (
            "FERRY_NOTIFY_WEBHOOK_URL",
            "https://hooks.example/T000/B000/secret-part",
        ),
        ("FERRY_SERVER_ACCESS_TOKEN", "tok-123"),
    ]);
    let cfg = ferry::config::Config::load(&path, &env).unwrap();
    assert_eq!(
        cfg.notify.file.as_deref(),
        Some(dir.path().join("notes.jsonl").as_path())
    );
    assert_eq!(cfg.notify.expiring_days, 14);
    assert_eq!(
        cfg.notify.webhook_url.as_ref().unwrap().expose(),
        "https://hooks.example/T000/B000/secret-part"
    );
    assert_eq!(cfg.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(
        cfg.server.access_token.as_ref().unwrap().expose(),
        "tok-123"
    );
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("secret-part") && !debug.contains("tok-123"));
    // Inline, the webhook URL is refused like any secret.
    std::fs::write(
        &path,
        format!("{MINIMAL}\n[notify]\nwebhook_url = \"https://x\"\n"),
    )
    .unwrap();
    let e = ferry::config::Config::load(&path, &Env::empty())
        .unwrap_err()
        .to_string();
    assert!(e.contains("FERRY_NOTIFY_WEBHOOK_URL"), "{e}");
}

#[test]
fn every_key_has_an_override_named_after_it_that_applies() {
    let overrides = ferry::config::env_overrides();
    // Every key of the template's file (the default config) has its variable, secrets' files
    // apart: a secret has its own variable.
    let template: toml::Table = toml::from_str(INIT_TEMPLATE).unwrap();
    for (name, value) in &template {
        let keys: Vec<String> = match value.as_table() {
            Some(section) => section.keys().map(|k| format!("{name}.{k}")).collect(),
            None => vec![name.clone()],
        };
        for key in keys.iter().filter(|k| !k.ends_with("_file")) {
            assert!(
                overrides.iter().any(|o| o.key == key),
                "{key} has no override"
            );
        }
    }
    let (_tmp, _file, base) = load(MINIMAL, &Env::empty());
    let base = format!("{:?}", base.unwrap());
    // Values that pass each key's own check; every other key takes "3".
    let special = [
        ("photoshelter.base_url", "https://override.example"),
        ("photoshelter.allow_insecure_http", "true"),
        ("photoshelter.adaptive", "false"),
        ("preservica.adaptive", "false"),
        ("preservica.server", "override.example"),
        ("preservica.protocol", "http"),
        ("preservica.allow_insecure_http", "true"),
        ("schedule.nightly", "0 4 * * *"),
        ("server.listen", "127.0.0.1:9999"),
        ("rights.expired", "restrict"),
        ("rights.missing_model_release", "report"),
        ("archive.after", "private"),
        ("republish.rendition", "preservation"),
        ("republish.visibility", "everyone"),
        ("guard.max_change_share", "0.5"),
        ("thumbnails.on_sync", "false"),
        ("output.excel", "true"),
        ("live.public_url", "https://ferry.example.org"),
    ];
    for o in overrides {
        let expected = format!("FERRY_{}", o.key.replace('.', "_").to_ascii_uppercase());
        assert_eq!(o.var, expected);
        assert!(
            INIT_TEMPLATE.contains(o.var),
            "template does not mention {}",
            o.var
        );
        if o.key == "live.enabled" {
            // Enabled alone is refused: the live mode needs its public URL and secret.
            let e = error(MINIMAL, &Env::from_pairs([(o.var, "true")]));
            assert!(
                e.contains("FERRY_LIVE_ENABLED") && e.contains("live.public_url"),
                "{e}"
            );
            continue;
        }
        if o.key == "schedule.timezone" {
            // Only the default, UTC, is accepted: the override shows in what it refuses.
            let e = error(MINIMAL, &Env::from_pairs([(o.var, "Mars")]));
            assert!(
                e.starts_with("environment variable FERRY_SCHEDULE_TIMEZONE: schedule.timezone:"),
                "{e}"
            );
            continue;
        }
        let value = special
            .iter()
            .find(|(k, _)| *k == o.key)
            .map_or("3", |(_, v)| *v);
        let (_tmp, _file, result) = load(MINIMAL, &Env::from_pairs([(o.var, value)]));
        let cfg = result.unwrap_or_else(|e| panic!("{}={value}: {e}", o.var));
        assert_ne!(
            format!("{cfg:?}"),
            base,
            "{}={value} changed nothing",
            o.var
        );
    }
}

#[test]
fn overrides_of_every_kind_are_typed_and_checked() {
    let cases = [
        (
            "FERRY_PHOTOSHELTER_ALLOW_INSECURE_HTTP",
            "yes",
            "environment variable FERRY_PHOTOSHELTER_ALLOW_INSECURE_HTTP: \
             photoshelter.allow_insecure_http: expected true or false, got 'yes'",
        ),
        (
            "FERRY_NOTIFY_EXPIRING_DAYS",
            "4294967296",
            "environment variable FERRY_NOTIFY_EXPIRING_DAYS: notify.expiring_days: expected a \
             whole number, got '4294967296'",
        ),
        (
            "FERRY_PRESERVICA_MAX_PAGE_MIB",
            "2000",
            "environment variable FERRY_PRESERVICA_MAX_PAGE_MIB: preservica.max_page_mib: must \
             be between 1 and 1024, got 2000",
        ),
        (
            "FERRY_SERVER_LISTEN",
            "nowhere",
            "environment variable FERRY_SERVER_LISTEN: server.listen: must be an address and \
             port like 127.0.0.1:8080, got 'nowhere'",
        ),
        (
            "FERRY_PHOTOSHELTER_PASSWORD_FILE",
            "secrets/pw",
            "unknown environment variable FERRY_PHOTOSHELTER_PASSWORD_FILE",
        ),
    ];
    for (var, value, expected) in cases {
        assert_eq!(
            error(MINIMAL, &Env::from_pairs([(var, value)])),
            expected,
            "{var}={value}"
        );
    }
    let text = format!("{MINIMAL}[archive]\nready_values = [\"final\"]\n");
    let env = Env::from_pairs([
        ("FERRY_ARCHIVE_READY_VALUES", " done, ok ,"),
        ("FERRY_PRESERVICA_ALLOW_INSECURE_HTTP", "TRUE"),
        ("FERRY_PHOTOSHELTER_MAX_PAGES", "12"),
        ("FERRY_NOTIFY_FILE", "notes.jsonl"),
    ]);
    let (_tmp, _file, result) = load(&text, &env);
    let cfg = result.unwrap();
    assert_eq!(cfg.archive.ready_values, vec!["done", "ok"]);
    assert!(cfg.preservica.allow_insecure_http);
    assert_eq!(cfg.photoshelter.limits.max_pages, 12);
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(cfg.notify.file, Some(cwd.join("notes.jsonl")));
    // A mistake in the file is reported even when a variable overrides the key.
    let text = MINIMAL.replace("[preservica]\n", "[preservica]\nconcurrency = \"8\"\n");
    assert_eq!(
        error(
            &text,
            &Env::from_pairs([("FERRY_PRESERVICA_CONCURRENCY", "4")])
        ),
        "ferry.toml:6: preservica.concurrency: invalid type: string \"8\", expected usize"
    );
}
