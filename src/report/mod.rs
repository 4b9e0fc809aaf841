//! What the run tells people at its end: the summary as text or JSON, and the words it is said
//! in; the log lines and the progress display it shows while it lasts are `say`'s.

pub mod metrics;
pub mod monitor;
pub mod post;
pub mod retention;
pub mod slack;

use crate::outcome::Outcome;
use crate::say::{self, count};
use crate::settings::MAX_RUN_TIME;
use crate::state::{RouteRecord, RunRecord};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The summary line of a run or a `redeliver`; under `-q` too when logs are set aside.
pub fn summary(line: String, outcome: Outcome) {
    if say::enabled(say::NORMAL) || matches!(outcome, Outcome::DeadLettered { .. }) {
        say::always(line);
    }
}

/// How long ago an RFC 3339 date was; `None` when it does not parse or lies in the future.
pub fn age(rfc3339: &str, now: std::time::SystemTime) -> Option<Duration> {
    let then = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    now.duration_since(then).ok()
}

/// A length of time to the minute, in at most two units: `2 days 2 hours`, `less than a minute`.
pub fn duration_words(d: Duration) -> String {
    const UNITS: [(u64, &str, &str); 4] = [
        (365 * 86_400, "year", "years"),
        (86_400, "day", "days"),
        (3_600, "hour", "hours"),
        (60, "minute", "minutes"),
    ];
    let secs = d.as_secs();
    let Some(first) = UNITS.iter().position(|(size, ..)| secs >= *size) else {
        return "less than a minute".to_string();
    };
    let (big, rest) = (&UNITS[first], secs % UNITS[first].0);
    let small = UNITS.get(first + 1).filter(|(size, ..)| rest >= *size);
    let words = |(size, one, many): &(u64, &str, &str), secs| count(secs / size, one, many);
    let small = small.map(|unit| format!(" {}", words(unit, rest)));
    words(big, secs) + &small.unwrap_or_default()
}

/// The end of a run, as `--output json` prints it and the history keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// What the history keeps of the run.
    #[serde(flatten)]
    pub run: RunRecord,
    pub dry_run: bool,
    pub duration_ms: u64,
}

/// The JSON object of a run that ended without a summary: its status, exit code and error.
pub fn failure_json(outcome: Outcome, error: &str) -> String {
    let mut json = serde_json::to_value(outcome).expect("an outcome serializes");
    json["error"] = crate::secret::scrub(error).into();
    json.to_string()
}

static JSON_SUMMARY_PRINTED: AtomicBool = AtomicBool::new(false);

/// Prints the summary as one JSON line, remembered so an error after it prints no second one.
pub fn print_json_summary(summary: &Summary) {
    say::out_line(&serde_json::to_string(summary).expect("summary serializes"));
    JSON_SUMMARY_PRINTED.store(true, Ordering::Relaxed);
}

pub fn json_summary_printed() -> bool {
    JSON_SUMMARY_PRINTED.load(Ordering::Relaxed)
}

impl Summary {
    pub fn line(&self) -> String {
        let (r, took) = (&self.run, Duration::from_millis(self.duration_ms));
        let checkpoint = r.checkpoint.as_deref().unwrap_or("none yet");
        let tail = format!("checkpoint {checkpoint}");
        if self.dry_run {
            let fetched = count(r.logs_fetched, "fetched log", "fetched logs");
            let what = format!("{} of {fetched} matched", r.logs_matched);
            return end_line("dry run", &what, &["nothing sent".into()], took, &tail);
        }
        let mut facts = vec![format!("{} fetched", r.logs_fetched)];
        facts.extend(traffic(r.requests, r.retries));
        let aside = Some(r.logs_dead_lettered).filter(|n| *n > 0);
        facts.extend(aside.map(|n| format!("{n} dead-lettered")));
        let matched = count(r.logs_matched, "matching log", "matching logs");
        let what = format!("delivered {} of {matched}", r.logs_delivered);
        let status = match (r.outcome, r.outcome.caught_up()) {
            (o @ (Outcome::Ok { .. } | Outcome::DeadLettered { .. }), false) => {
                format!("{o}, not caught up ({MAX_RUN_TIME} reached; the next run goes on)")
            }
            (o, true) => format!("{o}, caught up"),
            (o, false) => o.to_string(),
        };
        let mut line = end_line(status, &what, &facts, took, &tail);
        for r in &r.routes {
            line += &format!("\n  route {}", route_line(r));
        }
        line
    }
}

/// One route's part of a run: `siem: ok, caught up: delivered 3 of 3 matching logs; checkpoint 90...`.
pub fn route_line(r: &RouteRecord) -> String {
    let matched = count(r.logs_matched, "matching log", "matching logs");
    let aside = Some(r.logs_dead_lettered).filter(|n| *n > 0);
    let aside = aside.map_or(String::new(), |n| format!(", {n} dead-lettered"));
    let up = r.outcome.caught_up().then_some(", caught up");
    let up = up.unwrap_or_default();
    let checkpoint = r.checkpoint.as_deref().unwrap_or("none yet");
    let (name, o, d) = (&r.route, r.outcome, r.logs_delivered);
    format!("{name}: {o}{up}: delivered {d} of {matched}{aside}; checkpoint {checkpoint}")
}

/// The line a run or a `redeliver` ends with: `{status}: {what} ({facts}) in 1.2s; {tail}`.
pub fn end_line(
    status: impl std::fmt::Display,
    what: &str,
    facts: &[String],
    took: Duration,
    tail: &str,
) -> String {
    let (facts, secs) = (facts.join(", "), took.as_secs_f64());
    format!("{status}: {what} ({facts}) in {secs:.1}s; {tail}")
}

/// `3 requests`, `1 retry`: the webhook traffic, as both end lines give it.
pub fn traffic(requests: u64, retries: u64) -> [String; 2] {
    let requests = count(requests, "request", "requests");
    [requests, count(retries, "retry", "retries")]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn failure_json_names_status_code_and_error() {
        let v: serde_json::Value =
            serde_json::from_str(&failure_json(Outcome::Locked, "locked")).unwrap();
        assert_eq!(v["status"], "locked");
        assert_eq!(v["exit_code"], 75);
        assert_eq!(v["error"], "locked");
        assert_eq!(v["caught_up"], false);
        let v: serde_json::Value =
            serde_json::from_str(&failure_json(Outcome::Invalid, "bad")).unwrap();
        assert_eq!(
            (&v["status"], &v["exit_code"]),
            (&"invalid".into(), &2.into())
        );
    }

    #[test]
    fn durations_read_as_words_in_two_units_at_most() {
        let words = |secs| duration_words(Duration::from_secs(secs));
        assert_eq!(words(30), "less than a minute");
        assert_eq!(words(60), "1 minute");
        assert_eq!(words(3_600 + 120), "1 hour 2 minutes");
        assert_eq!(words(2 * 86_400 + 2 * 3_600 + 30 * 60), "2 days 2 hours");
        assert_eq!(words(86_400 + 59), "1 day");
        assert_eq!(
            words(3 * 365 * 86_400 + 11 * 86_400 + 20 * 3_600),
            "3 years 11 days"
        );
    }

    #[test]
    fn the_summary_line_says_1_request_and_1_retry() {
        let s = Summary {
            run: RunRecord {
                outcome: Outcome::Ok { caught_up: true },
                logs_fetched: 1,
                logs_matched: 1,
                logs_delivered: 1,
                requests: 1,
                retries: 1,
                ..Default::default()
            },
            dry_run: false,
            duration_ms: 1200,
        };
        assert_eq!(
            s.line(),
            "ok, caught up: delivered 1 of 1 matching log (1 fetched, 1 request, 1 retry) in 1.2s; checkpoint none yet"
        );
        let cut = Summary {
            run: RunRecord {
                outcome: Outcome::Ok { caught_up: false },
                ..s.run.clone()
            },
            ..s.clone()
        };
        assert!(
            cut.line()
                .starts_with("ok, not caught up (MAX_RUN_TIME reached"),
            "{}",
            cut.line()
        );
    }

    proptest! {
        /// A log's `date` comes from the server: any text gives an age or none, never a panic.
        #[test]
        fn any_date_gives_an_age_or_none(date in "\\PC{0,40}", year in 0u32..10000) {
            let now = std::time::SystemTime::now();
            let _ = age(&date, now);
            let _ = age(&format!("{year:04}-12-31T23:59:59.999999999Z"), now);
        }
    }
}
