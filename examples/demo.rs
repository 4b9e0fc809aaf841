//! A tour with no Auth0 account: starts a fake tenant holding a few hundred realistic audit
//! logs and a webhook receiver that fails now and then, both on 127.0.0.1, runs the real
//! `auth0-mgmt-webhooks run` against them twice, and prints what the receiver got.
//!
//!     cargo run --example demo
//!
//! A debug build is enough (and builds in a fraction of the release build's time with LTO): the
//! run's time is the receiver's failures and the retries' backoff, not the CPU.

#[path = "../tests/it/support/mod.rs"]
mod support;

use serde_json::Value;
use support::{Behaviour, CLIENT_ID, CLIENT_SECRET, FakeReceiver, FakeTenant, realistic_logs};

fn main() {
    // The secret comes from the environment, as in production; set before any thread starts.
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("AUTH0_CLIENT_SECRET", CLIENT_SECRET) };

    let logs = realistic_logs(400, 7);
    let tenant = FakeTenant::start(logs.clone());
    let receiver = FakeReceiver::start();
    // A receiver having a bad day: 30% of requests fail with 503, some with 429 + Retry-After.
    receiver.set_behaviour(Behaviour::Flaky {
        fail_ratio: 0.3,
        status: 503,
        seed: 1,
        retry_after_every: Some(4),
    });
    let dir = tempfile::tempdir().expect("a temporary folder");
    let state = dir.path().join("state.json");

    let run = |extra: &[&str]| {
        let mut args = vec![
            "auth0-mgmt-webhooks",
            "run",
            "--domain",
            &tenant.url(),
            "--client-id",
            CLIENT_ID,
            "--webhook-url",
            &receiver.url(),
            "--state",
            state.to_str().unwrap(),
            "--endpoints",
            "users, clients",
            "--batch-size",
            "50",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| s.to_string()));
        println!("\n$ {}", shown(&args));
        auth0_mgmt_webhooks::main_with_args(args)
    };

    let sapi_fapi = logs
        .iter()
        .filter(|l| matches!(l["type"].as_str(), Some("sapi" | "fapi")))
        .count();
    println!(
        "Fake tenant {} holds {} logs ({} of them sapi/fapi).",
        tenant.url(),
        logs.len(),
        sapi_fapi
    );
    println!(
        "Fake receiver {} fails 30% of requests (503, some 429 with Retry-After).",
        receiver.url()
    );
    println!("Forwarding only the endpoints 'users, clients', in batches of up to 50.");

    let code = run(&[]);
    let got = receiver.unique_delivered();
    let expected: Vec<&Value> = logs.iter().filter(|l| wanted(l)).collect();
    println!("\nexit code {code}");
    println!(
        "receiver: {} requests, {} accepted; {} distinct logs delivered of {} expected ({} repeats, harmless: receivers drop them by log_id)",
        receiver.request_count(),
        receiver.requests().iter().filter(|r| r.accepted()).count(),
        got.len(),
        expected.len(),
        receiver.delivered_ids().len() - got.len(),
    );
    let missing = expected
        .iter()
        .filter(|l| !got.contains(l["log_id"].as_str().unwrap()))
        .count();
    println!("missing: {missing}");
    if let Some(first) = receiver.items().first() {
        println!(
            "\nfirst payload item:\n{}",
            serde_json::to_string_pretty(first).unwrap()
        );
    }
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    println!("\nstate file checkpoint: {}", saved["checkpoint"]);

    println!("\nA second run finds nothing new and sends nothing:");
    let before = receiver.request_count();
    let code2 = run(&[]);
    println!(
        "exit code {code2}; new requests: {}",
        receiver.request_count() - before
    );

    println!("\nHistory of the runs, as `auth0-mgmt-webhooks history` shows it:");
    auth0_mgmt_webhooks::main_with_args([
        "auth0-mgmt-webhooks",
        "history",
        "--state",
        state.to_str().unwrap(),
    ]);

    if code != 0 || code2 != 0 || missing != 0 {
        std::process::exit(1);
    }
}

/// What the filter should keep: sapi/fapi logs under /api/v2/users or /api/v2/clients.
fn wanted(log: &Value) -> bool {
    if !matches!(log["type"].as_str(), Some("sapi" | "fapi")) {
        return false;
    }
    let path = log
        .pointer("/details/request/path")
        .and_then(Value::as_str)
        .unwrap_or("");
    let path = path.strip_prefix("/api").unwrap_or(path);
    ["/v2/users", "/v2/clients"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

fn shown(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
