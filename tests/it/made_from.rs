//! A tenant that does not take a log id made for a moment as `from` (issue 27.4 and 27.5): one
//! that refuses it with 400, one that answers it from its oldest logs. A `START_FROM` backfill
//! over days, read by several cursors, is still delivered whole, each run succeeds, and the
//! checkpoint is a real log's id.

use crate::support::cli::{Setup, ids};
use crate::support::tenant::{MadeFrom, base_date_ms, iso8601, stored_id, stored_late};
use crate::support::{log, log_id};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// 3,000 logs 75 s apart (over two and a half days), the 499th stored two minutes late: it
/// happened before the 500th's time but was stored after it.
fn over_days() -> Vec<Value> {
    (1..=3000u64)
        .map(|i| {
            let l = log(i * 25, "sapi", "PATCH", "/api/v2/users/auth0|1");
            match i {
                499 => stored_late(l, i * 25, 120_000),
                _ => l,
            }
        })
        .collect()
}

/// A `START_FROM` backfill from the 500th log's time against a tenant that treats made ids so:
/// what the receiver got and the ids that should have come.
fn backfill(made: MadeFrom) -> (Setup, BTreeSet<String>) {
    let logs = over_days();
    let start_ms = base_date_ms() + 500 * 25 * 3000;
    // Every log stored at or after START_FROM: ids made of that moment and a counter.
    let from = stored_id(0, start_ms);
    let wanted: BTreeSet<String> = ids(&logs).into_iter().filter(|id| *id > from).collect();
    assert_eq!(
        wanted.len(),
        2502,
        "the 500th to the 3,000th, and the late 499th"
    );
    let s = Setup::new(logs);
    s.tenant.made_from(made);
    s.tenant.set_plan(16.0, 50);
    s.tenant.set_latency(Duration::from_millis(100));
    let start = iso8601(start_ms);
    let env = [("START_FROM", start.as_str()), ("AUTH0_RATE_LIMIT", "100%")];
    let first = s.run(&[], &env);
    first.assert_code(0);
    assert!(
        first.stderr.contains("search by date"),
        "the run says how it started: {}",
        first.stderr
    );
    // The run's summary, as its history keeps it, says how it started.
    let state: Value = serde_json::from_str(&std::fs::read_to_string(s.state()).unwrap()).unwrap();
    let warning = state["history"][0]["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("search by date"), "{warning}");
    s.run(&[], &env).assert_code(0);
    (s, wanted)
}

fn assert_delivered_whole(s: &Setup, wanted: &BTreeSet<String>) {
    assert_eq!(&s.receiver.unique_delivered(), wanted);
    let delivered = s.receiver.delivered_ids().len();
    assert!(
        delivered <= wanted.len() + 100,
        "{} repeats",
        delivered - wanted.len()
    );
    // Several cursors read it, each window started from a search by date.
    let searches = s
        .tenant
        .log_requests()
        .iter()
        .filter(|q| q.contains("q=date"))
        .count();
    // The first window searches at most four times, widening.
    assert!(searches > 4, "{searches} searches: one cursor read it all");
    let checkpoint = s.checkpoint().unwrap();
    assert_eq!(Some(&checkpoint), wanted.iter().max());
    assert!(!checkpoint.ends_with(&"0".repeat(36)), "{checkpoint}");
}

#[test]
fn a_tenant_that_refuses_a_made_from_still_gets_a_start_from_backfill() {
    let (s, wanted) = backfill(MadeFrom::Refused);
    assert_delivered_whole(&s, &wanted);
}

#[test]
fn a_tenant_that_answers_a_made_from_with_its_oldest_logs_still_gets_a_start_from_backfill() {
    let (s, wanted) = backfill(MadeFrom::Ignored);
    assert_delivered_whole(&s, &wanted);
}

#[test]
fn a_first_run_on_a_tenant_that_refuses_made_ids_sends_every_log_then_reads_from_its_checkpoint() {
    let logs: Vec<Value> = (1..=250u64)
        .map(|n| log(n, "sapi", "PATCH", "/api/v2/users/auth0|1"))
        .collect();
    let s = Setup::new(logs.clone());
    s.tenant.made_from(MadeFrom::Refused);
    s.run(&[], &[]).assert_code(0);
    assert_eq!(s.receiver.unique_delivered(), ids(&logs));
    assert_eq!(s.receiver.delivered_ids().len(), 250);
    assert_eq!(s.checkpoint(), Some(log_id(250)));

    // A checkpoint that is a log's id is read from as it is: no search.
    let asked = s.tenant.log_requests().len();
    s.tenant.push_logs(
        (251..=260)
            .map(|n| log(n, "sapi", "GET", "/api/v2/users"))
            .collect(),
    );
    s.run(&[], &[]).assert_code(0);
    let later = &s.tenant.log_requests()[asked..];
    assert!(
        later
            .iter()
            .all(|q| q.contains(&format!("from={}", log_id(250)))
                || q.contains(&format!("from={}", log_id(260)))),
        "{later:?}"
    );
    assert_eq!(s.checkpoint(), Some(log_id(260)));
}
