//! The source: Auth0's logs read in checkpoint mode only (`from`/`take`, first run included), by
//! one cursor or, on a backlog, by several at once over windows of stored time (`windows`), each
//! request paced by the tenant's rate budget (`pacer`), on threads of their own a page ahead of
//! delivery. Each page is checked before it goes on: sorted by id, repeats and logs at or before
//! the cursor dropped, and a page that does not move the cursor stops the run.

pub mod auth0;
pub mod pacer;
pub mod start;
pub mod windows;

use crate::log::Log;
use crate::logid;
use crate::say;
use crate::state::ledger::{SavedWindow, WindowId};
use crate::stop::{Part, Stop, Tell};
use anyhow::{Result, anyhow, bail};
use auth0::{Auth0, Cursor, Page};
use reqwest::Url;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;
use windows::{Board, Span};

/// Logs per Auth0 request: the most Auth0 gives, so the fewest calls under its rate limits.
pub const TAKE: u32 = 100;

/// What the cursors tell the run, in order for each window.
#[derive(Debug)]
pub enum Event {
    /// A window of logs after `after` is being read.
    Opened { window: WindowId, after: String },
    /// Logs of a window, in id order, after those before.
    Page { window: WindowId, logs: Vec<Log> },
    /// The window is read to its end, `end` (`None`: the last window, caught up).
    Closed {
        window: WindowId,
        end: Option<String>,
    },
    /// What the run's summary should tell: how reading had to start.
    Noted(String),
    /// Every cursor has ended: reading is over.
    Ended,
}

/// What the cursors tell the run: an event, or why reading stopped (a failure, a panic).
pub type Fetched = Result<Event>;

/// The run's side of the pages under way: each page sent on holds one of a few places until the
/// run takes it and receives its place, so memory stays flat whatever the backlog. Dropping it
/// ends the cursors waiting for a place.
pub type Room = Receiver<()>;

/// What every cursor of a run shares.
struct Cursors {
    auth0: Arc<Auth0>,
    base: Url,
    board: Arc<Board>,
    until: Instant,
    stop: Arc<Stop>,
    tell: Tell<Fetched>,
    /// A place taken for each page until the run takes it ([`Room`]).
    room: SyncSender<()>,
    /// Cursors started and not ended: the last to end tells [`Event::Ended`].
    live: AtomicUsize,
    /// Auth0 did not take an id made for a moment: windows start from real ids ([`start`]).
    doubted: AtomicBool,
}

/// Starts reading the windows of `plan` with one cursor, which starts more as the rate budget
/// and the backlog allow. Reading ends when all is read, `stop` fires, `until` passes, or a
/// cursor fails or panics (its error is told); the last cursor to end tells [`Event::Ended`].
pub fn start(
    auth0: Arc<Auth0>,
    base: Url,
    plan: &[SavedWindow],
    until: Instant,
    stop: Arc<Stop>,
    tell: Tell<Fetched>,
) -> (Arc<Board>, Room) {
    let board = Arc::new(Board::resume(plan));
    let first = board
        .take(1)
        .expect("a plan has a window to read: the last one");
    // A page told and one being read by each cursor.
    let (room, places) = sync_channel(2);
    let cursors = Cursors {
        auth0,
        base,
        board: Arc::clone(&board),
        until,
        stop,
        tell,
        room,
        live: AtomicUsize::new(0),
        doubted: AtomicBool::new(false),
    };
    spawn(Arc::new(cursors), first);
    (board, places)
}

/// A cursor thread, reading `work` first; a panic is told as its error, naming its window.
fn spawn(c: Arc<Cursors>, work: Span) {
    c.live.fetch_add(1, Ordering::SeqCst);
    let name = format!("cursor-{}", work.id);
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        let mut window = work.id;
        let read =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(&c, work, &mut window)));
        let failed = read.unwrap_or_else(|panic| {
            let why = crate::stop::panicked(panic.as_ref());
            Err(anyhow!("the cursor of window {window} panicked: {why}"))
        });
        // MAX_RUN_TIME may come while a request waits for the rate budget: the run is then cut
        // short like one that reaches it between pages.
        if let Err(e) = failed
            && !e.is::<auth0::CutShort>()
        {
            c.board.fail();
            (c.tell)(Err(e));
        }
        if c.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            (c.tell)(Ok(Event::Ended));
        }
    });
    thread.expect("starting a cursor thread");
}

/// One cursor: reads its window to the end, starting others as the board has work, then takes
/// more work; `Ok` when there is none, or the run stopped. `window`: the one being read.
fn read(c: &Arc<Cursors>, first: Span, window: &mut WindowId) -> Result<()> {
    let tell = |event| (c.tell)(Ok(event));
    let wanted = || c.auth0.pacer().budget().cursors();
    let mut next = Some(first);
    while let Some(work) = next.take() {
        *window = work.id;
        let window = work.id;
        if !tell(Event::Opened {
            window,
            after: work.after,
        }) {
            return Ok(());
        }
        let mut after = work.position;
        let mut cursor = Cursor::After(after.clone());
        loop {
            if c.stop.stopped(Part::Reading).is_some() || Instant::now() >= c.until {
                return Ok(());
            }
            // A window's start made for a moment: Auth0 may not take it ([`start`]).
            let Page { logs, next: link } = match &cursor {
                Cursor::After(made) if logid::constructed(made) => {
                    let note = |why| _ = tell(Event::Noted(why));
                    start::first_page(&c.auth0, made, c.until, &c.stop, &c.doubted, note)
                }
                _ => c.auth0.page(&cursor, TAKE, c.until, &c.stop),
            }?;
            let full = logs.len() >= TAKE as usize;
            let (logs, closed) = c.board.read(window, accept_page(&after, logs)?, full);
            if let Some(last) = logs.last() {
                after = last.id().to_string();
                if c.room.send(()).is_err() || !tell(Event::Page { window, logs }) {
                    return Ok(());
                }
                #[cfg(debug_assertions)]
                crate::settings::fault(&format!("cursor {window}"));
            }
            // Unheard, it ends the cursor all the same: the next window's Opened is unheard too.
            if let Some(end) = closed {
                _ = tell(Event::Closed { window, end });
                break;
            }
            while let Some(more) = c.board.take(wanted()) {
                spawn(Arc::clone(c), more);
            }
            cursor = match link.as_deref().map(|link| follow(link, &c.base, &after)) {
                Some(Ok(url)) => Cursor::Next(url),
                Some(Err(why)) => {
                    say::warn(format_args!(
                        "not following Auth0's Link header ({why}); asking for the logs after {after}"
                    ));
                    Cursor::After(after.clone())
                }
                None => Cursor::After(after.clone()),
            };
        }
        next = c.board.take(wanted());
    }
    Ok(())
}

/// A page as delivery may take it: in id order, without repeats or logs at or before `after`
/// (the cursor it was asked for). A page that held logs but none after `after` means Auth0's
/// cursor does not move: going on would send the same logs forever. A log whose id cannot be
/// placed in Auth0's order stops the run before anything of its page goes on.
pub fn accept_page(after: &str, mut logs: Vec<Log>) -> Result<Vec<Log>> {
    let held = logs.len();
    if let Some(why) = logs.iter().find_map(|l| logid::placeable(l.id()).err()) {
        bail!("Auth0 answered {why}; stopping before its page, the checkpoint stays before it");
    }
    logs.retain(|l| logid::cmp(l.id(), after).is_gt());
    logs.sort_by(|a, b| logid::cmp(a.id(), b.id()));
    logs.dedup_by(|a, b| a.id() == b.id());
    if logs.is_empty() && held > 0 {
        bail!(
            "Auth0 answered a page with no log after {after} (the cursor did not move): stopping rather than sending the same logs again; the next run retries from the checkpoint"
        );
    }
    Ok(logs)
}

/// The next page's URL from a `Link` header, only when it stays on the tenant (the access token
/// goes with it) and goes on from exactly the last log received (anything else could skip logs).
pub fn follow(link: &str, base: &Url, after: &str) -> Result<Url, String> {
    let url = base
        .join(link)
        .map_err(|_| "its target is not a URL".to_string())?;
    if url.origin() != base.origin() {
        return Err("it points to another host".into());
    }
    if url.path() != base.join("api/v2/logs").expect("a path joins").path() {
        return Err("it points outside /api/v2/logs".into());
    }
    match url.query_pairs().find(|(k, _)| k == "from") {
        Some((_, from)) if from == after => Ok(url),
        Some(_) => Err(format!("its from is not the last log received, {after}")),
        None => Err("it has no from".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ids(logs: &[Log]) -> Vec<&str> {
        logs.iter().map(Log::id).collect()
    }

    fn page(ids: &[&str]) -> Vec<Log> {
        ids.iter()
            .map(|id| crate::log::from_value(&json!({ "log_id": id })))
            .collect()
    }

    #[test]
    fn a_page_is_sorted_and_loses_repeats_and_old_logs() {
        let page = page(&["13", "11", "12", "12", "10", "09"]);
        assert_eq!(ids(&accept_page("10", page).unwrap()), ["11", "12", "13"]);
    }

    #[test]
    fn a_page_is_in_auth0s_text_order_whatever_the_ids_lengths() {
        let (short, long) = (
            format!("9001{}", "0".repeat(51)),
            format!("9001{}", "0".repeat(53)),
        );
        let mid = format!("9001{}", "0".repeat(52));
        let page = page(&[&long, &short, &mid, "9002"]);
        assert_eq!(
            ids(&accept_page("900", page).unwrap()),
            [&short, &mid, &long, "9002"]
        );
    }

    #[test]
    fn a_log_whose_id_cannot_be_placed_stops_its_whole_page() {
        for bad in ["90a", "-1", "1e3", " 900", "٣", &"9".repeat(113)] {
            let e = accept_page("900", page(&["901", bad, "902"]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("cannot be placed") && e.contains("checkpoint stays"),
                "{e}"
            );
        }
        assert!(accept_page("900", page(&["901", &"9".repeat(112)])).is_ok());
    }

    #[test]
    fn a_page_with_nothing_new_stops_the_run_naming_the_cursor() {
        let e = accept_page("10", page(&["10", "07"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("after 10") && e.contains("did not move"), "{e}");
    }

    #[test]
    fn only_a_link_on_the_tenant_from_the_last_log_is_followed() {
        let base = Url::parse("https://acme.auth0.com/").unwrap();
        let ok = follow(
            "https://acme.auth0.com/api/v2/logs?from=42&take=100",
            &base,
            "42",
        )
        .unwrap();
        assert_eq!(
            ok.as_str(),
            "https://acme.auth0.com/api/v2/logs?from=42&take=100"
        );
        assert!(follow("/api/v2/logs?take=100&from=42", &base, "42").is_ok());
        for bad in [
            "https://evil.example/api/v2/logs?from=42",
            "http://acme.auth0.com/api/v2/logs?from=42",
            "https://acme.auth0.com/api/v2/users?from=42",
            "https://acme.auth0.com/api/v2/logs?from=99",
            "https://acme.auth0.com/api/v2/logs?take=100",
        ] {
            assert!(follow(bad, &base, "42").is_err(), "{bad}");
        }
    }

    proptest! {
        /// A `Link` header is a server's text: any value is parsed or ignored, never a panic,
        /// and whatever it names is followed only on the tenant from the last log.
        #[test]
        fn any_link_header_is_parsed_or_ignored(value in "\\PC{0,120}", after in "[0-9]{1,5}") {
            let base = Url::parse("https://acme.auth0.com/").unwrap();
            if let Some(target) = crate::source::auth0::parse_next_link(&value)
                && let Ok(url) = follow(&target, &base, &after)
            {
                prop_assert_eq!(url.origin(), base.origin());
                prop_assert_eq!(url.path(), "/api/v2/logs");
                prop_assert!(url.query_pairs().any(|(k, v)| k == "from" && v == after.as_str()));
            }
        }

        #[test]
        fn a_next_link_among_others_is_found(from in "[0-9]{1,20}") {
            let value = format!(
                "<https://acme.auth0.com/api/v2/logs?page=1>; rel=\"prev\", <https://acme.auth0.com/api/v2/logs?from={from}&take=100>; rel=\"next\""
            );
            let target = crate::source::auth0::parse_next_link(&value).unwrap();
            let want = format!("from={from}&take=100");
            prop_assert!(target.ends_with(&want), "{}", target);
        }

        /// Paging a tenant that orders ids as text, each time from the last id of the page as
        /// accepted, reads every log once and in order, whatever the ids' lengths.
        #[test]
        fn paging_from_each_pages_last_id_reads_every_log(
            store in proptest::collection::btree_set("900[0-9]{52,54}", 0..80),
            take in 1usize..12,
        ) {
            let mut after = "900".to_string();
            let mut read: Vec<String> = Vec::new();
            loop {
                let mut answer: Vec<&str> = store.iter().map(String::as_str).filter(|id| *id > after.as_str()).take(take).collect();
                if answer.is_empty() {
                    break;
                }
                answer.reverse();
                let logs = accept_page(&after, page(&answer)).unwrap();
                after = logs.last().unwrap().id().to_string();
                read.extend(logs.iter().map(|l| l.id().to_string()));
            }
            prop_assert_eq!(read, store.into_iter().collect::<Vec<_>>());
        }

        /// Whatever a page holds, what goes on is strictly increasing and after the cursor.
        #[test]
        fn accepted_pages_only_move_forward(raw in proptest::collection::vec(0u32..60, 0..40), after in 0u32..60) {
            let names: Vec<String> = raw.iter().map(u32::to_string).collect();
            let page = page(&names.iter().map(String::as_str).collect::<Vec<_>>());
            let after = after.to_string();
            match accept_page(&after, page) {
                Ok(logs) => {
                    let got = ids(&logs);
                    prop_assert_eq!(got.is_empty(), raw.is_empty());
                    let mut prev = after.clone();
                    for id in got {
                        prop_assert!(logid::cmp(id, &prev).is_gt());
                        prev = id.to_string();
                    }
                }
                Err(_) => prop_assert!(raw.iter().all(|n| logid::cmp(&n.to_string(), &after).is_le())),
            }
        }
    }
}
