//! What an operator sees: Slack reports, the run history, the JSON summary, `check`, and the
//! text on stderr at each verbosity when no terminal is attached.

use std::sync::{Arc, Mutex};

use crate::support::cli::{Ran, Setup, matching};
use crate::support::{Behaviour, CLIENT_SECRET, Reply, Server, log_id, realistic_logs};
use serde_json::Value;

/// A Slack incoming webhook path: a secret that must never be printed.
const SLACK_PATH: &str = "/services/T0000/B0000/XYZSLACKSECRET";

/// `auth0-mgmt-webhooks history` of the state file with these arguments, and no other setting.
fn history(s: &Setup, args: &[&str]) -> Ran {
    Ran::of(
        s.home
            .bare()
            .arg("history")
            .arg("--state")
            .arg(s.state())
            .args(args),
    )
}

/// A fake Slack endpoint recording the `text` of each message it gets, and its whole body.
struct Slack {
    server: Server,
    texts: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Slack {
    fn start(status: u16) -> Slack {
        Slack::answering(&[status])
    }

    /// Answers with `statuses` in turn, then with the last of them.
    fn answering(statuses: &[u16]) -> Slack {
        let texts = Arc::new(Mutex::new(Vec::new()));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (seen, seen_bodies) = (Arc::clone(&texts), Arc::clone(&bodies));
        let statuses = statuses.to_vec();
        let server = Server::start(move |req| {
            let status = {
                let mut seen = seen.lock().unwrap();
                let status = statuses[seen.len().min(statuses.len() - 1)];
                let text = req
                    .json()
                    .ok()
                    .and_then(|v| v["text"].as_str().map(str::to_string))
                    .unwrap_or_else(|| format!("<not a Slack message: {}>", req.body_text()));
                seen.push(format!("{} {}", req.path(), text));
                status
            };
            if let Ok(body) = req.json() {
                seen_bodies.lock().unwrap().push(body);
            }
            Reply::text(status, if status == 200 { "ok" } else { "no" })
        });
        Slack {
            server,
            texts,
            bodies,
        }
    }

    /// The one message received, as JSON.
    fn only_body(&self) -> Value {
        let bodies = self.bodies.lock().unwrap();
        assert_eq!(bodies.len(), 1, "{bodies:#?}");
        bodies[0].clone()
    }

    fn url(&self) -> String {
        format!("{}{SLACK_PATH}", self.server.url())
    }

    /// The messages received, each checked to have come to the configured path.
    fn messages(&self) -> Vec<String> {
        self.texts
            .lock()
            .unwrap()
            .iter()
            .map(|m| {
                m.strip_prefix(&format!("{SLACK_PATH} "))
                    .unwrap_or_else(|| panic!("posted to another path: {m}"))
                    .to_string()
            })
            .collect()
    }
}

/// A Slack message as a person sees it: the colour of its attachment's bar, and its fields
/// (`*Title*` over the value, in the attachment's blocks) by title.
fn slack_fields(message: &Value) -> (String, std::collections::BTreeMap<String, String>) {
    assert!(
        message["blocks"][0]["text"]["text"].is_string(),
        "a headline block: {message:#}"
    );
    let attachment = &message["attachments"][0];
    let mut fields = std::collections::BTreeMap::new();
    for block in attachment["blocks"].as_array().expect("attachment blocks") {
        let texts = block["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(block.get("text"));
        for t in texts.filter_map(|t| t["text"].as_str()) {
            if let Some((title, value)) = t.split_once('\n') {
                fields.insert(title.trim_matches('*').to_string(), value.to_string());
            }
        }
    }
    let colour = attachment["color"].as_str().expect("a colour").to_string();
    (colour, fields)
}

// ---------------------------------------------------------------------------------------------
// Slack

#[test]
fn slack_gets_one_message_with_error_counts_and_checkpoint_when_a_run_fails() {
    let logs = realistic_logs(40, 3);
    let s = Setup::new(logs.clone());
    // The first batch is taken, then the webhook refuses: the run stops before the refused log.
    s.receiver.push_reply(Reply::status(200));
    s.receiver.set_behaviour(Behaviour::Status(400));
    let slack = Slack::start(200);

    s.exec(
        "run",
        &["--batch-size", "10"],
        &[("SLACK_INCOMING_WEBHOOK_URL", &slack.url())],
    )
    .assert_code(1);

    let messages = slack.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let m = &messages[0];
    let delivered = s.receiver.unique_delivered().len();
    assert!(delivered > 0);
    let checkpoint = s.checkpoint().expect("a checkpoint");
    assert!(m.contains("failed"), "{m}");
    assert!(m.contains("400"), "the error is in the message: {m}");
    assert!(m.contains(&format!("delivered {delivered}")), "{m}");
    assert!(m.contains("fetched 40"), "one page of 40 was fetched: {m}");
    assert!(m.contains(&format!("checkpoint `{checkpoint}`")), "{m}");

    // Beside the text, the extension's fields, on a red bar.
    let (colour, fields) = slack_fields(&slack.only_body());
    assert_eq!(colour, "#e01e5a", "red: {fields:#?}");
    for name in ["Start", "End"] {
        assert!(
            fields[name].starts_with("20") && fields[name].ends_with('Z'),
            "{name}: {fields:#?}"
        );
    }
    assert!(
        fields["Logs processed"].starts_with(&format!("{delivered} delivered of ")),
        "{fields:#?}"
    );
    assert_eq!(fields["Checkpoint"], format!("`{checkpoint}`"));
    assert!(fields["Error"].contains("400"), "{fields:#?}");
}

#[test]
fn a_run_that_dead_letters_is_amber_in_slack_and_says_how_many() {
    let s = Setup::new(realistic_logs(30, 6));
    // The first log is taken, the second refused for good, the rest taken.
    s.receiver.push_reply(Reply::status(200));
    s.receiver.push_reply(Reply::text(422, "bad item"));
    let slack = Slack::start(200);
    let dead = s.home.join("dead.jsonl");
    let out = s.exec(
        "run",
        &["--send-as-batch", "false", "--concurrency", "1"],
        &[
            ("SLACK_INCOMING_WEBHOOK_URL", &slack.url()),
            ("DEAD_LETTER_FILE", dead.to_str().unwrap()),
        ],
    );
    let err = &out.stderr;
    assert!(err.contains("1 dead-lettered"), "{err}");
    let (colour, fields) = slack_fields(&slack.only_body());
    assert_eq!(colour, "#ecb22e", "amber: {fields:#?}");
    assert!(
        fields["Logs processed"].ends_with(", 1 dead-lettered"),
        "{fields:#?}"
    );
    assert!(!fields.contains_key("Error"), "{fields:#?}");
}

#[test]
fn slack_hears_of_the_first_failure_not_of_every_one_then_of_the_recovery() {
    let s = Setup::new(crate::support::cli::sapi_logs(1..=10));
    let slack = Slack::start(200);
    let run = |code: i32| {
        s.exec("run", &[], &[("SLACK_INCOMING_WEBHOOK_URL", &slack.url())])
            .assert_code(code);
    };
    s.receiver.set_behaviour(Behaviour::Status(400));
    for _ in 0..3 {
        run(1);
    }
    let messages = slack.messages();
    assert_eq!(messages.len(), 1, "the first failure only: {messages:#?}");
    assert!(messages[0].contains("run failed"), "{}", messages[0]);

    s.receiver.set_behaviour(Behaviour::Accept);
    run(0);
    run(0);
    let messages = slack.messages();
    assert_eq!(messages.len(), 2, "then the recovery only: {messages:#?}");
    assert!(
        messages[1].contains("recovered after failed since") && messages[1].contains("3 runs"),
        "{}",
        messages[1]
    );
}

#[test]
fn a_good_run_sends_nothing_to_slack_by_default() {
    let s = Setup::new(realistic_logs(30, 4));
    let slack = Slack::start(200);
    s.exec("run", &[], &[("SLACK_INCOMING_WEBHOOK_URL", &slack.url())])
        .assert_code(0);
    assert!(s.receiver.unique_delivered().len() > 10);
    assert_eq!(slack.messages(), Vec::<String>::new());
}

#[test]
fn slack_send_success_reports_fetched_matched_delivered_checkpoint_and_duration() {
    let logs = realistic_logs(30, 4);
    let s = Setup::new(logs.clone());
    let slack = Slack::start(200);
    s.exec(
        "run",
        &[],
        &[
            ("SLACK_INCOMING_WEBHOOK_URL", &slack.url()),
            ("SLACK_SEND_SUCCESS", "true"),
        ],
    )
    .assert_code(0);

    let messages = slack.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let m = &messages[0];
    let n = matching(&logs).len();
    assert!(m.contains("run ok"), "{m}");
    assert!(m.contains("fetched 30"), "{m}");
    assert!(m.contains(&format!("matched {n}")), "{m}");
    assert!(m.contains(&format!("delivered {n}")), "{m}");
    assert!(m.contains(&format!("checkpoint `{}`", log_id(30))), "{m}");
    let (colour, fields) = slack_fields(&slack.only_body());
    assert_eq!(colour, "#2eb67d", "green: {fields:#?}");
    assert_eq!(
        fields["Logs processed"],
        format!("{n} delivered of {n} matched, 30 fetched")
    );
    assert_eq!(fields["Checkpoint"], format!("`{}`", log_id(30)));
    assert!(!fields.contains_key("Error"), "{fields:#?}");
    // The duration, as "0.3s".
    let has_duration = m.split([' ', ',', ';']).any(|w| {
        w.strip_suffix('s')
            .is_some_and(|n| n.parse::<f64>().is_ok())
    });
    assert!(has_duration, "{m}");
}

#[test]
fn daily_report_is_sent_by_the_first_run_of_the_day_only() {
    let s = Setup::new(realistic_logs(30, 5));
    let slack = Slack::start(200);
    let run = || {
        s.exec(
            "run",
            &[],
            &[
                ("SLACK_INCOMING_WEBHOOK_URL", &slack.url()),
                ("DAILY_REPORT_HOUR", "0"),
            ],
        )
        .assert_code(0);
    };

    let day_before = utc_day();
    run();
    let first = slack.messages();
    assert_eq!(first.len(), 1, "only the daily report: {first:#?}");
    assert!(first[0].contains("daily report"), "{}", first[0]);
    assert!(
        first[0].contains("1 run in the last 24 hours (1 ok)"),
        "the summary counts this run from the history: {}",
        first[0]
    );
    assert!(first[0].contains(&log_id(30)), "{}", first[0]);

    run();
    // Only meaningful when both runs fell on the same UTC day: a second report is due otherwise.
    if utc_day() == day_before {
        assert_eq!(slack.messages().len(), 1, "{:#?}", slack.messages());
    }
}

#[test]
fn the_extensions_daily_report_time_setting_sends_the_daily_report() {
    let s = Setup::new(realistic_logs(30, 5));
    let slack = Slack::start(200);
    s.exec(
        "run",
        &[],
        &[
            ("SLACK_INCOMING_WEBHOOK_URL", &slack.url()),
            ("DAILY_REPORT_TIME", "00:00"),
        ],
    )
    .assert_code(0);
    let messages = slack.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(messages[0].contains("daily report"), "{}", messages[0]);
    let (colour, fields) = slack_fields(&slack.only_body());
    assert_eq!(colour, "#2eb67d", "green: {fields:#?}");
    assert_eq!(fields["Runs"], "1 (1 ok)");
    assert_eq!(fields["Checkpoint"], format!("`{}`", log_id(30)));
}

#[test]
fn daily_report_time_and_hour_both_set_or_a_bad_time_stop_before_anything_is_sent() {
    let s = Setup::new(realistic_logs(30, 5));
    let slack = Slack::start(200);
    let out = s.exec(
        "run",
        &[],
        &[
            ("SLACK_INCOMING_WEBHOOK_URL", &slack.url()),
            ("DAILY_REPORT_TIME", "9"),
            ("DAILY_REPORT_HOUR", "9"),
        ],
    );
    out.assert_code(2);
    let err = &out.stderr;
    assert!(
        err.contains("DAILY_REPORT_TIME") && err.contains("DAILY_REPORT_HOUR"),
        "{err}"
    );

    let out = s.exec(
        "run",
        &[],
        &[
            ("SLACK_INCOMING_WEBHOOK_URL", &slack.url()),
            ("DAILY_REPORT_TIME", "25"),
        ],
    );
    out.assert_code(2);
    let err = &out.stderr;
    assert!(
        err.contains("DAILY_REPORT_TIME must be an hour from 0 to 23") && err.contains("'25'"),
        "the variable the user set is named: {err}"
    );
    assert_eq!(s.receiver.request_count(), 0);
    assert!(slack.messages().is_empty());
}

fn utc_day() -> String {
    humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_string()
}

/// A run of 20 logs that reports every outcome to the Slack webhook at `url`.
fn run_reporting_to(url: &str) -> (Setup, Ran) {
    let s = Setup::new(realistic_logs(20, 6));
    let out = s.exec(
        "run",
        &[],
        &[
            ("SLACK_INCOMING_WEBHOOK_URL", url),
            ("SLACK_SEND_SUCCESS", "true"),
        ],
    );
    (s, out)
}

#[test]
fn slack_answering_500_is_retried_then_a_warning_without_the_url_and_the_run_still_succeeds() {
    let slack = Slack::start(500);
    let (_, out) = run_reporting_to(&slack.url());
    out.assert_code(0);
    let err = &out.stderr;
    // Retried a little, then given up with one warning.
    let messages = slack.messages();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages.iter().all(|m| m == &messages[0]), "{messages:#?}");
    assert_eq!(
        err.matches("Slack refused the report (500)").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("warning: Slack refused the report (500)"),
        "{err}"
    );
    assert!(!err.contains("XYZSLACKSECRET"), "{err}");
    assert!(!err.contains(&slack.server.url()), "{err}");
}

#[test]
fn slack_answering_503_once_gets_the_message_on_the_retry() {
    let slack = Slack::answering(&[503, 200]);
    let (_, out) = run_reporting_to(&slack.url());
    out.assert_code(0);
    // Two requests with the one message, the second taken: no warning.
    let messages = slack.messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert_eq!(messages[0], messages[1]);
    assert!(messages[0].contains("run ok for"), "{messages:#?}");
    assert!(!out.stderr.contains("Slack refused"), "{}", out.stderr);
}

#[test]
fn slack_refusing_a_message_with_400_is_not_asked_again() {
    let slack = Slack::start(400);
    let (_, out) = run_reporting_to(&slack.url());
    out.assert_code(0);
    assert_eq!(slack.messages().len(), 1);
    assert!(
        out.stderr
            .contains("warning: Slack refused the report (400)"),
        "{}",
        out.stderr
    );
}

#[test]
fn unreachable_slack_is_a_warning_without_the_url_and_the_run_still_succeeds() {
    // A port that was just ours and is now closed.
    let url = {
        let gone = Slack::start(200);
        gone.url()
    };
    let (s, out) = run_reporting_to(&url);
    out.assert_code(0);
    let err = &out.stderr;
    assert!(
        err.contains("warning: could not send the Slack report"),
        "{err}"
    );
    assert!(!err.contains("XYZSLACKSECRET"), "{err}");
    assert!(!err.contains(url.trim_end_matches(SLACK_PATH)), "{err}");
    assert!(!s.receiver.unique_delivered().is_empty());
}

// ---------------------------------------------------------------------------------------------
// History

/// Three runs: ok, failed (the webhook refuses), ok.
fn three_runs() -> Setup {
    let s = Setup::new(realistic_logs(20, 8));
    s.exec("run", &[], &[]).assert_code(0);
    s.tenant.push_logs(
        (21..=30)
            .map(|i| crate::support::log(i, "sapi", "post", "/api/v2/users"))
            .collect(),
    );
    s.receiver.set_behaviour(Behaviour::Status(400));
    s.exec("run", &[], &[]).assert_code(1);
    s.receiver.set_behaviour(Behaviour::Accept);
    s.exec("run", &[], &[]).assert_code(0);
    s
}

#[test]
fn history_shows_a_table_row_per_run_with_the_failure() {
    let s = three_runs();
    let out = history(&s, &[]);
    out.assert_code(0);
    let table = &out.stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three rows:\n{table}");
    assert!(
        lines[0].contains("STATUS") && lines[0].contains("DELIVERED"),
        "{table}"
    );
    let status = |line: &str| line.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(
        lines[1..].iter().map(|l| status(l)).collect::<Vec<_>>(),
        ["ok", "failed", "ok"],
        "{table}"
    );
    assert!(
        lines[2].contains("error:") && lines[2].contains("400"),
        "{table}"
    );
    assert!(lines[3].trim_end().ends_with(&log_id(30)), "{table}");
}

#[test]
fn history_json_lists_the_runs_oldest_first_with_the_documented_fields() {
    let s = three_runs();
    let out = history(&s, &["--json"]);
    out.assert_code(0);
    let runs: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(runs.len(), 3);
    for run in &runs {
        for field in [
            "started_at",
            "finished_at",
            "status",
            "logs_fetched",
            "logs_matched",
            "logs_delivered",
            "requests",
            "retries",
            "checkpoint",
            "error",
            "warning",
        ] {
            assert!(run.get(field).is_some(), "{field} missing in {run}");
        }
    }
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["ok", "failed", "ok"]);
    let started: Vec<&str> = runs
        .iter()
        .map(|r| r["started_at"].as_str().unwrap())
        .collect();
    assert!(started.windows(2).all(|w| w[0] <= w[1]), "{started:?}");
    assert!(runs[0]["error"].is_null());
    assert!(runs[1]["error"].as_str().unwrap().contains("400"));
    assert_eq!(runs[1]["logs_delivered"], 0);
    assert_eq!(runs[2]["logs_delivered"], 10);
    assert_eq!(runs[2]["checkpoint"], log_id(30));
    let total: u64 = runs
        .iter()
        .map(|r| r["logs_delivered"].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, s.receiver.unique_delivered().len());
}

#[test]
fn history_limit_shows_only_the_newest_runs() {
    let s = three_runs();
    let out = history(&s, &["--json", "--limit", "1"]);
    let runs: Vec<Value> = serde_json::from_str(&out.assert_code(0).stdout).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "ok");
    assert_eq!(runs[0]["checkpoint"], log_id(30));

    let out = history(&s, &["--limit", "1"]);
    let table = &out.assert_code(0).stdout;
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(
        table.contains(&log_id(30)) && !table.contains("failed"),
        "{table}"
    );
}

// ---------------------------------------------------------------------------------------------
// --output json

#[test]
fn output_json_counts_match_what_the_tenant_served_and_the_receiver_got() {
    let logs = realistic_logs(250, 11);
    let s = Setup::new(logs.clone());
    let out = s.exec("run", &["--output", "json"], &[]);
    let stdout = &out.assert_code(0).stdout;
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let summary: Value = serde_json::from_str(stdout).unwrap();

    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["logs_fetched"], s.tenant.logs_served() as u64);
    assert_eq!(summary["logs_fetched"], 250);
    assert_eq!(summary["logs_matched"], matching(&logs).len() as u64);
    assert_eq!(
        summary["logs_delivered"],
        s.receiver.unique_delivered().len() as u64
    );
    assert_eq!(
        summary["logs_delivered"],
        s.receiver.delivered_ids().len() as u64
    );
    assert_eq!(summary["checkpoint"], log_id(250));
    assert_eq!(
        summary["checkpoint"],
        s.checkpoint().expect("a checkpoint").as_str()
    );
    assert!(summary["error"].is_null());
    let started = summary["started_at"].as_str().unwrap();
    let finished = summary["finished_at"].as_str().unwrap();
    humantime::parse_rfc3339(started).unwrap();
    humantime::parse_rfc3339(finished).unwrap();
    assert!(started <= finished);
    assert!(summary["duration_ms"].is_u64());
}

#[test]
fn output_json_reports_a_failed_run_with_its_error() {
    let s = Setup::new(realistic_logs(30, 12));
    s.receiver.set_behaviour(Behaviour::Status(400));
    let out = s.exec("run", &["--output", "json"], &[]);
    let summary: Value = serde_json::from_str(&out.assert_code(1).stdout).unwrap();
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["logs_delivered"], 0);
    assert!(
        summary["error"].as_str().unwrap().contains("400"),
        "{summary}"
    );
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn check_with_good_credentials_reports_and_sends_nothing() {
    let logs = realistic_logs(30, 13);
    let s = Setup::new(logs.clone());
    let out = s.exec("check", &[], &[]);
    let stdout = &out.assert_code(0).stdout;
    assert!(stdout.contains("token obtained"), "{stdout}");
    assert!(stdout.contains("logs readable"), "{stdout}");
    assert!(stdout.contains("nothing was sent"), "{stdout}");
    assert!(stdout.contains("no checkpoint yet"), "{stdout}");
    let newest = logs[29]["date"].as_str().unwrap();
    assert!(
        stdout.contains(&format!("newest log is from {newest} (")),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert_eq!(s.receiver.request_count(), 0);
    assert!(!s.state().exists(), "check writes no state");
}

#[test]
fn check_with_a_wrong_client_secret_fails_naming_the_credentials() {
    let s = Setup::new(realistic_logs(30, 13));
    let out = s.exec("check", &[], &[("AUTH0_CLIENT_SECRET", "not-the-secret")]);
    let all = out.assert_code(1).all();
    assert!(all.contains("Auth0 refused the credentials"), "{all}");
    assert!(all.contains("AUTH0_CLIENT_SECRET"), "{all}");
    assert!(!all.contains("not-the-secret"), "{all}");
    assert_eq!(s.receiver.request_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Output without a terminal, verbosity

#[test]
fn output_without_a_terminal_has_no_escape_codes_or_carriage_returns() {
    for verbosity in [None, Some("-v")] {
        let s = Setup::new(realistic_logs(300, 14));
        // Some retries, so that warnings and retry lines are printed too.
        s.receiver.push_reply(Reply::status(503));
        s.receiver.push_reply(Reply::status(503));
        let args: Vec<&str> = ["--batch-size", "50"]
            .into_iter()
            .chain(verbosity)
            .collect();
        let out = s.exec("run", &args, &[]);
        let err = &out.assert_code(0).stderr;
        assert!(
            err.contains("ok, caught up: delivered"),
            "the summary line: {err}"
        );
        assert!(
            !err.contains('\x1b'),
            "escape code in {verbosity:?}: {err:?}"
        );
        assert!(
            !err.contains('\r'),
            "carriage return in {verbosity:?}: {err:?}"
        );
        assert!(!out.stdout.contains('\x1b'));
    }
}

#[test]
fn verbose_shows_each_request_with_method_url_status_and_time() {
    let s = Setup::new(realistic_logs(120, 15));
    let out = s.exec("run", &["--batch-size", "50", "-v"], &[]);
    let err = &out.assert_code(0).stderr;

    let request_lines = |method: &str, url: &str| {
        err.lines()
            .filter(|l| l.starts_with(&format!("{method} {url}")))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let gets = request_lines("GET", &format!("{}/api/v2/logs?", s.tenant.url()));
    assert_eq!(gets.len(), s.tenant.log_requests().len(), "{err}");
    let posts = request_lines("POST", &s.receiver.url());
    assert_eq!(posts.len(), s.receiver.request_count(), "{err}");
    assert!(!posts.is_empty());
    let tokens = request_lines("POST", &format!("{}/oauth/token", s.tenant.url()));
    assert_eq!(tokens.len(), 1, "{err}");
    for line in gets.iter().chain(&posts).chain(&tokens) {
        let (_, after) = line.split_once(" -> 200 in ").expect(line);
        let ms = after.strip_suffix(" ms").expect(line);
        assert!(ms.parse::<u64>().is_ok(), "{line}");
    }
    assert!(!err.contains(CLIENT_SECRET), "{err}");
}

#[test]
fn quiet_prints_nothing_on_a_successful_run() {
    let s = Setup::new(realistic_logs(60, 16));
    let out = s.exec("run", &["-q"], &[]);
    assert_eq!(
        (out.assert_code(0).stdout.as_str(), out.stderr.as_str()),
        ("", "")
    );
    assert!(!s.receiver.unique_delivered().is_empty());
}

#[test]
fn quiet_still_prints_the_error_of_a_failed_run() {
    let s = Setup::new(realistic_logs(60, 16));
    s.receiver.set_behaviour(Behaviour::Status(400));
    let out = s.exec("run", &["-q"], &[]);
    let err = &out.assert_code(1).stderr;
    assert!(!err.is_empty());
    assert!(
        err.lines()
            .all(|l| l.starts_with("error: ") || l.starts_with("  ")),
        "only errors with -q: {err}"
    );
    assert!(err.contains("400"), "{err}");
}
