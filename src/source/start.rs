//! Where a window's cursor starts when Auth0 will not take an id made for a moment (`logid::at`)
//! as `from` (it documents only logs' ids): it may refuse it (400) or answer from its oldest logs.
//! Then a search by date, oldest first, finds a log's id at or before the start, and the cursor
//! reads from it, dropping what is at or before the start; with none, the oldest log found is the
//! first read. Once a made id fails, every window of the run starts this way.

use crate::log::Log;
use crate::logid;
use crate::source::auth0::{Auth0, Cursor, Page, Refused};
use crate::source::{TAKE, accept_page};
use crate::stop::Stop;
use anyhow::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How far before a start the searches by date look, widening.
const LOOK_BACK: [Option<u64>; 4] = [Some(60), Some(3600), Some(86_400), None];

/// Where to read the logs after a made id from, as a search by date tells.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The newest log's id at or before the start: read from it.
    From(String),
    /// None at or before the start among those found: search further back.
    Wider,
    /// None at all: this log (its index), the oldest id found, is the first read.
    First(usize),
    /// The tenant holds no log.
    Nothing,
}

/// Whether Auth0 answered a made `from` with logs at or before it: it ignored it.
pub fn ignored(from: &str, logs: &[Log]) -> bool {
    logs.iter().any(|l| logid::cmp(l.id(), from).is_le())
}

/// Where to read the logs after `after` from, given a search's logs (`widest`: of every date).
pub fn decide(after: &str, found: &[Log], widest: bool) -> Found {
    let placed = found
        .iter()
        .enumerate()
        .filter(|(_, l)| logid::placeable(l.id()).is_ok());
    let by_id = |a: &(usize, &Log), b: &(usize, &Log)| logid::cmp(a.1.id(), b.1.id());
    let before = placed
        .clone()
        .filter(|(_, l)| logid::cmp(l.id(), after).is_le());
    match (before.max_by(by_id), placed.min_by(by_id)) {
        (Some((_, real)), _) => Found::From(real.id().to_string()),
        _ if !widest => Found::Wider,
        (None, Some((i, _))) => Found::First(i),
        (None, None) => Found::Nothing,
    }
}

/// The first page after `after`, a made id, or once Auth0 refused or ignored one, after a real.
pub fn first_page(
    auth0: &Auth0,
    after: &str,
    until: Instant,
    stop: &Stop,
    doubted: &AtomicBool,
    note: impl FnOnce(String),
) -> Result<Page> {
    let page = |cursor: Cursor| auth0.page(&cursor, TAKE, until, stop);
    if !doubted.load(Ordering::SeqCst) {
        let why = match page(Cursor::After(after.to_string())) {
            Ok(page) if !ignored(after, &page.logs) => return Ok(page),
            Ok(_) => "answered it with logs from before it".to_string(),
            Err(e) if e.is::<Refused>() => format!("refused it ({e})"),
            Err(e) => return Err(e),
        };
        if !doubted.swap(true, Ordering::SeqCst) {
            note(format!(
                "Auth0 does not take a log id made for a moment as from: it {why}; each window started instead from a real log id found by a search by date (q=date:[...], sort=date:1)"
            ));
        }
    }
    let stored = logid::stored_at(after).expect("a made id has a time");
    for (n, back) in LOOK_BACK.into_iter().enumerate() {
        let since = back.and_then(|s| stored.checked_sub(Duration::from_secs(s)));
        let since = since.map(|t| humantime::format_rfc3339_millis(t).to_string());
        let mut found = page(Cursor::Since(since))?.logs;
        // No answer is held while the next is read: a page can be 16 MiB.
        let mut from = match decide(after, &found, n + 1 == LOOK_BACK.len()) {
            Found::Wider => continue,
            Found::Nothing => return Ok(Page::default()),
            // Alone, and so not a full page: the cursor reads on after it.
            Found::First(i) => {
                return Ok(Page {
                    logs: vec![found.swap_remove(i)],
                    next: None,
                });
            }
            Found::From(real) => real,
        };
        drop(found);
        loop {
            let Page { logs, next } = page(Cursor::After(from.clone()))?;
            let full = logs.len() >= TAKE as usize;
            match past(after, accept_page(&from, logs)?, full) {
                Ok(logs) => return Ok(Page { logs, next }),
                Err(last) => from = last,
            }
        }
    }
    unreachable!("the widest search decides")
}

/// A page's logs after `after`, or, when none and more may follow, `Err` with the id to go on.
pub fn past(after: &str, mut logs: Vec<Log>, full: bool) -> Result<Vec<Log>, String> {
    let last = logs.last().map(|l| l.id().to_string());
    logs.retain(|l| logid::cmp(l.id(), after).is_gt());
    match (logs.is_empty() && full, last) {
        (true, Some(last)) => Err(last),
        _ => Ok(logs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn logs(ids: &[&str]) -> Vec<Log> {
        ids.iter()
            .map(|id| crate::log::from_value(&json!({ "log_id": id })))
            .collect()
    }

    fn ids(logs: &[Log]) -> Vec<&str> {
        logs.iter().map(Log::id).collect()
    }

    #[test]
    fn an_answer_from_before_a_made_id_is_one_that_ignored_it() {
        assert!(ignored("50", &logs(&["10", "11"])));
        assert!(ignored("50", &logs(&["50", "51"])));
        assert!(!ignored("50", &logs(&["51", "52"])));
        assert!(!ignored("50", &[]));
    }

    #[test]
    fn the_newest_real_id_at_or_before_the_start_is_where_reading_starts() {
        // Sorted by date, not id: a log stored late comes early.
        let found = logs(&["48", "60", "45", "50", "51"]);
        assert_eq!(decide("50", &found, false), Found::From("50".into()));
        assert_eq!(
            decide("49", &found, false),
            Found::From("48".into()),
            "the closest below"
        );
    }

    #[test]
    fn with_nothing_before_the_start_the_search_widens_then_starts_at_the_oldest_id() {
        let found = logs(&["62", "60", "x61", "65"]);
        assert_eq!(decide("50", &found, false), Found::Wider);
        assert_eq!(decide("50", &found, true), Found::First(1));
        assert_eq!(decide("50", &[], false), Found::Wider);
        assert_eq!(decide("50", &[], true), Found::Nothing);
    }

    #[test]
    fn reading_from_before_the_start_drops_what_is_before_it_and_reads_on() {
        let page = logs(&["40", "45", "50", "51", "52"]);
        assert_eq!(ids(&past("50", page, true).unwrap()), ["51", "52"]);
        assert_eq!(past("50", logs(&["40", "45"]), true).unwrap_err(), "45");
        assert!(past("50", logs(&["40", "45"]), false).unwrap().is_empty());
    }
}
