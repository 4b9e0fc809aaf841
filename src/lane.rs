//! One route's part of a run: its filter, its batcher, its sink and its ledger, fed the one
//! read's events as the run takes them. A route drops what its own place has passed, so that
//! routes at different checkpoints share a read that starts at the oldest. A route that failed,
//! or whose receiver keeps failing while the others could go on, is left behind: it takes
//! nothing more this run, keeps its checkpoint, and the next run reads again from there.

use crate::config::Route;
use crate::log::Log;
use crate::logid;
use crate::outcome::Outcome;
use crate::say::{self, Counters};
use crate::sink::encode::{Batcher, Matched};
use crate::sink::webhook::{Deliverer, Done};
use crate::state::checkpoint::Fate;
use crate::state::ledger::{self, Ledger, SavedWindow, WindowId};
use crate::state::{Place, RouteRecord};
use crate::stop::{Part, Stop};
use anyhow::{Result, anyhow};
use std::io::Write;
use std::sync::Arc;

/// Where a route's matching logs go.
pub enum Sink {
    /// `--dry-run`: each item as a JSON line on stdout, "delivered" at once.
    Stdout,
    Webhook(Deliverer),
}

pub struct Lane<'a> {
    pub route: &'a Route,
    pub sink: Sink,
    batcher: Batcher,
    pub ledger: Ledger,
    /// Its progress in each window of the read's plan: what it drops, and which it skips.
    view: Vec<SavedWindow>,
    /// What it drops in windows opened during the run: its checkpoint.
    floor: String,
    /// Its own token, a child of the run's: its failure stops it alone.
    pub stop: Arc<Stop>,
    /// Why it takes nothing more: its error, or `None` when left behind a failing receiver.
    pub left: Option<Option<anyhow::Error>>,
    pub matched: u64,
    pub delivered: u64,
    pub dead_lettered: u64,
    /// The START_FROM last applied to it, carried on.
    start_from: Option<String>,
}

impl<'a> Lane<'a> {
    pub fn new(
        route: &'a Route,
        place: Place,
        plan: &[SavedWindow],
        sink: Sink,
        stop: Arc<Stop>,
    ) -> Lane<'a> {
        let standing = (place.checkpoint.as_deref(), &place.windows[..]);
        let view: Vec<SavedWindow> = plan.iter().map(|w| ledger::progress(w, standing)).collect();
        Lane {
            batcher: Batcher::new(
                route.webhook.send_as_batch,
                route.batch_size as usize,
                route.webhook.max_body_bytes,
                route.webhook.format,
            ),
            ledger: Ledger::resume(place.checkpoint.clone(), &view),
            floor: place.checkpoint.clone().unwrap_or_else(logid::oldest),
            stop,
            view,
            route,
            sink,
            left: None,
            matched: 0,
            delivered: 0,
            dead_lettered: 0,
            start_from: place.start_from,
        }
    }

    /// Whether it takes the events of `window`: not once left, nor of a window it finished.
    fn takes(&self, window: WindowId) -> bool {
        let finished = self.view.get(window as usize).is_some_and(|w| w.finished);
        self.left.is_none() && !finished
    }

    pub fn open(&mut self, window: WindowId, after: &str) {
        if self.takes(window) {
            self.ledger.open(window, after.to_string());
        }
    }

    pub fn close(&mut self, window: WindowId, end: &Option<String>) {
        if self.takes(window) {
            self.ledger.close(window, end.clone());
        }
    }

    /// Whether a page can be given to it now (one it takes nothing of, always).
    pub fn has_room(&self) -> bool {
        match &self.sink {
            Sink::Webhook(d) if self.left.is_none() => d.has_room(),
            _ => true,
        }
    }

    /// Its receiver asks for retries and nothing more is queued for it.
    pub fn failing(&self) -> bool {
        matches!(&self.sink, Sink::Webhook(d) if self.left.is_none() && d.failing())
    }

    /// Filters a page's logs into the ledger and the sink; dropped: what it has passed.
    pub fn take(
        &mut self,
        window: WindowId,
        logs: &[Log],
        counters: &Counters,
        named: bool,
    ) -> Result<()> {
        if !self.takes(window) {
            return Ok(());
        }
        let floor = self
            .view
            .get(window as usize)
            .map_or(&self.floor, |w| &w.reached);
        let first = logs.partition_point(|l| logid::cmp(l.id(), floor).is_le());
        let mut out = matches!(self.sink, Sink::Stdout).then(|| std::io::stdout().lock());
        for log in &logs[first..] {
            let (id, date) = (log.id(), log.date());
            if !self.route.filter.matches(log) {
                self.ledger.skip(window, id, date);
                continue;
            }
            Counters::add(&counters.matched, 1);
            self.matched += 1;
            let seq = self.ledger.pending(window, id, date);
            let json = match self.route.filter.item(log, self.route.webhook.shape) {
                Ok(json) => json,
                Err(why) => {
                    let fate = match &self.sink {
                        Sink::Webhook(d) => d.set_aside_unsent(id, &why).map_err(|e| anyhow!(e))?,
                        Sink::Stdout => {
                            say::warn(format_args!("log {id} is not shown: {why}"));
                            Fate::DeadLettered
                        }
                    };
                    self.ledger.ack(seq, fate);
                    self.dead_lettered += u64::from(fate == Fate::DeadLettered);
                    continue;
                }
            };
            let item = Matched {
                seq,
                log_id: id.to_string(),
                json,
            };
            match &mut self.sink {
                Sink::Stdout => {
                    let out = out.as_mut().expect("locked for the dry run");
                    // With several routes, each line says whose item it is.
                    let (open, close) = match named {
                        true => (
                            format!("{{\"route\":\"{}\",\"item\":", self.route.name),
                            "}\n",
                        ),
                        false => (String::new(), "\n"),
                    };
                    (out.write_all(open.as_bytes()))
                        .and_then(|_| out.write_all(&item.json))
                        .and_then(|_| out.write_all(close.as_bytes()))
                        .map_err(stdout_error)?;
                    self.ledger.ack(item.seq, Fate::Delivered);
                }
                Sink::Webhook(d) => {
                    if let Some(batch) = self.batcher.add(item) {
                        d.submit(batch);
                    }
                }
            }
        }
        if let Some(out) = &mut out {
            out.flush().map_err(stdout_error)?;
        }
        Ok(())
    }

    /// The last partial batch, unless it is stopped or left.
    pub fn flush(&mut self) {
        let stopped = self.left.is_some() || self.stop.stopped(Part::Sending).is_some();
        if let (Sink::Webhook(d), Some(batch), false) =
            (&mut self.sink, self.batcher.take(), stopped)
        {
            d.submit(batch);
        }
    }

    /// A request's end, into the ledger; its error leaves the route.
    pub fn absorb(&mut self, done: Done) {
        if let Sink::Webhook(d) = &mut self.sink {
            d.ended();
        }
        for (seq, fate) in done.fates {
            self.delivered += u64::from(fate == Fate::Delivered);
            self.dead_lettered += u64::from(fate == Fate::DeadLettered);
            self.ledger.ack(seq, fate);
        }
        if let Some(e) = done.error {
            self.fail(anyhow!(e));
        }
    }

    /// It takes nothing more, and what it has not started is not started.
    pub fn fail(&mut self, e: anyhow::Error) {
        self.abandon();
        match &mut self.left {
            Some(Some(_)) => {}
            left => *left = Some(Some(e)),
        }
    }

    /// Requests not started are not started.
    pub fn abandon(&self) {
        if let Sink::Webhook(d) = &self.sink {
            d.abandon();
        }
    }

    /// Left behind a receiver that keeps failing, while the other routes go on.
    pub fn leave_behind(&mut self) {
        say::warn(format_args!(
            "route {}: its webhook keeps failing; the other routes go on, and the next run sends it what it missed",
            self.route.name
        ));
        self.left.get_or_insert(None);
    }

    pub fn in_flight(&self) -> usize {
        match &self.sink {
            Sink::Webhook(d) => d.in_flight(),
            Sink::Stdout => 0,
        }
    }

    /// Where it stands now, for the state file.
    pub fn standing(&self) -> Place {
        Place {
            checkpoint: self.ledger.checkpoint(),
            windows: self.ledger.saved(),
            start_from: self.start_from.clone(),
        }
    }

    pub fn error(&self) -> Option<&anyhow::Error> {
        self.left.as_ref().and_then(Option::as_ref)
    }

    /// How its part of the run ended; `read_failed`: the read itself ended in error.
    pub fn record(&self, read_failed: &Option<anyhow::Error>) -> RouteRecord {
        let caught_up = self.ledger.caught_up() && self.left.is_none() && read_failed.is_none();
        let (error, set_aside) = (self.error(), self.dead_lettered > 0);
        RouteRecord {
            route: self.route.name.clone(),
            outcome: Outcome::decide(self.stop.cause(), error.is_some(), set_aside, caught_up),
            logs_matched: self.matched,
            logs_delivered: self.delivered,
            logs_dead_lettered: self.dead_lettered,
            checkpoint: self.ledger.checkpoint(),
            error: error.map(|e| format!("{e:#}")),
        }
    }
}

/// stdout was closed by its reader during a dry run: not a failure.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
pub struct ClosedPipe;

/// A dry run's items are its product: a reader that left (`| head -1`) wants no more, so the
/// run stops fetching and ends well; any other write error (`>/dev/full`) means the output is
/// not whole, and the run fails saying so.
fn stdout_error(e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe => ClosedPipe.into(),
        _ => anyhow!("writing the dry run's items to stdout: {e}"),
    }
}
