//! `WEBHOOK_URL_FILE`: a webhook URL whose path or query is its credential (Loggly's bulk URL,
//! some SIEM inputs) is used as written and never shown past `scheme://host[:port]`: not in
//! messages, `-v`/`-vv`, `check`, the state's history, the dead-letter file or Slack, even
//! when the receiver echoes the path it was called on.

use crate::support::cli::{Ran, Setup, sapi_logs};
use crate::support::{Reply, Request, Server};
use std::sync::{Arc, Mutex};

const PATH_SECRET: &str = "url-path-secret-7c2e";
const QUERY_SECRET: &str = "url-query-secret-91ad";

/// Every file in the run's folder (state and its history, dead-letter file), as text.
fn files(s: &Setup) -> String {
    let dir = s.state().parent().unwrap().to_path_buf();
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    all
}

fn assert_hidden(what: &str, text: &str) {
    for secret in [PATH_SECRET, QUERY_SECRET, "/bulk/"] {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
}

#[test]
fn a_webhook_url_from_a_file_shows_only_scheme_and_host_anywhere() {
    // The receiver answers as the test says, and every answer repeats the path it was called
    // on, as a careless error page does.
    let answer = Arc::new(Mutex::new(422u16));
    let hook = {
        let answer = Arc::clone(&answer);
        Server::start(move |req: &Request| {
            let status = *answer.lock().unwrap();
            let reply = Reply::text(status, &format!("no route for POST {}", req.target));
            match status {
                302 => reply.with_header("Location", format!("{}/moved", req.path())),
                _ => reply,
            }
        })
    };
    let slack_bodies = Arc::new(Mutex::new(Vec::new()));
    let slack = {
        let bodies = Arc::clone(&slack_bodies);
        Server::start(move |req: &Request| {
            bodies.lock().unwrap().push(req.body_text());
            Reply::text(200, "ok")
        })
    };
    let s = Setup::new(sapi_logs(1..=2)).with_settings_in_env();
    // Outside the run's folder, whose files are searched for the URL below.
    let secrets = crate::support::cli::Home::new();
    let url_file = secrets.join("webhook-url");
    let url = format!(
        "{}/bulk/{PATH_SECRET}/tag/auth0/?token={QUERY_SECRET}",
        hook.url()
    );
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    let slack_url = format!("{}/services/T0/B0/x", slack.url());
    let dead = s.home.join("dead.jsonl");
    let env = [
        ("WEBHOOK_URL", ""),
        ("WEBHOOK_URL_FILE", url_file.to_str().unwrap()),
        ("SLACK_INCOMING_WEBHOOK_URL", slack_url.as_str()),
        ("SLACK_SEND_SUCCESS", "true"),
        ("DEAD_LETTER_FILE", dead.to_str().unwrap()),
        ("SEND_AS_BATCH", "false"),
    ];
    let mut outs: Vec<(&str, Ran)> = Vec::new();

    // Refused logs go to the dead-letter file, with the answer that names the path.
    let out = s.run(&["-vv"], &env);
    out.assert_code(3);
    assert!(
        out.stderr.contains(&format!("POST {} ->", hook.url())),
        "-v names the host: {}",
        out.stderr
    );
    outs.push(("a run that dead-letters", out));
    // An answer about the URL, and a redirect whose Location repeats the path.
    for status in [404, 302] {
        *answer.lock().unwrap() = status;
        let out = s.run(&["-vv", "--start-from", &crate::support::log_id(0)], &env);
        out.assert_code(1);
        assert!(out.stderr.contains("WEBHOOK_URL"), "{}", out.stderr);
        outs.push(("a run stopped by the receiver", out));
    }
    *answer.lock().unwrap() = 200;
    let out = s.exec("check", &["-vv", "--send-test"], &env);
    out.assert_code(0);
    assert!(
        out.stdout.contains(&format!("POSTed to {},", hook.url())),
        "check names scheme://host: {}",
        out.stdout
    );
    outs.push(("check -vv --send-test", out));
    let history = Ran::of(s.home.bare().args(["history", "--state"]).arg(s.state()));
    outs.push(("history", history));

    for (what, out) in &outs {
        assert_hidden(what, &out.all());
    }
    assert!(dead.exists(), "the refused logs were set aside");
    assert_hidden("the state and dead-letter files", &files(&s));
    let slack_bodies = slack_bodies.lock().unwrap();
    // Slack hears of a change of state: the dead-lettered run, then the first failed one (with
    // the receiver's answer about the URL); the second failed run is no news.
    assert!(
        slack_bodies.len() >= 2,
        "both changes of state reported to Slack"
    );
    assert_hidden("Slack", &slack_bodies.join("\n"));
    // And the URL was used as written.
    assert!(hook.request_count() >= 5);
}
