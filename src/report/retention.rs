//! What a run says about Auth0's log retention (AUTH0_LOG_RETENTION): Auth0 deletes logs older
//! than the plan keeps, so a START_FROM or a checkpoint beyond it points past logs that are
//! gone, and a checkpoint drifting toward it is about to. Each is a pure function of the ids,
//! dates and the clock.

use crate::logid;
use crate::report::{self, duration_words as words};
use crate::settings::{AUTH0_LOG_RETENTION, MAX_RUN_TIME, START_FROM};
use std::time::{Duration, SystemTime};

/// A checkpoint behind by more than this (or half the retention, if shorter) is drifting.
const DRIFT: Duration = Duration::from_secs(7 * 86_400);

/// A first log stored this much later than a checkpoint beyond the retention is a gap to name.
const GAP: Duration = Duration::from_secs(60);

fn date(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The line for a START_FROM the state says was applied by an earlier run.
pub fn start_from_kept(raw: &str) -> String {
    format!(
        "{START_FROM} {raw} was applied by an earlier run and is not applied again; the run goes on from the checkpoint (give another {START_FROM} to start elsewhere)"
    )
}

/// A START_FROM (checkpoint `from`) reaching back further than Auth0 keeps logs: what is gone.
pub fn start_from_beyond(raw: &str, from: &str, now: SystemTime, kept: Duration) -> Option<String> {
    let moment = logid::stored_at(from)?;
    let kept_since = now.checked_sub(kept)?;
    let (from, to, kept) = (date(moment), date(kept_since), words(kept));
    (moment < kept_since).then(|| {
        format!(
            "{START_FROM} {raw} reaches back to {from}, but Auth0 keeps logs for {kept} ({AUTH0_LOG_RETENTION}): the logs from {from} to {to} are gone, and the run starts at the oldest log Auth0 still has"
        )
    })
}

/// The warning for a run that did not catch up and whose newest log drifts toward the retention.
pub fn drift(newest: &str, caught_up: bool, now: SystemTime, kept: Duration) -> Option<String> {
    let age = report::age(newest, now).filter(|_| !caught_up)?;
    let drifting = age > DRIFT.min(kept / 2);
    let (old, kept) = (words(age), words(kept));
    drifting.then(|| {
        format!(
            "the newest log processed is {old} old (from {newest}) and the run did not catch up: Auth0 deletes logs after {kept} ({AUTH0_LOG_RETENTION}), and logs the checkpoint has not reached by then are lost. Raise {MAX_RUN_TIME} or run more often."
        )
    })
}

/// The logs lost when checkpoint `from` lies beyond the retention and the `first` after is late.
pub fn lost_span(from: &str, first: &str, now: SystemTime, kept: Duration) -> Option<String> {
    let (from, first) = (logid::stored_at(from)?, logid::stored_at(first)?);
    let kept_since = now.checked_sub(kept)?;
    let gap = first.duration_since(from).ok()?;
    let (from_date, first, kept) = (date(from), date(first), words(kept));
    (from < kept_since && gap > GAP).then(|| {
        format!(
            "the checkpoint's log was stored {from_date}, longer ago than the {kept} Auth0 keeps logs ({AUTH0_LOG_RETENTION}), and the first log after it was stored {first}: any logs stored between {from_date} and {first} were deleted by Auth0 before they were delivered"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(rfc: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc).unwrap()
    }

    #[test]
    fn drift_warns_past_half_the_retention_or_a_week_and_never_after_catching_up() {
        let now = at("2026-11-26T00:00:00Z");
        let ten_days = "2026-11-16T00:00:00.000Z";
        let w = drift(ten_days, false, now, 30 * DAY).unwrap();
        assert!(w.contains("10 days old") && w.contains("30 days"), "{w}");
        assert!(w.contains("run more often"), "{w}");
        assert_eq!(drift(ten_days, true, now, 30 * DAY), None, "caught up");
        assert_eq!(
            drift("2026-11-20T00:00:00.000Z", false, now, 30 * DAY),
            None
        );
        // A Free plan keeps a day: 13 hours behind is drifting.
        assert!(drift("2026-11-25T11:00:00.000Z", false, now, DAY).is_some());
        assert_eq!(drift("garbage", false, now, DAY), None);
    }

    #[test]
    fn a_start_from_beyond_the_retention_names_the_span_that_is_gone() {
        let now = at("2026-11-26T00:00:00Z");
        let forty_days = logid::at(at("2026-10-17T00:00:00Z"));
        let w = start_from_beyond("40d", &forty_days, now, 30 * DAY).unwrap();
        assert!(
            w.contains("from 2026-10-17T00:00:00Z to 2026-10-27T00:00:00Z are gone"),
            "{w}"
        );
        let week = logid::at(at("2026-11-19T00:00:00Z"));
        assert_eq!(start_from_beyond("7d", &week, now, 30 * DAY), None);
        assert!(start_from_beyond("7d", &week, now, 5 * DAY).is_some());
    }

    #[test]
    fn a_late_first_log_after_an_expired_checkpoint_names_the_logs_lost() {
        let now = at("2026-11-26T00:00:00Z");
        let old = logid::at(at("2026-10-01T08:00:00Z"));
        let first = format!("{}1", &logid::at(at("2026-10-27T09:30:00Z"))[..55]);
        let w = lost_span(&old, &first, now, 30 * DAY).unwrap();
        assert!(
            w.contains("between 2026-10-01T08:00:00Z and 2026-10-27T09:30:00Z were deleted"),
            "{w}"
        );
        // A checkpoint within the retention: the gap is a quiet tenant, nothing was lost.
        let recent = logid::at(at("2026-11-20T00:00:00Z"));
        let later = logid::at(at("2026-11-25T00:00:00Z"));
        assert_eq!(lost_span(&recent, &later, now, 30 * DAY), None);
        // The next log right after it: nothing in between.
        let next = logid::at(at("2026-10-01T08:00:30Z"));
        assert_eq!(lost_span(&old, &next, now, 30 * DAY), None);
        assert_eq!(lost_span("garbage", &later, now, 30 * DAY), None);
    }

    #[test]
    fn a_start_from_already_applied_says_so_in_one_line() {
        let line = start_from_kept("2026-11-01");
        assert!(!line.contains('\n'));
        assert!(line.contains("not applied again"), "{line}");
    }
}
