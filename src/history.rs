//! `history`: the record of past runs kept in the state file, as a table or JSON.

use crate::state::{RunRecord, State};
use anyhow::{Result, anyhow};
use serde_json::Value;
use std::path::Path;

pub fn show(state_file: &Path, json: bool, limit: Option<usize>) -> Result<()> {
    // An empty table would look like "no run yet" when the runs use another state file.
    if let Err(e) = std::fs::metadata(state_file)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        return Err(anyhow!(
            "no state file at {}: no run has saved one there yet, or the runs use another one; give the same --state or STATE_FILE as the runs (the default depends on HOME and XDG_STATE_HOME)",
            state_file.display()
        ));
    }
    let state = State::load(state_file)?;
    // The records as stored, so fields this version does not know (such as the dead-lettered
    // count of newer runs) are shown too; State::load has checked the file.
    let stored: Vec<Value> = std::fs::read_to_string(state_file)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("history").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let skip = limit.map_or(0, |n| state.history.len().saturating_sub(n));
    if json {
        let runs: Vec<Value> = if stored.len() == state.history.len() {
            stored.into_iter().skip(skip).collect()
        } else {
            state
                .history
                .iter()
                .skip(skip)
                .map(|r| serde_json::to_value(r).expect("a run record serializes"))
                .collect()
        };
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else {
        let rows: Vec<Row> = state
            .history
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, run)| Row {
                run,
                dead_lettered: stored
                    .get(i)
                    .and_then(|v| v.get("logs_dead_lettered"))
                    .and_then(Value::as_u64),
            })
            .collect();
        print!("{}", table(&rows));
    }
    Ok(())
}

/// One run as the table shows it.
pub struct Row<'a> {
    pub run: &'a RunRecord,
    /// Logs set aside in the dead-letter file, for runs that recorded it.
    pub dead_lettered: Option<u64>,
}

/// The runs, a row each; a DEAD column (logs dead-lettered) when any run recorded that.
pub fn table(rows: &[Row]) -> String {
    let dead_column = rows.iter().any(|r| r.dead_lettered.is_some());
    let dead = |v: &str| {
        if dead_column {
            format!(" {v:>5}")
        } else {
            String::new()
        }
    };
    let mut out = format!(
        "{:<24} {:<6} {:>8} {:>8} {:>9}{} {:>8} {:>7}  {}\n",
        "STARTED",
        "STATUS",
        "FETCHED",
        "MATCHED",
        "DELIVERED",
        dead("DEAD"),
        "REQUESTS",
        "RETRIES",
        "CHECKPOINT / ERROR"
    );
    for Row {
        run: r,
        dead_lettered,
    } in rows
    {
        let last = match (&r.error, &r.checkpoint) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(c)) => c.clone(),
            (None, None) => "-".into(),
        };
        let dead_count = dead_lettered.map_or("-".to_string(), |n| n.to_string());
        out.push_str(&format!(
            "{:<24} {:<6} {:>8} {:>8} {:>9}{} {:>8} {:>7}  {}\n",
            r.started_at,
            r.status,
            r.logs_fetched,
            r.logs_matched,
            r.logs_delivered,
            dead(&dead_count),
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
        let row = |run| Row {
            run,
            dead_lettered: None,
        };
        let t = table(&[row(&ok), row(&bad)]);
        assert_eq!(t.lines().count(), 3);
        assert!(
            t.contains("900") && t.contains("error: webhook answered 500"),
            "{t}"
        );
        assert!(!t.contains("DEAD"), "no run recorded it: {t}");
    }

    #[test]
    fn a_dead_column_appears_when_a_run_recorded_its_dead_lettered_logs() {
        let old = RunRecord {
            started_at: "2026-11-26T07:00:00.000Z".into(),
            status: "ok".into(),
            ..Default::default()
        };
        let new = RunRecord {
            started_at: "2026-11-26T07:05:00.000Z".into(),
            status: "ok".into(),
            logs_delivered: 7,
            ..Default::default()
        };
        let t = table(&[
            Row {
                run: &old,
                dead_lettered: None,
            },
            Row {
                run: &new,
                dead_lettered: Some(3),
            },
        ]);
        let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines[0][5], "DEAD", "{t}");
        assert_eq!((lines[1][5], lines[2][5]), ("-", "3"), "{t}");
    }
}
