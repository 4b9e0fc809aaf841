//! What the run tells people: log lines on stderr by verbosity, the progress display (only on a
//! terminal), the counters, and the end-of-run summary as text or JSON.

pub mod metrics;
pub mod monitor;
pub mod post;
pub mod retention;
pub mod slack;

use crate::outcome::Outcome;
use crate::state::RunRecord;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::fmt::Display;
use std::io::IsTerminal;
use std::io::Write;
// A thread that panicked holding one of these locks must not take the run's end with it (saving
// the checkpoint, the history): a poisoned lock is used as it is.
use std::sync::atomic::{AtomicI8, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

static LEVEL: AtomicI8 = AtomicI8::new(0);
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

pub const QUIET: i8 = -1;
pub const NORMAL: i8 = 0;
pub const VERBOSE: i8 = 1;
pub const DEBUG: i8 = 2;

pub fn set_level(verbose: u8, quiet: bool) {
    let level = if quiet {
        QUIET
    } else {
        (verbose as i8).min(DEBUG)
    };
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn enabled(level: i8) -> bool {
    LEVEL.load(Ordering::Relaxed) >= level
}

fn emit(line: String) {
    // The last line of defence: whatever a message quotes, no secret the process holds is
    // printed.
    let line = crate::secret::scrub(&line);
    // A log line must not tear the progress display.
    match BAR.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
        Some(bar) => bar.suspend(|| write_line(&mut std::io::stderr(), &line)),
        None => write_line(&mut std::io::stderr(), &line),
    }
}

/// Writes a line of the run's account (a log line, the summary). Nobody reading it (`| head`
/// left, `2>/dev/full`) is no reason to stop, let alone to panic as `eprintln!` does: the run
/// still saves its state and records its history, so the error is ignored.
fn write_line(out: &mut impl Write, line: &str) {
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// A line on stdout that is a report, not the product (`check`'s lines, the JSON summary, the
/// JSON of a failure): written if anyone reads it, never a reason to stop or panic.
pub fn out_line(line: &str) {
    write_line(&mut std::io::stdout().lock(), line);
}

/// Writes the product to stdout (`history`, completions, man pages). A reader that stops early
/// (`| head`) is not an error; any other failure (`>/dev/full`) is, so the exit code tells the
/// output is not whole.
pub fn out_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

pub fn error(msg: impl Display) {
    emit(format!("error: {msg}"));
}

pub fn warn(msg: impl Display) {
    if enabled(NORMAL) {
        emit(format!("warning: {msg}"));
    }
}

pub fn info(msg: impl Display) {
    if enabled(NORMAL) {
        emit(msg.to_string());
    }
}

/// The summary line of a run or a `redeliver`: shown under `-q` too when logs are set aside
/// (there is no error line then), so cron mails it.
pub fn summary(line: String, outcome: Outcome) {
    if enabled(NORMAL) || matches!(outcome, Outcome::DeadLettered { .. }) {
        emit(line);
    }
}

/// `-v`: each request.
pub fn verbose(msg: impl Display) {
    if enabled(VERBOSE) {
        emit(msg.to_string());
    }
}

/// `-vv`: everything.
pub fn debug(msg: impl Display) {
    if enabled(DEBUG) {
        emit(msg.to_string());
    }
}

/// One request's line for `-v`: method, URL without secrets, status, time.
pub fn request(method: &str, url: &str, outcome: &str, took: Duration) {
    verbose(format_args!(
        "{method} {url} -> {outcome} in {} ms",
        took.as_millis()
    ));
}

/// How long ago an RFC 3339 date (a log's `date`, a run's `started_at`) was; `None` when it
/// does not parse or lies in the future.
pub fn age(rfc3339: &str, now: std::time::SystemTime) -> Option<Duration> {
    let then = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    now.duration_since(then).ok()
}

/// `1 request`, `2 requests`: a count with its noun in the right number.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A length of time as people say it, to the minute and in at most two units: `3 years 11
/// days`, `2 days 2 hours`, `1 hour`, `5 minutes`, `less than a minute`.
pub fn duration_words(d: Duration) -> String {
    const UNITS: [(u64, &str, &str); 4] = [
        (365 * 86_400, "year", "years"),
        (86_400, "day", "days"),
        (3_600, "hour", "hours"),
        (60, "minute", "minutes"),
    ];
    let mut rest = d.as_secs();
    let mut parts = Vec::new();
    for (i, (size, one, many)) in UNITS.iter().enumerate() {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            parts.push(count(n, one, many));
            if let Some((next, one, many)) = UNITS.get(i + 1) {
                let m = rest / next;
                if m > 0 {
                    parts.push(count(m, one, many));
                }
            }
            break;
        }
    }
    if parts.is_empty() {
        "less than a minute".to_string()
    } else {
        parts.join(" ")
    }
}

/// Counted by every thread of the run.
#[derive(Debug, Default)]
pub struct Counters {
    pub pages: AtomicU64,
    pub fetched: AtomicU64,
    pub matched: AtomicU64,
    pub delivered: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
        tick();
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

static COUNTERS: Mutex<Option<std::sync::Arc<Counters>>> = Mutex::new(None);

/// How far reading has come: the stored time of the oldest log not yet read, and the cursors
/// reading. Given by the run; the progress display asks it at each update.
type Reached = Box<dyn Fn() -> (Option<SystemTime>, usize) + Send>;
static REACHED: Mutex<Option<(Reached, Option<SystemTime>)>> = Mutex::new(None);

/// The progress display shows how far reading has come, as `reached` tells it.
pub fn follow(reached: impl Fn() -> (Option<SystemTime>, usize) + Send + 'static) {
    let mut r = REACHED.lock().unwrap_or_else(PoisonError::into_inner);
    *r = Some((Box::new(reached), None));
}

/// What the progress display says of the read: the time it has reached (the oldest log not yet
/// read), the cursors reading, and when it will be caught up at the pace so far (how far the
/// reached time moved in `elapsed`, from `first`).
pub fn reading_line(
    reached: Option<SystemTime>,
    cursors: usize,
    first: Option<SystemTime>,
    elapsed: Duration,
    now: SystemTime,
) -> Option<String> {
    let reached = reached?;
    let at = humantime::format_rfc3339_seconds(reached);
    let cursors = count(cursors as u64, "cursor", "cursors");
    let gone = reached
        .duration_since(first?)
        .unwrap_or_default()
        .as_secs_f64();
    let left = now
        .duration_since(reached)
        .unwrap_or_default()
        .as_secs_f64();
    let eta = match gone > 0.0 && elapsed.as_secs_f64() > 1.0 {
        true => {
            let secs = left / (gone / elapsed.as_secs_f64());
            format!(
                ", caught up in about {}",
                humantime::format_duration(Duration::from_secs(secs.min(1e7) as u64))
            )
        }
        false => String::new(),
    };
    Some(format!("reached {at} with {cursors}{eta}"))
}

/// Shows a live line on stderr while the run lasts, if stderr is a terminal and not `-q`.
/// Cron, pipes and files get no escape codes and no carriage returns.
pub struct Progress;

impl Progress {
    pub fn start(counters: std::sync::Arc<Counters>) -> Progress {
        if enabled(NORMAL) && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            *BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar);
            *COUNTERS.lock().unwrap_or_else(PoisonError::into_inner) = Some(counters);
            tick();
        }
        Progress
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = BAR.lock().unwrap_or_else(PoisonError::into_inner).take() {
            bar.finish_and_clear();
        }
        COUNTERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        REACHED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

fn tick() {
    let bar = BAR.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(bar) = bar.as_ref() else { return };
    let Some(c) = COUNTERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
    else {
        return;
    };
    let secs = bar.elapsed().as_secs_f64().max(0.001);
    let delivered = Counters::get(&c.delivered);
    let fetched = Counters::get(&c.fetched);
    let reading = {
        let mut r = REACHED.lock().unwrap_or_else(PoisonError::into_inner);
        r.as_mut().and_then(|(reached, first)| {
            let (at, cursors) = reached();
            if first.is_none() {
                *first = at;
            }
            reading_line(at, cursors, *first, bar.elapsed(), SystemTime::now())
        })
    };
    bar.set_message(format!(
        "{}, {} fetched ({:.0} logs/s), {} matched, {} delivered ({:.0}/s), {}{}",
        count(Counters::get(&c.pages), "page", "pages"),
        count(fetched, "log", "logs"),
        fetched as f64 / secs,
        Counters::get(&c.matched),
        delivered,
        delivered as f64 / secs,
        count(Counters::get(&c.retries), "retry", "retries"),
        reading.map(|r| format!("; {r}")).unwrap_or_default(),
    ));
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
    serde_json::json!({
        "status": outcome.status(),
        "caught_up": outcome.caught_up(),
        "exit_code": outcome.exit_code(),
        "error": crate::secret::scrub(error),
    })
    .to_string()
}

static JSON_SUMMARY_PRINTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Prints the summary as one JSON line on stdout (`--output json`), and remembers it, so that
/// an error after it does not print a second object.
pub fn print_json_summary(summary: &Summary) {
    out_line(&serde_json::to_string(summary).expect("summary serializes"));
    JSON_SUMMARY_PRINTED.store(true, Ordering::Relaxed);
}

/// Whether [`print_json_summary`] has printed.
pub fn json_summary_printed() -> bool {
    JSON_SUMMARY_PRINTED.load(Ordering::Relaxed)
}

impl Summary {
    pub fn line(&self) -> String {
        let what = if self.dry_run {
            format!(
                "dry run: {} of {} matched, nothing sent",
                self.run.logs_matched,
                count(self.run.logs_fetched, "fetched log", "fetched logs")
            )
        } else {
            let r = &self.run;
            let mut facts = vec![format!("{} fetched", r.logs_fetched)];
            facts.extend(traffic(r.requests, r.retries));
            if r.logs_dead_lettered > 0 {
                facts.push(format!("{} dead-lettered", r.logs_dead_lettered));
            }
            return end_line(
                &status_words(r.outcome),
                &format!(
                    "delivered {} of {}",
                    r.logs_delivered,
                    count(r.logs_matched, "matching log", "matching logs")
                ),
                &facts,
                Duration::from_millis(self.duration_ms),
                &format!(
                    "checkpoint {}",
                    r.checkpoint.as_deref().unwrap_or("none yet")
                ),
            );
        };
        format!(
            "{what} in {:.1}s; checkpoint {}",
            self.duration_ms as f64 / 1000.0,
            self.run.checkpoint.as_deref().unwrap_or("none yet")
        )
    }
}

/// The one shape of the line a run or a `redeliver` ends with:
/// `{status}: {what} ({facts}) in 1.2s; {tail}`.
pub fn end_line(status: &str, what: &str, facts: &[String], took: Duration, tail: &str) -> String {
    format!(
        "{status}: {what} ({}) in {:.1}s; {tail}",
        facts.join(", "),
        took.as_secs_f64()
    )
}

/// `3 requests`, `1 retry`: the webhook traffic, as both end lines give it.
pub fn traffic(requests: u64, retries: u64) -> [String; 2] {
    [
        count(requests, "request", "requests"),
        count(retries, "retry", "retries"),
    ]
}

/// The outcome as the summary line and the ping say it: `ok, caught up`, `ok, not caught up`,
/// `dead-lettered, caught up`, `failed`, ...
pub fn status_words(outcome: Outcome) -> String {
    match outcome {
        Outcome::Ok { caught_up } | Outcome::DeadLettered { caught_up } => format!(
            "{outcome}, {}",
            if caught_up {
                "caught up"
            } else {
                "not caught up (MAX_RUN_TIME reached; the next run goes on)"
            }
        ),
        _ => outcome.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reading_line_says_where_the_read_is_with_how_many_cursors_and_when_it_is_done() {
        let t = |s: &str| humantime::parse_rfc3339(s).unwrap();
        let now = t("2026-11-30T12:00:00Z");
        let line = reading_line(
            Some(t("2026-11-29T12:00:00Z")),
            5,
            Some(t("2026-11-28T12:00:00Z")),
            Duration::from_secs(60),
            now,
        )
        .unwrap();
        // A day of stored time read in a minute, a day left: a minute more.
        assert_eq!(
            line,
            "reached 2026-11-29T12:00:00Z with 5 cursors, caught up in about 1m"
        );
        let start = reading_line(Some(now), 1, Some(now), Duration::ZERO, now).unwrap();
        assert_eq!(start, "reached 2026-11-30T12:00:00Z with 1 cursor");
        assert_eq!(reading_line(None, 0, None, Duration::ZERO, now), None);
    }
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
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "request", "requests"), "1 request");
        assert_eq!(count(0, "request", "requests"), "0 requests");
        assert_eq!(count(2, "retry", "retries"), "2 retries");
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
