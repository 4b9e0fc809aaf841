//! The one table of exit codes, and the errors that choose them. `--help`, the man page and a
//! test of README.md's table come from [`TABLE`].

use std::path::PathBuf;

// The codes; [`TABLE`] says what each means.
pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const DEAD_LETTERED: u8 = 3;
/// EX_TEMPFAIL.
pub const LOCKED: u8 = 75;

/// Every exit code: the code (or codes), its name (the outcome's) and what it means.
#[rustfmt::skip]
pub const TABLE: [(&str, &str, &str); 6] = [
    ("0", "ok", "everything fetched and matched was delivered; caught up, or not when MAX_RUN_TIME ended a backlog (the next run goes on). redeliver: none of the tenant's logs is left in the dead-letter file"),
    ("1", "failed", "a fetch or a delivery failed; the state was saved at the last safe point and the next run goes on from there"),
    ("2", "invalid", "usage, settings or state file invalid; nothing was sent and no state written"),
    ("3", "dead-lettered", "logs are in DEAD_LETTER_FILE (set aside by this run, or refused again by redeliver): look at them, fix the receiver, then redeliver them"),
    ("75", "locked", "another run holds the state file's lock; nothing was done (EX_TEMPFAIL; normal when a run outlasts the schedule's interval)"),
    ("130, 143", "interrupted", "stopped by SIGINT or SIGTERM; the checkpoint was saved and the run recorded as interrupted"),
];

/// A run stopped by a signal: 128 + its number (143 for SIGTERM, 130 for SIGINT), as shells
/// report it.
pub fn signalled(sig: i32) -> u8 {
    u8::try_from(128 + sig).unwrap_or(FAILED)
}

/// Errors that decide an exit code other than [`FAILED`].
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A setting is missing or invalid. The message names the setting and shows a good value.
    #[error("{0}")]
    Settings(String),
    /// The state file exists but cannot be used; it is left untouched.
    #[error("state file {}: {reason}", path.display())]
    BadState { path: PathBuf, reason: String },
    /// Another run is in progress.
    #[error("another run holds the lock {}; nothing done (this is normal when a run takes longer than the schedule's interval)", path.display())]
    Locked { path: PathBuf },
}

pub fn settings(msg: impl Into<String>) -> anyhow::Error {
    Failure::Settings(msg.into()).into()
}

/// The exit code for an error that ended the program.
pub fn code_for(err: &anyhow::Error) -> u8 {
    match err.chain().find_map(|e| e.downcast_ref::<Failure>()) {
        Some(Failure::Settings(_) | Failure::BadState { .. }) => USAGE,
        Some(Failure::Locked { .. }) => LOCKED,
        None => FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn each_failure_maps_to_its_documented_code() {
        assert_eq!(code_for(&settings("BATCH_SIZE ...")), 2);
        let bad: anyhow::Error = Failure::BadState {
            path: "s.json".into(),
            reason: "x".into(),
        }
        .into();
        assert_eq!(code_for(&bad), 2);
        let locked: anyhow::Error = Failure::Locked {
            path: "s.lock".into(),
        }
        .into();
        assert_eq!(code_for(&locked), 75);
        assert_eq!(code_for(&anyhow::anyhow!("connection refused")), 1);
        assert_eq!(signalled(15), 143);
        assert_eq!(signalled(2), 130);
    }

    #[test]
    fn the_table_has_every_code_and_readme_shows_the_same_codes() {
        let codes: Vec<&str> = TABLE.iter().map(|row| row.0).collect();
        let all = [OK, FAILED, USAGE, DEAD_LETTERED, LOCKED].map(|c| c.to_string());
        for code in &all {
            assert!(codes.contains(&code.as_str()), "{code} is not in the table");
        }
        assert_eq!(codes[5], format!("{}, {}", signalled(2), signalled(15)));
        // README's rows that start with a code: `| 0 | ...`, `| 130, 143 | ...`.
        let readme: Vec<String> = include_str!("../README.md")
            .lines()
            .filter_map(|l| l.strip_prefix("| ")?.split(" | ").next())
            .filter(|cell| {
                cell.starts_with(|c: char| c.is_ascii_digit())
                    && cell
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
            })
            .map(str::to_string)
            .collect();
        assert_eq!(readme, codes, "README.md's exit-code table");
    }

    #[test]
    fn code_survives_added_context() {
        let err = Err::<(), _>(settings("bad"))
            .context("reading settings")
            .unwrap_err();
        assert_eq!(code_for(&err), USAGE);
    }
}
