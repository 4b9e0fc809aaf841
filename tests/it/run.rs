//! `auth0-mgmt-webhooks run` end to end (issue 2): the real binary against a fake tenant and a
//! fake receiver on 127.0.0.1, judged by what a user sees: what reached the receiver, the state
//! file, stdout/stderr and the exit code.

use crate::support::cli::{Ran, Setup, api_call_ids, bin, id_of, is_api_call};
use crate::support::http::parse_form;
use crate::support::{Reply, log, log_id, realistic_logs};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// The settings in the environment, as the cron job of the issue sets them, so that a test may
/// remove one.
fn cron_setup(logs: Vec<Value>) -> Setup {
    Setup::new(logs).with_settings_in_env()
}

/// Every log request's query, decoded.
fn log_queries(setup: &Setup) -> Vec<Vec<(String, String)>> {
    setup
        .tenant
        .log_requests()
        .iter()
        .map(|target| {
            let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
            parse_form(query)
        })
        .collect()
}

/// The payload item the issue specifies for a log.
fn expected_item(log: &Value) -> Value {
    json!({
        "log_id": log["log_id"],
        "type": log["type"],
        "date": log["date"],
        "request": log.pointer("/details/request").cloned().unwrap_or(Value::Null),
        "response": log.pointer("/details/response").cloned().unwrap_or(Value::Null),
    })
}

fn sorted(ids: Vec<String>) -> Vec<String> {
    let mut ids = ids;
    ids.sort();
    ids
}

/// Value of a query parameter.
fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A sapi call to `/api/v2/users` with that counter: the plainest matching log.
fn users_call(counter: u64) -> Value {
    log(counter, "sapi", "get", "/api/v2/users")
}

// ---------------------------------------------------------------------------------------------
// Batch mode
// ---------------------------------------------------------------------------------------------

#[test]
fn batch_mode_delivers_every_sapi_fapi_log_as_json_arrays_and_checkpoints_the_last_log() {
    let logs = realistic_logs(250, 11);
    let setup = cron_setup(logs.clone());

    setup.run(&["--batch-size", "50"], &[]).assert_code(0);

    let requests = setup.receiver.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&request.body).expect("a JSON body");
        let items = body.as_array().expect("batch mode sends a JSON array");
        assert!(
            (1..=50).contains(&items.len()),
            "{} items in a batch of at most 50",
            items.len()
        );
    }
    // Every sapi/fapi log exactly once, as the specified item; nothing else.
    let by_id: std::collections::HashMap<String, &Value> =
        logs.iter().map(|l| (id_of(l), l)).collect();
    let items = setup.receiver.items();
    for item in &items {
        let source = by_id[item["log_id"].as_str().expect("each item has log_id")];
        assert_eq!(item, &expected_item(source));
    }
    let delivered = setup.receiver.delivered_ids();
    let wanted = api_call_ids(&logs);
    assert!(wanted.len() > 150 && wanted.len() < logs.len());
    assert_eq!(sorted(delivered), wanted);
    // The checkpoint is the last log fetched, matching or not.
    assert_eq!(setup.checkpoint(), Some(log_id(250)));
}

#[test]
fn second_batch_run_with_nothing_new_sends_nothing() {
    let setup = cron_setup(realistic_logs(120, 5));
    setup.run(&["--batch-size", "40"], &[]).assert_code(0);
    let after_first = setup.receiver.request_count();
    assert!(after_first > 0);

    setup.run(&["--batch-size", "40"], &[]).assert_code(0);

    assert_eq!(setup.receiver.request_count(), after_first);
    assert_eq!(setup.checkpoint(), Some(log_id(120)));
}

/// Search mode sorts by date, ids follow the time a log was stored: paging by date skips logs
/// (issue 10). Every page, the first run's included, is asked in checkpoint mode, 100 at a time.
#[test]
fn first_run_pages_in_checkpoint_mode_from_the_oldest_log_kept() {
    let setup = cron_setup(realistic_logs(120, 3));

    setup.run(&["--batch-size", "50"], &[]).assert_code(0);

    let queries: Vec<(Option<String>, Option<String>, bool)> = log_queries(&setup)
        .iter()
        .map(|q| {
            (
                param(q, "from").map(str::to_string),
                param(q, "take").map(str::to_string),
                param(q, "sort").is_some() || param(q, "page").is_some(),
            )
        })
        .collect();
    let oldest = format!("90020000101000000000{}", "0".repeat(36));
    let page = |from: &str| (Some(from.to_string()), Some("100".to_string()), false);
    assert_eq!(
        queries,
        [page(&oldest), page(&log_id(100)), page(&log_id(120))],
        "checkpoint mode from the first page on, until an empty page"
    );
    assert_eq!(setup.receiver.unique_delivered().len(), {
        let logs = setup.tenant.logs();
        api_call_ids(&logs).len()
    });
}

// ---------------------------------------------------------------------------------------------
// One-by-one mode
// ---------------------------------------------------------------------------------------------

#[test]
fn one_by_one_mode_posts_each_log_as_an_object_with_at_most_concurrency_in_flight() {
    let logs = realistic_logs(60, 21);
    let setup = cron_setup(logs.clone());
    // Slow answers, so requests overlap whenever the tool sends them in parallel.
    setup.receiver.set_delay(Duration::from_millis(60));

    setup
        .run(
            &[
                "--send-as-batch",
                "false",
                "--concurrency",
                "3",
                "--batch-size",
                "30",
            ],
            &[],
        )
        .assert_code(0);

    let wanted = api_call_ids(&logs);
    let requests = setup.receiver.requests();
    assert_eq!(requests.len(), wanted.len(), "one request per log");
    for request in &requests {
        let body: Value = serde_json::from_slice(&request.body).expect("a JSON body");
        assert!(body.is_object(), "one-by-one sends an object, got {body}");
        assert!(body["log_id"].is_string());
    }
    assert_eq!(sorted(setup.receiver.delivered_ids()), wanted);
    let peak = setup.receiver.max_in_flight();
    assert!(peak > 1, "requests were sent one at a time (peak {peak})");
    assert!(peak <= 3, "{peak} requests in flight, over --concurrency 3");
    assert_eq!(setup.checkpoint(), Some(log_id(60)));
}

// ---------------------------------------------------------------------------------------------
// Endpoint filter
// ---------------------------------------------------------------------------------------------

/// Logs 1..=9 covering the endpoint cases; the comment says whether `users, clients` wants it.
fn endpoint_logs() -> Vec<Value> {
    vec![
        log(1, "sapi", "post", "/api/v2/users"),          // yes
        log(2, "sapi", "get", "/api/v2/users-by-email"),  // no: another endpoint
        log(3, "fapi", "patch", "/api/v2/clients/abc"),   // yes
        log(4, "sapi", "get", "/api/v2/connections"),     // no
        log(5, "sapi", "delete", "/v2/users/auth0|123"),  // yes: logged without /api
        log(6, "s", "", ""),                              // no: a login
        log(7, "sapi", "patch", "/api/v2/users/auth0|9"), // yes
        log(8, "sapi", "get", "/api/v2/clients"),         // yes
        log(9, "sapi", "get", "/api/v2/rules/rul_1"),     // no
    ]
}

#[test]
fn spaced_endpoint_list_users_comma_space_clients_forwards_both() {
    let setup = cron_setup(endpoint_logs());
    let mut cmd = setup.command("run");
    cmd.env("AUTH0_API_ENDPOINTS", "users, clients");

    Ran::of(&mut cmd).assert_code(0);

    assert_eq!(
        setup.receiver.delivered_ids(),
        [1, 3, 5, 7, 8].map(log_id),
        "users and clients calls, and nothing else"
    );
    assert_eq!(setup.checkpoint(), Some(log_id(9)));
}

#[test]
fn users_endpoint_does_not_forward_users_by_email() {
    let setup = cron_setup(endpoint_logs());

    setup.run(&["--endpoints", "users"], &[]).assert_code(0);

    let delivered = setup.receiver.delivered_ids();
    assert!(!delivered.contains(&log_id(2)), "{delivered:?}");
    assert_eq!(delivered, [1, 5, 7].map(log_id));
}

#[test]
fn path_logged_as_v2_users_counts_as_api_v2_users() {
    let logs = vec![
        log(1, "sapi", "delete", "/v2/users/auth0|123"),
        log(2, "sapi", "get", "/v2/users"),
        log(3, "sapi", "get", "/v2/clients"),
    ];
    let setup = cron_setup(logs);

    setup.run(&["--endpoints", "users"], &[]).assert_code(0);

    assert_eq!(setup.receiver.delivered_ids(), [1, 2].map(log_id));
    // The path is forwarded as Auth0 logged it.
    assert_eq!(
        setup.receiver.items()[0]["request"]["path"],
        "/v2/users/auth0|123"
    );
}

// ---------------------------------------------------------------------------------------------
// START_FROM
// ---------------------------------------------------------------------------------------------

#[test]
fn start_from_is_applied_once_and_left_in_the_settings_does_not_rewind() {
    let setup = cron_setup((1..=30).map(users_call).collect());
    let with_start_from = |id: &str| setup.run(&[], &[("START_FROM", id)]);

    with_start_from(&log_id(10)).assert_code(0);
    assert_eq!(
        setup.receiver.delivered_ids(),
        (11..=30).map(log_id).collect::<Vec<_>>(),
        "the first run starts after START_FROM"
    );
    assert_eq!(
        param(&log_queries(&setup)[0], "from"),
        Some(log_id(10).as_str())
    );
    assert_eq!(setup.checkpoint(), Some(log_id(30)));

    setup
        .tenant
        .push_logs((31..=35).map(users_call).collect::<Vec<_>>());
    setup.receiver.clear();
    with_start_from(&log_id(10)).assert_code(0);
    assert_eq!(
        setup.receiver.delivered_ids(),
        (31..=35).map(log_id).collect::<Vec<_>>(),
        "the same START_FROM again goes on from the checkpoint"
    );
    assert_eq!(setup.checkpoint(), Some(log_id(35)));
}

#[test]
fn a_changed_start_from_rewinds_to_the_new_log() {
    let setup = cron_setup((1..=30).map(users_call).collect());
    let with_start_from = |id: &str| setup.run(&[], &[("START_FROM", id)]);
    with_start_from(&log_id(10)).assert_code(0);
    assert_eq!(setup.checkpoint(), Some(log_id(30)));
    setup.receiver.clear();

    with_start_from(&log_id(25)).assert_code(0);

    assert_eq!(
        setup.receiver.delivered_ids(),
        (26..=30).map(log_id).collect::<Vec<_>>()
    );
    assert_eq!(setup.checkpoint(), Some(log_id(30)));
}

// ---------------------------------------------------------------------------------------------
// Payload
// ---------------------------------------------------------------------------------------------

#[test]
fn log_without_details_is_forwarded_with_null_request_and_response() {
    let mut bare = users_call(2);
    bare.as_object_mut().unwrap().remove("details");
    let setup = cron_setup(vec![users_call(1), bare.clone(), users_call(3)]);

    setup.run(&[], &[]).assert_code(0);

    assert_eq!(setup.receiver.delivered_ids(), [1, 2, 3].map(log_id));
    let items = setup.receiver.items();
    assert_eq!(
        items[1],
        json!({
            "log_id": log_id(2),
            "type": "sapi",
            "date": bare["date"],
            "request": null,
            "response": null,
        })
    );
    assert!(items[0]["request"].is_object());
    assert_eq!(setup.checkpoint(), Some(log_id(3)));
}

// ---------------------------------------------------------------------------------------------
// Dry run
// ---------------------------------------------------------------------------------------------

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn dry_run_prints_matching_items_sends_nothing_and_creates_no_state_file() {
    let logs = realistic_logs(80, 8);
    let setup = cron_setup(logs.clone());

    let ran = setup.run(&["--dry-run", "--batch-size", "25"], &[]);
    ran.assert_code(0);

    let printed = json_lines(&ran.stdout);
    let wanted: Vec<Value> = logs
        .iter()
        .filter(|l| is_api_call(l))
        .map(expected_item)
        .collect();
    assert_eq!(printed, wanted, "one JSON line per matching log, in order");
    assert_eq!(setup.receiver.request_count(), 0);
    assert!(!setup.state().exists(), "a dry run wrote the state");
}

#[test]
fn dry_run_starts_at_the_checkpoint_and_leaves_the_state_file_unchanged() {
    let setup = cron_setup((1..=10).map(users_call).collect());
    setup.run(&[], &[]).assert_code(0);
    let before = std::fs::read(setup.state()).unwrap();
    let sent = setup.receiver.request_count();
    setup
        .tenant
        .push_logs(vec![users_call(11), log(12, "s", "", ""), users_call(13)]);

    let ran = setup.run(&["--dry-run"], &[]);
    ran.assert_code(0);

    let printed: Vec<Value> = json_lines(&ran.stdout)
        .iter()
        .map(|item| item["log_id"].clone())
        .collect();
    assert_eq!(printed, [json!(log_id(11)), json!(log_id(13))]);
    assert_eq!(setup.receiver.request_count(), sent);
    assert_eq!(std::fs::read(setup.state()).unwrap(), before);
}

// ---------------------------------------------------------------------------------------------
// Bad input: exit 2, a message naming the setting, no network call, state untouched
// ---------------------------------------------------------------------------------------------

/// Runs `cmd` against a setup whose state file already holds a checkpoint, and checks that it
/// is refused as a user would see it: exit 2, a message holding each of `expected`, nothing
/// asked of Auth0 or the receiver, the state file as it was.
#[track_caller]
fn assert_refused(setup: &Setup, mut cmd: Command, expected: &[&str]) {
    let state = format!(
        "{{\n  \"checkpoint\": \"{}\",\n  \"start_from\": null\n}}",
        log_id(5)
    );
    std::fs::write(setup.state(), &state).unwrap();

    let ran = Ran::of(&mut cmd);

    ran.assert_code(2);
    for text in expected {
        assert!(
            ran.stderr.contains(text),
            "the message should contain {text:?}:\n{}",
            ran.stderr
        );
    }
    assert_eq!(setup.tenant.token_requests(), 0, "a token was requested");
    assert!(setup.tenant.log_requests().is_empty(), "logs were fetched");
    assert_eq!(setup.receiver.request_count(), 0, "the webhook was called");
    assert_eq!(
        std::fs::read_to_string(setup.state()).unwrap(),
        state,
        "the state file was modified"
    );
}

fn refusal_setup() -> Setup {
    cron_setup((1..=10).map(users_call).collect())
}

/// A variable set to a wrong value or, with `None`, removed; and what the refusal must say.
const WRONG_SETTINGS: [(&str, Option<&str>, &[&str]); 5] = [
    (
        "BATCH_SIZE",
        Some("500"),
        &["BATCH_SIZE (--batch-size)", "from 1 to 100", "500"],
    ),
    ("AUTH0_DOMAIN", None, &["AUTH0_DOMAIN", "acme.eu.auth0.com"]),
    ("WEBHOOK_URL", None, &["WEBHOOK_URL", "https://"]),
    (
        "AUTH0_CLIENT_SECRET",
        None,
        &["AUTH0_CLIENT_SECRET", "AUTH0_CLIENT_SECRET_FILE"],
    ),
    (
        "WEBHOOK_URL",
        Some("hooks example com/auth0"),
        &["WEBHOOK_URL", "not a URL", "https://hooks.example.com"],
    ),
];

#[test]
fn a_wrong_or_missing_setting_is_refused_naming_it() {
    for (variable, value, said) in WRONG_SETTINGS {
        let setup = refusal_setup();
        let mut cmd = setup.command("run");
        match value {
            Some(v) => cmd.env(variable, v),
            None => cmd.env_remove(variable),
        };
        assert_refused(&setup, cmd, said);
    }
}

#[test]
fn unknown_key_in_config_file_is_refused_naming_the_key() {
    let setup = refusal_setup();
    let config = setup.home.join("settings.toml");
    // A typo of batch_size: silently ignoring it would send batches of 100.
    std::fs::write(&config, "batchsize = 20\n").unwrap();
    let mut cmd = setup.command("run");
    cmd.arg("--config").arg(&config);
    assert_refused(&setup, cmd, &["batchsize", "settings.toml", "batch_size"]);
}

// ---------------------------------------------------------------------------------------------
// Settings and help
// ---------------------------------------------------------------------------------------------

/// Bytes that are no UTF-8, as a flag's value or a variable's: a text setting refuses them by
/// name before anything is sent, a file's path takes them.
#[cfg(unix)]
#[test]
fn a_setting_that_is_not_utf8_is_refused_by_name_and_a_path_takes_any_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let not_utf8 = OsStr::from_bytes(b"hooks\xff.example.com");

    let s = Setup::new(realistic_logs(30, 61));
    let mut cmd = s.command("run");
    cmd.arg("--log-types").arg(not_utf8);
    let out = Ran::of(&mut cmd);
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("LOG_TYPES (--log-types) must be text (UTF-8)"),
        "{}",
        out.stderr
    );

    let mut cmd = s.command("run");
    cmd.env("PAYLOAD_SHAPE", not_utf8);
    let out = Ran::of(&mut cmd);
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("PAYLOAD_SHAPE (--payload-shape) must be text (UTF-8)"),
        "{}",
        out.stderr
    );
    assert_eq!(s.tenant.token_requests(), 0);
    assert_eq!(s.receiver.request_count(), 0);
    assert!(!s.state().exists());

    // A dead-letter file in a folder whose name is no UTF-8: the refused log lands there.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join(OsStr::from_bytes(b"dead\xffletters"));
    std::fs::create_dir(&folder).unwrap();
    let dead = folder.join("dl.jsonl");
    s.receiver.push_reply(Reply::text(400, "bad item"));
    let mut cmd = s.command("run");
    cmd.args(["--send-as-batch", "false", "--concurrency", "1"])
        .arg("--dead-letter")
        .arg(&dead);
    let out = Ran::of(&mut cmd);
    out.assert_code(3);
    let set_aside = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(set_aside.lines().count(), 1, "{set_aside}");
}

/// The batch size each log request of the last run asked for (`take` or `per_page`).
/// The largest number of logs in one webhook request since the `skip`th request.
fn batch_size_seen(setup: &Setup, skip: usize) -> usize {
    setup.receiver.requests()[skip..]
        .iter()
        .map(|r| r.log_ids().len())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_config_file() {
    let setup = cron_setup(realistic_logs(40, 4));
    let config = setup.home.join("settings.toml");
    std::fs::write(&config, "batch_size = 7\n").unwrap();
    let config_arg = |cmd: &mut Command| {
        cmd.arg("--config").arg(&config);
    };

    let mut file_only = setup.command("run");
    config_arg(&mut file_only);
    Ran::of(&mut file_only).assert_code(0);
    assert_eq!(batch_size_seen(&setup, 0), 7);

    // The same logs again, from the start.
    std::fs::remove_file(setup.state()).unwrap();
    let seen = setup.receiver.request_count();
    let mut env_and_file = setup.command("run");
    env_and_file.env("BATCH_SIZE", "9");
    config_arg(&mut env_and_file);
    Ran::of(&mut env_and_file).assert_code(0);
    assert_eq!(batch_size_seen(&setup, seen), 9);

    std::fs::remove_file(setup.state()).unwrap();
    let seen = setup.receiver.request_count();
    let mut all_three = setup.command("run");
    all_three
        .env("BATCH_SIZE", "9")
        .args(["--batch-size", "11"]);
    config_arg(&mut all_three);
    Ran::of(&mut all_three).assert_code(0);
    assert_eq!(batch_size_seen(&setup, seen), 11);
}

#[test]
fn run_help_lists_every_setting_with_its_environment_variable() {
    let ran = Ran::of(bin().args(["run", "--help"]));
    ran.assert_code(0);
    for name in [
        "AUTH0_DOMAIN",
        "AUTH0_CLIENT_ID",
        "AUTH0_CLIENT_SECRET",
        "WEBHOOK_URL",
        "AUTHORIZATION",
        "AUTH0_API_ENDPOINTS",
        "BATCH_SIZE",
        "SEND_AS_BATCH",
        "WEBHOOK_CONCURRENT_CALLS",
        "START_FROM",
        "LOG_TYPES",
        "MAX_RUN_TIME",
        "STATE_FILE",
    ] {
        assert!(ran.stdout.contains(name), "--help lacks {name}");
    }
    assert!(ran.stdout.contains("[default: 100]"), "batch size default");
}

#[test]
fn output_json_prints_one_summary_whose_delivered_count_matches_the_receiver() {
    let logs = realistic_logs(90, 13);
    let setup = cron_setup(logs.clone());

    let ran = setup.run(&["--output", "json", "--batch-size", "30"], &[]);
    ran.assert_code(0);

    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object on stdout: {}", ran.stdout);
    let summary: Value = serde_json::from_str(lines[0]).expect("JSON");
    assert!(summary.is_object());
    let received = setup.receiver.delivered_ids().len();
    assert_eq!(received, api_call_ids(&logs).len());
    assert_eq!(summary["logs_delivered"], json!(received));
    assert_eq!(summary["logs_fetched"], json!(90));
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["checkpoint"], json!(log_id(90)));
}

#[test]
fn a_cursor_that_panics_fails_the_run_naming_it_and_keeps_what_was_delivered() {
    // Three pages of logs; the cursor panics once it has sent the first on (a fault that only a
    // test build carries).
    let logs = realistic_logs(250, 21);
    let setup = cron_setup(logs.clone());

    let ran = setup.run(
        &["--output", "json"],
        &[(auth0_mgmt_webhooks::settings::FAULT, "cursor 0")],
    );

    assert_eq!(ran.code, 1, "a dead cursor fails the run:\n{}", ran.all());
    assert!(
        ran.stderr.contains("the cursor of window 0 panicked"),
        "the message names what died:\n{}",
        ran.stderr
    );
    let summary: Value = serde_json::from_str(ran.stdout.trim()).expect("one JSON summary");
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["caught_up"], false);
    // What the first page held was delivered, and the checkpoint stops at its end: the logs
    // after it were never read, and the next run reads them.
    assert_eq!(
        setup.receiver.delivered_ids(),
        api_call_ids(&logs[..100]),
        "the receiver got the first page's logs"
    );
    assert_eq!(setup.checkpoint(), Some(log_id(100)));

    setup.run(&[], &[]).assert_code(0);
    assert_eq!(
        setup.receiver.unique_delivered().len(),
        api_call_ids(&logs).len()
    );
    assert_eq!(setup.checkpoint(), Some(log_id(250)));
}

#[test]
fn a_delivery_thread_that_panics_fails_the_run_saying_so_and_keeps_the_checkpoint() {
    let logs = realistic_logs(50, 22);
    let setup = cron_setup(logs.clone());

    let ran = setup.run(
        &["--output", "json"],
        &[(auth0_mgmt_webhooks::settings::FAULT, "worker")],
    );

    assert_eq!(ran.code, 1, "a dead worker fails the run:\n{}", ran.all());
    assert!(
        ran.stderr.contains("a delivery thread panicked"),
        "the message names what died:\n{}",
        ran.stderr
    );
    let summary: Value = serde_json::from_str(ran.stdout.trim()).expect("one JSON summary");
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["caught_up"], false);
    assert!(setup.receiver.delivered_ids().is_empty());
    assert_eq!(setup.checkpoint(), None, "nothing was delivered");
}
