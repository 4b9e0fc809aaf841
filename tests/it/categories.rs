//! Log Streams' category names in `LOG_TYPES`, as a user moving a Log Streams filter over sees
//! them: the logs that arrive, what `check` says the list means, and a typo refused with the
//! name that was meant.

use crate::support::cli::{Setup, ids};
use crate::support::realistic_logs;
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn a_log_streams_category_forwards_exactly_its_log_types() {
    let logs = realistic_logs(200, 7);
    let kinds: BTreeSet<&str> = logs.iter().filter_map(|l| l["type"].as_str()).collect();
    assert!(
        ["sapi", "fapi", "mgmt_api_read", "s", "seacft"]
            .iter()
            .all(|k| kinds.contains(k)),
        "the fixture holds every kind this test tells apart: {kinds:?}"
    );
    let s = Setup::new(logs.clone());
    let out = s.run(
        &["--payload-shape", "log-stream"],
        &[("LOG_TYPES", "management.success, auth.login.success")],
    );
    out.assert_code(0);
    let wanted = |l: &&Value| matches!(l["type"].as_str(), Some("sapi" | "mgmt_api_read" | "s"));
    assert_eq!(
        s.receiver.unique_delivered(),
        ids(logs.iter().filter(wanted)),
        "management.success is sapi and mgmt_api_read; auth.login.success holds s"
    );
}

#[test]
fn check_prints_the_codes_a_list_resolves_to() {
    let s = Setup::new(realistic_logs(5, 1));
    let out = s.exec(
        "check",
        &[],
        &[("LOG_TYPES", "Management.Fail,user.notification,f")],
    );
    out.assert_code(0);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("LOG_TYPES"))
        .unwrap_or_else(|| panic!("no LOG_TYPES line:\n{}", out.stdout));
    for code in ["fapi", "cs", "du", "gd_unenroll", "ublkdu", "f"] {
        assert!(
            line.split([' ', ',']).any(|w| w == code),
            "{code} missing: {line}"
        );
    }
    assert!(!line.contains("sapi"), "{line}");
}

#[test]
fn an_unknown_category_is_exit_2_naming_the_nearest() {
    let s = Setup::new(realistic_logs(5, 1));
    let out = s.run(&[], &[("LOG_TYPES", "sapi,managment.success")]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("LOG_TYPES")
            && out.stderr.contains("did you mean `management.success`?"),
        "{}",
        out.stderr
    );
    assert_eq!(s.receiver.request_count(), 0);
}
