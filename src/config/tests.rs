//! Settings as users give them, and what `Config` makes of them.

use super::*;
use crate::cli::{Cli, Command};
use crate::sink::encode::PayloadFormat;
use clap::FromArgMatches;
use file::file_keys;
use std::collections::HashMap;
use std::path::Path;

/// Every setting with an environment variable is also a key of the --config file (the
/// variable's name in lower case), but those the README names as exceptions.
#[test]
fn every_setting_is_a_config_file_key() {
    let mut cmd = crate::cli::command();
    let run = cmd.find_subcommand_mut("run").unwrap();
    let not_in_file = [
        "CONFIG_FILE",
        "AUTH0_MGMT_WEBHOOKS_OUTPUT",
        "WEBHOOK_HEADERS",
    ];
    for arg in run.get_arguments() {
        let Some(env) = arg.get_env().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        if not_in_file.contains(&env.as_str()) {
            continue;
        }
        let key = env.to_lowercase();
        assert!(
            file_keys().contains(&key),
            "{env} (--{}) has no config file key `{key}`",
            arg.get_long().unwrap_or_default()
        );
    }
    // The secrets, which have no flag, and the headers' table.
    for key in [
        "auth0_client_secret",
        "authorization",
        "webhook_secret",
        "slack_incoming_webhook_url",
        "healthcheck_url",
        "pii_hash_key",
        "webhook_headers",
    ] {
        assert!(file_keys().iter().any(|k| k == key), "{key}");
    }
}

/// `check`'s settings from these arguments alone. clap reads each setting's variable from the
/// process environment, so the variables are taken off the arguments first: a developer who
/// exports AUTH0_DOMAIN and the rest, as anyone using the tool does, gets the same results.
/// A test gives variables through `build`'s `env` instead.
fn settings(args: &[&str]) -> Settings {
    fn without_env(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| a.env(None::<&str>))
            .mut_subcommands(without_env)
    }
    let mut argv = vec!["auth0-mgmt-webhooks", "check"];
    argv.extend_from_slice(args);
    let matches = without_env(crate::cli::command())
        .try_get_matches_from(argv)
        .unwrap();
    match Cli::from_arg_matches(&matches).unwrap().command {
        Command::Check(c) => c.settings,
        _ => unreachable!(),
    }
}

fn build(args: &[&str], env: &[(&str, &str)]) -> Result<Config> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::new(&settings(args), &move |k: &str| env.get(k).cloned())
}

const BASE: &[&str] = &[
    "--domain",
    "acme.eu.auth0.com",
    "--client-id",
    "cid",
    "--webhook-url",
    "https://hooks.example.com/x",
    "--state",
    "/tmp/s.json",
];
const SECRET: &[(&str, &str)] = &[("AUTH0_CLIENT_SECRET", "shh")];

/// BASE with `extra` appended; a flag in `extra` replaces BASE's value for it.
fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = BASE
        .chunks(2)
        .filter(|pair| !extra.contains(&pair[0]))
        .flatten()
        .copied()
        .collect();
    args.extend_from_slice(extra);
    args
}

fn message(r: Result<Config>) -> String {
    let e = r.unwrap_err();
    assert_eq!(exit::code_for(&e), exit::USAGE, "{e}");
    e.to_string()
}

#[test]
fn defaults_match_the_readme() {
    let c = build(BASE, SECRET).unwrap();
    assert_eq!(c.auth0.base_url.as_str(), "https://acme.eu.auth0.com/");
    assert_eq!(c.routes[0].batch_size, 100);
    assert!(c.routes[0].webhook.send_as_batch);
    assert_eq!(c.routes[0].webhook.concurrency, 5);
    assert_eq!(c.max_run_time, Duration::from_secs(240));
    assert_eq!(c.routes[0].webhook.connect_timeout, Duration::from_secs(5));
    assert_eq!(c.routes[0].webhook.timeout, Duration::from_secs(30));
    assert_eq!(
        c.routes[0].filter.log_types.iter().collect::<Vec<_>>(),
        ["fapi", "sapi"]
    );
    assert!(c.routes[0].filter.endpoints.is_empty());
    assert_eq!(c.auth0.client_secret.expose(), "shh");
}

#[test]
fn batch_size_out_of_range_names_the_setting_and_the_limit() {
    for bad in ["500", "-1", "0", "ten", " 101 "] {
        let m = message(build(&with(&["--batch-size", bad]), SECRET));
        assert!(
            m.contains("BATCH_SIZE (--batch-size) must be a whole number from 1 to 100")
                && m.contains(bad.trim()),
            "{m}"
        );
    }
    assert_eq!(
        build(&with(&["--batch-size", " 50 "]), SECRET)
            .unwrap()
            .routes[0]
            .batch_size,
        50
    );
    assert_eq!(
        build(&with(&["--batch-size", ""]), SECRET).unwrap().routes[0].batch_size,
        100
    );
}

#[test]
fn every_bad_value_names_the_variable_the_flag_and_the_range_in_words() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--concurrency", "65"],
            &["WEBHOOK_CONCURRENT_CALLS (--concurrency)", "1 to 64"],
        ),
        (
            &["--daily-report-hour", "24"],
            &["DAILY_REPORT_HOUR (--daily-report-hour)", "0 to 23"],
        ),
        (
            &["--max-body-bytes", "0"],
            &["WEBHOOK_MAX_BODY_BYTES (--max-body-bytes)", "from 1 to"],
        ),
        (
            &["--max-run-time", "300000000000y"],
            &["MAX_RUN_TIME (--max-run-time)", "from 1s to 24h"],
        ),
        (
            &["--max-run-time", "0s"],
            &["MAX_RUN_TIME", "from 1s to 24h"],
        ),
        (
            &["--timeout", "18446744073709551615s"],
            &["WEBHOOK_TIMEOUT (--timeout)", "from 100ms to 10m"],
        ),
        (
            &["--connect-timeout", "soon"],
            &[
                "WEBHOOK_CONNECT_TIMEOUT (--connect-timeout)",
                "from 100ms to 5m",
            ],
        ),
        (
            &["--send-as-batch", "maybe"],
            &["SEND_AS_BATCH (--send-as-batch)", "true or false"],
        ),
        (
            &["--payload-format", "xml"],
            &["PAYLOAD_FORMAT (--payload-format)", "array or jsonl"],
        ),
        (
            &["--endpoints", ", ,"],
            &["AUTH0_API_ENDPOINTS (--endpoints)", "names no endpoint"],
        ),
        (
            &["--header", "X-Key: a\nb"],
            &["WEBHOOK_HEADERS (--header)", "line break"],
        ),
        (
            &["--header", "X-Key: a\u{7}b"],
            &["WEBHOOK_HEADERS (--header)", "control character"],
        ),
    ];
    for (args, wanted) in cases {
        let m = message(build(&with(args), SECRET));
        for w in *wanted {
            assert!(m.contains(w), "{args:?}: {m}");
        }
    }
    let c = build(
        &with(&[
            "--send-as-batch",
            " FALSE ",
            "--payload-format",
            "JSONL",
            "--timeout",
            " 2m ",
        ]),
        SECRET,
    )
    .unwrap();
    assert!(!c.routes[0].webhook.send_as_batch);
    assert_eq!(c.routes[0].webhook.format, PayloadFormat::Jsonl);
    assert_eq!(c.routes[0].webhook.timeout, Duration::from_secs(120));
    let c = build(
        &with(&[
            "--endpoints",
            " ",
            "--max-run-time",
            "",
            "--config",
            "",
            "--ca-cert",
            "",
        ]),
        SECRET,
    )
    .unwrap();
    assert!(
        c.routes[0].filter.endpoints.is_empty(),
        "empty is unset: all endpoints"
    );
    assert_eq!(c.max_run_time, Duration::from_secs(240));
}

#[test]
fn authorization_with_a_line_break_is_refused_without_showing_it() {
    let m = message(build(
        BASE,
        &[
            ("AUTH0_CLIENT_SECRET", "s"),
            ("AUTHORIZATION", "Bearer abc\ndef-secret"),
        ],
    ));
    assert!(
        m.contains("AUTHORIZATION") && m.contains("line break"),
        "{m}"
    );
    assert!(!m.contains("def-secret"), "{m}");
}

#[test]
fn domain_with_user_info_is_refused_and_never_echoed() {
    for d in [
        "user:pw-secret-9@acme.auth0.com",
        "https://user:pw-secret-9@acme.auth0.com",
    ] {
        let m = message(build(&with(&["--domain", d]), SECRET));
        assert!(
            m.contains("AUTH0_DOMAIN (--domain)") && m.contains("user name or password"),
            "{m}"
        );
        assert!(!m.contains("pw-secret-9"), "{m}");
    }
}

#[test]
fn webhook_url_with_user_info_is_refused_pointing_to_authorization_and_never_echoed() {
    let url = "https://u:pw-secret-8@hooks.example.com/x";
    for (env, both) in [
        (SECRET.to_vec(), false),
        ([SECRET, &[("AUTHORIZATION", "Bearer b")]].concat(), true),
    ] {
        let m = message(build(&with(&["--webhook-url", url]), &env));
        assert!(
            m.contains("WEBHOOK_URL (--webhook-url) https://hooks.example.com/x holds a user name or password")
                && m.contains("set AUTHORIZATION"),
            "{m}"
        );
        assert_eq!(m.contains("two Authorization headers"), both, "{m}");
        assert!(!m.contains("pw-secret-8"), "{m}");
    }
    let m = message(build(
        &with(&["--webhook-url", "https://token-as-user@hooks.example.com/x"]),
        SECRET,
    ));
    assert!(m.contains("user name or password"), "{m}");
}

#[test]
fn debug_and_messages_hide_webhook_url_query_tokens() {
    let c = build(
        &with(&[
            "--webhook-url",
            "https://hooks.example.com/x?token=q-secret-7",
        ]),
        SECRET,
    )
    .unwrap();
    let debug = format!("{c:?} {c:#?}");
    assert!(
        !debug.contains("pw-secret-7") && !debug.contains("q-secret-7"),
        "{debug}"
    );
    assert!(debug.contains("hooks.example.com/x?token=***"), "{debug}");
    // Every setting of the webhook shows, the content type among them.
    let c = build(&with(&["--content-type", "text/plain"]), SECRET).unwrap();
    assert!(
        format!("{c:?}").contains("content_type: Some(\"text/plain\")"),
        "{c:?}"
    );
    let m = message(build(
        &with(&[
            "--webhook-url",
            "https://u:pw-secret-7@ho st/x?token=q-secret-7",
        ]),
        SECRET,
    ));
    assert!(
        !m.contains("pw-secret-7") && !m.contains("q-secret-7"),
        "{m}"
    );
}

#[test]
fn missing_secret_says_where_to_put_it() {
    let m = message(build(BASE, &[]));
    assert!(
        m.contains("AUTH0_CLIENT_SECRET") && m.contains("AUTH0_CLIENT_SECRET_FILE"),
        "{m}"
    );
}

#[test]
fn secret_may_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("secret");
    std::fs::write(&p, "from-file\n").unwrap();
    let c = build(BASE, &[("AUTH0_CLIENT_SECRET_FILE", p.to_str().unwrap())]).unwrap();
    assert_eq!(c.auth0.client_secret.expose(), "from-file");
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    let m = message(build(
        &with(&["--webhook-url", "http://hooks.example.com/x"]),
        SECRET,
    ));
    assert!(
        m.contains("WEBHOOK_URL (--webhook-url) must use https"),
        "{m}"
    );
    for ok in [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://[::1]:9/x",
    ] {
        build(&with(&["--webhook-url", ok]), SECRET).unwrap();
    }
    build(
        &with(&[
            "--webhook-url",
            "http://hooks.example.com/x",
            "--allow-insecure-http",
        ]),
        SECRET,
    )
    .unwrap();
}

#[test]
fn unparseable_url_is_named() {
    let m = message(build(&with(&["--webhook-url", "not a url"]), SECRET));
    assert!(
        m.contains("WEBHOOK_URL (--webhook-url) 'not a url' is not a URL"),
        "{m}"
    );
}

#[test]
fn domain_with_scheme_is_used_as_given() {
    let c = build(&with(&["--domain", "http://127.0.0.1:8080"]), SECRET).unwrap();
    assert_eq!(c.auth0.base_url.as_str(), "http://127.0.0.1:8080/");
}

#[test]
fn file_fills_gaps_but_flags_win_and_unknown_keys_fail() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(
        &p,
        "batch_size = 20\nwebhook_concurrent_calls = 9\nauth0_client_secret = \"in-file\"\n",
    )
    .unwrap();
    let c = build(
        &with(&["--config", p.to_str().unwrap(), "--batch-size", "30"]),
        &[],
    )
    .unwrap();
    assert_eq!(
        (c.routes[0].batch_size, c.routes[0].webhook.concurrency),
        (30, 9)
    );
    assert_eq!(c.auth0.client_secret.expose(), "in-file");

    std::fs::write(&p, "batch_sise = 20\n").unwrap();
    let m = message(build(&with(&["--config", p.to_str().unwrap()]), SECRET));
    assert!(
        m.contains("batch_sise") && m.contains(p.to_str().unwrap()),
        "{m}"
    );
}

/// Every kind of setting reads the file the same way: a flag wins over it, an empty flag is
/// unset and leaves the file's value, a path keeps its bytes.
#[test]
fn an_empty_flag_is_unset_and_the_file_value_stands() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(
        &p,
        "audience = \"custom.example.com\"\nauth0_audience = \"acme.eu.auth0.com\"\n",
    )
    .unwrap();
    // `audience` is no key: every mistake says so, with the line.
    let m = message(build(&with(&["--config", p.to_str().unwrap()]), SECRET));
    assert!(m.contains("line 1") && m.contains("`audience`"), "{m}");

    std::fs::write(
        &p,
        "auth0_audience = \"tenant.eu.auth0.com\"\nmax_run_time = \"90s\"\nwebhook_gzip = true\ndead_letter_file = \"/var/lib/x/dl.jsonl\"\npayload_shape = \"LOG-STREAM\"\n",
    )
    .unwrap();
    let config = p.to_str().unwrap();
    let c = build(
        &with(&[
            "--config",
            config,
            "--audience",
            "",
            "--max-run-time",
            "2m",
            "--gzip",
            "",
            "--dead-letter",
            "",
        ]),
        SECRET,
    )
    .unwrap();
    assert_eq!(
        c.auth0.audience.as_str(),
        "https://tenant.eu.auth0.com/api/v2/"
    );
    assert_eq!(c.max_run_time, Duration::from_secs(120));
    assert!(c.routes[0].webhook.gzip);
    assert_eq!(
        c.routes[0].dead_letter.as_deref(),
        Some(Path::new("/var/lib/x/dl.jsonl"))
    );
    assert_eq!(c.routes[0].webhook.shape, PayloadShape::LogStream);
}

#[test]
fn every_missing_required_setting_is_named_at_once() {
    let m = message(build(&["--state", "/tmp/s.json"], &[]));
    for name in [
        "4 required settings are missing",
        "AUTH0_DOMAIN (--domain)",
        "AUTH0_CLIENT_ID (--client-id)",
        "AUTH0_CLIENT_SECRET_FILE",
        "WEBHOOK_URL (--webhook-url)",
    ] {
        assert!(m.contains(name), "{name} in {m}");
    }
    let m = message(build(&BASE[2..], &[]));
    assert!(m.starts_with("2 required settings are missing"), "{m}");
    assert!(!m.contains("WEBHOOK_URL"), "{m}");
}

#[test]
fn audience_defaults_to_the_domain_and_may_be_a_domain_or_a_url() {
    let c = build(BASE, SECRET).unwrap();
    assert_eq!(
        c.auth0.audience.as_str(),
        "https://acme.eu.auth0.com/api/v2/"
    );
    let proxied = with(&["--domain", "https://login.acme.com"]);
    let c = build(
        &[proxied.as_slice(), &["--audience", "acme.eu.auth0.com"]].concat(),
        SECRET,
    )
    .unwrap();
    assert_eq!(c.auth0.base_url.as_str(), "https://login.acme.com/");
    assert_eq!(
        c.auth0.audience.as_str(),
        "https://acme.eu.auth0.com/api/v2/"
    );
    let c = build(
        &with(&["--audience", "https://acme.eu.auth0.com/api/v2/"]),
        SECRET,
    )
    .unwrap();
    assert_eq!(
        c.auth0.audience.as_str(),
        "https://acme.eu.auth0.com/api/v2/"
    );
    let m = message(build(&with(&["--audience", "ftp://x.example/"]), SECRET));
    assert!(m.contains("AUTH0_AUDIENCE 'ftp://x.example/'"), "{m}");
}

#[test]
fn reserved_headers_are_refused() {
    let m = message(build(&with(&["--header", "Authorization: x"]), SECRET));
    assert!(m.contains("Authorization"), "{m}");
    let c = build(&with(&["--header", "X-Env: prod"]), SECRET).unwrap();
    assert_eq!(c.routes[0].webhook.headers[0].0.as_str(), "x-env");
}

#[test]
fn debug_hides_every_secret() {
    let c = build(
        &with(&["--header", "X-Api-Key: hdr-secret-1"]),
        &[
            ("AUTH0_CLIENT_SECRET", "client-secret-1"),
            ("AUTHORIZATION", "Bearer authz-secret-1"),
            ("WEBHOOK_SECRET", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            (
                "SLACK_INCOMING_WEBHOOK_URL",
                "https://hooks.slack.com/services/T0/B0/slack-secret-1",
            ),
        ],
    )
    .unwrap();
    let debug = format!("{c:?} {c:#?}");
    for secret in [
        "client-secret-1",
        "authz-secret-1",
        "C2FVsBQIhrscChlQIMV",
        "slack-secret-1",
        "hooks.slack.com",
        "hdr-secret-1",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("***"), "{debug}");
}

#[test]
fn slack_url_never_appears_in_its_error() {
    let m = message(build(
        BASE,
        &[
            ("AUTH0_CLIENT_SECRET", "s"),
            (
                "SLACK_INCOMING_WEBHOOK_URL",
                "http://hooks.slack.example/T0/B0/XYZSECRET",
            ),
        ],
    ));
    assert!(
        m.contains("SLACK_INCOMING_WEBHOOK_URL must use https") && !m.contains("XYZSECRET"),
        "{m}"
    );
}

#[test]
fn format_names_batching_and_content_type_combine_as_the_readme_says() {
    let body = |args: &[&str]| {
        let c = build(&with(args), SECRET).unwrap().routes.remove(0).webhook;
        (
            c.send_as_batch,
            c.format,
            c.content_type.map(|v| v.to_str().unwrap().to_string()),
        )
    };
    let json = Some("application/json".to_string());
    assert_eq!(body(&[]), (true, PayloadFormat::Array, None));
    assert_eq!(
        body(&["--payload-shape", "log-stream"]),
        (true, PayloadFormat::Jsonl, json.clone())
    );
    assert_eq!(
        body(&["--payload-shape", "log-stream", "--payload-format", "array"]),
        (true, PayloadFormat::Array, json.clone())
    );
    assert_eq!(
        body(&["--payload-format", "JSONLINES"]),
        (true, PayloadFormat::Jsonl, None)
    );
    assert_eq!(
        body(&["--payload-format", "jsonarray"]),
        (true, PayloadFormat::Array, None)
    );
    assert!(!body(&["--payload-format", "jsonobject"]).0);
    assert!(!body(&["--payload-format", "jsonobject", "--send-as-batch", "false"]).0);
    assert_eq!(
        body(&[
            "--payload-shape",
            "log-stream",
            "--content-type",
            "text/plain"
        ]),
        (true, PayloadFormat::Jsonl, Some("text/plain".to_string()))
    );
    let m = message(build(
        &with(&["--payload-format", "jsonobject", "--send-as-batch", "true"]),
        SECRET,
    ));
    assert!(
        m.contains("jsonobject") && m.contains("SEND_AS_BATCH"),
        "{m}"
    );
    let m = message(build(&with(&["--content-type", "a\u{7f}b"]), SECRET));
    assert!(m.contains("WEBHOOK_CONTENT_TYPE"), "{m}");
}

#[test]
fn the_extensions_daily_report_time_is_read_as_the_hour() {
    let slack = (
        "SLACK_INCOMING_WEBHOOK_URL",
        "https://hooks.slack.com/services/T/B/x",
    );
    let build_with = |v: &str| build(BASE, &[SECRET[0], slack, ("DAILY_REPORT_TIME", v)]);
    let hour = |v: &str| build_with(v).unwrap().slack.unwrap().daily_report_hour;
    assert_eq!(hour("9"), Some(9));
    assert_eq!(hour("09:00"), Some(9));
    for bad in ["24", "9:30", "nine"] {
        let m = message(build_with(bad));
        assert!(
            m.contains("DAILY_REPORT_TIME must be") && m.contains(bad),
            "{m}"
        );
    }
    let m = message(build(
        &with(&["--daily-report-hour", "8"]),
        &[SECRET[0], slack, ("DAILY_REPORT_TIME", "9")],
    ));
    assert!(
        m.contains("DAILY_REPORT_TIME") && m.contains("DAILY_REPORT_HOUR"),
        "{m}"
    );
}

#[test]
fn default_state_file_is_under_xdg_state_home() {
    let c = build(
        &BASE[..6],
        &[
            ("AUTH0_CLIENT_SECRET", "s"),
            ("XDG_STATE_HOME", "/var/lib/x"),
        ],
    )
    .unwrap();
    assert_eq!(
        c.state_file,
        PathBuf::from("/var/lib/x/auth0-mgmt-webhooks/state.json")
    );
}

#[test]
fn signature_scheme_chooses_the_header_and_refuses_what_cannot_sign() {
    let hub_key = ("WEBHOOK_SECRET", "any text of sixteen+ chars");
    let env = [SECRET[0], hub_key];
    let c = build(&with(&["--signature-scheme", "x-hub-signature-256"]), &env).unwrap();
    let (name, value) = c.routes[0]
        .webhook
        .signing
        .as_ref()
        .unwrap()
        .header("id", 1, b"{}");
    assert_eq!(name, "x-hub-signature-256");
    assert!(value.starts_with("sha256="), "{value}");
    // The default stays Standard Webhooks, which refuses a key that is not whsec_.
    let m = message(build(BASE, &env));
    assert!(m.contains("WEBHOOK_SECRET") && m.contains("whsec_"), "{m}");
    let m = message(build(&with(&["--signature-scheme", "github"]), &env));
    assert!(
        m.contains("SIGNATURE_SCHEME (--signature-scheme)") && m.contains("x-hub-signature-256"),
        "{m}"
    );
    let m = message(build(
        &with(&["--signature-scheme", "x-hub-signature-256"]),
        SECRET,
    ));
    assert!(m.contains("needs WEBHOOK_SECRET"), "{m}");
    let short = [SECRET[0], ("WEBHOOK_SECRET", "too-short")];
    let m = message(build(
        &with(&["--signature-scheme", "x-hub-signature-256"]),
        &short,
    ));
    assert!(
        m.contains("16 characters") && !m.contains("too-short"),
        "{m}"
    );
}

#[test]
fn a_webhook_url_from_a_file_is_a_secret_shown_as_scheme_and_host() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("url");
    let url = "https://logs-01.loggly.com/bulk/tok-in-path-5f3a/tag/auth0/?k=q-tok-77";
    std::fs::write(&path, format!("{url}\n")).unwrap();
    let p = path.to_str().unwrap();
    let without_url: Vec<&str> = BASE
        .chunks(2)
        .filter(|pair| pair[0] != "--webhook-url")
        .flatten()
        .copied()
        .collect();
    let c = build(&without_url, &[SECRET[0], ("WEBHOOK_URL_FILE", p)]).unwrap();
    assert_eq!(c.routes[0].webhook.url.as_str(), url);
    assert_eq!(
        c.routes[0].webhook.shown_url(),
        "https://logs-01.loggly.com"
    );
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("tok-in-path") && !debug.contains("q-tok"),
        "{debug}"
    );
    assert!(
        c.secret_files
            .iter()
            .any(|(n, f)| n == "WEBHOOK_URL_FILE" && f == &path)
    );
    // A server echoing the path gets it scrubbed.
    assert!(!crate::secret::scrub("no route /bulk/tok-in-path-5f3a/tag/auth0/").contains("tok"));
    assert_eq!(
        crate::secret::scrub("unknown token tok-in-path-5f3a for bulk"),
        "unknown token *** for bulk"
    );

    let m = message(build(BASE, &[SECRET[0], ("WEBHOOK_URL_FILE", p)]));
    assert!(m.contains("WEBHOOK_URL") && m.contains("not both"), "{m}");

    std::fs::write(&path, "ftp://host.example/very-secret-path-9").unwrap();
    let m = message(build(&without_url, &[SECRET[0], ("WEBHOOK_URL_FILE", p)]));
    assert!(m.contains("WEBHOOK_URL_FILE") && m.contains("https"), "{m}");
    assert!(!m.contains("very-secret-path"), "{m}");
    // A URL given plainly keeps its path in messages: only the file makes it a secret.
    let c = build(BASE, SECRET).unwrap();
    assert_eq!(
        c.routes[0].webhook.shown_url(),
        "https://hooks.example.com/x"
    );
}

#[test]
fn pii_settings_name_what_is_missing_or_wrong() {
    let fields = ["--pii-fields", "email, details.request.body.password"];
    let c = build(&with(&fields), SECRET).unwrap();
    let masked = c.routes[0]
        .filter
        .pii
        .as_ref()
        .unwrap()
        .apply(r#"{"email":"a@b.c"}"#)
        .into_owned();
    assert_eq!(masked, r#"{"email":"***"}"#, "mask is the default");
    assert!(
        build(BASE, SECRET)
            .unwrap()
            .routes
            .remove(0)
            .filter
            .pii
            .is_none()
    );

    let hash = with(&["--pii-fields", "email", "--pii-method", "hash"]);
    let m = message(build(&hash, SECRET));
    assert!(
        m.contains("PII_HASH_KEY") && m.contains("16 characters"),
        "{m}"
    );
    let m = message(build(
        &hash,
        &[SECRET[0], ("PII_HASH_KEY", "short-pii-key")],
    ));
    assert!(
        m.contains("PII_HASH_KEY") && !m.contains("short-pii-key"),
        "{m}"
    );
    let key = ("PII_HASH_KEY", "a long enough pii hash key");
    let c = build(&hash, &[SECRET[0], key]).unwrap();
    let token = c.routes[0]
        .filter
        .pii
        .as_ref()
        .unwrap()
        .apply(r#"{"email":"a@b.c"}"#)
        .into_owned();
    assert!(!token.contains("a@b.c") && token.len() > 64, "{token}");

    let m = message(build(&with(&["--pii-method", "drop"]), SECRET));
    assert!(
        m.contains("PII_FIELDS (--pii-fields)") && m.contains("email"),
        "{m}"
    );
    let m = message(build(&with(&["--pii-fields", "emails"]), SECRET));
    assert!(
        m.contains("PII_FIELDS") && m.contains("did you mean `email`?"),
        "{m}"
    );
    let m = message(build(
        &with(&["--pii-fields", "email", "--pii-method", "blur"]),
        SECRET,
    ));
    assert!(
        m.contains("PII_METHOD (--pii-method) must be mask or hash or drop"),
        "{m}"
    );
}

/// A file value goes through the parser its variable does: `send_as_batch = "yes"` is read as
/// SEND_AS_BATCH=yes is, and a number may be written as text.
#[test]
fn a_file_value_is_read_as_its_variable_would_be() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(
        &p,
        "send_as_batch = \"no\"\nbatch_size = \"20\"\nwebhook_gzip = \"on\"\nmax_run_time = \"90s\"\n",
    )
    .unwrap();
    let c = build(&with(&["--config", p.to_str().unwrap()]), SECRET).unwrap();
    assert!(!c.routes[0].webhook.send_as_batch);
    assert!(c.routes[0].webhook.gzip);
    assert_eq!(c.routes[0].batch_size, 20);
    assert_eq!(c.max_run_time, Duration::from_secs(90));

    std::fs::write(&p, "send_as_batch = \"maybe\"\nbatch_size = 500\n").unwrap();
    let m = message(build(&with(&["--config", p.to_str().unwrap()]), SECRET));
    assert!(
        m.contains("line 1, column 17, key `send_as_batch`: must be true or false, got 'maybe'"),
        "{m}"
    );
    assert!(
        m.contains("line 2, column 14, key `batch_size`: must be a whole number from 1 to 100"),
        "{m}"
    );
}

#[test]
fn an_empty_metrics_file_is_unset_and_a_path_without_a_file_name_is_refused() {
    let cfg = build(&with(&["--metrics-file", ""]), SECRET).unwrap();
    assert_eq!(cfg.monitor.metrics_file, None);
    let m = message(build(&with(&["--metrics-file", "/var/lib/.."]), SECRET));
    assert!(
        m.starts_with("METRICS_FILE '/var/lib/..' must name a file"),
        "{m}"
    );
}

/// `--config` file `text`, with the flags of [`BASE`] beside it.
fn with_file(text: &str) -> Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("routes.toml");
    std::fs::write(&p, text).unwrap();
    build(&with(&["--config", p.to_str().unwrap()]), SECRET)
}

#[test]
fn a_route_table_sets_its_own_and_takes_the_rest_from_the_top_level() {
    let c = with_file(
        "batch_size = 40\nlog_types = \"sapi\"\n\n[[route]]\nname = \"siem\"\n\n[[route]]\nname = \"oncall\"\nwebhook_url = \"https://oncall.example.com/h\"\nlog_types = \"f\"\nauthorization = \"Bearer x\"\n\n[route.webhook_headers]\nX-Route = \"oncall\"\n",
    )
    .unwrap();
    let [siem, oncall] = &c.routes[..] else {
        panic!("{:?}", c.routes);
    };
    assert_eq!(
        (siem.name.as_str(), oncall.name.as_str()),
        ("siem", "oncall")
    );
    assert_eq!(
        siem.webhook.url.as_str(),
        "https://hooks.example.com/x",
        "the flag's"
    );
    assert_eq!(oncall.webhook.url.as_str(), "https://oncall.example.com/h");
    assert_eq!(Vec::from_iter(&siem.filter.log_types), ["sapi"]);
    assert_eq!(Vec::from_iter(&oncall.filter.log_types), ["f"]);
    assert_eq!((siem.batch_size, oncall.batch_size), (40, 40));
    assert!(siem.webhook.authorization.is_none());
    assert_eq!(oncall.webhook.headers[0].0.as_str(), "x-route");
    assert!(siem.webhook.headers.is_empty());
    assert_eq!(c.of(oncall), "route oncall: ");
    let one = build(BASE, SECRET).unwrap();
    assert_eq!((one.routes.len(), one.of(&one.routes[0]).as_str()), (1, ""));
}

#[test]
fn route_table_mistakes_are_refused_with_their_line() {
    let m = message(with_file(
        "[[route]]\nname = \"a\"\nwebhook_urll = \"https://a.example.com\"\n",
    ));
    assert!(
        m.contains("line 3") && m.contains("did you mean `webhook_url`"),
        "{m}"
    );
    let m = message(with_file("[[route]]\nname = \"a\"\nca_cert = \"/x.pem\"\n"));
    assert!(m.contains("line 3") && m.contains("not per route"), "{m}");
    let m = message(with_file(
        "[[route]]\nwebhook_url = \"https://a.example.com\"\n",
    ));
    assert!(m.contains("needs a name"), "{m}");
    let m = message(with_file("[[route]]\nname = \"Has Space\"\n"));
    assert!(m.contains("a-z, 0-9"), "{m}");
    let m = message(with_file(
        "[[route]]\nname = \"a\"\n[[route]]\nname = \"a\"\n",
    ));
    assert!(
        m.contains("line 3") && m.contains("two routes are named \"a\""),
        "{m}"
    );
    let m = message(with_file("[[route]]\nname = \"a\"\nbatch_size = 500\n"));
    assert!(m.contains("line 3") && m.contains("batch_size"), "{m}");
    let m = message(with_file("route = \"a\"\n"));
    assert!(m.contains("[[route]]"), "{m}");
    // A value that parses but is wrong as a whole names its route.
    let m = message(with_file(
        "[[route]]\nname = \"b\"\npayload_format = \"jsonobject\"\nsend_as_batch = true\n",
    ));
    assert!(
        m.starts_with("route \"b\": PAYLOAD_FORMAT=jsonobject"),
        "{m}"
    );
}

#[test]
fn two_routes_may_not_share_a_dead_letter_file() {
    let m = message(with_file(
        "dead_letter_file = \"/var/lib/x/dl.jsonl\"\n[[route]]\nname = \"a\"\n[[route]]\nname = \"b\"\nlog_types = \"f\"\n",
    ));
    assert!(
        m.contains("\"a\" and \"b\"") && m.contains("its own"),
        "{m}"
    );
    let c = with_file(
        "[[route]]\nname = \"a\"\ndead_letter_file = \"/x/a.jsonl\"\n[[route]]\nname = \"b\"\ndead_letter_file = \"/x/b.jsonl\"\n",
    )
    .unwrap();
    assert_eq!(c.dead_letters().len(), 2);
    assert_eq!(c.route(Some("b")).unwrap().name, "b");
    assert!(message(c.route(None).map(|_| c.clone())).contains("--route (a, b)"));
    assert!(message(c.route(Some("c")).map(|_| c.clone())).contains("no such route"));
}

#[test]
fn the_routes_guide_example_loads() {
    let guide = include_str!("../../docs/routes.md");
    let example = guide.split("```toml\n").nth(1).unwrap();
    let example = example.split("```").next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (name, value) in [
        ("client-secret", "shh"),
        ("siem-token", "Bearer siem"),
        (
            "oncall-url",
            "https://hooks.example.com/oncall/T0K3N1234567890",
        ),
    ] {
        std::fs::write(dir.path().join(name), value).unwrap();
    }
    let text = example
        .replace("/etc/auth0-mgmt-webhooks", d)
        .replace("/var/lib/auth0-mgmt-webhooks", d);
    let p = dir.path().join("routes.toml");
    std::fs::write(&p, text).unwrap();
    let c = build(&["--config", p.to_str().unwrap()], &[]).unwrap();
    let names: Vec<&str> = c.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["siem", "oncall-logins", "oncall-clients", "archive"]
    );
    let oncall = c.route(Some("oncall-clients")).unwrap();
    assert!(oncall.webhook.url_is_secret);
    assert_eq!(oncall.filter.endpoints.len(), 1);
    let archive = c.route(Some("archive")).unwrap();
    assert!(archive.webhook.gzip && archive.dead_letter.is_some());
    assert_eq!(archive.webhook.headers[0].0.as_str(), "x-source");
    assert_eq!(c.dead_letters().len(), 1);
}

#[test]
fn a_routes_secret_files_are_listed_for_checks_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("oncall-token");
    std::fs::write(&token, "Bearer oncall").unwrap();
    let c = with_file(&format!(
        "[[route]]\nname = \"oncall\"\nauthorization_file = \"{}\"\n",
        token.display()
    ))
    .unwrap();
    assert_eq!(
        c.routes[0].webhook.authorization.as_ref().unwrap().expose(),
        "Bearer oncall"
    );
    let listed = c
        .secret_files
        .iter()
        .find(|(what, _)| what.contains("oncall"));
    assert_eq!(
        listed,
        Some(&("AUTHORIZATION_FILE of route \"oncall\"".to_string(), token)),
        "{:?}",
        c.secret_files
    );
}
