//! START_FROM and Auth0's log retention as an operator sees them: a START_FROM left in the
//! settings says in one line that it is not applied again, one that reaches back further than
//! the plan keeps logs names the span that is gone, an old checkpoint names the logs Auth0
//! deleted before they were delivered, and a run that caught up gets no "run more often".

use serde_json::Value;

use crate::support::cli::{Setup, sapi_logs};
use crate::support::tenant::{base_date_ms, stored_id};

const DAY_MS: u64 = 86_400_000;

fn last_warning(s: &Setup) -> Option<String> {
    let text = std::fs::read_to_string(s.state()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["history"].as_array().unwrap().last().unwrap()["warning"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn a_start_from_left_in_the_settings_says_it_is_not_applied_again() {
    let s = Setup::new(sapi_logs(1..=5));
    let first = s.run(&[], &[("START_FROM", "5d")]);
    first.assert_code(0);
    assert!(
        first.stderr.contains("applying START_FROM 5d"),
        "{}",
        first.stderr
    );
    let again = s.run(&[], &[("START_FROM", "5d")]);
    again.assert_code(0);
    let lines: Vec<&str> = again
        .stderr
        .lines()
        .filter(|l| l.contains("START_FROM"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", again.stderr);
    assert!(lines[0].contains("5d was applied by an earlier run and is not applied again"));
}

#[test]
fn a_start_from_beyond_the_retention_names_the_span_that_is_gone() {
    let s = Setup::new(sapi_logs(1..=5));
    let ran = s.run(&[], &[("START_FROM", "10d"), ("AUTH0_LOG_RETENTION", "5d")]);
    ran.assert_code(0);
    assert!(
        ran.stderr
            .contains("warning: START_FROM 10d reaches back to")
            && ran.stderr.contains("Auth0 keeps logs for 5 days")
            && ran.stderr.contains("are gone"),
        "{}",
        ran.stderr
    );
    let w = last_warning(&s).expect("the history keeps the warning");
    assert!(w.contains("are gone"), "{w}");

    // Within the retention: no such warning.
    let s = Setup::new(sapi_logs(1..=5));
    let ran = s.run(&[], &[("START_FROM", "10d")]);
    ran.assert_code(0);
    assert!(!ran.stderr.contains("are gone"), "{}", ran.stderr);
}

#[test]
fn an_expired_checkpoint_names_the_logs_deleted_before_they_were_delivered() {
    let s = Setup::new(sapi_logs(1..=5));
    // A checkpoint left 40 days before the fixtures' logs, by a tool that stopped running.
    let old = stored_id(0, base_date_ms() - 40 * DAY_MS);
    std::fs::write(
        s.state(),
        format!(r#"{{"checkpoint": "{old}", "start_from": null, "history": []}}"#),
    )
    .unwrap();
    let ran = s.run(&[], &[]);
    ran.assert_code(0);
    assert!(
        ran.stderr
            .contains("were deleted by Auth0 before they were delivered"),
        "{}",
        ran.stderr
    );
    assert!(last_warning(&s).unwrap().contains("were deleted"));
    assert_eq!(s.receiver.unique_delivered().len(), 5);

    // The next run starts from a checkpoint within the retention: nothing more is said.
    let ran = s.run(&[], &[]);
    assert!(!ran.stderr.contains("deleted"), "{}", ran.stderr);
}

#[test]
fn a_run_that_caught_up_gets_no_run_more_often_advice_however_old_its_logs() {
    // The fixtures' logs are three days old; a Free plan keeps one day.
    let s = Setup::new(sapi_logs(1..=5));
    let ran = s.run(&[], &[("AUTH0_LOG_RETENTION", "1d")]);
    ran.assert_code(0);
    assert!(!ran.stderr.contains("run more often"), "{}", ran.stderr);
    assert_eq!(last_warning(&s), None);

    // One that MAX_RUN_TIME cut short, with logs that old, does.
    let s = Setup::new(sapi_logs(1..=3000));
    s.tenant.set_latency(std::time::Duration::from_millis(300));
    let ran = s.run(&["--max-run-time", "2s"], &[("AUTH0_LOG_RETENTION", "1d")]);
    ran.assert_code(0);
    assert!(
        ran.stderr.contains("did not catch up") && ran.stderr.contains("run more often"),
        "{}",
        ran.stderr
    );
}
