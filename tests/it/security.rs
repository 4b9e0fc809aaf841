//! Security as a receiver and an operator see it: signatures an independent verifier accepts,
//! stable `webhook-id`s, secrets that never reach the terminal, private files, https only,
//! no redirects followed, a User-Agent, and the Authorization header passed through verbatim.

use crate::support::cli::{Ran, Setup, sapi_logs};
use crate::support::{
    Behaviour, CLIENT_SECRET, FakeReceiver, FakeTenant, Received, Reply, Request, Server, log_id,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use standardwebhooks::Webhook;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Two signing keys (a rotation) and one the tool never gets.
const KEY_ONE: &str = "whsec_c2VjdXJpdHktdGVzdC1rZXktb25lLTI0Yg==";
const KEY_TWO: &str = "whsec_c2VjdXJpdHktdGVzdC1rZXktdHdvLTI0Yg==";
const KEY_UNUSED: &str = "whsec_YS10aGlyZC1rZXktbm9ib2R5LXVzZXMh";

const USER_AGENT: &str = concat!("auth0-mgmt-webhooks/", env!("CARGO_PKG_VERSION"));

fn headers_of(r: &Received) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in &r.headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn verify(key: &str, r: &Received) -> bool {
    Webhook::new(key)
        .unwrap()
        .verify(&r.body, &headers_of(r))
        .is_ok()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn webhook_id(r: &Received) -> String {
    r.header("webhook-id")
        .expect("every request has a webhook-id")
        .to_string()
}

#[test]
fn an_independent_verifier_accepts_every_request_including_retries() {
    let s = Setup::new(sapi_logs(1..=30));
    s.receiver.push_reply(Reply::status(503));
    s.receiver.push_reply(Reply::status(503));
    let out = s.run(&["--batch-size", "10"], &[("WEBHOOK_SECRET", KEY_ONE)]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let requests = s.receiver.requests();
    let refused: Vec<&Received> = requests.iter().filter(|r| r.status == 503).collect();
    assert_eq!(refused.len(), 2, "the two scripted 503s were answered");
    assert_eq!(s.receiver.unique_delivered().len(), 30);
    for r in &requests {
        assert!(
            verify(KEY_ONE, r),
            "verifier rejected {:?} {}",
            r.header("webhook-id"),
            r.body_text()
        );
        assert!(!verify(KEY_UNUSED, r), "a key the tool never had verifies");
    }
    // Each refused request was sent again, with the same id and body, and accepted.
    for failed in refused {
        assert!(
            requests.iter().any(|r| r.accepted()
                && webhook_id(r) == webhook_id(failed)
                && r.body == failed.body),
            "request {} was not retried as it was",
            webhook_id(failed)
        );
    }
}

#[test]
fn with_two_keys_either_key_verifies_every_request() {
    let s = Setup::new(sapi_logs(1..=12));
    let both = format!("{KEY_ONE} {KEY_TWO}");
    let out = s.run(
        &["--send-as-batch", "false"],
        &[("WEBHOOK_SECRET", both.as_str())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 12);
    for r in &requests {
        assert_eq!(r.header("webhook-signature").unwrap().split(' ').count(), 2);
        assert!(verify(KEY_ONE, r) && verify(KEY_TWO, r));
        assert!(!verify(KEY_UNUSED, r));
    }
}

#[test]
fn signing_key_may_come_from_a_file() {
    let s = Setup::new(sapi_logs(1..=3));
    let key_file = s.home.join("webhook.key");
    std::fs::write(&key_file, format!("{KEY_TWO}\n")).unwrap();
    let out = s.run(&[], &[("WEBHOOK_SECRET_FILE", key_file.to_str().unwrap())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| verify(KEY_TWO, r)));
}

/// Per request answered 2xx: its log ids and its webhook-id.
fn ids_by_logs(receiver: &FakeReceiver) -> BTreeMap<Vec<String>, String> {
    receiver
        .requests()
        .iter()
        .filter(|r| r.accepted())
        .map(|r| (r.log_ids(), webhook_id(r)))
        .collect()
}

#[test]
fn webhook_id_is_the_same_on_retry_and_rerun_in_both_modes() {
    for batch in ["true", "false"] {
        let s = Setup::new(sapi_logs(1..=24));
        s.receiver.push_reply(Reply::status(503));
        let args = ["--batch-size", "8", "--send-as-batch", batch];
        let out = s.run(&args, &[("WEBHOOK_SECRET", KEY_ONE)]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let first = ids_by_logs(&s.receiver);
        let retried = s
            .receiver
            .requests()
            .into_iter()
            .find(|r| r.status == 503)
            .unwrap();
        assert_eq!(
            first.get(&retried.log_ids()),
            Some(&webhook_id(&retried)),
            "batch={batch}: the retry kept the id"
        );

        // A rerun of the same logs: START_FROM back before the first log.
        s.receiver.clear();
        let start = log_id(0);
        let out = s.run(
            &args,
            &[("WEBHOOK_SECRET", KEY_ONE), ("START_FROM", &start)],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let second = ids_by_logs(&s.receiver);
        assert_eq!(first, second, "batch={batch}: the rerun kept the ids");

        let expected_requests = if batch == "true" { 3 } else { 24 };
        assert_eq!(first.len(), expected_requests, "batch={batch}");
        for (logs, id) in &first {
            if batch == "true" {
                assert!(id.starts_with("batch_"), "{id}");
            } else {
                assert_eq!(
                    logs,
                    &vec![id.clone()],
                    "one-by-one: webhook-id is the log id"
                );
            }
        }
        let distinct: std::collections::BTreeSet<&String> = first.values().collect();
        assert_eq!(distinct.len(), first.len(), "different logs, different ids");
    }
}

#[test]
fn without_a_secret_id_and_timestamp_are_sent_but_no_signature() {
    let s = Setup::new(sapi_logs(1..=5));
    let out = s.run(&["--send-as-batch", "false"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 5);
    for r in &requests {
        assert_eq!(r.log_ids(), vec![webhook_id(r)]);
        let ts: u64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
        assert!(
            ts.abs_diff(now()) < 300,
            "timestamp {ts} is not this attempt's"
        );
        assert!(r.header("webhook-signature").is_none());
    }
}

const AUTHORIZATION: &str = "Bearer authz-Secret-Value-3c1f";
const SLACK_SECRET_PATH: &str = "/services/T0SEC/B0SEC/slackSecretPath9f2";

fn assert_no_secret(what: &str, out: &Ran, secrets: &[String]) {
    let all = out.all();
    for s in secrets {
        assert!(
            !all.contains(s.as_str()),
            "{what}: printed the secret {s}:\n{all}"
        );
    }
}

#[test]
fn no_secret_is_ever_printed() {
    let s = Setup::new(sapi_logs(1..=6));
    let slack_calls = Arc::new(Mutex::new(Vec::<u16>::new()));
    let slack_status = Arc::new(Mutex::new(200u16));
    let slack = {
        let calls = slack_calls.clone();
        let status = slack_status.clone();
        Server::start(move |_req: &Request| {
            let st = *status.lock().unwrap();
            calls.lock().unwrap().push(st);
            Reply::text(st, "ok")
        })
    };
    let slack_url = format!("{}{SLACK_SECRET_PATH}", slack.url());
    let env = [
        ("AUTHORIZATION", AUTHORIZATION),
        ("WEBHOOK_SECRET", KEY_ONE),
        ("SLACK_INCOMING_WEBHOOK_URL", slack_url.as_str()),
        ("SLACK_SEND_SUCCESS", "true"),
    ];
    let mut secrets: Vec<String> = vec![
        CLIENT_SECRET.into(),
        AUTHORIZATION.into(),
        "authz-Secret-Value-3c1f".into(),
        KEY_ONE.into(),
        KEY_ONE.trim_start_matches("whsec_").into(),
        slack_url.clone(),
        SLACK_SECRET_PATH.into(),
        "slackSecretPath9f2".into(),
    ];
    let mut outs = Vec::new();

    let ok = s.run(&["-vv"], &env);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(s.receiver.unique_delivered().len(), 6);
    assert_eq!(*slack_calls.lock().unwrap(), [200], "Slack got the success");
    outs.push(("verbose run", ok));

    let json = s.run(&["-vv", "--output", "json"], &env);
    assert_eq!(json.code, 0, "{}", json.stderr);
    outs.push(("verbose run with --output json", json));

    let dry = s.run(&["-vv", "--dry-run", "--start-from", &log_id(0)], &env);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.stdout.lines().count(), 6, "dry run printed the items");
    outs.push(("dry run", dry));

    let check = s.exec("check", &["-vv"], &env);
    assert_eq!(check.code, 0, "{}", check.all());
    outs.push(("check", check));

    // A failing run (the webhook refuses) that Slack hears about, and Slack failing too.
    s.receiver.set_behaviour(Behaviour::Status(400));
    *slack_status.lock().unwrap() = 500;
    std::fs::remove_file(s.state()).unwrap();
    let failed = s.run(&["-vv"], &env);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("400"), "{}", failed.stderr);
    assert!(
        slack_calls.lock().unwrap().contains(&500),
        "Slack was told about the failure"
    );
    outs.push(("failed run", failed));

    // Settings that are refused, each with its secret in a bad shape.
    let bad_slack = "http://hooks.slack.example/services/T0SEC/B0SEC/slackSecretPath9f2";
    let mut bad_env = env.to_vec();
    bad_env.push(("SLACK_INCOMING_WEBHOOK_URL", bad_slack));
    let out = s.run(&["-vv"], &bad_env);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("SLACK_INCOMING_WEBHOOK_URL"),
        "{}",
        out.stderr
    );
    outs.push(("http Slack URL", out));

    let garbled_slack = "not a url slackSecretPath9f2";
    bad_env.push(("SLACK_INCOMING_WEBHOOK_URL", garbled_slack));
    let out = s.run(&["-vv"], &bad_env);
    assert_eq!(out.code, 2, "{}", out.stderr);
    outs.push(("unparseable Slack URL", out));

    let bad_key = "plainWebhookSecret-77aa";
    secrets.push(bad_key.into());
    let out = s.run(&["-vv"], &[("WEBHOOK_SECRET", bad_key)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("WEBHOOK_SECRET"), "{}", out.stderr);
    outs.push(("malformed WEBHOOK_SECRET", out));

    let wrong_client_secret = "wrong-client-secret-5d8e";
    secrets.push(wrong_client_secret.into());
    std::fs::remove_file(s.state()).unwrap();
    let out = s.run(&["-vv"], &[("AUTH0_CLIENT_SECRET", wrong_client_secret)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("AUTH0_CLIENT_SECRET"), "{}", out.stderr);
    outs.push(("refused client secret", out));

    // Every access token the tenant issued.
    let issued = s.tenant.token_requests();
    assert!(issued >= 2, "tokens were issued");
    secrets.extend((1..=issued).map(|n| format!("tok-{n}")));

    for (what, out) in &outs {
        assert_no_secret(what, out, &secrets);
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn state_and_dead_letter_files_are_created_private() {
    let s = Setup::new(sapi_logs(1..=4));
    s.receiver.push_reply(Reply::status(422));
    let dead = s.home.join("dead.jsonl");
    let out = s.run(
        &["--send-as-batch", "false", "--concurrency", "1"],
        &[("DEAD_LETTER_FILE", dead.to_str().unwrap())],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&dead).unwrap().lines().count(), 1);
    assert_eq!(mode(&s.state()), 0o600);
    assert_eq!(mode(&dead), 0o600);
}

#[cfg(unix)]
#[test]
fn state_and_dead_letter_files_become_private_when_they_were_not() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::new(sapi_logs(1..=4));
    let dead = s.home.join("dead.jsonl");
    std::fs::write(s.state(), r#"{"checkpoint": null, "start_from": null}"#).unwrap();
    std::fs::write(&dead, "{\"earlier\":true}\n").unwrap();
    for p in [s.state(), dead.clone()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(mode(&p), 0o644);
    }
    s.receiver.push_reply(Reply::status(422));
    let out = s.run(
        &["--send-as-batch", "false", "--concurrency", "1"],
        &[("DEAD_LETTER_FILE", dead.to_str().unwrap())],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(s.checkpoint(), Some(log_id(4)), "the state was rewritten");
    let lines: Vec<String> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2, "appended, not replaced: {lines:?}");
    assert_eq!(lines[0], "{\"earlier\":true}");
    assert_eq!(mode(&s.state()), 0o600);
    assert_eq!(mode(&dead), 0o600);
}

#[test]
fn plain_http_webhook_is_refused_unless_allowed() {
    let s = Setup::new(sapi_logs(1..=3));
    let out = s.run(&["--webhook-url", "http://example.com/hook"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("WEBHOOK_URL (--webhook-url) must use https"),
        "{}",
        out.stderr
    );
    assert_eq!(s.tenant.token_requests(), 0, "nothing was fetched");

    // Allowed, the settings pass: a dry run fetches and prints, sending nothing to the webhook.
    let out = s.run(
        &[
            "--webhook-url",
            "http://webhook.invalid/hook",
            "--allow-insecure-http",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 3);
}

#[test]
fn plain_http_slack_url_is_refused_unless_allowed() {
    let s = Setup::new(sapi_logs(1..=3));
    let slack = [(
        "SLACK_INCOMING_WEBHOOK_URL",
        "http://hooks.slack.example/services/T0/B0/X",
    )];
    let out = s.run(&[], &slack);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("SLACK_INCOMING_WEBHOOK_URL must use https"),
        "{}",
        out.stderr
    );
    assert_eq!(s.receiver.request_count(), 0);

    let out = s.run(&["--allow-insecure-http", "--dry-run"], &slack);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 3);
}

#[test]
fn unusable_ca_cert_is_a_settings_error_naming_ca_cert() {
    let s = Setup::new(sapi_logs(1..=3));
    let missing = s.home.join("missing-ca.pem");
    let not_pem = s.home.join("not-a-ca.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    for file in [&missing, &not_pem] {
        let out = s.run(&["--ca-cert", file.to_str().unwrap()], &[]);
        assert_eq!(out.code, 2, "{}: {}", file.display(), out.stderr);
        assert!(
            out.stderr.contains("CA_CERT") && out.stderr.contains(file.to_str().unwrap()),
            "{}",
            out.stderr
        );
    }
    assert_eq!(s.tenant.token_requests(), 0);
    assert_eq!(s.receiver.request_count(), 0);
}

#[test]
fn redirects_are_failed_attempts_never_followed() {
    let s = Setup::new(sapi_logs(1..=5));
    let elsewhere_hits = Arc::new(Mutex::new(0usize));
    let elsewhere = {
        let hits = elsewhere_hits.clone();
        Server::start(move |_req: &Request| {
            *hits.lock().unwrap() += 1;
            Reply::status(200)
        })
    };
    s.receiver.push_reply(
        Reply::status(307).with_header("Location", format!("{}/stolen", elsewhere.url())),
    );
    // A redirect concerns the endpoint, not the logs: the run stops, names where it was sent
    // and what to change, and keeps the checkpoint.
    let out = s.run(&[], &[("WEBHOOK_SECRET", KEY_ONE)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("/stolen")
            && out.stderr.contains("never followed")
            && out.stderr.contains("WEBHOOK_URL"),
        "{}",
        out.stderr
    );
    assert_eq!(
        *elsewhere_hits.lock().unwrap(),
        0,
        "the redirect was followed"
    );
    assert_eq!(s.checkpoint(), None);
    let out = s.run(&[], &[("WEBHOOK_SECRET", KEY_ONE)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 2, "the next run sent the batch again");
    assert_eq!(requests[0].status, 307);
    assert_eq!(webhook_id(&requests[0]), webhook_id(&requests[1]));
    assert_eq!(s.receiver.unique_delivered().len(), 5);
}

/// Forwards every request to the tenant and records it, to see the headers the tool sends to
/// Auth0.
fn recording_proxy(tenant: &FakeTenant) -> (Server, Arc<Mutex<Vec<Request>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let target = tenant.url();
    let record = seen.clone();
    let server = Server::start(move |req: &Request| {
        record.lock().unwrap().push(req.clone());
        let client = reqwest::blocking::Client::new();
        let url = format!("{target}{}", req.target);
        let mut fwd = match req.method.as_str() {
            "POST" => client.post(url),
            _ => client.get(url),
        };
        for name in ["content-type", "authorization"] {
            if let Some(v) = req.header(name) {
                fwd = fwd.header(name, v);
            }
        }
        let resp = fwd.body(req.body.clone()).send().unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_string();
        Reply::body(status, &ct, resp.bytes().unwrap().to_vec())
    });
    (server, seen)
}

#[test]
fn requests_to_the_webhook_and_to_auth0_carry_the_user_agent() {
    let s = Setup::new(sapi_logs(1..=3));
    let (proxy, seen) = recording_proxy(&s.tenant);
    let out = s.run(&["--domain", &proxy.url()], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let auth0 = seen.lock().unwrap().clone();
    assert!(
        auth0.iter().any(|r| r.path() == "/oauth/token")
            && auth0.iter().any(|r| r.path() == "/api/v2/logs"),
        "{auth0:?}"
    );
    for r in &auth0 {
        assert_eq!(r.header("user-agent"), Some(USER_AGENT), "{}", r.target);
    }
    let hooks = s.receiver.requests();
    assert!(!hooks.is_empty());
    for r in &hooks {
        assert_eq!(r.header("user-agent"), Some(USER_AGENT));
    }
}

#[test]
fn authorization_arrives_verbatim_from_env_or_file() {
    let s = Setup::new(sapi_logs(1..=2));
    let value = "Basic dm9yZGVsOnZvcmRlbA==";
    let out = s.run(&[], &[("AUTHORIZATION", value)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.header("authorization") == Some(value))
    );

    let file = s.home.join("authorization");
    std::fs::write(&file, "Token abc.DEF-123_x=\n").unwrap();
    s.receiver.clear();
    let out = s.run(
        &["--start-from", &log_id(0)],
        &[("AUTHORIZATION_FILE", file.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.header("authorization") == Some("Token abc.DEF-123_x="))
    );
}
