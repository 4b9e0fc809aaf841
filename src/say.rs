//! What the tool says as it goes: log lines on stderr by verbosity (`-q`, `-v`, `-vv`), report
//! lines on stdout, and, on a terminal, the live progress line of the run's counters. Every
//! module may speak, so this one imports nothing of the crate but the secrets it scrubs.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use std::fmt::Display;
use std::io::IsTerminal;
use std::io::Write;
use std::sync::atomic::{AtomicI8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

static LEVEL: AtomicI8 = AtomicI8::new(0);
/// A thread that panicked holding this lock must not take the run's end with it: used poisoned.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

pub const QUIET: i8 = -1;
pub const NORMAL: i8 = 0;
pub const VERBOSE: i8 = 1;
pub const DEBUG: i8 = 2;

pub fn set_level(verbose: u8, quiet: bool) {
    let level = (verbose as i8).min(DEBUG);
    LEVEL.store(if quiet { QUIET } else { level }, Ordering::Relaxed);
}

pub fn enabled(level: i8) -> bool {
    LEVEL.load(Ordering::Relaxed) >= level
}

fn emit(line: String) {
    // The last line of defence: no secret the process holds is printed, whatever is quoted.
    let line = crate::secret::scrub(&line);
    // A log line must not tear the progress display.
    match BAR.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
        Some(bar) => bar.suspend(|| write_line(&mut std::io::stderr(), &line)),
        None => write_line(&mut std::io::stderr(), &line),
    }
}

/// Writes a line of the run's account. Nobody reading it (`| head` left, `2>/dev/full`) is no
/// reason to stop, let alone to panic as `eprintln!` does: the error is ignored.
fn write_line(out: &mut impl Write, line: &str) {
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// A line on stdout that is a report, not the product (`check`'s lines, the JSON summary, the
/// JSON of a failure): written if anyone reads it, never a reason to stop or panic.
pub fn out_line(line: &str) {
    write_line(&mut std::io::stdout().lock(), line);
}

/// Writes the product to stdout (`history`, completions). A reader that stops early (`| head`)
/// is not an error; any other failure (`>/dev/full`) is: the output is not whole.
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

fn at(level: i8, msg: impl Display) {
    if enabled(level) {
        emit(msg.to_string());
    }
}

pub fn warn(msg: impl Display) {
    at(NORMAL, format_args!("warning: {msg}"));
}

pub fn info(msg: impl Display) {
    at(NORMAL, msg);
}

/// A line on stderr at every level, `-q` included: the summary of a run that set logs aside.
pub fn always(msg: impl Display) {
    at(QUIET, msg);
}

/// `-v`: each request.
pub fn verbose(msg: impl Display) {
    at(VERBOSE, msg);
}

/// `-vv`: everything.
pub fn debug(msg: impl Display) {
    at(DEBUG, msg);
}

/// One request's line for `-v`: method, URL without secrets, status, time.
pub fn request(method: &str, url: &str, outcome: &str, took: Duration) {
    let ms = took.as_millis();
    verbose(format_args!("{method} {url} -> {outcome} in {ms} ms"));
}

/// `1 request`, `2 requests`: a count with its noun in the right number.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What the progress display says of the read: the oldest log not yet read, the cursors, and
/// when it catches up at the pace so far (`reached` moved from `first` in `elapsed`).
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
    let secs = |a: SystemTime, b| a.duration_since(b).unwrap_or_default().as_secs_f64();
    let (gone, left) = (secs(reached, first?), secs(now, reached));
    let took = elapsed.as_secs_f64();
    let mut line = format!("reached {at} with {cursors}");
    if gone > 0.0 && took > 1.0 {
        let eta = Duration::from_secs((left / (gone / took)).min(1e7) as u64);
        line += &format!(", caught up in about {}", humantime::format_duration(eta));
    }
    Some(line)
}

/// A live line on stderr while the run lasts, if stderr is a terminal and not `-q`, drawn from
/// the counters on its own tick; `reached`: the oldest log not yet read, and the cursors reading.
pub struct Progress;

impl Progress {
    pub fn start(
        counters: Arc<Counters>,
        reached: impl Fn() -> (Option<SystemTime>, usize) + Clone + Send + Sync + 'static,
    ) -> Progress {
        if enabled(NORMAL) && std::io::stderr().is_terminal() {
            let first = Arc::new(OnceLock::new());
            let line = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let (at, cursors) = reached();
                let since = at.map_or(first.get(), |at| Some(first.get_or_init(|| at)));
                let (since, now) = (since.copied(), SystemTime::now());
                let reading = reading_line(at, cursors, since, state.elapsed(), now);
                let _ = w.write_str(&counts_line(&counters, state.elapsed(), reading));
            };
            let style = ProgressStyle::with_template("{spinner} [{elapsed}] {counts}");
            let bar = ProgressBar::new_spinner();
            bar.set_style(style.expect("valid template").with_key("counts", line));
            bar.enable_steady_tick(Duration::from_millis(200));
            *BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar);
        }
        Progress
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = BAR.lock().unwrap_or_else(PoisonError::into_inner).take() {
            bar.finish_and_clear();
        }
    }
}

/// The progress line: the counters, and how far reading has come.
fn counts_line(c: &Counters, elapsed: Duration, reading: Option<String>) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let (delivered, fetched) = (Counters::get(&c.delivered), Counters::get(&c.fetched));
    format!(
        "{}, {} fetched ({:.0} logs/s), {} matched, {} delivered ({:.0}/s), {}{}",
        count(Counters::get(&c.pages), "page", "pages"),
        count(fetched, "log", "logs"),
        fetched as f64 / secs,
        Counters::get(&c.matched),
        delivered,
        delivered as f64 / secs,
        count(Counters::get(&c.retries), "retry", "retries"),
        reading.map(|r| format!("; {r}")).unwrap_or_default(),
    )
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

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "request", "requests"), "1 request");
        assert_eq!(count(0, "request", "requests"), "0 requests");
        assert_eq!(count(2, "retry", "retries"), "2 retries");
    }
}
