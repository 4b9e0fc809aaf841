//! Fault injection (issue 3): the real binary against a fake Auth0 tenant and a fake receiver
//! that fail in scripted ways. Each test asserts what a user would see: which log ids reached
//! the receiver, what the state file says, the exit code and the message.

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::cli::{GUARD, Home, Ran, ids, matching, sapi_logs, start};
use crate::support::{Behaviour, FakeReceiver, FakeTenant, Fault, Reply, log_id, realistic_logs};
use serde_json::Value;

/// Polls until `done` holds; panics after the guard time.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < GUARD, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The id of the newest log of the tenant: where the checkpoint lands after a complete run.
fn newest(logs: &[Value]) -> String {
    logs.iter()
        .map(|l| l["log_id"].as_str().unwrap())
        .max()
        .unwrap()
        .to_string()
}

/// 30% of requests fail: with 503, or every `every`-th failure with 429 and `Retry-After: 1`
/// (which holds the whole pool back for a second, so it sets how long the test takes).
fn flaky_30_percent(every: usize) -> Behaviour {
    Behaviour::Flaky {
        fail_ratio: 0.3,
        status: 503,
        seed: 7,
        retry_after_every: Some(every),
    }
}

// ---------------------------------------------------------------------------------------------
// The receiver fails: retries deliver everything
// ---------------------------------------------------------------------------------------------

#[test]
fn flaky_receiver_gets_every_log_in_one_batch_run_with_default_retries() {
    let logs = realistic_logs(300, 11);
    let tenant = FakeTenant::start(logs.clone());
    let receiver = FakeReceiver::start();
    receiver.set_behaviour(flaky_30_percent(6));
    let home = Home::new();

    // Small pages make enough requests for the faults to bite; retry settings stay default.
    home.run(&tenant.url(), &receiver.url(), &["--batch-size", "10"])
        .assert_code(0);

    assert_eq!(receiver.unique_delivered(), matching(&logs));
    let statuses: Vec<u16> = receiver.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&503), "no 503 was served: {statuses:?}");
    assert!(statuses.contains(&429), "no 429 was served: {statuses:?}");
    assert_eq!(home.checkpoint(), Some(newest(&logs)));
}

#[test]
fn flaky_receiver_gets_every_log_in_one_one_by_one_run_with_default_retries() {
    let logs = realistic_logs(80, 12);
    let tenant = FakeTenant::start(logs.clone());
    let receiver = FakeReceiver::start();
    receiver.set_behaviour(flaky_30_percent(8));
    let home = Home::new();

    home.run(
        &tenant.url(),
        &receiver.url(),
        &["--send-as-batch", "false", "--concurrency", "8"],
    )
    .assert_code(0);

    assert_eq!(receiver.unique_delivered(), matching(&logs));
    let statuses: Vec<u16> = receiver.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&503), "no 503 was served: {statuses:?}");
    assert!(statuses.contains(&429), "no 429 was served: {statuses:?}");
    assert_eq!(home.checkpoint(), Some(newest(&logs)));
}

#[test]
fn one_by_one_mode_resends_only_the_log_that_failed() {
    let logs = realistic_logs(120, 13);
    let expected = matching(&logs);
    let tenant = FakeTenant::start(logs.clone());
    let receiver = FakeReceiver::start();
    receiver.push_reply(Reply::status(500));
    let home = Home::new();

    home.run(
        &tenant.url(),
        &receiver.url(),
        &["--send-as-batch", "false", "--concurrency", "4"],
    )
    .assert_code(0);

    let requests = receiver.requests();
    assert_eq!(requests.len(), expected.len() + 1, "matched + one retry");
    let failed: Vec<String> = requests
        .iter()
        .filter(|r| r.status == 500)
        .flat_map(|r| r.log_ids())
        .collect();
    assert_eq!(failed.len(), 1, "one request failed, carrying one log");
    let mut sent: Vec<String> = requests.iter().flat_map(|r| r.log_ids()).collect();
    sent.sort();
    let mut want: Vec<String> = expected.iter().cloned().chain(failed).collect();
    want.sort();
    assert_eq!(sent, want, "every log sent once, the failed one twice");
    assert_eq!(receiver.unique_delivered(), expected);
}

#[test]
fn redirect_is_a_failed_attempt_and_never_followed() {
    let logs = sapi_logs(1..=10);
    let tenant = FakeTenant::start(logs.clone());
    let target = FakeReceiver::start();
    let receiver = FakeReceiver::start();
    receiver.set_behaviour(Behaviour::Redirect(target.url()));
    let home = Home::new();

    let ran = home.run(&tenant.url(), &receiver.url(), &["--max-run-time", "2s"]);
    ran.assert_code(1);

    assert!(receiver.request_count() >= 1);
    assert_eq!(target.request_count(), 0, "the redirect was followed");
    assert!(ran.stderr.contains("302"), "{}", ran.stderr);
    assert_eq!(home.checkpoint(), None, "nothing was delivered");
}

// ---------------------------------------------------------------------------------------------
// Refusals, dead letters, MAX_RUN_TIME
// ---------------------------------------------------------------------------------------------

#[test]
fn refusing_receiver_stops_the_run_before_the_refused_log_and_a_rerun_delivers_all() {
    let logs = realistic_logs(150, 14);
    let expected = matching(&logs);
    let first_matching = expected.first().unwrap().clone();
    let tenant = FakeTenant::start(logs.clone());
    let receiver = FakeReceiver::start();
    receiver.set_behaviour(Behaviour::Status(401));
    let home = Home::new();

    let ran = home.run(&tenant.url(), &receiver.url(), &["--batch-size", "20"]);
    ran.assert_code(1);
    assert!(
        ran.stderr.contains("401") && ran.stderr.contains("AUTHORIZATION"),
        "{}",
        ran.stderr
    );
    assert!(receiver.delivered_ids().is_empty());
    if let Some(checkpoint) = home.checkpoint() {
        assert!(
            checkpoint < first_matching,
            "checkpoint {checkpoint} passed the refused log {first_matching}"
        );
    }

    receiver.set_behaviour(Behaviour::Accept);
    home.run(&tenant.url(), &receiver.url(), &["--batch-size", "20"])
        .assert_code(0);
    assert_eq!(receiver.unique_delivered(), expected);
    assert_eq!(home.checkpoint(), Some(newest(&logs)));
}

#[test]
fn refusal_after_progress_keeps_the_progress_and_stops_before_the_refused_batch() {
    let logs = sapi_logs(1..=60);
    let tenant = FakeTenant::start(logs.clone());
    let receiver = FakeReceiver::start();
    // Two batches accepted, then every request refused (one request at a time, so "two" is
    // the first two batches).
    receiver.push_reply(Reply::status(200));
    receiver.push_reply(Reply::status(200));
    receiver.set_behaviour(Behaviour::Status(422));
    let home = Home::new();

    home.run(
        &tenant.url(),
        &receiver.url(),
        &["--batch-size", "20", "--concurrency", "1"],
    )
    .assert_code(1);

    assert_eq!(receiver.unique_delivered(), ids(&logs[..40]));
    assert_eq!(home.checkpoint(), Some(log_id(40)));

    receiver.set_behaviour(Behaviour::Accept);
    home.run(&tenant.url(), &receiver.url(), &["--batch-size", "20"])
        .assert_code(0);
    assert_eq!(receiver.unique_delivered(), ids(&logs));
}

/// The invariant the tool rests on, checked end to end under random refusals, with pages
/// overlapping in one-by-one mode and batches split under a body limit: after the run, every
/// log at or before the checkpoint reached the receiver, and no refused log is at or before it.
#[test]
fn random_refusals_never_let_the_checkpoint_pass_an_undelivered_log() {
    let modes: [&[&str]; 2] = [
        &["--send-as-batch", "false", "--concurrency", "8"],
        &["--max-body-bytes", "3000", "--concurrency", "4"],
    ];
    for seed in 1..=8u64 {
        let logs = sapi_logs(1..=300);
        let tenant = FakeTenant::start(logs.clone());
        let receiver = FakeReceiver::start();
        receiver.set_delay(Duration::from_millis(2));
        receiver.set_behaviour(Behaviour::Flaky {
            fail_ratio: 0.02,
            status: 422,
            seed,
            retry_after_every: None,
        });
        let home = Home::new();
        let mut args = vec!["--batch-size", "25"];
        args.extend_from_slice(modes[seed as usize % 2]);

        let ran = home.run(&tenant.url(), &receiver.url(), &args);

        // A refused batch is split until the refused logs are found: a log is refused for good
        // only when a request carrying it alone was refused.
        let refused: BTreeSet<String> = receiver
            .requests()
            .iter()
            .filter(|r| r.status == 422 && r.log_ids().len() == 1)
            .flat_map(|r| r.log_ids())
            .collect();
        ran.assert_code(if refused.is_empty() { 0 } else { 1 });
        let delivered = receiver.unique_delivered();
        let checkpoint = home.checkpoint().unwrap_or_default();
        for log in &logs {
            let id = log["log_id"].as_str().unwrap().to_string();
            if id <= checkpoint {
                assert!(
                    delivered.contains(&id),
                    "seed {seed}: {id} is behind checkpoint {checkpoint} but was never delivered"
                );
            }
        }
        if let Some(first) = refused.first() {
            assert!(
                checkpoint < *first,
                "seed {seed}: checkpoint {checkpoint} passed refused log {first}"
            );
        }
    }
}

#[test]
fn dead_letter_file_takes_refused_logs_and_the_run_goes_on() {
    let logs = realistic_logs(150, 15);
    let expected = matching(&logs);
    let tenant = FakeTenant::start(logs.clone());
    let receiver = FakeReceiver::start();
    for n in 0..40 {
        receiver.push_reply(if n % 9 == 4 {
            Reply::text(422, "missing field tenant_name")
        } else {
            Reply::status(200)
        });
    }
    let home = Home::new();
    let dead = home.join("refused.jsonl");

    let ran = home.run(
        &tenant.url(),
        &receiver.url(),
        &[
            "--send-as-batch",
            "false",
            "--concurrency",
            "3",
            "--dead-letter",
            dead.to_str().unwrap(),
        ],
    );
    // All handled, some set aside: exit 3, so cron and monitors tell someone.
    ran.assert_code(3);
    assert!(ran.stderr.contains("dead-lettered"), "{}", ran.stderr);

    let refused: BTreeSet<String> = receiver
        .requests()
        .iter()
        .filter(|r| r.status == 422)
        .flat_map(|r| r.log_ids())
        .collect();
    assert!(!refused.is_empty());
    let text = std::fs::read_to_string(&dead).expect("the dead-letter file");
    let mut lettered = BTreeSet::new();
    for line in text.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        let refusal = v["refusal"].as_str().expect("a refusal");
        assert!(
            refusal.contains("422") && refusal.contains("missing field tenant_name"),
            "{line}"
        );
        assert_eq!(v["status"], 422, "{line}");
        assert_eq!(v["item"]["log_id"], v["log_id"], "{line}");
        lettered.insert(v["log_id"].as_str().unwrap().to_string());
    }
    assert_eq!(lettered, refused);
    let delivered = receiver.unique_delivered();
    assert!(delivered.is_disjoint(&refused));
    assert_eq!(
        delivered.union(&refused).cloned().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(home.checkpoint(), Some(newest(&logs)));
    assert!(ran.stderr.contains("dead-letter"), "{}", ran.stderr);
}

#[test]
fn dead_letter_file_that_cannot_be_opened_exits_2_before_any_request() {
    let tenant = FakeTenant::start(sapi_logs(1..=10));
    let receiver = FakeReceiver::start();
    let home = Home::new();
    let dead = home.join("no-such-folder/refused.jsonl");

    let ran = home.run(
        &tenant.url(),
        &receiver.url(),
        &["--dead-letter", dead.to_str().unwrap()],
    );
    ran.assert_code(2);

    assert!(ran.stderr.contains("DEAD_LETTER_FILE"), "{}", ran.stderr);
    assert!(ran.stderr.contains("no-such-folder"), "{}", ran.stderr);
    assert_eq!(tenant.token_requests(), 0);
    assert_eq!(receiver.request_count(), 0);
}

#[test]
fn retries_stop_at_max_run_time_and_the_next_run_delivers() {
    let tenant = FakeTenant::start(sapi_logs(1..=30));
    let receiver = FakeReceiver::start();
    let home = Home::new();
    home.run(&tenant.url(), &receiver.url(), &[]).assert_code(0);
    assert_eq!(home.checkpoint(), Some(log_id(30)));

    tenant.push_logs(sapi_logs(31..=80));
    receiver.set_behaviour(Behaviour::Status(503));
    receiver.clear();
    let ran = home.run(&tenant.url(), &receiver.url(), &["--max-run-time", "2s"]);
    ran.assert_code(1);
    assert!(ran.stderr.contains("MAX_RUN_TIME"), "{}", ran.stderr);
    assert!(receiver.request_count() >= 1);
    assert_eq!(home.checkpoint(), Some(log_id(30)), "checkpoint moved");

    receiver.set_behaviour(Behaviour::Accept);
    receiver.clear();
    home.run(&tenant.url(), &receiver.url(), &[]).assert_code(0);
    assert_eq!(receiver.unique_delivered(), ids(&sapi_logs(31..=80)));
    assert_eq!(home.checkpoint(), Some(log_id(80)));
}

// ---------------------------------------------------------------------------------------------
// Auth0 fails
// ---------------------------------------------------------------------------------------------

#[test]
fn auth0_server_errors_and_dropped_connections_are_retried() {
    let logs = realistic_logs(200, 16);
    let tenant = FakeTenant::start(logs.clone());
    for fault in [
        Fault::Status(503),
        Fault::Status(502),
        Fault::Drop,
        Fault::Status(503),
    ] {
        tenant.push_fault(fault);
    }
    let receiver = FakeReceiver::start();
    let home = Home::new();

    home.run(&tenant.url(), &receiver.url(), &["--batch-size", "50"])
        .assert_code(0);

    assert_eq!(tenant.pending_faults(), 0);
    assert_eq!(receiver.unique_delivered(), matching(&logs));
    assert_eq!(home.checkpoint(), Some(newest(&logs)));
}

#[test]
fn token_endpoint_errors_are_retried() {
    let logs = realistic_logs(60, 25);
    let tenant = FakeTenant::start(logs.clone());
    tenant.push_token_fault(Fault::Status(503));
    tenant.push_token_fault(Fault::Drop);
    tenant.push_token_fault(Fault::RateLimited {
        retry_after_secs: 1,
    });
    let receiver = FakeReceiver::start();
    let home = Home::new();

    home.run(&tenant.url(), &receiver.url(), &[]).assert_code(0);

    assert_eq!(tenant.token_requests(), 4);
    assert_eq!(receiver.unique_delivered(), matching(&logs));
}

/// Auth0 in trouble during a run, how it is made so, and the batch size that spreads the run
/// over enough pages to meet it.
type Trouble = (&'static str, fn(&FakeTenant), &'static str);

const TROUBLE_MID_RUN: [Trouble; 3] = [
    // Every third logs request fails, so pages after the first meet errors too.
    (
        "every third page answered 503",
        |t| t.fail_every_nth(3, 503),
        "25",
    ),
    (
        "two 429s with Retry-After: 1",
        |t| {
            for _ in 0..2 {
                t.push_fault(Fault::RateLimited {
                    retry_after_secs: 1,
                });
            }
        },
        "50",
    ),
    // 11 pages against 4 requests a second: the run must pause or be refused, and go on.
    (
        "a bucket of 4 requests a second",
        |t| t.set_rate_limit(4, Duration::from_secs(1)),
        "20",
    ),
];

#[test]
fn auth0_in_trouble_mid_run_is_waited_out_and_every_log_delivered() {
    // Each trouble is mostly waited out: the three runs wait side by side, each with its own
    // tenant, receiver and state.
    std::thread::scope(|scope| {
        for (seed, (trouble, make, batch_size)) in (17..).zip(TROUBLE_MID_RUN) {
            scope.spawn(move || {
                let logs = realistic_logs(200, seed);
                let tenant = FakeTenant::start(logs.clone());
                make(&tenant);
                let receiver = FakeReceiver::start();
                let home = Home::new();

                let out = home.run(
                    &tenant.url(),
                    &receiver.url(),
                    &["--batch-size", batch_size],
                );
                assert_eq!(out.code, 0, "{trouble}: {}", out.stderr);
                assert_eq!(receiver.unique_delivered(), matching(&logs), "{trouble}");
                assert_eq!(home.checkpoint(), Some(newest(&logs)), "{trouble}");
            });
        }
    });
}

/// What a bad answer from Auth0 looks like, and what the run says of it.
const BAD_PAGES: [(Fault, &[&str]); 2] = [
    (Fault::Html, &["not JSON", "<html>"]),
    (Fault::BadJson, &["without log_id"]),
];

#[test]
fn one_bad_page_from_auth0_is_retried() {
    for (fault, said) in BAD_PAGES {
        let logs = realistic_logs(100, 20);
        let tenant = FakeTenant::start(logs.clone());
        tenant.push_fault(fault.clone());
        let receiver = FakeReceiver::start();
        let home = Home::new();

        let ran = home.run(&tenant.url(), &receiver.url(), &[]);
        ran.assert_code(0);

        assert!(
            said.iter().all(|s| ran.stderr.contains(s)),
            "{fault:?}: {}",
            ran.stderr
        );
        assert_eq!(receiver.unique_delivered(), matching(&logs), "{fault:?}");
        assert_eq!(home.checkpoint(), Some(newest(&logs)), "{fault:?}");
    }
}

#[test]
fn persistent_bad_pages_from_auth0_fail_the_run_without_moving_the_checkpoint() {
    for (fault, said) in BAD_PAGES {
        let tenant = FakeTenant::start(sapi_logs(1..=20));
        let receiver = FakeReceiver::start();
        let home = Home::new();
        home.run(&tenant.url(), &receiver.url(), &[]).assert_code(0);

        tenant.push_logs(sapi_logs(21..=40));
        for _ in 0..3 {
            tenant.push_fault(fault.clone());
        }
        receiver.clear();
        let ran = home.run(&tenant.url(), &receiver.url(), &[]);
        ran.assert_code(1);
        assert!(
            said.iter().all(|s| ran.stderr.contains(s)),
            "{fault:?}: {}",
            ran.stderr
        );
        assert_eq!(receiver.request_count(), 0, "{fault:?}");
        assert_eq!(home.checkpoint(), Some(log_id(20)), "{fault:?}");
        assert_eq!(
            tenant.pending_faults(),
            0,
            "{fault:?}: the run asked again before giving up"
        );

        home.run(&tenant.url(), &receiver.url(), &[]).assert_code(0);
        assert_eq!(
            receiver.unique_delivered(),
            ids(&sapi_logs(21..=40)),
            "{fault:?}"
        );
        assert_eq!(home.checkpoint(), Some(log_id(40)), "{fault:?}");
    }
}

#[test]
fn token_that_expires_during_the_run_is_replaced() {
    // Pages are 100 logs: 200 were fetched before the first delivery ended, so the token was
    // never asked again. 2,000 keep the fetch thread waiting on delivery (the pool holds at
    // most twice its size in requests), so it still fetches after the token is revoked.
    let logs = realistic_logs(2000, 22);
    let tenant = FakeTenant::start(logs.clone());
    let receiver = FakeReceiver::start();
    // Slow enough that the run is still fetching when the token is revoked.
    receiver.set_delay(Duration::from_millis(150));
    let home = Home::new();

    let child = start(&mut home.command(
        "run",
        &tenant.url(),
        &receiver.url(),
        &["--batch-size", "20"],
    ));
    wait_until("the first page was delivered", || {
        receiver.request_count() >= 1
    });
    tenant.expire_tokens();
    Ran::wait(child).assert_code(0);

    assert_eq!(tenant.token_requests(), 2, "one token, then one fresh one");
    assert_eq!(receiver.unique_delivered(), matching(&logs));
    assert_eq!(home.checkpoint(), Some(newest(&logs)));
}

#[test]
fn short_lived_token_is_renewed_and_the_run_completes() {
    // Enough pages that fetching goes on well past the token's one second.
    let logs = realistic_logs(800, 23);
    let tenant = FakeTenant::start(logs.clone());
    tenant.set_token_expires_in(1);
    let receiver = FakeReceiver::start();
    receiver.set_delay(Duration::from_millis(400));
    let home = Home::new();

    // Two pages a second at most: reading goes on well past the token's second.
    let args = ["--batch-size", "20", "--auth0-rate-limit", "2"];
    home.run(&tenant.url(), &receiver.url(), &args)
        .assert_code(0);

    assert!(tenant.token_requests() >= 2, "the token was never renewed");
    assert_eq!(receiver.unique_delivered(), matching(&logs));
}

#[test]
fn wrong_credentials_fail_with_a_message_about_credentials_and_scope() {
    let tenant = FakeTenant::start(sapi_logs(1..=10));
    let receiver = FakeReceiver::start();
    let home = Home::new();

    let ran = Ran::of(
        home.command("run", &tenant.url(), &receiver.url(), &[])
            .env("AUTH0_CLIENT_SECRET", "not-the-secret"),
    );
    ran.assert_code(1);

    assert!(
        ran.stderr.contains("credentials") && ran.stderr.contains("read:logs"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("not-the-secret"),
        "the secret leaked: {}",
        ran.stderr
    );
    assert_eq!(receiver.request_count(), 0);
    assert_eq!(home.checkpoint(), None);
}

#[test]
fn token_refused_twice_by_the_logs_api_fails_with_a_message_about_scope() {
    let tenant = FakeTenant::start(sapi_logs(1..=10));
    tenant.push_fault(Fault::Status(403));
    tenant.push_fault(Fault::Status(403));
    let receiver = FakeReceiver::start();
    let home = Home::new();

    let ran = home.run(&tenant.url(), &receiver.url(), &[]);
    ran.assert_code(1);

    assert_eq!(tenant.token_requests(), 2, "one fresh token, then give up");
    assert!(ran.stderr.contains("read:logs"), "{}", ran.stderr);
    assert_eq!(receiver.request_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Crashes, locks, bad state
// ---------------------------------------------------------------------------------------------

#[test]
fn kill_9_mid_run_leaves_a_valid_state_and_a_rerun_delivers_the_rest() {
    let logs = realistic_logs(300, 24);
    let expected = matching(&logs);
    let tenant = FakeTenant::start(logs.clone());
    let receiver = FakeReceiver::start();
    receiver.set_delay(Duration::from_millis(100));
    let home = Home::new();
    let args = ["--batch-size", "20", "--send-as-batch", "false"];

    let mut child = start(&mut home.command("run", &tenant.url(), &receiver.url(), &args));
    // Pages are delivered one after another, so 40 requests means the first page's checkpoint
    // has been saved and later pages are in flight.
    wait_until("40 logs reached the receiver", || {
        receiver.request_count() >= 40
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let checkpoint = home.checkpoint().expect("a checkpoint was saved");
    let acknowledged = receiver.unique_delivered();
    assert!(acknowledged.len() < expected.len(), "killed too late");
    for id in expected.iter().filter(|id| **id <= checkpoint) {
        assert!(
            acknowledged.contains(id),
            "{id} is behind the checkpoint but was not delivered"
        );
    }

    receiver.set_delay(Duration::ZERO);
    let before = receiver.request_count();
    home.run(&tenant.url(), &receiver.url(), &args)
        .assert_code(0);

    let resent: Vec<String> = receiver.requests()[before..]
        .iter()
        .flat_map(|r| r.log_ids())
        .collect();
    assert!(
        resent.iter().all(|id| *id > checkpoint),
        "the rerun went back before the checkpoint"
    );
    assert!(receiver.unique_delivered().is_superset(&expected));
    assert_eq!(home.checkpoint(), Some(newest(&logs)));
}

#[test]
fn second_run_at_once_exits_75_and_sends_nothing() {
    let tenant = FakeTenant::start(sapi_logs(1..=50));
    let receiver = FakeReceiver::start();
    receiver.set_delay(Duration::from_secs(1));
    let home = Home::new();

    let mut first = start(&mut home.command(
        "run",
        &tenant.url(),
        &receiver.url(),
        &["--send-as-batch", "false", "--concurrency", "1"],
    ));
    wait_until("the first run is sending", || receiver.request_count() >= 1);

    let other_tenant = FakeTenant::start(sapi_logs(1..=50));
    let other_receiver = FakeReceiver::start();
    let ran = home.run(&other_tenant.url(), &other_receiver.url(), &[]);
    let first_still_running = first.try_wait().unwrap().is_none();
    first.kill().unwrap();
    first.wait().unwrap();

    ran.assert_code(75);
    assert!(first_still_running, "the first run ended before the check");
    assert!(ran.stderr.contains("lock"), "{}", ran.stderr);
    assert_eq!(other_receiver.request_count(), 0);
    assert_eq!(other_tenant.token_requests(), 0);
    assert!(other_tenant.log_requests().is_empty());
}

#[test]
fn corrupt_state_file_exits_2_names_it_and_leaves_it_untouched() {
    let tenant = FakeTenant::start(sapi_logs(1..=10));
    let receiver = FakeReceiver::start();
    for bad in [
        "{\"checkpoint\": \"9000",
        "not json at all",
        "[]",
        "{\"checkpoint\": 5}",
        "{\"checkpoint\": \"1\", \"history\": \"yesterday\"}",
        // Ids the tool cannot place in Auth0's order: paging from them could skip logs.
        "{\"checkpoint\": \"90020260101abc\"}",
        "{\"checkpoint\": \"\"}",
        "{\"checkpoint\": \"9002\", \"windows\": [{\"after\": \"9002\", \"reached\": \"9 9\"}]}",
    ] {
        let home = Home::new();
        std::fs::write(home.state(), bad).unwrap();

        let ran = home.run(&tenant.url(), &receiver.url(), &[]);
        ran.assert_code(2);

        assert!(
            ran.stderr.contains(home.state().to_str().unwrap()),
            "message does not name the file: {}",
            ran.stderr
        );
        assert_eq!(std::fs::read_to_string(home.state()).unwrap(), bad);
        if bad.contains("9002") || bad.contains("\"\"") || bad.contains("abc") {
            assert!(
                ran.stderr.contains("cannot be placed in Auth0's order"),
                "{bad}: {}",
                ran.stderr
            );
        }
    }
    assert_eq!(receiver.request_count(), 0);
    assert!(tenant.log_requests().is_empty());
}

#[test]
fn a_receiver_that_asks_for_a_retry_after_max_run_time_ends_the_run_at_once_saying_so() {
    let home = Home::new();
    let tenant = FakeTenant::start(sapi_logs(1..=300));
    // Down for maintenance, and says so: back in two minutes, after this run's MAX_RUN_TIME.
    let receiver = crate::support::Server::start(|_| {
        Reply::text(503, "down for maintenance").with_header("Retry-After", 120)
    });
    let ran = home.run(&tenant.url(), &receiver.url(), &["--max-run-time", "20s"]);
    ran.assert_code(1);
    assert!(
        ran.stderr
            .contains("the next attempt would come in 2m, after MAX_RUN_TIME, so the run ends now"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("waited"), "{}", ran.stderr);
    assert_eq!(home.checkpoint(), None, "nothing was delivered");
}
