//! `history`: the record of past runs kept in the state file, as a table or JSON.

use crate::state::{RunRecord, State};
use anyhow::Result;
use std::path::Path;

pub fn show(state_file: &Path, json: bool, limit: Option<usize>) -> Result<()> {
    let state = State::load(state_file)?;
    let skip = limit.map_or(0, |n| state.history.len().saturating_sub(n));
    let runs: Vec<&RunRecord> = state.history.iter().skip(skip).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else {
        print!("{}", table(&runs));
    }
    Ok(())
}

pub fn table(runs: &[&RunRecord]) -> String {
    let mut out = format!(
        "{:<24} {:<6} {:>8} {:>8} {:>9} {:>8} {:>7}  {}\n",
        "STARTED",
        "STATUS",
        "FETCHED",
        "MATCHED",
        "DELIVERED",
        "REQUESTS",
        "RETRIES",
        "CHECKPOINT / ERROR"
    );
    for r in runs {
        let last = match (&r.error, &r.checkpoint) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(c)) => c.clone(),
            (None, None) => "-".into(),
        };
        out.push_str(&format!(
            "{:<24} {:<6} {:>8} {:>8} {:>9} {:>8} {:>7}  {}\n",
            r.started_at,
            r.status,
            r.logs_fetched,
            r.logs_matched,
            r.logs_delivered,
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

    #[test]
    fn table_has_a_row_per_run_and_shows_errors() {
        let ok = RunRecord {
            started_at: "2026-11-26T07:00:00.000Z".into(),
            status: "ok".into(),
            logs_delivered: 3,
            checkpoint: Some("900".into()),
            ..Default::default()
        };
        let bad = RunRecord {
            status: "failed".into(),
            error: Some("webhook answered 500".into()),
            ..Default::default()
        };
        let t = table(&[&ok, &bad]);
        assert_eq!(t.lines().count(), 3);
        assert!(
            t.contains("900") && t.contains("error: webhook answered 500"),
            "{t}"
        );
    }
}
