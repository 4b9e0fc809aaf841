//! Reading a backlog with several cursors at once. A log id begins with the time Auth0 stored
//! it, so the span from the checkpoint to now is cut by time into windows `(after, end]`, each
//! read by its own cursor from an id made of its start. A cursor with nothing to read takes the
//! upper half of the window with the most logs left (judged by its last page's density); a
//! window with only a few pages left is not cut. The decisions are pure functions.

use crate::log::Log;
use crate::logid;
use crate::state::ledger::{SavedWindow, WindowId};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A window is cut only when its estimate of logs left is at least this (five pages): a cut
/// costs a page that overlaps the next window's start, or an empty one.
pub const MIN_SPLIT_LOGS: f64 = 500.0;

/// A window is cut only once its cursor has read this many full pages: a run a few pages behind
/// reads with one cursor.
pub const MIN_PAGES_READ: u32 = 3;

/// How far past what a window has read its density is believed, as a multiple of the stored
/// time read: a burst's density says nothing of the quiet days after it.
pub const HORIZON: u128 = 8;

/// The open window (up to now) is cut only this far back from now: a log stored just now may not
/// show yet (or this clock is ahead of Auth0's), and the checkpoint would pass it.
pub const SETTLED: Duration = Duration::from_secs(15 * 60);

/// A window as the board sees it.
#[derive(Debug, Clone, Default)]
pub struct Span {
    pub id: WindowId,
    /// Logs after this id belong to the window.
    pub after: String,
    /// The last id that belongs to it; `None` for the open window, up to now.
    pub end: Option<String>,
    /// The last id its cursor handed on (at first, `after`).
    pub position: String,
    /// Logs per millisecond of stored time on its last page, when that page was full.
    pub density: Option<f64>,
    /// The stored time (ms) of the first log its cursor read, and the full pages it read.
    pub first: Option<u128>,
    pub full_pages: u32,
    pub assigned: bool,
    pub finished: bool,
}

/// Milliseconds since the epoch of a log id's stored time.
fn millis(id: &str) -> Option<u128> {
    let stored = logid::stored_at(id)?;
    Some(stored.duration_since(UNIX_EPOCH).ok()?.as_millis())
}

/// Where to cut `span` and the logs it is thought to hold past its position: the middle of the
/// stored time left to read, as far as its density is believed. `None` when it is not worth it
/// (too little read yet, too few logs left, or the open window too close to now).
pub fn split_point(span: &Span, now: SystemTime) -> Option<(String, f64)> {
    if span.finished || !span.assigned || span.full_pages < MIN_PAGES_READ {
        return None;
    }
    let density = span.density?;
    let from = millis(&span.position)?;
    let seen = from.saturating_sub(span.first?).max(1);
    let to = match &span.end {
        Some(end) => millis(end)?,
        None => millis(&logid::at(now.checked_sub(SETTLED)?))?,
    };
    if to <= from + 2 {
        return None;
    }
    let horizon = (to - from).min(seen * HORIZON);
    let left = density * horizon as f64;
    if left < MIN_SPLIT_LOGS {
        return None;
    }
    let at = logid::at(UNIX_EPOCH + Duration::from_millis((from + horizon / 2) as u64));
    let inside = logid::cmp(&at, &span.position).is_gt()
        && span.end.as_ref().is_none_or(|e| logid::cmp(&at, e).is_lt());
    inside.then_some((at, left))
}

/// Logs per millisecond of stored time a page shows (its ids' times), at least one millisecond.
pub fn density(page: &[Log]) -> Option<f64> {
    let first = millis(page.first()?.id())?;
    let last = millis(page.last()?.id())?;
    Some(page.len() as f64 / (last.saturating_sub(first).max(1)) as f64)
}

/// The shared board of windows.
pub struct Board(Mutex<Inner>);

struct Inner {
    /// Each window at the index that is its id.
    spans: Vec<Span>,
    /// Set when a cursor failed: the others stop taking work.
    failed: bool,
}

impl Board {
    /// A board of the windows `ledger::chain` rebuilt: each read from its progress, finished ones
    /// by no cursor.
    pub fn resume(plan: &[SavedWindow]) -> Board {
        let spans = plan.iter().enumerate().map(|(id, w)| Span {
            id: id as WindowId,
            after: w.after.clone(),
            end: w.end.clone(),
            position: w.reached.clone(),
            assigned: w.finished,
            finished: w.finished,
            ..Span::default()
        });
        Board(Mutex::new(Inner {
            spans: spans.collect(),
            failed: false,
        }))
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The window a cursor is to read: one nobody reads yet, or the upper half of the window with
    /// the most logs left when fewer than `wanted` read and one is worth cutting; `None` else,
    /// or once a cursor failed. Cursors ask after each page: one is started when there is work.
    pub fn take(&self, wanted: usize) -> Option<Span> {
        let mut inner = self.inner();
        if inner.failed {
            return None;
        }
        // Windows resumed from a stopped run wait for a cursor, as many at once as wanted.
        let reading = inner.spans.iter().filter(|s| !s.finished).count();
        let busy = inner.spans.iter().filter(|s| s.assigned && !s.finished);
        if busy.count() < wanted.max(1)
            && let Some(s) = inner.spans.iter_mut().find(|s| !s.assigned)
        {
            s.assigned = true;
            return Some(s.clone());
        }
        if reading >= wanted {
            return None;
        }
        let now = SystemTime::now();
        let (i, at, _) = inner
            .spans
            .iter()
            .enumerate()
            .filter_map(|(i, s)| split_point(s, now).map(|(at, left)| (i, at, left)))
            .max_by(|a, b| a.2.total_cmp(&b.2))?;
        let id = inner.spans.len() as WindowId;
        let end = inner.spans[i].end.replace(at.clone());
        inner.spans.push(Span {
            id,
            after: at.clone(),
            end,
            position: at,
            assigned: true,
            ..Span::default()
        });
        inner.spans.last().cloned()
    }

    /// A page of window `id` (in id order, after its position): the logs that belong to it, and
    /// when it is now read to its end, that end (`None`: the open window, caught up). An empty
    /// page reads any window to its end: Auth0 has nothing after its position. `full`: Auth0 gave
    /// all it was asked for, so more may follow; only such a page tells the density of what is
    /// left (a short one is the end of the logs).
    pub fn read(
        &self,
        id: WindowId,
        page: Vec<Log>,
        full: bool,
    ) -> (Vec<Log>, Option<Option<String>>) {
        let mut inner = self.inner();
        let span = &mut inner.spans[id as usize];
        let total = page.len();
        let inside = |l: &Log| (span.end.as_ref()).is_none_or(|e| logid::cmp(l.id(), e).is_le());
        let logs: Vec<Log> = page.into_iter().take_while(inside).collect();
        span.density = density(&logs).filter(|_| full);
        span.full_pages += u32::from(full);
        span.first = span.first.or_else(|| millis(logs.first()?.id()));
        if let Some(last) = logs.last() {
            span.position = last.id().to_string();
        }
        let closed = (total == 0 || logs.len() < total).then(|| span.end.clone());
        span.finished = closed.is_some();
        (logs, closed)
    }

    /// A cursor failed: no cursor takes more work.
    pub fn fail(&self) {
        self.inner().failed = true;
    }

    /// How far the read has come: the stored time of the oldest position among windows not read
    /// to their end, and how many cursors are reading.
    pub fn reached(&self) -> (Option<SystemTime>, usize) {
        let inner = self.inner();
        let open = inner.spans.iter().filter(|s| !s.finished);
        let stored = open.clone().filter_map(|s| logid::stored_at(&s.position));
        (stored.min(), open.filter(|s| s.assigned).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(rfc: &str) -> String {
        logid::at(humantime::parse_rfc3339(rfc).unwrap())
    }

    fn span(position: &str, end: Option<&str>, density: Option<f64>) -> Span {
        Span {
            id: 0,
            after: position.to_string(),
            end: end.map(str::to_string),
            position: position.to_string(),
            density,
            first: Some(millis(position).unwrap() - 3_600_000),
            full_pages: 3,
            assigned: true,
            finished: false,
        }
    }

    #[test]
    fn a_window_is_cut_in_the_middle_of_its_time_left_when_it_has_pages_left() {
        let now = humantime::parse_rfc3339("2026-11-30T12:00:00Z").unwrap();
        // One log a second over the hour read, ten hours left: believed for eight of them.
        let s = span(
            &at("2026-11-29T00:00:00Z"),
            Some(&at("2026-11-29T10:00:00Z")),
            Some(0.001),
        );
        let (cut, left) = split_point(&s, now).unwrap();
        assert_eq!(cut, at("2026-11-29T04:00:00Z"));
        assert!((left - 28_800.0).abs() < 1.0, "{left}");
        // Three hours left: the middle of them.
        let mut near = s.clone();
        near.end = Some(at("2026-11-29T03:00:00Z"));
        assert_eq!(
            split_point(&near, now).unwrap().0,
            at("2026-11-29T01:30:00Z")
        );
        // One full page read is not enough to judge.
        let mut young = s.clone();
        young.full_pages = 2;
        assert_eq!(split_point(&young, now), None);
        // A few pages behind: one cursor.
        let few = span(&at("2026-11-29T00:00:00Z"), None, Some(1e-8));
        assert_eq!(split_point(&few, now), None);
        // Nothing known yet, or already read.
        assert_eq!(
            split_point(&span(&at("2026-11-29T00:00:00Z"), None, None), now),
            None
        );
        let mut done = s.clone();
        done.finished = true;
        assert_eq!(split_point(&done, now), None);
    }

    #[test]
    fn the_open_window_is_never_cut_close_to_now() {
        let now = humantime::parse_rfc3339("2026-11-30T12:00:00Z").unwrap();
        let s = span(&at("2026-11-30T11:50:00Z"), None, Some(10.0));
        assert_eq!(split_point(&s, now), None);
        let s = span(&at("2026-11-30T10:00:00Z"), None, Some(10.0));
        let (cut, _) = split_point(&s, now).unwrap();
        assert!(cut < at("2026-11-30T11:45:00Z"), "{cut}");
    }

    /// A board with one window: everything after `start`.
    fn board(start: &str) -> Board {
        Board::resume(&crate::state::ledger::chain(start, &[]))
    }

    fn log(id: &str) -> Log {
        crate::log::from_value(&json!({ "log_id": id }))
    }

    #[test]
    fn ids_that_are_not_auth0_s_or_lie_in_the_future_never_cut_a_window() {
        let now = SystemTime::now();
        // Ids without a stored time: no density, no cut, no panic.
        let nines = "9".repeat(56);
        let odd = || -> Vec<Log> {
            ["900", "x", nines.as_str(), "900abc"]
                .iter()
                .map(|id| log(id))
                .collect()
        };
        assert_eq!(density(&odd()), None);
        let b = board("900");
        let w = b.take(1).unwrap();
        for _ in 0..4 {
            let (_, closed) = b.read(w.id, odd(), true);
            assert_eq!(closed, None);
        }
        assert!(b.take(12).is_none());
        // A position in the year 9999: nothing is left before now to cut.
        let future = format!("900{}{}", "99991231235959999", "0".repeat(36));
        let s = span(&future, None, Some(1.0));
        assert_eq!(split_point(&s, now), None);
    }

    /// A log id stored `secs` seconds before now, with that counter.
    fn stored_ago(secs: u64, counter: u64) -> String {
        let t = SystemTime::now() - Duration::from_secs(secs);
        format!("{}{counter:036}", &logid::at(t)[..20])
    }

    #[test]
    fn a_page_crossing_the_end_closes_the_window_and_keeps_what_belongs_to_it() {
        let b = board(&logid::at(
            SystemTime::now() - Duration::from_secs(3 * 86_400),
        ));
        let w = b.take(1).unwrap();
        assert_eq!(w.id, 0);
        assert!(b.take(2).is_none(), "nothing read yet to judge a cut by");
        // Three pages of a log a minute, two days ago: some 1,400 logs a day left to now.
        for p in 0..3 {
            let page: Vec<Log> = (p * 100..p * 100 + 100)
                .map(|m| log(&stored_ago(2 * 86_400 - m * 60, m)))
                .collect();
            let (logs, closed) = b.read(0, page, true);
            assert_eq!((logs.len(), closed), (100, None));
        }
        // A second cursor cuts the open window in two...
        assert!(b.take(1).is_none(), "one cursor wanted");
        let w1 = b.take(2).unwrap();
        assert_eq!(w1.id, 1);
        assert_eq!(b.reached().1, 2);
        // ... and window 0's next page stops at the cut.
        let mut past_cut = w1.after.clone();
        past_cut.replace_range(55.., "1");
        let (logs, closed) = b.read(
            0,
            vec![
                log(&stored_ago(2 * 86_400 - 299 * 60 - 3600, 300)),
                log(&past_cut),
            ],
            true,
        );
        assert_eq!(logs.len(), 1);
        assert_eq!(closed, Some(Some(w1.after.clone())));
        // The upper half ends as the open window did: when Auth0 has no more.
        let (_, closed) = b.read(1, Vec::new(), false);
        assert_eq!(closed, Some(None));
        assert!(b.take(2).is_none(), "all read");
    }
}
