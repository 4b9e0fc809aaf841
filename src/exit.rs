//! The one table of exit codes, and the errors that choose them. README.md shows the same table.

use std::path::PathBuf;

/// Everything fetched and matched was delivered (or, with `check`, all is well).
pub const OK: u8 = 0;
/// A fetch or a delivery failed; the state was saved at the last safe point. The next run goes on.
pub const FAILED: u8 = 1;
/// Everything was delivered or set aside, and some logs were set aside in the dead-letter file:
/// someone should look at them (and `redeliver` them once the receiver takes them).
pub const DEAD_LETTERED: u8 = 3;
/// Usage, settings or state file invalid; nothing was sent and no state was written.
pub const USAGE: u8 = 2;
/// Another run holds the state file's lock; nothing was done (EX_TEMPFAIL).
pub const LOCKED: u8 = 75;

/// A run stopped by a signal: 128 + its number (143 for SIGTERM, 130 for SIGINT), as shells
/// report it. The checkpoint was saved and the run recorded before exiting.
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

/// Shorthand for a settings error.
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
    fn code_survives_added_context() {
        let err = Err::<(), _>(settings("bad"))
            .context("reading settings")
            .unwrap_err();
        assert_eq!(code_for(&err), USAGE);
    }
}
