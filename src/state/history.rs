//! `history`: the record of past runs kept in the state file, as a table or JSON.

use crate::settings::{HOME, STATE_FILE, XDG_STATE_HOME};
use crate::state::{RunRecord, State};
use anyhow::Result;
use std::io::ErrorKind;
use std::path::Path;

/// What `history` prints: the table, or the JSON array with a newline.
pub fn show(state_file: &Path, json: bool, limit: Option<usize>) -> Result<String> {
    // An empty table would look like "no run yet" when the runs use another state file.
    let missing = std::fs::metadata(state_file).is_err_and(|e| e.kind() == ErrorKind::NotFound);
    anyhow::ensure!(
        !missing,
        "no state file at {}: no run has saved one there yet, or the runs use another one; give the same --state or {STATE_FILE} as the runs (the default depends on {HOME} and {XDG_STATE_HOME})",
        state_file.display()
    );
    let state = State::load(state_file)?;
    let skip = limit.map_or(0, |n| state.history.len().saturating_sub(n));
    let runs: Vec<&RunRecord> = state.history.iter().skip(skip).collect();
    Ok(match json {
        true => format!("{}\n", serde_json::to_string_pretty(&runs)?),
        false => table(&runs),
    })
}

/// The table's first line, padded as [`table`] pads its rows.
const HEADER: &str = "STARTED                  STATUS        CAUGHT_UP  FETCHED  MATCHED DELIVERED  DEAD REQUESTS RETRIES  CHECKPOINT / ERROR\n";

/// The runs, a row each: whether each reached the newest log (CAUGHT UP), and the logs each
/// set aside in the dead-letter file (DEAD).
pub fn table(runs: &[&RunRecord]) -> String {
    let mut out = HEADER.to_string();
    for r in runs {
        let last = r.error.as_ref().map(|e| format!("error: {e}"));
        let last = last.or(r.checkpoint.clone()).unwrap_or("-".into());
        out.push_str(&format!(
            "{:<24} {:<13} {:<9} {:>8} {:>8} {:>9} {:>5} {:>8} {:>7}  {}\n",
            r.started_at,
            r.outcome.status(),
            if r.outcome.caught_up() { "yes" } else { "no" },
            r.logs_fetched,
            r.logs_matched,
            r.logs_delivered,
            r.logs_dead_lettered,
            r.requests,
            r.retries,
            last
        ));
        if let Some(w) = &r.warning {
            out.push_str(&format!("{:<24} warning: {w}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

    #[test]
    fn table_has_a_row_per_run_and_shows_errors_and_dead_letters() {
        let ok = RunRecord {
            started_at: "2026-11-26T07:00:00.000Z".into(),
            outcome: Outcome::Ok { caught_up: false },
            logs_delivered: 3,
            checkpoint: Some("900".into()),
            ..Default::default()
        };
        let bad = RunRecord {
            outcome: Outcome::Failed,
            error: Some("webhook answered 500".into()),
            ..Default::default()
        };
        let aside = RunRecord {
            started_at: "2026-11-26T07:10:00.000Z".into(),
            outcome: Outcome::DeadLettered { caught_up: true },
            logs_delivered: 7,
            logs_dead_lettered: 2,
            checkpoint: Some("901".into()),
            ..Default::default()
        };
        let t = table(&[&ok, &bad, &aside]);
        assert_eq!(t.lines().count(), 4);
        assert!(
            t.contains("900") && t.contains("error: webhook answered 500"),
            "{t}"
        );
        // The header's columns are where the rows put their values.
        let row = t.lines().nth(1).unwrap();
        assert_eq!(row.find("900"), HEADER.find("CHECKPOINT"), "{t}");
        assert_eq!(row.find(" ok "), HEADER.find(" STATUS"), "{t}");
        let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!((lines[0][2], lines[0][6]), ("CAUGHT_UP", "DEAD"), "{t}");
        assert_eq!(
            (lines[1][1], lines[1][2], lines[1][6]),
            ("ok", "no", "0"),
            "{t}"
        );
        assert_eq!(
            (lines[3][1], lines[3][2], lines[3][6]),
            ("dead-lettered", "yes", "2"),
            "{t}"
        );
    }
}
