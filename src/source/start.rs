//! Where a window's cursor starts when Auth0 will not take the id made for it. An id made for a
//! moment (`logid::at`: a `START_FROM` date, a first run's oldest log, a window's start) is not a
//! log's id, and Auth0 documents `from` as one: a tenant may refuse it (400) or answer it from
//! its oldest logs. Then a log's id at or before the start is found by a search by date, oldest
//! first, and the cursor reads from it, dropping what is at or before the start, so nothing is
//! lost or sent twice. With no log at or before the start, the oldest log found is the first
//! read, and the cursor goes on from its id. Once a made id fails, every window starts this way.

use crate::log::Log;
use crate::logid;
use crate::say;
use crate::source::TAKE;
use crate::source::accept_page;
use crate::source::auth0::{Auth0, Cursor, Page, Refused};
use crate::stop::Stop;
use anyhow::{Result, anyhow};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How far before a start the searches by date look, widening: a log happens before Auth0
/// stores it, so one stored at or before the start happened at or before it, most often just
/// before. The first found is closest, so the cursor reads little before the start.
const LOOK_BACK: [Option<Duration>; 4] = [
    Some(Duration::from_secs(60)),
    Some(Duration::from_secs(3600)),
    Some(Duration::from_secs(86_400)),
    None,
];

/// What a search by date, oldest first, tells of where to read the logs after a made id.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A log's id at or before the start: read from it, dropping logs at or before the start.
    From(String),
    /// No log at or before the start among those: search further back.
    Wider,
    /// No log at or before the start at all: this one (its index), the oldest id found, is the
    /// first read, then the logs after it.
    First(usize),
    /// The tenant holds no log.
    Nothing,
}

/// Whether Auth0 answered a made `from` with logs at or before it: a tenant that does not take
/// it answers from its oldest logs. Reading on would send nothing new and stop the run.
pub fn ignored(from: &str, logs: &[Log]) -> bool {
    logs.iter().any(|l| logid::cmp(l.id(), from).is_le())
}

/// Where to read the logs after `after` from, given a search's logs (`widest`: the search
/// looked at every date). The newest id at or before `after` wastes the fewest requests.
pub fn decide(after: &str, found: &[Log], widest: bool) -> Found {
    let placed = || {
        found
            .iter()
            .enumerate()
            .filter(|(_, l)| logid::placeable(l.id()).is_ok())
    };
    let before = placed()
        .filter(|(_, l)| logid::cmp(l.id(), after).is_le())
        .max_by(|a, b| logid::cmp(a.1.id(), b.1.id()));
    if let Some((_, real)) = before {
        return Found::From(real.id().to_string());
    }
    if !widest {
        return Found::Wider;
    }
    match placed().min_by(|a, b| logid::cmp(a.1.id(), b.1.id())) {
        Some((i, _)) => Found::First(i),
        None => Found::Nothing,
    }
}

/// The first page after `after`, an id made for a moment: Auth0's answer to it, or when Auth0
/// refuses it or answers from before it (then, and in every later window, `doubted`), the page
/// read from a log's id found by date. The first time, a warning says so.
pub fn first_page(
    auth0: &Auth0,
    after: &str,
    until: Instant,
    stop: &Stop,
    doubted: &AtomicBool,
) -> Result<Page> {
    if !doubted.load(Ordering::SeqCst) {
        let why = match auth0.page(&Cursor::After(after.to_string()), TAKE, until, stop) {
            Ok(page) if !ignored(after, &page.logs) => return Ok(page),
            Ok(_) => "answered it with logs from before it".to_string(),
            Err(e) if e.is::<Refused>() => format!("refused it ({e})"),
            Err(e) => return Err(e),
        };
        if !doubted.swap(true, Ordering::SeqCst) {
            say::warn(format_args!(
                "Auth0 does not take a log id made for a moment as from: it {why}; each window now starts from a real log id found by a search by date (q=date:[...], sort=date:1), and reads on from it"
            ));
        }
    }
    let stored = logid::stored_at(after).expect("a made id has a time");
    for (n, back) in LOOK_BACK.iter().enumerate() {
        let since = back
            .and_then(|back| stored.checked_sub(back))
            .map(|t| humantime::format_rfc3339_millis(t).to_string());
        let mut found = auth0.page(&Cursor::Since(since), TAKE, until, stop)?.logs;
        match decide(after, &found, n + 1 == LOOK_BACK.len()) {
            Found::Wider => {}
            Found::Nothing => return Ok(Page::default()),
            Found::From(real) => return read_past(auth0, after, real, until, stop),
            Found::First(i) => {
                let first = found.swap_remove(i);
                let mut page =
                    auth0.page(&Cursor::After(first.id().to_string()), TAKE, until, stop)?;
                page.logs.insert(0, first);
                return Ok(page);
            }
        }
    }
    unreachable!("the widest search decides")
}

/// The first page with logs after `after`, read from `from`, a log's id at or before it: the
/// logs at or before `after` are dropped. An empty page when Auth0 has none after it.
fn read_past(
    auth0: &Auth0,
    after: &str,
    mut from: String,
    until: Instant,
    stop: &Stop,
) -> Result<Page> {
    loop {
        let Page { logs, next } = auth0.page(&Cursor::After(from.clone()), TAKE, until, stop)?;
        if logs.is_empty() {
            return Ok(Page::default());
        }
        let full = logs.len() >= TAKE as usize;
        let logs = accept_page(&from, logs).map_err(|e| anyhow!(e))?;
        match past(after, logs, full) {
            Ok(logs) => return Ok(Page { logs, next }),
            Err(last) => from = last,
        }
    }
}

/// A page read from before `after`, in id order: its logs after `after`, or, when it has none
/// and more may follow (`full`), `Err` with the id to read on from.
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
