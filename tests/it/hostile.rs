//! Hostile answers and bad input, as a user sees them: whatever a server sends and whatever
//! the environment holds, the run stays small, ends with a documented exit code and a message
//! that tells the truth, and no secret reaches any output or file.

use crate::support::cli::{Home, Ran, Setup, sapi_logs};
use crate::support::hostile::{self, Answer};
use crate::support::{Behaviour, CLIENT_SECRET, Fault, Reply, Request, Server, log_id};
use serde_json::{Value, json};
use std::path::Path;

/// A state file for `tenant` whose checkpoint is log 0, as an earlier run would have left it.
fn state_at_log_0(home: &Home, tenant: &str) {
    let state = json!({"checkpoint": log_id(0), "start_from": null, "tenant": tenant});
    std::fs::write(home.state(), state.to_string()).unwrap();
}

fn state_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The last run recorded in the state's history.
fn last_run(path: &Path) -> Value {
    let state = state_json(path);
    state["history"].as_array().unwrap().last().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// Bounded memory, truthful messages about Auth0's answers
// ---------------------------------------------------------------------------------------------

#[test]
fn an_endless_auth0_page_fails_the_run_naming_the_cap_and_keeps_the_checkpoint() {
    let tenant = hostile::tenant(Answer::endless_json());
    let receiver = crate::support::FakeReceiver::start();
    let home = Home::new();
    state_at_log_0(&home, &tenant.url());
    let out = home.run(&tenant.url(), &receiver.url(), &[]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("larger than 16 MiB") && out.stderr.contains("GET /api/v2/logs"),
        "{}",
        out.stderr
    );
    assert_eq!(home.checkpoint(), Some(log_id(0)));
    assert_eq!(last_run(&home.state())["status"], "failed");
    assert_eq!(receiver.request_count(), 0);
}

#[test]
fn a_page_cut_off_mid_answer_is_reported_as_a_read_failure_not_as_bad_json() {
    let tenant = hostile::tenant(Answer::Cut {
        announced: 100_000,
        part: br#"[{"log_id":"9000"#.to_vec(),
    });
    let receiver = crate::support::FakeReceiver::start();
    let home = Home::new();
    state_at_log_0(&home, &tenant.url());
    let out = home.run(&tenant.url(), &receiver.url(), &[]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("failed while reading the answer"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("not JSON"), "{}", out.stderr);
    assert_eq!(home.checkpoint(), Some(log_id(0)));
}

/// A scripted logs answer with `x-ratelimit-remaining: 0` and a reset at the end of time.
fn used_up_forever(status: u16, body: &Value) -> Fault {
    Fault::Reply(
        Reply::json(status, body)
            .with_header("x-ratelimit-limit", 50)
            .with_header("x-ratelimit-remaining", 0)
            .with_header("x-ratelimit-reset", u64::MAX),
    )
}

/// A reset further off than any bucket takes to fill is not believed: the budget paces by the
/// bucket's size and refill rate instead, so the run neither hangs until MAX_RUN_TIME nor
/// fails, whether the answer was a page or a 429.
#[test]
fn a_rate_limit_reset_at_the_end_of_time_is_not_believed() {
    for status in [200, 429] {
        let s = Setup::new(sapi_logs(1..=3));
        let body = match status {
            200 => Value::Array(s.tenant.logs()),
            _ => json!({"statusCode": 429, "error": "Too Many Requests"}),
        };
        s.tenant.push_fault(used_up_forever(status, &body));
        // Waiting for the reset would end at MAX_RUN_TIME with exit 1.
        let out = s.run(&["--max-run-time", "20s", "--output", "json"], &[]);
        out.assert_code(0);
        assert_eq!(s.receiver.unique_delivered().len(), 3, "{status}");
        assert_eq!(s.checkpoint(), Some(log_id(3)), "{status}");
        let summary: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(summary["status"], "ok", "{status}");
    }
}

#[test]
fn an_auth0_redirect_names_its_location_and_is_never_followed() {
    let s = Setup::new(sapi_logs(1..=3));
    let elsewhere = Server::start(|_req: &Request| Reply::status(200));
    let location = format!("{}/steal?token=redirect-token-secret", elsewhere.url());
    s.tenant.push_fault(Fault::Reply(
        Reply::status(302).with_header("Location", &location),
    ));
    let out = s.run(&[], &[]);
    out.assert_code(1);
    let shown = format!("{}/steal?token=***", elsewhere.url());
    assert!(
        out.stderr.contains(&shown) && out.stderr.contains("never followed"),
        "{}",
        out.stderr
    );
    assert!(
        !out.all().contains("redirect-token-secret"),
        "{}",
        out.all()
    );
    assert_eq!(elsewhere.request_count(), 0, "the redirect was followed");
}

#[test]
fn endless_slack_answers_are_read_as_a_prefix_and_the_run_ends() {
    for status in [200, 500] {
        let s = Setup::new(sapi_logs(1..=3));
        let slack = hostile::Hostile::start(move |_, _| Answer::endless(status));
        let slack_url = format!("{}/services/T0/B0/X", slack.url());
        let env = [
            ("SLACK_INCOMING_WEBHOOK_URL", slack_url.as_str()),
            ("SLACK_SEND_SUCCESS", "true"),
        ];
        let out = s.run(&[], &env);
        out.assert_code(0);
        assert_eq!(s.receiver.unique_delivered().len(), 3);
        if status == 500 {
            assert!(
                out.stderr.contains("Slack refused the report (500): [[["),
                "{}",
                out.stderr
            );
        }
    }
}

#[test]
fn a_dropped_webhook_connection_reads_webhook_request_failed() {
    let s = Setup::new(sapi_logs(1..=2));
    s.receiver.push_reply(Reply::Drop);
    let out = s.run(&["-vv"], &[]);
    out.assert_code(0);
    assert!(
        out.stderr.contains("webhook request failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("request request"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// Bad settings
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_settings_exit_2_before_any_request_naming_variable_flag_and_range() {
    let s = Setup::new(sapi_logs(1..=3)).with_settings_in_env();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "BATCH_SIZE",
            "-1",
            &["BATCH_SIZE (--batch-size)", "from 1 to 100", "'-1'"],
        ),
        (
            "DAILY_REPORT_HOUR",
            "24",
            &["DAILY_REPORT_HOUR (--daily-report-hour)", "from 0 to 23"],
        ),
        (
            "AUTH0_API_ENDPOINTS",
            ", ,",
            &["AUTH0_API_ENDPOINTS (--endpoints)", "names no endpoint"],
        ),
        (
            "AUTHORIZATION",
            "Bearer abc\ndef",
            &["AUTHORIZATION", "line break"],
        ),
        (
            "WEBHOOK_HEADERS",
            r#"{"X-Key":"a\u0001b"}"#,
            &["WEBHOOK_HEADERS (--header)", "control character"],
        ),
        (
            "MAX_RUN_TIME",
            "300000000000y",
            &["MAX_RUN_TIME (--max-run-time)", "from 1s to 24h"],
        ),
        (
            "WEBHOOK_TIMEOUT",
            "18446744073709551615s",
            &["WEBHOOK_TIMEOUT (--timeout)", "from 100ms to 10m"],
        ),
        (
            "WEBHOOK_CONCURRENT_CALLS",
            "0",
            &["WEBHOOK_CONCURRENT_CALLS (--concurrency)", "from 1 to 64"],
        ),
        (
            "SEND_AS_BATCH",
            "maybe",
            &["SEND_AS_BATCH (--send-as-batch)", "true or false"],
        ),
        (
            "AUTH0_DOMAIN",
            "admin:hunter2-pw@acme.auth0.com",
            &["AUTH0_DOMAIN (--domain)", "user name or password"],
        ),
    ];
    for (name, value, wanted) in cases {
        let out = s.run(&[], &[(name, value)]);
        out.assert_code(2);
        for w in *wanted {
            assert!(out.stderr.contains(w), "{name}={value:?}: {}", out.stderr);
        }
        assert!(!out.stderr.contains("hunter2-pw"), "{}", out.stderr);
    }
    assert_eq!(s.tenant.token_requests(), 0, "nothing was fetched");
    assert_eq!(s.receiver.request_count(), 0, "nothing was sent");
    assert!(!s.state().exists(), "nothing was written");
}

#[test]
fn settings_are_trimmed_and_empty_means_unset_for_every_kind() {
    let s = Setup::new(sapi_logs(1..=3)).with_settings_in_env();
    let env = [
        ("BATCH_SIZE", " 2 "),
        ("SEND_AS_BATCH", " false "),
        ("MAX_RUN_TIME", " 20s "),
        ("WEBHOOK_CONCURRENT_CALLS", ""),
        ("DAILY_REPORT_HOUR", ""),
        ("AUTH0_API_ENDPOINTS", ""),
        ("PAYLOAD_FORMAT", " JSONL "),
        ("WEBHOOK_TIMEOUT", ""),
    ];
    let out = s.run(&[], &env);
    out.assert_code(0);
    assert_eq!(s.receiver.request_count(), 3, "one POST per log");
    // BATCH_SIZE is the most logs a webhook batch holds; Auth0 is always read 100 at a time.
    assert_eq!(
        s.tenant.log_requests().len(),
        2,
        "one page of three, then an empty one"
    );
}

// ---------------------------------------------------------------------------------------------
// --output json on every exit
// ---------------------------------------------------------------------------------------------

fn one_json_object(out: &Ran) -> Value {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {}", out.stdout);
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]))
}

#[test]
fn output_json_prints_one_object_on_exit_2_and_75() {
    let s = Setup::new(sapi_logs(1..=3));

    let out = s.run(&["--output", "json"], &[("BATCH_SIZE", "500")]);
    out.assert_code(2);
    let v = one_json_object(&out);
    assert_eq!(
        (v["status"].as_str(), v["exit_code"].as_u64()),
        (Some("invalid"), Some(2))
    );
    assert!(v["error"].as_str().unwrap().contains("BATCH_SIZE"), "{v}");

    let out = s.run(&["--output", "json", "--no-such-flag"], &[]);
    out.assert_code(2);
    let v = one_json_object(&out);
    assert_eq!(v["exit_code"], 2);
    assert!(
        v["error"].as_str().unwrap().contains("--no-such-flag"),
        "{v}"
    );

    let lock = auth0_mgmt_webhooks::state::lock(&s.state()).unwrap();
    let out = s.run(&["--output", "json"], &[]);
    out.assert_code(75);
    let v = one_json_object(&out);
    assert_eq!(
        (v["status"].as_str(), v["exit_code"].as_u64()),
        (Some("locked"), Some(75))
    );
    drop(lock);

    let out = s.run(&["--output", "json"], &[]);
    out.assert_code(0);
    assert_eq!(one_json_object(&out)["status"], "ok");
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

#[test]
fn check_vv_never_shows_a_webhook_url_query_token() {
    let s = Setup::new(sapi_logs(1..=3));
    let port = s.receiver.server().addr().port();
    let url = format!("http://127.0.0.1:{port}/hook?token=url-q-secret-1");
    let out = s.exec("check", &["-vv", "--webhook-url", &url], &[]);
    out.assert_code(0);
    assert!(
        out.stderr.contains("WebhookConfig"),
        "-vv shows the settings: {}",
        out.stderr
    );
    assert!(!out.all().contains("url-q-secret-1"), "{}", out.all());
}

/// `user:pass@` in the URL would go out as `Authorization: Basic <base64>`, a form of the
/// password nothing scrubs, which an echoing receiver sends back into `-vv`, the dead-letter
/// file and the history; with AUTHORIZATION set, beside a second Authorization header.
#[test]
fn a_password_in_the_webhook_url_is_refused_before_any_request_even_to_an_echoing_receiver() {
    use base64::Engine;
    let s = Setup::new(sapi_logs(1..=3));
    s.receiver.set_behaviour(Behaviour::Echo(422));
    let port = s.receiver.server().addr().port();
    let url = format!("http://hookuser:url-pw-secret-2@127.0.0.1:{port}/hook");
    let basic = base64::engine::general_purpose::STANDARD.encode("hookuser:url-pw-secret-2");
    let dead = s.home.join("dead.jsonl");
    for env in [vec![], vec![("AUTHORIZATION", "Bearer other-secret-3")]] {
        for sub in ["run", "check", "redeliver"] {
            let mut cmd = s.home.command(sub, &s.tenant.url(), &url, &["-vv"]);
            cmd.env("DEAD_LETTER_FILE", &dead).envs(env.iter().copied());
            let out = Ran::of(&mut cmd);
            out.assert_code(2);
            assert!(
                out.stderr.contains("holds a user name or password")
                    && out.stderr.contains("AUTHORIZATION"),
                "{sub}: {}",
                out.stderr
            );
            for secret in ["url-pw-secret-2", basic.as_str()] {
                assert!(!out.all().contains(secret), "{sub}: {}", out.all());
            }
        }
    }
    assert_eq!(
        s.receiver.request_count(),
        0,
        "no Authorization header ever went out"
    );
    assert!(!dead.exists());
    assert!(!s.state().exists());
}

/// Every file in `dir`, read as text (state, dead letters, lock), except the access token the
/// state file caches by design (it is 0600, and the next run uses it).
fn files_in(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            match serde_json::from_str::<Value>(&text) {
                Ok(mut state) if state.get("token").is_some() => {
                    state["token"] = Value::Null;
                    all.push_str(&state.to_string());
                }
                _ => all.push_str(&text),
            }
        }
    }
    all
}

#[test]
fn no_secret_reaches_any_output_or_file_when_servers_echo_what_they_were_sent() {
    const AUTHORIZATION: &str = "Bearer echoed-authz-secret-1";
    const HEADER: &str = "echoed-header-secret-2";
    const KEY: &str = "whsec_c2VjdXJpdHktdGVzdC1rZXktb25lLTI0Yg==";
    const FORM_TOKEN: &str = "form-encoded-token-secret-3";
    let s = Setup::new(sapi_logs(1..=4));
    let slack = Server::start(|req: &Request| {
        Reply::text(500, &format!("no: {} {}", req.target, req.body_text()))
    });
    let slack_url = format!("{}/services/T0/B0/echoed-slack-secret-4", slack.url());
    let dead = s.home.join("dead.jsonl");
    let header = format!("{{\"X-Api-Key\":\"{HEADER}\"}}");
    let env = [
        ("AUTHORIZATION", AUTHORIZATION),
        ("WEBHOOK_HEADERS", header.as_str()),
        ("WEBHOOK_SECRET", KEY),
        ("SLACK_INCOMING_WEBHOOK_URL", slack_url.as_str()),
        ("SLACK_SEND_SUCCESS", "true"),
    ];
    let mut outs = Vec::new();

    // The token endpoint echoes the request body (the client secret) in its 400.
    s.tenant.push_token_fault(Fault::Echo(400));
    outs.push(s.run(&["-vv"], &env));
    // A form-encoded token answer.
    s.tenant.push_token_fault(Fault::Reply(Reply::body(
        200,
        "application/x-www-form-urlencoded",
        format!("access_token={FORM_TOKEN}&token_type=Bearer"),
    )));
    outs.push(s.run(&["-vv", "--output", "json"], &env));
    // The logs endpoint echoes the request (the access token) in its 400: the run then starts
    // from a log found by date, and sends the logs.
    s.tenant.push_fault(Fault::Echo(400));
    outs.push(s.run(&["-vv"], &env));
    s.tenant.push_logs(sapi_logs(5..=8));
    // The receiver echoes every header: in a 422 refusing logs (into the dead-letter file),
    // then in a 401 (about the credentials: it ends the run).
    s.receiver.set_behaviour(Behaviour::Echo(422));
    let dead_arg = dead.to_str().unwrap();
    outs.push(s.run(
        &["-vv", "--dead-letter", dead_arg, "--send-as-batch", "false"],
        &env,
    ));
    s.receiver.set_behaviour(Behaviour::Echo(401));
    outs.push(s.run(
        &["-vv", "--output", "json", "--start-from", &log_id(0)],
        &env,
    ));
    for (i, out) in outs.iter().enumerate() {
        assert!(matches!(out.code, 0 | 1 | 3), "run {i}: {}", out.all());
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    assert!(
        std::fs::read_to_string(&dead).unwrap().lines().count() >= 1,
        "the receiver's refusals reached the dead-letter file"
    );

    let mut secrets: Vec<String> = vec![
        CLIENT_SECRET.into(),
        AUTHORIZATION.into(),
        "echoed-authz-secret-1".into(),
        HEADER.into(),
        KEY.into(),
        KEY.trim_start_matches("whsec_").into(),
        FORM_TOKEN.into(),
        "echoed-slack-secret-4".into(),
    ];
    let issued = s.tenant.token_requests();
    secrets.extend((1..=issued).map(|n| format!("tok-{n}")));
    let files = files_in(s.state().parent().unwrap());
    // The echoes did reach the files, scrubbed.
    for echoed in ["authorization: ***", "x-api-key: ***", "client_secret"] {
        assert!(files.contains(echoed), "no {echoed} in:\n{files}");
    }
    for secret in &secrets {
        for (i, out) in outs.iter().enumerate() {
            assert!(
                !out.all().contains(secret.as_str()),
                "run {i} printed {secret}:\n{}",
                out.all()
            );
        }
        assert!(
            !files.contains(secret.as_str()),
            "a file holds {secret}:\n{files}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A full disk
// ---------------------------------------------------------------------------------------------

/// A disk that takes no more writes, made with RLIMIT_FSIZE (writes past the limit fail with
/// EFBIG, as on a full disk; SIGXFSZ is ignored so the write returns the error): the state
/// cannot be saved, and the summary must say what is on disk, not what the run had in memory.
#[cfg(target_os = "linux")]
#[test]
fn after_a_failed_save_the_summary_shows_the_checkpoint_actually_saved() {
    use std::os::unix::process::CommandExt;
    let s = Setup::new(sapi_logs(1..=10));
    s.run(&[], &[]).assert_code(0);
    let before = std::fs::read_to_string(s.state()).unwrap();
    assert_eq!(s.checkpoint(), Some(log_id(10)));
    s.tenant.push_logs(sapi_logs(11..=20));

    let mut cmd = s.command("run");
    cmd.args(["--output", "json"]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = Ran::of(&mut cmd);

    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(s.receiver.unique_delivered().len(), 20, "the logs went out");
    let summary: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON summary");
    assert_eq!(summary["checkpoint"], log_id(10), "{summary}");
    assert_eq!(summary["status"], "failed");
    assert!(
        summary["error"].as_str().unwrap().contains("state"),
        "{summary}"
    );
    assert_eq!(
        std::fs::read_to_string(s.state()).unwrap(),
        before,
        "the state file is whole and unchanged"
    );
}

/// A receiver that answers with a body that never ends: only the start is read, the request
/// counts as answered, and the run ends (it took 15 GB when the answer was read in full).
#[test]
fn an_endless_webhook_answer_is_read_as_a_prefix_and_the_run_ends() {
    for (status, code) in [(200, 0), (422, 1)] {
        let s = Setup::new(sapi_logs(1..=3));
        let receiver = hostile::Hostile::start(move |_, _| Answer::endless(status));
        let out = s.home.run(
            &s.tenant.url(),
            &format!("{}/hook", receiver.url()),
            &["--send-as-batch", "false", "--concurrency", "1"],
        );
        assert_eq!(out.code, code, "{status}: {}", out.stderr);
        if status == 200 {
            assert_eq!(s.checkpoint(), Some(log_id(3)), "all three answered 200");
        } else {
            // The refusal's message quotes the start of the answer, not all of it.
            assert!(
                out.stderr.contains("webhook answered 422: [[["),
                "{}",
                out.stderr
            );
            assert!(
                out.stderr.len() < 10_000,
                "{} bytes of stderr",
                out.stderr.len()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output nobody reads: a closed pipe, a full device
// ---------------------------------------------------------------------------------------------

/// Waits for a child whose output the test does not collect; kills it after [`GUARD`].
#[cfg(unix)]
fn finish(mut child: std::process::Child) -> i32 {
    use crate::support::cli::GUARD;
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status
                .code()
                .unwrap_or_else(|| panic!("ended by a signal: {status}"));
        }
        if started.elapsed() > GUARD {
            let _ = child.kill();
            panic!("the command did not end within {GUARD:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Spawns `cmd` with stdout and stderr into one pipe (`2>&1 | head -1`), reads its first
/// line, then closes the pipe; `before_close` runs once the line is read. Returns the line.
#[cfg(unix)]
fn first_line_then_close(
    cmd: &mut std::process::Command,
    before_close: impl FnOnce(),
) -> (String, std::process::Child) {
    use std::io::BufRead;
    let (reader, writer) = std::io::pipe().unwrap();
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    // Only the child holds write ends now.
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut reader = std::io::BufReader::new(reader);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    drop(reader);
    before_close();
    (line, child)
}

#[cfg(unix)]
#[test]
fn a_verbose_run_whose_reader_left_still_delivers_saves_and_records() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = Setup::new(sapi_logs(1..=40));
    // The receiver answers only once the reader has left, so every later log line meets a
    // closed pipe.
    let gone = Arc::new(AtomicBool::new(false));
    let open = Arc::clone(&gone);
    let receiver = Server::start(move |_: &Request| {
        while !open.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Reply::status(200)
    });
    let hook = format!("{}/hook", receiver.url());
    let mut cmd = s.home.command(
        "run",
        &s.tenant.url(),
        &hook,
        &["-v", "--send-as-batch", "false"],
    );

    // `-v run 2>&1 | head -1`
    let (first, child) = first_line_then_close(&mut cmd, || gone.store(true, Ordering::SeqCst));
    let code = finish(child);

    assert!(!first.is_empty());
    assert_eq!(code, 0, "not a panic (101)");
    assert_eq!(s.checkpoint(), Some(log_id(40)), "the state was saved");
    assert_eq!(last_run(&s.state())["status"], "ok", "the run was recorded");
    assert_eq!(receiver.request_count(), 40);
}

#[cfg(unix)]
#[test]
fn a_dry_run_whose_reader_left_stops_and_exits_0() {
    // More items than a pipe holds: the run is still writing when the reader leaves.
    let s = Setup::new(sapi_logs(1..=3000));
    let mut cmd = s.command("run");
    cmd.arg("--dry-run");

    // `run --dry-run 2>&1 | head -1`
    let (first, child) = first_line_then_close(&mut cmd, || ());

    let item: Value = serde_json::from_str(&first).expect("the first item");
    assert_eq!(item["log_id"], log_id(1));
    assert_eq!(finish(child), 0, "the reader wanted no more: not an error");
    assert!(
        s.tenant.log_requests().len() <= 4,
        "it stopped fetching when the reader left"
    );
}

#[cfg(unix)]
#[test]
fn json_output_into_a_closed_pipe_still_saves_and_records() {
    let s = Setup::new(sapi_logs(1..=5));
    let (reader, writer) = std::io::pipe().unwrap();
    // `run --output json | true`: the reader is gone before the run writes anything.
    drop(reader);
    let child = s
        .command("run")
        .args(["--output", "json"])
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    assert_eq!(finish(child), 0);
    assert_eq!(s.checkpoint(), Some(log_id(5)));
    assert_eq!(last_run(&s.state())["status"], "ok");
}

/// A file that takes every open and refuses every write, like a full disk.
#[cfg(target_os = "linux")]
fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn stderr_on_a_full_disk_does_not_stop_the_run() {
    let s = Setup::new(sapi_logs(1..=5));
    let child = s
        .command("run")
        .arg("-v")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(dev_full())
        .spawn()
        .unwrap();

    // `run 2>/dev/full`
    assert_eq!(finish(child), 0);
    assert_eq!(s.checkpoint(), Some(log_id(5)));
    assert_eq!(last_run(&s.state())["status"], "ok");
    assert_eq!(s.receiver.unique_delivered().len(), 5);
}

#[cfg(target_os = "linux")]
#[test]
fn history_or_a_dry_run_onto_a_full_disk_fails_saying_so() {
    let s = Setup::new(sapi_logs(1..=5));
    s.run(&[], &[]).assert_code(0);
    let before = std::fs::read(s.state()).unwrap();
    let history = s
        .home
        .bare()
        .args(["history", "--state"])
        .arg(s.state())
        .stdout(dev_full())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let dry_run = s
        .command("run")
        .args(["--dry-run", "--start-from", &log_id(0)])
        .stdout(dev_full())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();

    // `history >/dev/full`, `run --dry-run >/dev/full`: the output is not whole, so exit 1.
    for (what, out) in [("history", history), ("dry run", dry_run)] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("stdout") && stderr.contains("No space left on device"),
            "{what}: {stderr}"
        );
    }
    assert_eq!(std::fs::read(s.state()).unwrap(), before, "nothing written");
}

// ---------------------------------------------------------------------------------------------
// Files the settings name that are not files: endless, huge, or a FIFO no one writes to
// ---------------------------------------------------------------------------------------------

/// A FIFO no one writes to (opening it to read would wait forever), a sparse file of 1 GiB
/// (nothing on disk, all in memory if read), and `/dev/zero` (endless), with the words the
/// error must use for each.
#[cfg(target_os = "linux")]
fn not_files(home: &Home) -> Vec<(std::path::PathBuf, &'static str)> {
    let fifo = home.join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let sparse = home.join("sparse");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    vec![
        (fifo, "a FIFO (named pipe), not a regular file"),
        (sparse, "1.0 GiB is more than such a file may hold"),
        ("/dev/zero".into(), "a character device, not a regular file"),
    ]
}

#[cfg(target_os = "linux")]
#[test]
fn a_file_setting_naming_a_fifo_a_huge_file_or_dev_zero_exits_2_naming_it() {
    let s = Setup::new(sapi_logs(1..=3));
    let names = [
        "AUTH0_CLIENT_SECRET_FILE",
        "AUTHORIZATION_FILE",
        "WEBHOOK_SECRET_FILE",
        "SLACK_INCOMING_WEBHOOK_URL_FILE",
        "HEALTHCHECK_URL_FILE",
        "CONFIG_FILE",
    ];
    for (path, words) in not_files(&s.home) {
        for name in names {
            let mut cmd = s.command("run");
            cmd.env(name, &path);
            if name == "AUTH0_CLIENT_SECRET_FILE" {
                cmd.env_remove("AUTH0_CLIENT_SECRET");
            }
            let out = Ran::of(&mut cmd);
            out.assert_code(2);
            let shown = match name {
                "CONFIG_FILE" => format!("CONFIG_FILE (--config) {}: {words}", path.display()),
                _ => format!("{name} {}: {words}", path.display()),
            };
            assert!(out.stderr.contains(&shown), "{name}: {}", out.stderr);
        }
        // The state file, read by run and history alike.
        let out = s.run(&["--state", path.to_str().unwrap()], &[]);
        out.assert_code(2);
        assert!(
            out.stderr.contains(&path.display().to_string()),
            "{}",
            out.stderr
        );
    }
    assert_eq!(s.receiver.request_count(), 0);
    assert_eq!(s.tenant.token_requests(), 0);
}

/// A secret file the user running cannot read: the error says whose it is, who runs, and the
/// fix. As root (where every file is readable) the binary runs as uid 65534 against a file of
/// root's; as anyone else, against a file of their own with mode 000.
#[cfg(unix)]
#[test]
fn a_secret_file_the_user_cannot_read_names_its_owner_the_user_running_and_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let s = Setup::new(sapi_logs(1..=3));
    let secret = s.home.join("client-secret");
    std::fs::write(&secret, "s3cret").unwrap();
    let mut cmd = s.command("check");
    cmd.env_remove("AUTH0_CLIENT_SECRET")
        .env("AUTH0_CLIENT_SECRET_FILE", &secret);
    let mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let expected: Vec<String> = if rustix::process::geteuid().is_root() {
        mode(secret.parent().unwrap(), 0o711);
        mode(&secret, 0o600);
        cmd.uid(65534).gid(65534);
        let p = secret.display();
        vec![
            "owned by root (uid 0)".into(),
            "uid 65534".into(),
            "sudo chown ".into(),
            format!("{p} && sudo chmod 600 {p}"),
        ]
    } else {
        mode(&secret, 0o000);
        vec![format!("chmod 600 {}", secret.display())]
    };

    let out = Ran::of(&mut cmd);

    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!(
            "AUTH0_CLIENT_SECRET_FILE {}: permission denied",
            secret.display()
        )),
        "{}",
        out.stderr
    );
    for words in expected {
        assert!(out.stderr.contains(&words), "{words}: {}", out.stderr);
    }
}

/// A failed run reads the last success back from METRICS_FILE: a FIFO there must not block
/// its end, and the new metrics replace it.
#[cfg(target_os = "linux")]
#[test]
fn a_failed_run_with_a_fifo_as_metrics_file_ends_and_replaces_it() {
    let s = Setup::new(sapi_logs(1..=3));
    s.receiver.set_behaviour(Behaviour::Status(401));
    let (fifo, _) = not_files(&s.home).remove(0);

    let out = s.run(&[], &[("METRICS_FILE", fifo.to_str().unwrap())]);

    out.assert_code(1);
    let text = std::fs::read_to_string(&fifo).expect("a regular file now");
    assert!(
        text.contains("auth0_mgmt_webhooks_last_run_status"),
        "{text}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn ca_cert_that_is_not_a_file_says_what_it_is() {
    let s = Setup::new(sapi_logs(1..=3));
    let folder = s.home.join("certs");
    std::fs::create_dir(&folder).unwrap();
    let cases = [
        (
            "/dev/null".into(),
            "a character device, not a file of PEM certificates",
        ),
        (folder, "a folder, not a file of PEM certificates"),
        (s.home.join("none.pem"), "no such file"),
    ];
    for (path, words) in cases {
        let path: std::path::PathBuf = path;
        let out = s.run(&[], &[("CA_CERT", path.to_str().unwrap())]);
        out.assert_code(2);
        let shown = format!("CA_CERT (--ca-cert) {}: {words}", path.display());
        assert!(out.stderr.contains(&shown), "{}", out.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// Ids of another shape (issue 27.1)
// ---------------------------------------------------------------------------------------------

/// Logs `1..=n` whose ids lose their last digit (55 digits) when `counter % every == short`
/// and gain one (57 digits) when `counter % every == long`: Auth0 orders them as text, so each
/// still sorts by the time it was stored.
fn ids_of_mixed_lengths(n: u64, every: u64, short: u64, long: u64) -> Vec<Value> {
    sapi_logs(1..=n)
        .into_iter()
        .enumerate()
        .map(|(i, mut l)| {
            let counter = i as u64 + 1;
            let mut id = log_id(counter);
            if counter % every == short {
                id.pop();
            } else if counter % every == long {
                id.push('7');
            }
            l["log_id"] = json!(id);
            l["_id"] = json!(id);
            l
        })
        .collect()
}

fn all_ids(logs: &[Value]) -> std::collections::BTreeSet<String> {
    crate::support::cli::ids(logs)
}

#[test]
fn ids_of_55_56_and_57_digits_lose_nothing_and_the_checkpoint_is_the_newest() {
    let logs = ids_of_mixed_lengths(300, 3, 0, 1);
    let s = Setup::new(logs.clone());
    s.run(&[], &[]).assert_code(0);
    assert_eq!(s.receiver.unique_delivered(), all_ids(&logs));
    assert_eq!(s.checkpoint(), all_ids(&logs).into_iter().max());

    // The next run starts after it and finds nothing new.
    s.receiver.clear();
    s.run(&[], &[]).assert_code(0);
    assert_eq!(s.receiver.request_count(), 0);
}

#[test]
fn a_backfill_over_windows_of_ids_of_mixed_lengths_loses_nothing() {
    let logs = ids_of_mixed_lengths(3000, 10, 3, 7);
    let s = Setup::new(logs.clone());
    s.tenant.set_plan(16.0, 50);
    s.tenant.set_latency(std::time::Duration::from_millis(100));
    s.run(&[], &[("AUTH0_RATE_LIMIT", "100%")]).assert_code(0);
    let windows = s
        .tenant
        .log_requests()
        .iter()
        .filter(|q| q.contains(&"0".repeat(36)) && !q.contains("from=90020000101"))
        .count();
    assert!(windows > 0, "one cursor read the whole backlog");
    assert_eq!(s.receiver.unique_delivered(), all_ids(&logs));
    assert_eq!(s.checkpoint(), all_ids(&logs).into_iter().max());
}

#[test]
fn a_log_id_that_cannot_be_placed_stops_the_run_before_its_page_and_loses_nothing() {
    let mut logs = sapi_logs(1..=150);
    logs[119]["log_id"] = json!(format!("{}x", log_id(120)));
    let s = Setup::new(logs.clone());
    for _ in 0..2 {
        let out = s.run(&[], &[]);
        out.assert_code(1);
        assert!(
            out.stderr.contains("cannot be placed")
                && out.stderr.contains(&format!("{}x", log_id(120))),
            "{}",
            out.stderr
        );
        assert_eq!(s.checkpoint(), Some(log_id(100)));
    }
    assert_eq!(s.receiver.unique_delivered(), all_ids(&logs[..100]));
}
