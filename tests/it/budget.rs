//! The tenant's Auth0 rate budget: the tool reads no faster than its share of the bucket that
//! Auth0 reports, draws no 429 of its own, and leaves the rest to the tenant's other clients.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::cli::{GUARD, Setup, ids, matching, start};
use crate::support::neighbour::Neighbour;
use crate::support::tenant::stored_late;
use crate::support::{FakeTenant, realistic_logs};

#[test]
fn a_full_share_reads_the_free_plan_without_drawing_a_429() {
    // 2 requests a second, burst 2: 12 pages read as fast as the bucket refills.
    let logs = realistic_logs(1150, 61);
    let s = Setup::new(logs.clone());
    s.tenant.set_plan(2.0, 2);
    s.tenant.set_latency(Duration::from_millis(50));
    s.run(&[], &[("AUTH0_RATE_LIMIT", "100%")]).assert_code(0);
    assert_eq!(s.tenant.refused(), 0, "the tool drew a 429");
    assert_eq!(s.receiver.unique_delivered(), matching(&logs));
}

#[test]
fn the_default_share_leaves_a_neighbour_on_the_free_plan_its_requests() {
    let logs = realistic_logs(700, 62);
    let s = Setup::new(logs.clone());
    s.tenant.set_plan(2.0, 2);
    s.tenant.set_latency(Duration::from_millis(50));
    let neighbour = Neighbour::start(&s.tenant, Duration::from_secs(1));
    s.run(&[], &[]).assert_code(0);
    let (made, refused) = neighbour.stop();
    assert!(
        made >= 4,
        "the neighbour ran beside the tool ({made} requests)"
    );
    assert_eq!(
        refused, 0,
        "{refused} of the neighbour's {made} requests were refused"
    );
    assert_eq!(s.receiver.unique_delivered(), matching(&logs));
}

/// The share's fallback, 50% of the smallest rate Auth0 publishes (100 a minute).
const FALLBACK: &str = "at most 0.833 requests/s";

#[test]
fn unreadable_rate_headers_keep_the_default_share_under_half_the_bucket() {
    // A proxy rewrites the x-ratelimit-* headers. The tenant's bucket refuses anything above
    // half the Free plan's (1 request a second, burst 2): the tool, which reads its 280 logs in
    // 4 requests, would draw a 429 by the third if its share did not hold.
    let logs = realistic_logs(280, 68);
    thread::scope(|scope| {
        for value in ["n/a", "-1", "0", "1.5"] {
            let logs = &logs;
            scope.spawn(move || {
                let s = Setup::new(logs.clone());
                s.tenant.set_plan(1.0, 2);
                s.tenant.set_rate_headers_as(value);
                let out = s.run(&[], &[]);
                out.assert_code(0);
                assert_eq!(s.tenant.refused(), 0, "{value}: the tool drew a 429");
                assert_eq!(s.tenant.log_requests().len(), 4, "{value}");
                assert_eq!(s.receiver.unique_delivered(), matching(logs), "{value}");
                assert_eq!(
                    out.stderr.matches("x-ratelimit-limit is").count(),
                    1,
                    "{value}: one warning a run: {}",
                    out.stderr
                );
                assert!(out.stderr.contains(FALLBACK), "{value}: {}", out.stderr);
            });
        }
    });
}

#[test]
fn check_says_what_the_share_falls_back_to_when_the_rate_headers_cannot_be_read() {
    let s = Setup::new(realistic_logs(10, 69));
    s.tenant.set_rate_headers_as("n/a");
    let out = s.exec("check", &[], &[]);
    out.assert_code(0);
    let said = out.all();
    assert!(
        said.contains("WARN Auth0's rate limit cannot be read (x-ratelimit-limit is 'n/a'")
            && said.contains(FALLBACK),
        "{said}"
    );
}

#[test]
fn a_rate_limit_that_is_not_a_share_or_a_rate_exits_2_before_any_request() {
    let s = Setup::new(realistic_logs(10, 63));
    for bad in ["0%", "150%", "fast", "-1", "0", "50%%"] {
        let out = s.run(&[], &[("AUTH0_RATE_LIMIT", bad)]);
        out.assert_code(2);
        assert!(
            out.stderr.contains("AUTH0_RATE_LIMIT") && out.stderr.contains("50%"),
            "{bad}: {}",
            out.stderr
        );
    }
    let out = s.run(&["--auth0-rate-limit", "fast"], &[]);
    out.assert_code(2);
    assert!(out.stderr.contains("--auth0-rate-limit"), "{}", out.stderr);
    assert_eq!(s.tenant.token_requests(), 0);
    assert_eq!(s.receiver.request_count(), 0);
}

#[test]
fn check_shows_the_limit_auth0_reports_and_the_share_in_use() {
    let s = Setup::new(realistic_logs(10, 64));
    s.tenant.set_plan(16.0, 50);
    let out = s.exec("check", &[], &[("AUTH0_RATE_LIMIT", "75%")]);
    out.assert_code(0);
    assert!(
        out.all()
            .contains("a bucket of 50 requests, refilled at 16 requests/s")
            && out.all().contains("AUTH0_RATE_LIMIT 75%"),
        "{}",
        out.all()
    );
}

/// The logs of a backlog, every 7th stored an hour after it happened (so its id sorts among
/// logs that happened an hour later, possibly in another window).
fn backlog_stored_late(n: usize, seed: u64) -> Vec<Value> {
    realistic_logs(n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let counter = i as u64 + 1;
            match counter.is_multiple_of(7) {
                true => stored_late(l, counter, 3_600_000),
                false => l,
            }
        })
        .collect()
}

/// The `from` of each logs request that is a synthetic id (a moment followed by zeros): each
/// starts a window of its own, but the first run's start.
fn window_starts(tenant: &FakeTenant) -> Vec<String> {
    tenant
        .log_requests()
        .iter()
        .filter_map(|q| q.split("from=").nth(1))
        .map(|f| f.split('&').next().unwrap_or_default().to_string())
        .filter(|f| f.ends_with(&"0".repeat(36)) && !f.starts_with("90020000101"))
        .collect()
}

#[test]
fn a_backlog_is_read_over_windows_by_several_cursors_and_nothing_is_lost() {
    // 8,000 logs over almost seven hours, on the Enterprise limit, at the full share.
    let logs = backlog_stored_late(8000, 65);
    let s = Setup::new(logs.clone());
    s.tenant.set_plan(16.0, 50);
    s.tenant.set_latency(Duration::from_millis(100));
    s.run(&[], &[("AUTH0_RATE_LIMIT", "100%")]).assert_code(0);
    assert!(
        !window_starts(&s.tenant).is_empty(),
        "one cursor read the whole backlog"
    );
    assert_eq!(s.tenant.refused(), 0, "the tool drew a 429");
    assert_eq!(s.receiver.unique_delivered(), matching(&logs));
    assert_eq!(s.checkpoint(), Some(ids(&logs).into_iter().max().unwrap()));
}

#[test]
fn a_few_pages_behind_is_read_by_one_cursor() {
    // Three pages: the third one short.
    let logs = realistic_logs(280, 66);
    let s = Setup::new(logs.clone());
    s.tenant.set_plan(16.0, 50);
    s.run(&[], &[("AUTH0_RATE_LIMIT", "100%")]).assert_code(0);
    assert_eq!(window_starts(&s.tenant), Vec::<String>::new());
    assert_eq!(
        s.tenant.log_requests().len(),
        4,
        "3 pages and the empty one"
    );
    assert_eq!(s.receiver.unique_delivered(), matching(&logs));
}

#[test]
fn kill_9_in_a_parallel_backfill_loses_nothing_and_the_rerun_goes_on() {
    let logs = backlog_stored_late(6000, 67);
    let expected = matching(&logs);
    let s = Setup::new(logs.clone());
    s.tenant.set_plan(16.0, 50);
    s.tenant.set_latency(Duration::from_millis(50));
    s.receiver.set_delay(Duration::from_millis(150));
    let mut cmd = s.command("run");
    cmd.args(["--batch-size", "25"])
        .env("AUTH0_RATE_LIMIT", "100%");
    let mut child = start(&mut cmd);
    let started = Instant::now();
    while s.receiver.unique_delivered().len() < 1500 {
        assert!(started.elapsed() < GUARD, "the run never got going");
        thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !window_starts(&s.tenant).is_empty(),
        "killed before windows"
    );

    let checkpoint = s.checkpoint().expect("a checkpoint was saved");
    let acknowledged = s.receiver.unique_delivered();
    assert!(acknowledged.len() < expected.len(), "killed too late");
    for id in expected.iter().filter(|id| **id <= checkpoint) {
        assert!(
            acknowledged.contains(id),
            "{id} is behind the checkpoint, not delivered"
        );
    }

    s.receiver.set_delay(Duration::ZERO);
    let before = s.receiver.request_count();
    s.run(&[], &[("AUTH0_RATE_LIMIT", "100%")]).assert_code(0);
    let resent: Vec<String> = s.receiver.requests()[before..]
        .iter()
        .flat_map(|r| r.log_ids())
        .collect();
    assert!(
        resent.iter().all(|id| *id > checkpoint),
        "went back before the checkpoint"
    );
    assert!(s.receiver.unique_delivered().is_superset(&expected));
    assert_eq!(s.checkpoint(), Some(ids(&logs).into_iter().max().unwrap()));
}
