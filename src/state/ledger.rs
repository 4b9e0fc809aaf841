//! The checkpoint of a run that reads several windows of the log stream at once. A window is a
//! span of log ids `(after, end]` read by its own cursor; each has an [`Acker`] for the logs in
//! it, and the checkpoint passes a window only when every earlier window is read to its end and
//! delivered. The chain goes from the run's start through windows whose `after` is the previous
//! window's end, so a window that has not been announced yet (a gap) holds the checkpoint back.
//! Pure, unit- and property-tested.

use super::checkpoint::{Acker, Fate, Seq};
use crate::logid;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub type WindowId = u32;

/// A pending log's ticket: its window and its place there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ticket {
    pub window: WindowId,
    pub seq: Seq,
}

#[derive(Debug)]
struct Window {
    /// Logs after this id belong here.
    after: String,
    acker: Acker,
    /// Read to its end: `Some(Some(end))` for a window that ends at `end` (inclusive),
    /// `Some(None)` for the last one, caught up.
    closed: Option<Option<String>>,
}

/// A window past the checkpoint as the state file keeps it, so that the next run reads only
/// what is left of it: a stop then repeats at most what was in flight, not what later windows
/// delivered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedWindow {
    /// Logs after this id belong to the window.
    pub after: String,
    /// Its last id, once read to it; `None` while not (the next window's `after` bounds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// The last log of it with nothing pending at or before it (at first, `after`).
    pub reached: String,
    /// Read to `end` and all delivered: not read again.
    #[serde(default)]
    pub finished: bool,
}

#[derive(Debug, Default)]
pub struct Ledger {
    windows: HashMap<WindowId, Window>,
    /// Where the chain of windows starts: the end of the last window passed (at first, the
    /// run's start).
    base: String,
    /// The newest log id and `date` in the windows passed; until one is, the checkpoint the run
    /// started from (`None` on a first run).
    passed: Acker,
}

impl Ledger {
    /// A window of logs after `after` is being read. A window resumed from the state keeps
    /// its progress.
    pub fn open(&mut self, window: WindowId, after: String) {
        self.windows.entry(window).or_insert_with(|| Window {
            acker: Acker::default(),
            after,
            closed: None,
        });
    }

    fn acker(&mut self, window: WindowId) -> &mut Acker {
        let w = self.windows.get_mut(&window);
        &mut w.expect("a window is opened before its logs").acker
    }

    /// A log of `window` that did not match.
    pub fn skip(&mut self, window: WindowId, id: &str, date: Option<&str>) {
        self.acker(window).skip(id, date);
    }

    /// A matching log of `window`: pending until [`Ledger::ack`].
    pub fn pending(&mut self, window: WindowId, id: &str, date: Option<&str>) -> Ticket {
        let seq = self.acker(window).pending(id, date);
        Ticket { window, seq }
    }

    /// A delivery ended. `Pending` (it failed) holds the checkpoint back.
    pub fn ack(&mut self, ticket: Ticket, fate: Fate) {
        if let Some(w) = self.windows.get_mut(&ticket.window) {
            w.acker.ack(ticket.seq, fate);
        }
        self.advance();
    }

    /// `window` is read to its end (`None`: the last window, caught up): no more logs of it.
    pub fn close(&mut self, window: WindowId, end: Option<String>) {
        if let Some(w) = self.windows.get_mut(&window) {
            w.closed = Some(end);
        }
        self.advance();
    }

    /// Passes the windows at the front of the chain that are read and delivered.
    fn advance(&mut self) {
        while let Some((&id, w)) = self.windows.iter().find(|(_, w)| w.after == self.base) {
            let Some(Some(end)) = &w.closed else { return };
            if !w.acker.idle() || logid::cmp(end, &self.base).is_le() {
                return;
            }
            self.base = end.clone();
            let w = self.windows.remove(&id).expect("found above");
            if let Some(last) = w.acker.checkpoint {
                self.passed.pass(last, w.acker.date);
            }
        }
    }

    /// The window at the front of the chain, if it has been opened.
    fn front(&self) -> Option<&Window> {
        self.windows.values().find(|w| w.after == self.base)
    }

    /// The last log with nothing pending at or before it, across windows: where the next run
    /// starts after. That is a log's own id: past the last log of a window, nothing can appear
    /// (an id is the time Auth0 stored the log), so the window's synthetic end says no more.
    /// Until a log is passed, the checkpoint the run started from (`None` on a first run).
    pub fn checkpoint(&self) -> Option<String> {
        let front = self.front().and_then(|w| w.acker.checkpoint.as_ref());
        front.or(self.passed.checkpoint.as_ref()).cloned()
    }

    /// `date` of the newest log the checkpoint passed.
    pub fn newest_date(&self) -> Option<&str> {
        let front = self.front().and_then(|w| w.acker.date.as_deref());
        front.or(self.passed.date.as_deref())
    }

    /// Whether every window is read to its end and the last one caught up.
    pub fn caught_up(&self) -> bool {
        let last_done = |w: &Window| w.closed == Some(None) && w.acker.idle();
        self.windows.len() == 1 && self.front().is_some_and(last_done)
    }

    /// A ledger for a run that resumes the windows of [`chain`] (never empty): each from its
    /// own progress, the finished ones as read and delivered.
    pub fn resume(initial: Option<String>, plan: &[SavedWindow]) -> Ledger {
        let mut l = Ledger {
            base: plan[0].after.clone(),
            passed: Acker::new(initial),
            ..Ledger::default()
        };
        for (id, w) in plan.iter().enumerate() {
            // A window's checkpoint is a log passed in it, never its start.
            let reached = Some(w.reached.clone()).filter(|r| *r != w.after);
            let window = Window {
                after: w.after.clone(),
                acker: Acker::new(reached),
                closed: w.finished.then(|| w.end.clone()),
            };
            l.windows.insert(id as WindowId, window);
        }
        l.advance();
        l
    }

    /// The windows not passed yet, oldest first, for the state file; none when there is only
    /// the front one and its end is not known, which the checkpoint alone resumes as well.
    pub fn saved(&self) -> Vec<SavedWindow> {
        let mut saved = Vec::new();
        for w in self.windows.values() {
            let end = w.closed.clone().flatten();
            saved.push(SavedWindow {
                after: w.after.clone(),
                reached: w.acker.checkpoint.as_ref().unwrap_or(&w.after).clone(),
                finished: end.is_some() && w.acker.idle(),
                end,
            });
        }
        saved.sort_by(|a, b| logid::cmp(&a.after, &b.after));
        match saved.as_slice() {
            [only] if only.end.is_none() && only.after == self.base => Vec::new(),
            _ => saved,
        }
    }
}

/// The windows a run reads after `start` (the checkpoint), rebuilt from those a stopped run
/// saved: a chain from `start` to now with no gap, where a saved window resumes from its own
/// progress, a finished one is not read again, and any span no window covered (one not yet
/// announced when the state was saved) is a window read from its start. Windows at or before
/// `start` are dropped; saved windows that do not make a chain are all dropped, and the run
/// reads everything after `start` again rather than guess. The last window is open (up to now).
pub fn chain(start: &str, saved: &[SavedWindow]) -> Vec<SavedWindow> {
    let fresh = |after: &str, end: Option<&str>| SavedWindow {
        after: after.to_string(),
        end: end.map(str::to_string),
        reached: after.to_string(),
        finished: false,
    };
    let mut saved = saved.to_vec();
    saved.sort_by(|a, b| logid::cmp(&a.after, &b.after));
    let mut out: Vec<SavedWindow> = Vec::new();
    let mut pos = start.to_string();
    for (i, w) in saved.iter().enumerate() {
        let next = saved.get(i + 1).map(|n| n.after.clone());
        let end = w.end.clone().or(next);
        if end.as_ref().is_some_and(|e| logid::cmp(e, &pos).is_le()) {
            continue;
        }
        if logid::cmp(&w.after, &pos).is_gt() {
            out.push(fresh(&pos, Some(&w.after)));
            pos = w.after.clone();
        }
        let reached = std::cmp::max_by(pos.clone(), w.reached.clone(), |a, b| logid::cmp(a, b));
        let overlaps = logid::cmp(&w.after, &pos).is_lt() && !out.is_empty();
        let beyond = end
            .as_ref()
            .is_some_and(|e| logid::cmp(&reached, e).is_gt());
        if overlaps || beyond {
            return vec![fresh(start, None)];
        }
        out.push(SavedWindow {
            after: pos.clone(),
            finished: w.finished && w.end.is_some(),
            end: end.clone(),
            reached,
        });
        match end {
            Some(e) => pos = e,
            None => return out,
        }
    }
    out.push(fresh(&pos, None));
    out
}

/// Where a route stands: its checkpoint (`None`: before the oldest log) and its saved windows.
pub type Standing<'a> = (Option<&'a str>, &'a [SavedWindow]);

/// The windows one read covers for several routes, each at its own place: chained from the
/// oldest checkpoint, each window read from the least any route reached in it, and skipped
/// only when every route has finished it. With one route, [`chain`] of its own place.
pub fn plan(routes: &[Standing]) -> Vec<SavedWindow> {
    let start = |r: &Standing| r.0.map_or_else(logid::oldest, str::to_string);
    let oldest = (routes.iter())
        .min_by(|a, b| logid::cmp(&start(a), &start(b)))
        .expect("a run has a route");
    let mut plan = chain(&start(oldest), oldest.1);
    for w in &mut plan {
        for r in routes {
            let own = progress(w, *r);
            w.finished &= own.finished;
            w.reached = std::cmp::min_by(w.reached.clone(), own.reached, |a, b| logid::cmp(a, b));
        }
    }
    plan
}

/// What a route at `standing` has delivered of the read's window `w`: all of it when the window
/// ends at or before its checkpoint; else what its own saved window covering `w` reached, or
/// its checkpoint, or nothing. Never more than it delivered, so it drops only repeats.
pub fn progress(w: &SavedWindow, (checkpoint, saved): Standing) -> SavedWindow {
    let start = checkpoint.map_or_else(logid::oldest, str::to_string);
    let le = |a: &str, b: &str| logid::cmp(a, b).is_le();
    let own = chain(&start, saved).into_iter().find(|o| {
        let covers = |oe: &String| w.end.as_ref().is_some_and(|we| le(we, oe));
        le(&o.after, &w.after) && o.end.as_ref().is_none_or(covers)
    });
    let max = |a: String, b: String| std::cmp::max_by(a, b, |a, b| logid::cmp(a, b));
    // Reached stays a real log id (or the window's start): it may become the checkpoint.
    let passed = w.end.as_ref().is_some_and(|end| le(end, &start));
    let own_reached = own.as_ref().map(|o| o.reached.clone());
    SavedWindow {
        reached: own_reached
            .into_iter()
            .fold(max(w.after.clone(), start), max),
        finished: passed || own.is_some_and(|o| o.finished),
        ..w.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Ledger {
        /// A ledger for a run starting after `start`, from the checkpoint `initial`.
        pub fn new(initial: Option<String>, start: String) -> Ledger {
            Ledger {
                base: start,
                passed: Acker::new(initial),
                ..Ledger::default()
            }
        }
    }

    fn id(i: usize) -> String {
        format!("{i:04}")
    }

    #[test]
    fn a_window_is_passed_only_when_every_earlier_one_is_read_and_delivered() {
        let mut l = Ledger::new(Some(id(0)), id(0));
        l.open(0, id(0));
        l.open(1, id(10));
        let a = l.pending(0, &id(3), Some("d3"));
        l.skip(1, &id(11), None);
        let b = l.pending(1, &id(12), Some("d12"));
        l.ack(b, Fate::Delivered);
        l.close(1, Some(id(20)));
        assert_eq!(l.checkpoint(), Some(id(0)), "window 0 holds it");
        l.ack(a, Fate::Delivered);
        assert_eq!(
            l.checkpoint(),
            Some(id(3)),
            "window 0 is not read to its end"
        );
        l.close(0, Some(id(10)));
        assert_eq!(l.checkpoint(), Some(id(12)), "both passed, to the last log");
        assert_eq!(l.newest_date(), Some("d12"));
    }

    #[test]
    fn a_window_not_announced_yet_is_a_gap_the_checkpoint_waits_at() {
        let mut l = Ledger::new(Some(id(0)), id(0));
        l.open(0, id(0));
        l.skip(0, &id(3), None);
        l.close(0, Some(id(5)));
        l.open(2, id(10));
        l.skip(2, &id(11), None);
        l.close(2, None);
        assert_eq!(l.checkpoint(), Some(id(3)));
        assert!(!l.caught_up());
        l.open(1, id(5));
        l.skip(1, &id(7), None);
        l.close(1, Some(id(10)));
        assert_eq!(l.checkpoint(), Some(id(11)));
        assert!(l.caught_up());
    }

    #[test]
    fn a_first_run_reports_no_checkpoint_until_it_moves() {
        let mut l = Ledger::new(None, id(0));
        l.open(0, id(0));
        let t = l.pending(0, &id(1), None);
        assert_eq!(l.checkpoint(), None);
        l.ack(t, Fate::Delivered);
        assert_eq!(l.checkpoint(), Some(id(1)));
    }

    use crate::state::checkpoint::tests::{Log, log};

    /// Window k covers ids (bounds[k], bounds[k+1]] of `n` logs cut at `cuts`; log i has id i + 1.
    fn bounds(n: usize, cuts: std::collections::BTreeSet<usize>) -> Vec<usize> {
        let inside = cuts.into_iter().filter(|c| *c < n);
        std::iter::once(0).chain(inside).chain([n]).collect()
    }

    proptest! {
        /// Windows cut anywhere, announced in any order or not at all, read to their end or
        /// stopped part-way, deliveries ending in any order: the checkpoint never passes a log
        /// that was not handled, or not read.
        #[test]
        fn never_passes_a_log_not_read_or_not_delivered(
            logs in proptest::collection::vec(log(), 1..120),
            cuts in proptest::collection::btree_set(1usize..120, 0..6),
            seed in any::<u64>(),
        ) {
            let mut rng = fastrand::Rng::with_seed(seed);
            let n = logs.len();
            let bounds = bounds(n, cuts);
            let windows = bounds.len() - 1;
            let mut order: Vec<usize> = (0..windows).collect();
            rng.shuffle(&mut order);
            let mut l = Ledger::new(Some(id(0)), id(0));
            // What each log became: read or not, handled or not.
            let mut handled = vec![false; n + 1];
            let mut tickets = Vec::new();
            for &k in &order {
                if rng.u8(0..10) == 0 {
                    continue; // never announced
                }
                let last = k + 1 == windows;
                l.open(k as WindowId, id(bounds[k]));
                let (lo, hi) = (bounds[k] + 1, bounds[k + 1]);
                let read_to = if rng.bool() { hi } else { rng.usize(lo - 1..=hi) };
                for i in lo..=read_to {
                    match logs[i - 1] {
                        Log::Skipped => {
                            l.skip(k as WindowId, &id(i), None);
                            handled[i] = true;
                        }
                        Log::Matched(f) => {
                            tickets.push((l.pending(k as WindowId, &id(i), None), f));
                            handled[i] = f != Fate::Pending;
                        }
                    }
                }
                if read_to == hi {
                    l.close(k as WindowId, (!last).then(|| id(hi)));
                }
            }
            rng.shuffle(&mut tickets);
            for (t, f) in tickets {
                l.ack(t, f);
            }
            let passed: usize = l.checkpoint().unwrap().parse().unwrap();
            prop_assert!(passed <= n);
            prop_assert!((1..=passed).all(|i| handled[i]), "passed {passed}");
        }
    }

    #[test]
    fn saved_windows_resume_each_from_its_own_progress_and_skip_the_finished() {
        let mut l = Ledger::new(Some(id(0)), id(0));
        l.open(0, id(0));
        l.open(1, id(10));
        l.open(2, id(20));
        l.skip(0, &id(2), None);
        let a = l.pending(0, &id(3), None);
        for i in 11..=14 {
            let t = l.pending(1, &id(i), None);
            l.ack(t, Fate::Delivered);
        }
        l.close(1, Some(id(20)));
        l.skip(2, &id(21), None);
        let _stuck = l.pending(2, &id(22), None);
        l.ack(a, Fate::Delivered);
        assert_eq!(l.checkpoint(), Some(id(3)));
        let saved = l.saved();
        assert_eq!(saved.len(), 3);
        let plan = chain(&l.checkpoint().unwrap(), &saved);
        let at = |p: &SavedWindow| {
            (
                p.after.clone(),
                p.end.clone(),
                p.reached.clone(),
                p.finished,
            )
        };
        assert_eq!(
            plan.iter().map(at).collect::<Vec<_>>(),
            [
                (id(3), Some(id(10)), id(3), false),
                (id(10), Some(id(20)), id(14), true),
                (id(20), None, id(21), false),
            ]
        );
        // The next run reads window 0 to its end and passes window 1 without reading it.
        let mut next = Ledger::resume(Some(id(3)), &plan);
        next.open(0, id(3));
        next.skip(0, &id(5), None);
        next.close(0, Some(id(10)));
        assert_eq!(next.checkpoint(), Some(id(21)));
    }

    #[test]
    fn saved_windows_that_do_not_chain_are_dropped_and_a_gap_is_read() {
        let w = |after: usize, end: Option<usize>, reached: usize, finished: bool| SavedWindow {
            after: id(after),
            end: end.map(id),
            reached: id(reached),
            finished,
        };
        // Nothing saved: one window from the checkpoint.
        assert_eq!(chain(&id(5), &[]), [w(5, None, 5, false)]);
        // A window not announced when saved (20, 30] is read from its start; windows at or
        // before the checkpoint are dropped.
        let saved = [
            w(0, Some(4), 4, true),
            w(4, Some(20), 20, true),
            w(30, None, 31, false),
        ];
        assert_eq!(
            chain(&id(6), &saved),
            [
                w(6, Some(20), 20, true),
                w(20, Some(30), 20, false),
                w(30, None, 31, false)
            ]
        );
        // Overlapping windows, or progress past a window's end: read everything again.
        let overlap = [w(0, Some(20), 3, false), w(10, None, 12, false)];
        assert_eq!(chain(&id(0), &overlap), [w(0, None, 0, false)]);
        let past = [w(0, Some(20), 25, false)];
        assert_eq!(chain(&id(0), &past), [w(0, None, 0, false)]);
    }

    proptest! {
        /// A run stopped at any moment (windows read part-way, deliveries in flight never
        /// answered) saves its windows; the next run resumes them and reads what is left:
        /// every log is handled by one run or the other, and the checkpoint then passes all.
        #[test]
        fn a_run_resumed_from_saved_windows_loses_nothing(
            logs in proptest::collection::vec(log(), 1..120),
            cuts in proptest::collection::btree_set(1usize..120, 0..6),
            seed in any::<u64>(),
        ) {
            let mut rng = fastrand::Rng::with_seed(seed);
            let n = logs.len();
            let bounds = bounds(n, cuts);
            // The stop: windows read part-way or not announced, only some deliveries answered.
            let (checkpoint, saved, mut handled) = stopped_route(&logs, &bounds, 0, &mut rng);
            // Saved and read back as the state file does.
            let checkpoint = checkpoint.unwrap();
            let text = serde_json::to_string(&saved).unwrap();
            let saved: Vec<SavedWindow> = serde_json::from_str(&text).unwrap();
            let passed: usize = checkpoint.parse().unwrap();
            prop_assert!((1..=passed).all(|i| handled[i]), "passed {passed}");

            // The next run reads what is left of each window and delivers all of it.
            let plan = chain(&checkpoint, &saved);
            let mut next = Ledger::resume(Some(checkpoint.clone()), &plan);
            let resumed: usize = next.checkpoint().unwrap().parse().unwrap();
            prop_assert!((1..=resumed).all(|i| handled[i]), "resumed at {resumed}");
            for (k, w) in plan.iter().enumerate() {
                if w.finished {
                    continue;
                }
                let (from, to) = (w.reached.parse::<usize>().unwrap(), w.end.as_ref().map_or(n, |e| e.parse().unwrap()));
                next.open(k as WindowId, w.after.clone());
                for (i, handled) in handled.iter_mut().enumerate().take(to + 1).skip(from + 1) {
                    next.skip(k as WindowId, &id(i), None);
                    *handled = true;
                }
                next.close(k as WindowId, w.end.clone());
            }
            prop_assert!((1..=n).all(|i| handled[i]), "a log was lost: {:?}", plan);
            prop_assert_eq!(next.checkpoint(), Some(id(n)));
            prop_assert!(next.caught_up());
        }
    }

    /// One route's stopped first run from `start` over the shared cut: its checkpoint and
    /// saved windows, and what it handled.
    fn stopped_route(
        logs: &[Log],
        bounds: &[usize],
        start: usize,
        rng: &mut fastrand::Rng,
    ) -> (Option<String>, Vec<SavedWindow>, Vec<bool>) {
        let n = logs.len();
        let mut handled: Vec<bool> = (0..=n).map(|i| i <= start).collect();
        let mut l = Ledger::new(Some(id(start)), id(start));
        let mut tickets = Vec::new();
        for k in 0..bounds.len() - 1 {
            if bounds[k + 1] <= start || rng.u8(0..5) == 0 {
                continue;
            }
            let after = bounds[k].max(start);
            l.open(k as WindowId, id(after));
            let (lo, hi) = (after + 1, bounds[k + 1]);
            let read_to = if rng.bool() {
                hi
            } else {
                rng.usize(lo - 1..=hi)
            };
            for i in lo..=read_to {
                match logs[i - 1] {
                    Log::Skipped => {
                        l.skip(k as WindowId, &id(i), None);
                        handled[i] = true;
                    }
                    Log::Matched(f) => tickets.push((l.pending(k as WindowId, &id(i), None), f, i)),
                }
            }
            if read_to == hi {
                l.close(k as WindowId, (k + 2 < bounds.len()).then(|| id(hi)));
            }
        }
        rng.shuffle(&mut tickets);
        let answered = rng.usize(0..=tickets.len());
        for &(t, f, i) in &tickets[..answered] {
            l.ack(t, f);
            handled[i] = f != Fate::Pending;
        }
        (l.checkpoint(), l.saved(), handled)
    }

    proptest! {
        /// Routes stopped at different places (each its own checkpoint and windows) share one
        /// read: the plan starts at the oldest, each route resumes from its own progress and
        /// drops only what it handled, and every route ends with every log handled.
        #[test]
        fn routes_at_different_places_share_one_read_and_lose_nothing(
            logs in proptest::collection::vec(log(), 1..100),
            cuts in proptest::collection::btree_set(1usize..100, 0..5),
            starts in proptest::collection::vec(0usize..100, 1..4),
            seed in any::<u64>(),
        ) {
            let mut rng = fastrand::Rng::with_seed(seed);
            let n = logs.len();
            let bounds = bounds(n, cuts);
            let mut routes: Vec<_> = starts
                .iter()
                .map(|s| stopped_route(&logs, &bounds, s % (n + 1), &mut rng))
                .collect();
            for (checkpoint, _, handled) in &routes {
                let passed: usize = checkpoint.as_ref().unwrap().parse().unwrap();
                prop_assert!((1..=passed).all(|i| handled[i]), "passed {passed}");
            }
            let standings: Vec<Standing> = (routes.iter())
                .map(|(c, w, _)| (c.as_deref(), &w[..]))
                .collect();
            let plan = plan(&standings);
            let views: Vec<Vec<SavedWindow>> = (standings.iter())
                .map(|s| plan.iter().map(|w| progress(w, *s)).collect())
                .collect();
            for (k, w) in plan.iter().enumerate() {
                // The read skips a window only when every route has finished it.
                prop_assert_eq!(w.finished, views.iter().all(|v| v[k].finished));
            }
            for ((checkpoint, _, handled), view) in routes.iter_mut().zip(&views) {
                let mut next = Ledger::resume(checkpoint.clone(), view);
                let resumed: usize = next.checkpoint().unwrap().parse().unwrap();
                prop_assert!((1..=resumed).all(|i| handled[i]), "resumed at {resumed}");
                for (k, w) in plan.iter().enumerate() {
                    let mine = &view[k];
                    if w.finished || mine.finished {
                        continue;
                    }
                    let from: usize = w.reached.parse().unwrap();
                    let floor: usize = mine.reached.parse().unwrap();
                    let to = w.end.as_ref().map_or(n, |e| e.parse().unwrap());
                    next.open(k as WindowId, w.after.clone());
                    for (i, h) in handled.iter_mut().enumerate().take(to + 1).skip(from + 1) {
                        if i <= floor {
                            // Dropped: the route handled it before.
                            prop_assert!(*h, "{i} dropped but never handled");
                            continue;
                        }
                        next.skip(k as WindowId, &id(i), None);
                        *h = true;
                    }
                    next.close(k as WindowId, w.end.clone());
                }
                prop_assert!((1..=n).all(|i| handled[i]), "a log was lost: {:?}", view);
                prop_assert_eq!(next.checkpoint(), Some(id(n)));
                prop_assert!(next.caught_up());
            }
        }
    }
}
