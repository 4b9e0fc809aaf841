//! Formats and filters as the receiver parses them: JSON array, JSON lines and one object per
//! request; the Log Streams envelope; gzip; custom headers; body size limits and the
//! checkpoint; any log type; endpoint entries that name a method.

use crate::support::cli::{Home, Ran, Setup, ids, matching};
use crate::support::{Behaviour, FakeReceiver, Received, Reply, log, log_id, realistic_logs};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Each id exactly once.
fn assert_each_once(receiver: &FakeReceiver, expected: &BTreeSet<String>) {
    let delivered = receiver.delivered_ids();
    let unique: BTreeSet<String> = delivered.iter().cloned().collect();
    assert_eq!(&unique, expected);
    assert_eq!(delivered.len(), expected.len(), "a log was sent twice");
}

#[test]
fn jsonl_batches_are_one_object_a_line_as_ndjson() {
    let s = Setup::new(realistic_logs(150, 7));
    let out = s.run(&[], &[("PAYLOAD_FORMAT", "jsonl")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 2, "one request a page of 100");
    for r in &requests {
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        let text = r.body_text();
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            let item: Value = serde_json::from_str(line).unwrap();
            assert!(item.is_object() && item["log_id"].is_string(), "{line}");
        }
    }
    assert_each_once(&s.receiver, &matching(&s.tenant.logs()));
}

#[test]
fn array_is_the_default_batch_body() {
    let s = Setup::new(realistic_logs(150, 8));
    let out = s.run(&[], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let items = body.as_array().expect("a JSON array");
        assert!(items.iter().all(Value::is_object));
    }
    assert_each_once(&s.receiver, &matching(&s.tenant.logs()));
}

#[test]
fn one_by_one_sends_a_json_object_whatever_the_format() {
    for format in ["array", "jsonl"] {
        let s = Setup::new(realistic_logs(20, 9));
        let out = s.run(&["--send-as-batch", "false"], &[("PAYLOAD_FORMAT", format)]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let expected = matching(&s.tenant.logs());
        let requests = s.receiver.requests();
        assert_eq!(requests.len(), expected.len());
        for r in &requests {
            assert_eq!(r.header("content-type"), Some("application/json"));
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert!(body.is_object(), "{format}: {body}");
            assert_eq!(body["log_id"].as_str(), r.header("webhook-id"));
        }
        assert_each_once(&s.receiver, &expected);
    }
}

#[test]
fn log_stream_shape_carries_each_log_exactly_as_the_tenant_stored_it() {
    let s = Setup::new(realistic_logs(120, 10));
    let out = s.run(&[], &[("PAYLOAD_SHAPE", "log-stream")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let stored: BTreeMap<String, Value> = s
        .tenant
        .logs()
        .into_iter()
        .map(|l| (l["log_id"].as_str().unwrap().to_string(), l))
        .collect();
    let items = s.receiver.items();
    assert_eq!(items.len(), matching(&s.tenant.logs()).len());
    for item in &items {
        let obj = item.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["log_id", "data"], "{item}");
        let id = item["log_id"].as_str().unwrap();
        assert_eq!(&item["data"], &stored[id], "log {id} was changed");
    }
    // Logs without details travel whole too.
    assert!(items.iter().any(|i| i["data"].get("details").is_none()));
}

#[test]
fn gzip_bodies_are_marked_smaller_and_decode() {
    let s = Setup::new(realistic_logs(200, 11));
    let out = s.run(&[], &[("WEBHOOK_GZIP", "true")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        // The receiver gunzipped the body: it parses, and it is larger than what travelled.
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body.as_array().unwrap().len() > 50);
        assert!(
            r.wire_len * 2 < r.body.len(),
            "{} bytes on the wire for {} decoded",
            r.wire_len,
            r.body.len()
        );
    }
    assert_each_once(&s.receiver, &matching(&s.tenant.logs()));
}

#[test]
fn custom_headers_from_env_and_flags_arrive_on_every_request() {
    let s = Setup::new(realistic_logs(30, 12));
    let out = s.run(
        &[
            "--send-as-batch",
            "false",
            "--header",
            "X-Trace: abc 123",
            "--header",
            "X-Api-Key:key-value-9",
        ],
        &[("WEBHOOK_HEADERS", r#"{"X-Env":"prod","X-Team":"security"}"#)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = s.receiver.requests();
    assert!(requests.len() > 5);
    for r in &requests {
        assert_eq!(r.header("x-env"), Some("prod"));
        assert_eq!(r.header("x-team"), Some("security"));
        assert_eq!(r.header("x-trace"), Some("abc 123"));
        assert_eq!(r.header("x-api-key"), Some("key-value-9"));
    }
}

#[test]
fn headers_the_tool_sets_are_refused() {
    let s = Setup::new(realistic_logs(5, 13));
    for name in ["Content-Type", "webhook-signature", "Authorization"] {
        let flag = format!("{name}: x");
        let out = s.run(&["--header", &flag], &[]);
        assert_eq!(out.code, 2, "--header {name}: {}", out.stderr);
        assert!(out.stderr.contains(name), "{}", out.stderr);

        let json = format!(r#"{{"{name}":"x"}}"#);
        let out = s.run(&[], &[("WEBHOOK_HEADERS", &json)]);
        assert_eq!(out.code, 2, "WEBHOOK_HEADERS {name}: {}", out.stderr);
        assert!(out.stderr.contains(name), "{}", out.stderr);
    }
    assert_eq!(s.tenant.token_requests(), 0);
    assert_eq!(s.receiver.request_count(), 0);
}

#[test]
fn max_body_bytes_splits_batches_and_delivers_everything() {
    const LIMIT: usize = 6000;
    for (format, gzip) in [("array", "false"), ("jsonl", "false"), ("array", "true")] {
        let s = Setup::new(realistic_logs(250, 14));
        let limit = LIMIT.to_string();
        let out = s.run(
            &[],
            &[
                ("WEBHOOK_MAX_BODY_BYTES", &limit),
                ("PAYLOAD_FORMAT", format),
                ("WEBHOOK_GZIP", gzip),
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(!out.stderr.contains("warning"), "{}", out.stderr);
        let requests = s.receiver.requests();
        assert!(requests.len() > 10, "{format}: {} requests", requests.len());
        for r in &requests {
            assert!(
                r.wire_len <= LIMIT,
                "{format} gzip={gzip}: a {}-byte body",
                r.wire_len
            );
            if gzip == "false" {
                assert_eq!(r.wire_len, r.body.len());
            }
        }
        assert_each_once(&s.receiver, &matching(&s.tenant.logs()));
        assert_eq!(s.checkpoint(), Some(log_id(250)));
    }
}

#[test]
fn checkpoint_does_not_pass_a_part_that_failed() {
    let logs: Vec<Value> = (1..=40)
        .map(|i| log(i, "sapi", "POST", "/api/v2/users"))
        .collect();
    let s = Setup::new(logs);
    // The first part accepted, then everything refused, no dead-letter file: the refused part
    // is split down to its first log, and the run stops there.
    s.receiver.push_reply(Reply::status(200));
    s.receiver.set_behaviour(Behaviour::Status(400));
    let args = ["--concurrency", "1", "--max-body-bytes", "6000"];
    let out = s.run(&args, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);

    let requests = s.receiver.requests();
    let failed: Vec<String> = requests
        .iter()
        .filter(|r| r.status == 400 && r.log_ids().len() == 1)
        .flat_map(Received::log_ids)
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "one log refused alone, then the run stopped"
    );
    let first_failed = failed.iter().min().unwrap().clone();
    let delivered = s.receiver.unique_delivered();
    let checkpoint = s.checkpoint();
    if let Some(c) = &checkpoint {
        assert!(
            *c < first_failed,
            "checkpoint {c} passed the refused log {first_failed}"
        );
        // Everything the checkpoint passed was delivered.
        for n in 1..=40 {
            let id = log_id(n);
            if id <= *c {
                assert!(delivered.contains(&id), "{id} passed but not delivered");
            }
        }
    }

    // The next run, with a receiver that accepts, delivers what was left.
    s.receiver.set_behaviour(Behaviour::Accept);
    let out = s.run(&args, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let all: BTreeSet<String> = (1..=40).map(log_id).collect();
    assert_eq!(s.receiver.unique_delivered(), all);
    assert_eq!(s.checkpoint(), Some(log_id(40)));
}

#[test]
fn a_log_larger_than_the_limit_goes_alone_with_a_warning() {
    let mut logs: Vec<Value> = (1..=12)
        .map(|i| log(i, "sapi", "PATCH", "/api/v2/users/auth0|1"))
        .collect();
    logs[5]["details"]["request"]["body"]["app_metadata"] =
        serde_json::json!({"notes": "x".repeat(20_000)});
    let big = log_id(6);
    let s = Setup::new(logs);
    let out = s.run(&[], &[("WEBHOOK_MAX_BODY_BYTES", "8000")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("warning") && out.stderr.contains(&big),
        "{}",
        out.stderr
    );
    let requests = s.receiver.requests();
    let carrying_big: Vec<&Received> = requests
        .iter()
        .filter(|r| r.log_ids().contains(&big))
        .collect();
    assert_eq!(carrying_big.len(), 1);
    assert_eq!(carrying_big[0].log_ids(), vec![big.clone()], "sent alone");
    assert!(carrying_big[0].wire_len > 8000);
    for r in requests.iter().filter(|r| !r.log_ids().contains(&big)) {
        assert!(r.wire_len <= 8000);
    }
    assert_each_once(&s.receiver, &(1..=12).map(log_id).collect());
}

#[test]
fn log_types_forward_any_type_code() {
    let s = Setup::new(realistic_logs(400, 15));
    let types = ["mgmt_api_read", "s", "f"];
    let out = s.run(
        &[],
        &[
            ("LOG_TYPES", "mgmt_api_read, s,f"),
            ("PAYLOAD_SHAPE", "log-stream"),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = ids(s
        .tenant
        .logs()
        .iter()
        .filter(|l| types.contains(&l["type"].as_str().unwrap())));
    for t in types {
        assert!(
            s.receiver
                .items()
                .iter()
                .any(|i| i["data"]["type"].as_str() == Some(t)),
            "no {t} log forwarded"
        );
    }
    assert_each_once(&s.receiver, &expected);
}

#[test]
fn help_says_log_stream_suits_types_without_request_details() {
    let out = Ran::of(Home::new().bare().args(["run", "--help"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let help = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains(
            "Types without details.request are best sent with --payload-shape log-stream"
        ),
        "{help}"
    );
}

fn endpoint_logs() -> Vec<Value> {
    vec![
        log(1, "sapi", "DELETE", "/api/v2/users/auth0|1"),
        log(2, "sapi", "PATCH", "/api/v2/users/auth0|1"),
        log(3, "sapi", "DELETE", "/api/v2/clients/abc"),
        log(4, "fapi", "DELETE", "/v2/users/auth0|2"),
        log(5, "sapi", "GET", "/api/v2/users"),
        log(6, "sapi", "POST", "/api/v2/users"),
        log(7, "sapi", "GET", "/api/v2/users-by-email"),
        log(8, "sapi", "DELETE", "/api/v2/users"),
    ]
}

fn delivered_with_endpoints(endpoints: &str) -> BTreeSet<String> {
    let s = Setup::new(endpoint_logs());
    let out = s.run(&[], &[("AUTH0_API_ENDPOINTS", endpoints)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    s.receiver.unique_delivered()
}

#[test]
fn an_endpoint_with_a_method_matches_only_that_method() {
    let ids = |ns: &[u64]| ns.iter().map(|n| log_id(*n)).collect::<BTreeSet<_>>();
    assert_eq!(delivered_with_endpoints("DELETE users"), ids(&[1, 4, 8]));
    assert_eq!(delivered_with_endpoints("delete users"), ids(&[1, 4, 8]));
    assert_eq!(delivered_with_endpoints("users"), ids(&[1, 2, 4, 5, 6, 8]));
    assert_eq!(
        delivered_with_endpoints("DELETE users, clients"),
        ids(&[1, 3, 4, 8])
    );
}

// ---------------------------------------------------------------------------------------------
// Receivers written for Auth0 Log Streams

#[test]
fn log_stream_shape_alone_sends_json_lines_as_application_json_like_a_log_stream() {
    let s = Setup::new(realistic_logs(150, 30));
    let out = s.run(&[], &[("PAYLOAD_SHAPE", "log-stream")]);
    out.assert_code(0);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 2, "batches of 100 as before");
    for r in &requests {
        assert_eq!(r.header("content-type"), Some("application/json"));
        let text = r.body_text();
        assert!(text.ends_with('\n'), "JSON lines, not an array: {text:.80}");
        for line in text.lines() {
            let item: Value = serde_json::from_str(line).unwrap();
            let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["log_id", "data"], "{line:.80}");
        }
    }
    assert_each_once(&s.receiver, &matching(&s.tenant.logs()));
}

/// A receiver written for Log Streams answers 415 to anything but `application/json`, as some
/// do: JSON lines labelled x-ndjson stop the run (nothing lost, the fix named); the same body
/// labelled as the receiver wants, by WEBHOOK_CONTENT_TYPE or by the log-stream shape's
/// default, is taken.
#[test]
fn a_receiver_that_takes_only_application_json_works_once_the_content_type_says_so() {
    let strict = crate::support::Server::start(|req: &crate::support::Request| {
        if req.header("content-type") == Some("application/json") {
            Reply::status(200)
        } else {
            Reply::text(415, "Unsupported Media Type")
        }
    });
    let webhook = format!("{}/hook", strict.url());
    let s = Setup::new(realistic_logs(60, 33));
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = s.home.command("run", &s.tenant.url(), &webhook, &[]);
        cmd.envs(extra.iter().copied());
        Ran::of(&mut cmd)
    };

    let out = run(&[("PAYLOAD_FORMAT", "jsonl")]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("415") && out.stderr.contains("WEBHOOK_CONTENT_TYPE"),
        "{}",
        out.stderr
    );
    assert_eq!(s.checkpoint(), None, "nothing passed");

    let out = run(&[
        ("PAYLOAD_FORMAT", "jsonl"),
        ("WEBHOOK_CONTENT_TYPE", "application/json"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::fs::remove_file(s.state()).unwrap();
    let out = run(&[("PAYLOAD_SHAPE", "log-stream")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn webhook_content_type_labels_every_request_whatever_the_format() {
    let wanted = "application/vnd.acme.audit+json; charset=utf-8";
    for (format, as_batch) in [("jsonl", "true"), ("array", "true"), ("array", "false")] {
        let s = Setup::new(realistic_logs(40, 31));
        let out = s.run(
            &["--content-type", wanted, "--send-as-batch", as_batch],
            &[("PAYLOAD_FORMAT", format)],
        );
        out.assert_code(0);
        let requests = s.receiver.requests();
        assert!(!requests.is_empty());
        for r in &requests {
            assert_eq!(
                r.header("content-type"),
                Some(wanted),
                "{format} {as_batch}"
            );
        }
        assert_each_once(&s.receiver, &matching(&s.tenant.logs()));
    }
    // From the environment, over the log-stream default.
    let s = Setup::new(realistic_logs(40, 32));
    s.run(
        &[],
        &[
            ("WEBHOOK_CONTENT_TYPE", "application/x-ndjson"),
            ("PAYLOAD_SHAPE", "log-stream"),
        ],
    )
    .assert_code(0);
    for r in s.receiver.requests() {
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        assert!(r.body_text().ends_with('\n'));
    }
}

#[test]
fn a_content_type_that_is_no_header_value_is_refused_before_anything_is_sent() {
    let s = Setup::new(realistic_logs(20, 33));
    let out = s.run(
        &[],
        &[("WEBHOOK_CONTENT_TYPE", "application/json\r\nX-Injected: 1")],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("WEBHOOK_CONTENT_TYPE") && out.stderr.contains("application/json"),
        "{}",
        out.stderr
    );
    assert_eq!(s.receiver.request_count(), 0);
    assert!(!s.state().exists(), "nothing written");
}

#[test]
fn log_streams_format_names_work_in_any_case() {
    let s = Setup::new(realistic_logs(150, 34));
    s.run(&[], &[("PAYLOAD_FORMAT", "JSONLINES")])
        .assert_code(0);
    for r in s.receiver.requests() {
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        assert!(r.body_text().ends_with('\n'));
    }

    let s = Setup::new(realistic_logs(150, 35));
    s.run(&["--payload-format", "jsonarray"], &[])
        .assert_code(0);
    for r in s.receiver.requests() {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body.is_array());
    }

    // JSONOBJECT: one log per request, as SEND_AS_BATCH=false.
    let s = Setup::new(realistic_logs(30, 36));
    s.run(
        &[],
        &[
            ("PAYLOAD_FORMAT", "JSONOBJECT"),
            ("PAYLOAD_SHAPE", "log-stream"),
        ],
    )
    .assert_code(0);
    let expected = matching(&s.tenant.logs());
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), expected.len());
    for r in &requests {
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body.is_object() && body["data"].is_object(), "{body}");
        assert_eq!(body["log_id"].as_str(), r.header("webhook-id"));
    }
    assert_each_once(&s.receiver, &expected);
}

#[test]
fn jsonobject_with_send_as_batch_true_is_refused_naming_both() {
    let s = Setup::new(realistic_logs(20, 37));
    let out = s.run(
        &[],
        &[("PAYLOAD_FORMAT", "jsonobject"), ("SEND_AS_BATCH", "true")],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("PAYLOAD_FORMAT=jsonobject") && out.stderr.contains("SEND_AS_BATCH"),
        "{}",
        out.stderr
    );
    assert_eq!(s.receiver.request_count(), 0);
    // With SEND_AS_BATCH=false it agrees, and is one log per request.
    s.run(
        &[],
        &[("PAYLOAD_FORMAT", "jsonobject"), ("SEND_AS_BATCH", "false")],
    )
    .assert_code(0);
    assert_eq!(s.receiver.request_count(), matching(&s.tenant.logs()).len());
}
