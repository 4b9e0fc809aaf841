//! The retry runner, for every client: how long to wait (backoff, `Retry-After`) and how
//! often, and the one place a wait meets the deadline.

use crate::settings::MAX_RUN_TIME;
use crate::stop::{Cause, Part, Stop};
use std::time::{Duration, Instant, SystemTime};

pub const BASE_DELAY: Duration = Duration::from_millis(250);
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// A Retry-After longer than this is not believed: a run is short, and the next one retries.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Exponential backoff with full jitter; `unit` in [0, 1), `attempt` from 1.
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE_DELAY
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_DELAY);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// The wait before the next attempt: the server's Retry-After when it gave one, else backoff.
pub fn next_wait(attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
    retry_after.map_or_else(|| backoff(attempt, unit), |d| d.min(MAX_RETRY_AFTER))
}

/// A `Retry-After` value: delay seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let secs = value.parse().ok().map(Duration::from_secs);
    let until = |t: SystemTime| t.duration_since(now).unwrap_or_default();
    secs.or_else(|| httpdate::parse_http_date(value).ok().map(until))
}

/// An answer's `Retry-After`.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// What one attempt came to, as its client classified the answer.
pub enum Attempt<T> {
    /// Finished, one way or another: the runner returns it.
    Done(T),
    /// Worth another attempt; `wait` is what the server asked for, else backoff decides.
    Again { why: String, wait: Option<Duration> },
    /// Not a failure (a refused token forgotten): the next attempt follows at once, and counts.
    Step,
}

/// Attempts until one is [`Attempt::Done`], all are spent, the run stops, or time runs out.
pub fn run<T>(
    until: Option<Instant>,
    stop: &Stop,
    part: Part,
    max_attempts: Option<u32>,
    mut attempt: impl FnMut(u32) -> Attempt<T>,
) -> Result<T, String> {
    let mut n = 0;
    loop {
        let step = attempt(n);
        n += 1;
        let spent = max_attempts.is_some_and(|max| n >= max);
        let (why, asked) = match step {
            Attempt::Done(v) => return Ok(v),
            Attempt::Step if spent => return Err(format!("gave up after {n} attempts")),
            Attempt::Step => continue,
            Attempt::Again { why, wait } => (why, wait),
        };
        if spent {
            let s = if n == 1 { "" } else { "s" };
            return Err(format!("{why} ({n} attempt{s})"));
        }
        let pause = next_wait(n, asked, fastrand::f64());
        crate::say::verbose(format_args!("{why}; retry {n} in {} ms", pause.as_millis()));
        wait(pause, until, stop, part, &why)?;
    }
}

/// Sleeps `pause` unless the run stops; a pause past the deadline gives up at once.
fn wait(
    pause: Duration,
    until: Option<Instant>,
    stop: &Stop,
    part: Part,
    why: &str,
) -> Result<(), String> {
    let give_up = |cause| match cause {
        Cause::Deadline => format!(
            "{why}; the next attempt would come in {}, after {MAX_RUN_TIME}, so the run ends now instead of waiting for it (the next run goes on)",
            human(pause)
        ),
        _ => format!("{why} (not retried: the run is stopping)"),
    };
    if let Some(cause) = stop.stopped(part) {
        return Err(give_up(cause));
    }
    // At most MAX_RETRY_AFTER (`next_wait`): no overflow.
    let end = Instant::now() + pause;
    if [until, stop.deadline()].iter().flatten().any(|l| end > *l) {
        return Err(give_up(Cause::Deadline));
    }
    stop.sleep_until(end, part).map_err(give_up)
}

/// Seconds since the Unix epoch: token expiries, `webhook-timestamp`.
pub fn now_unix() -> u64 {
    let since = SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs())
}

/// A duration to the millisecond under a minute ("1s 500ms"), else to the second ("3m 20s").
pub fn human(d: Duration) -> String {
    let unit = if d.as_secs() < 60 { 1 } else { 1000 };
    let rounded = Duration::from_millis(d.as_millis() as u64 / unit * unit);
    humantime::format_duration(rounded).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn every_attempt_counts_toward_the_limit_steps_included() {
        // A token fetched, then answers that are asked again: the limit is on all of them.
        let stop = Stop::until(Instant::now() + Duration::from_secs(3600));
        let mut sent = 0;
        let given_up = run::<()>(None, &stop, Part::Sending, Some(4), |n| {
            sent += 1;
            match n {
                0 => Attempt::Step,
                _ => Attempt::Again {
                    why: "Auth0 answered 502".into(),
                    wait: Some(Duration::ZERO),
                },
            }
        });
        assert_eq!(sent, 4);
        assert_eq!(given_up, Err("Auth0 answered 502 (4 attempts)".to_string()));

        let mut sent = 0;
        let steps = run::<()>(None, &stop, Part::Sending, Some(2), |_| {
            sent += 1;
            Attempt::Step
        });
        assert_eq!(sent, 2);
        assert!(steps.is_err());
        assert_eq!(
            run(None, &stop, Part::Sending, Some(2), Attempt::Done),
            Ok(0)
        );
    }

    #[test]
    fn a_wait_past_the_deadline_gives_up_and_a_stopped_run_retries_nothing() {
        // A Retry-After beyond the deadline ends the retries at once, saying so.
        let soon = Stop::until(Instant::now() + Duration::from_secs(3600));
        let asked = wait(
            Duration::from_secs(120),
            Some(Instant::now() + Duration::from_secs(20)),
            &soon,
            Part::Sending,
            "503",
        );
        assert_eq!(
            asked.unwrap_err(),
            "503; the next attempt would come in 2m, after MAX_RUN_TIME, so the run ends now instead of waiting for it (the next run goes on)"
        );
        let stop = Stop::until(Instant::now());
        let past = wait(Duration::from_secs(5), None, &stop, Part::Sending, "503");
        assert!(past.unwrap_err().contains("after MAX_RUN_TIME"));
        let until = Some(Instant::now());
        let unbounded = Stop::new();
        let past = wait(
            Duration::from_secs(5),
            until,
            &unbounded,
            Part::Reading,
            "503",
        );
        assert!(past.unwrap_err().contains("after MAX_RUN_TIME"));
        assert_eq!(
            wait(Duration::ZERO, None, &unbounded, Part::Sending, "503"),
            Ok(())
        );

        let stopped = Stop::new();
        stopped.interrupt(15, Duration::from_secs(10));
        let mut sent = 0;
        let given_up = run::<()>(None, &stopped, Part::Sending, None, |_| {
            sent += 1;
            Attempt::Again {
                why: "webhook answered 503".into(),
                wait: Some(Duration::from_secs(1)),
            }
        });
        assert_eq!(sent, 1, "the first attempt is made, no retry");
        assert_eq!(
            given_up,
            Err("webhook answered 503 (not retried: the run is stopping)".into())
        );
        // The end of reading stops the reader's retries, not the sender's.
        let read = Stop::new();
        read.fire(Cause::Read);
        assert!(wait(Duration::ZERO, None, &read, Part::Reading, "x").is_err());
        assert_eq!(
            wait(Duration::ZERO, None, &read, Part::Sending, "x"),
            Ok(())
        );
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(20));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(20))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(20));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_wins_over_backoff_but_is_capped() {
        assert_eq!(
            next_wait(1, Some(Duration::from_secs(3)), 0.0),
            Duration::from_secs(3)
        );
        assert_eq!(
            next_wait(1, Some(Duration::from_secs(3600)), 0.0),
            MAX_RETRY_AFTER
        );
    }

    proptest! {
        #[test]
        fn any_retry_after_value_is_read_without_panic(value in "\\PC{0,40}", now in 0u64..u64::MAX / 2) {
            let now = UNIX_EPOCH + Duration::from_secs(now);
            if let Some(d) = parse_retry_after(&value, now) {
                prop_assert!(next_wait(1, Some(d), 0.5) <= MAX_RETRY_AFTER);
            }
        }

        #[test]
        fn backoff_grows_within_its_ceiling(attempt in 1u32..100, unit in 0.0f64..1.0) {
            let wait = backoff(attempt, unit);
            prop_assert!(wait <= MAX_DELAY);
            let ceiling = BASE_DELAY.saturating_mul(1 << (attempt - 1).min(16)).min(MAX_DELAY);
            prop_assert!(wait <= ceiling);
            prop_assert_eq!(backoff(attempt, 0.999_999) >= backoff(attempt, unit), true);
        }
    }
}
