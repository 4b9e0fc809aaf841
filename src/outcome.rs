//! How a run (or a `redeliver`) ended: one typed value with its exit code. The summary line,
//! `--output json`, `history`, Slack, the metrics file and the pings all render this value, so
//! "ok" and "failed" mean the same thing in every one of them.

use crate::exit;
use crate::stop::Cause;
use serde::{Deserialize, Serialize};
use signal_hook::consts::SIGTERM;

/// The end of a run; as JSON, `status`, `caught_up` and `exit_code` ([`Wire`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", from = "Wire")]
pub enum Outcome {
    /// Everything matched was delivered; not `caught_up` when MAX_RUN_TIME left a backlog.
    Ok { caught_up: bool },
    /// Everything was delivered or set aside in DEAD_LETTER_FILE, some set aside.
    DeadLettered { caught_up: bool },
    /// A fetch or a delivery failed (or the end is not known yet); the state was saved.
    #[default]
    Failed,
    /// Stopped by this signal; the checkpoint was saved first.
    Interrupted { signal: i32 },
    /// Another run holds the lock; nothing was done.
    Locked,
    /// Settings or the state file are invalid; nothing was sent.
    Invalid,
}

/// An outcome's word; in the words' order, as older versions' states keep runs by status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    DeadLettered,
    Failed,
    Interrupted,
    Invalid,
    Locked,
    Ok,
}

/// The statuses a run records in its state, best first, as `runs_total` and Slack count them.
pub const RECORDED: [Status; 4] = [
    Status::Ok,
    Status::DeadLettered,
    Status::Interrupted,
    Status::Failed,
];

/// The word, padded as a table's column asks.
impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = clap::ValueEnum::to_possible_value(self).expect("no variant is skipped");
        f.pad(word.get_name())
    }
}

impl Outcome {
    /// The outcome of an error that ended the run before its summary.
    pub fn of_error(err: &anyhow::Error) -> Outcome {
        match exit::code_for(err) {
            exit::USAGE => Outcome::Invalid,
            exit::LOCKED => Outcome::Locked,
            _ => Outcome::Failed,
        }
    }

    /// The outcome from why the run's token fired and what the run did: a signal first, then
    /// a failure (the token's, or an error), then logs set aside.
    pub fn decide(cause: Option<Cause>, error: bool, set_aside: bool, caught_up: bool) -> Outcome {
        match (cause, error, set_aside) {
            (Some(Cause::Signal(signal)), _, _) => Outcome::Interrupted { signal },
            (Some(Cause::Failed), _, _) | (_, true, _) => Outcome::Failed,
            (_, false, true) => Outcome::DeadLettered { caught_up },
            (_, false, false) => Outcome::Ok { caught_up },
        }
    }

    /// The process's exit code (README's table).
    pub fn exit_code(self) -> u8 {
        self.parts().1
    }

    /// The word every report uses.
    pub fn status(self) -> Status {
        self.parts().0
    }

    fn parts(self) -> (Status, u8) {
        match self {
            Outcome::Ok { .. } => (Status::Ok, exit::OK),
            Outcome::DeadLettered { .. } => (Status::DeadLettered, exit::DEAD_LETTERED),
            Outcome::Failed => (Status::Failed, exit::FAILED),
            Outcome::Interrupted { signal } => (Status::Interrupted, exit::signalled(signal)),
            Outcome::Locked => (Status::Locked, exit::LOCKED),
            Outcome::Invalid => (Status::Invalid, exit::USAGE),
        }
    }

    /// Whether the run ended well and reached the newest log Auth0 had.
    pub fn caught_up(self) -> bool {
        matches!(
            self,
            Outcome::Ok { caught_up: true } | Outcome::DeadLettered { caught_up: true }
        )
    }

    /// A success for monitors and alerts: exit 0 only (dead-lettered logs need a look).
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }
}

/// As JSON: `status`, `caught_up` and `exit_code`, side by side with the run's other fields.
#[derive(Clone, Serialize, Deserialize)]
struct Wire {
    status: Status,
    /// Absent in the records of versions before it existed: those did not know.
    caught_up: Option<bool>,
    exit_code: Option<u8>,
}

impl From<Outcome> for Wire {
    fn from(o: Outcome) -> Wire {
        let (status, exit_code) = o.parts();
        Wire {
            status,
            caught_up: Some(o.caught_up()),
            exit_code: Some(exit_code),
        }
    }
}

impl From<Wire> for Outcome {
    fn from(w: Wire) -> Outcome {
        // Old records said only `ok` (caught up) or `interrupted` (by SIGTERM).
        let caught_up = w.caught_up.unwrap_or(true);
        let signal = w.exit_code.map_or(0, i32::from) - 128;
        let signal = if signal > 0 { signal } else { SIGTERM };
        match w.status {
            Status::Ok => Outcome::Ok { caught_up },
            Status::DeadLettered => Outcome::DeadLettered { caught_up },
            Status::Failed => Outcome::Failed,
            Status::Interrupted => Outcome::Interrupted { signal },
            Status::Locked => Outcome::Locked,
            Status::Invalid => Outcome::Invalid,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.status().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_has_the_documented_exit_code_and_word() {
        let table = [
            (Outcome::Ok { caught_up: true }, 0, "ok", true),
            (Outcome::Ok { caught_up: false }, 0, "ok", false),
            (
                Outcome::DeadLettered { caught_up: true },
                3,
                "dead-lettered",
                true,
            ),
            (Outcome::Failed, 1, "failed", false),
            (
                Outcome::Interrupted { signal: 15 },
                143,
                "interrupted",
                false,
            ),
            (
                Outcome::Interrupted { signal: 2 },
                130,
                "interrupted",
                false,
            ),
            (Outcome::Locked, 75, "locked", false),
            (Outcome::Invalid, 2, "invalid", false),
        ];
        for (o, code, word, caught_up) in table {
            assert_eq!(
                (
                    o.exit_code(),
                    o.status().to_string().as_str(),
                    o.caught_up()
                ),
                (code, word, caught_up),
                "{o:?}"
            );
            assert_eq!(o.is_success(), code == 0, "{o:?}");
        }
    }

    #[test]
    fn a_signal_wins_then_a_failure_then_logs_set_aside() {
        assert_eq!(
            Outcome::decide(Some(Cause::Signal(15)), true, true, true),
            Outcome::Interrupted { signal: 15 }
        );
        assert_eq!(
            Outcome::decide(Some(Cause::Failed), false, true, true),
            Outcome::Failed
        );
        assert_eq!(Outcome::decide(None, true, true, true), Outcome::Failed);
        assert_eq!(
            Outcome::decide(Some(Cause::Deadline), false, false, false),
            Outcome::Ok { caught_up: false }
        );
        assert_eq!(
            Outcome::decide(Some(Cause::Read), false, true, true),
            Outcome::DeadLettered { caught_up: true }
        );
        assert_eq!(
            Outcome::decide(None, false, true, false),
            Outcome::DeadLettered { caught_up: false }
        );
        assert_eq!(
            Outcome::decide(None, false, false, false),
            Outcome::Ok { caught_up: false }
        );
    }

    #[test]
    fn errors_map_to_invalid_locked_or_failed() {
        assert_eq!(Outcome::of_error(&exit::settings("x")), Outcome::Invalid);
        let locked: anyhow::Error = exit::Failure::Locked { path: "l".into() }.into();
        assert_eq!(Outcome::of_error(&locked), Outcome::Locked);
        assert_eq!(Outcome::of_error(&anyhow::anyhow!("boom")), Outcome::Failed);
    }

    #[test]
    fn round_trips_and_reads_the_plain_words_of_old_records() {
        for o in [
            Outcome::Ok { caught_up: false },
            Outcome::DeadLettered { caught_up: true },
            Outcome::Failed,
            Outcome::Interrupted { signal: 2 },
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o, "{json}");
        }
        let old = |s: &str| serde_json::from_str::<Outcome>(&format!(r#"{{"status":"{s}"}}"#));
        assert_eq!(old("ok").unwrap(), Outcome::Ok { caught_up: true });
        assert_eq!(
            old("interrupted").unwrap(),
            Outcome::Interrupted { signal: 15 }
        );
        assert!(old("fine").is_err());
    }
}
