//! One route's part of a run: its filter, batcher, sink and ledger, fed the one read's events.
//! It drops what its own place has passed, so routes at different checkpoints share one read.
//! One that fails, or whose receiver keeps failing while others go on, is left till next run.

use crate::config::Route;
use crate::log::Log;
use crate::logid;
use crate::outcome::Outcome;
use crate::say::{self, Counters};
use crate::sink::encode::{Batcher, Matched};
use crate::sink::webhook::{Deliverer, Done};
use crate::source::Event;
use crate::state::checkpoint::Fate;
use crate::state::ledger::{self, Ledger, SavedWindow, WindowId};
use crate::state::{Place, RouteRecord};
use crate::stop::{Part, Stop};
use anyhow::{Result, anyhow};
use std::io::Write;
use std::sync::Arc;

pub struct Lane<'a> {
    pub route: &'a Route,
    /// `None` in a dry run: each item is a JSON line on stdout, "delivered" at once.
    webhook: Option<Deliverer>,
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
    /// What it matched, delivered and set aside; `record` adds how it ended.
    counts: RouteRecord,
    /// The START_FROM last applied to it, carried on.
    start_from: Option<String>,
}

impl<'a> Lane<'a> {
    pub fn new(
        route: &'a Route,
        place: Place,
        plan: &[SavedWindow],
        webhook: Option<Deliverer>,
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
            webhook,
            left: None,
            counts: RouteRecord::default(),
            start_from: place.start_from,
        }
    }

    /// Whether it takes the events of `window`: not once left, nor of a window it finished.
    fn takes(&self, window: WindowId) -> bool {
        let finished = self.view.get(window as usize).is_some_and(|w| w.finished);
        self.left.is_none() && !finished
    }

    /// A window of the read opened or closed.
    pub fn see(&mut self, event: &Event) {
        match event {
            Event::Opened { window, after } if self.takes(*window) => {
                self.ledger.open(*window, after.clone())
            }
            Event::Closed { window, end } if self.takes(*window) => {
                self.ledger.close(*window, end.clone())
            }
            _ => {}
        }
    }

    /// Whether a page can be given to it now (one it takes nothing of, always).
    pub fn has_room(&self) -> bool {
        self.left.is_some() || self.webhook.as_ref().is_none_or(Deliverer::has_room)
    }

    /// Its receiver asks for retries and nothing more is queued for it.
    pub fn failing(&self) -> bool {
        self.left.is_none() && self.webhook.as_ref().is_some_and(Deliverer::failing)
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
        let mut out = self.webhook.is_none().then(|| std::io::stdout().lock());
        // With several routes, each line says whose item it is.
        let name = &self.route.name;
        let (open, close) = match named && out.is_some() {
            true => (format!("{{\"route\":\"{name}\",\"item\":"), "}"),
            false => (String::new(), ""),
        };
        for log in &logs[first..] {
            let (id, date) = (log.id(), log.date());
            if !self.route.filter.matches(log) {
                self.ledger.skip(window, id, date);
                continue;
            }
            Counters::add(&counters.matched, 1);
            self.counts.logs_matched += 1;
            let seq = self.ledger.pending(window, id, date);
            let json = match self.route.filter.item(log, self.route.webhook.shape) {
                Ok(json) => json,
                Err(why) => {
                    let fate = match &self.webhook {
                        Some(d) => d.set_aside_unsent(id, &why).map_err(|e| anyhow!(e))?,
                        None => {
                            say::warn(format_args!("log {id} is not shown: {why}"));
                            Fate::DeadLettered
                        }
                    };
                    self.ledger.ack(seq, fate);
                    self.counts.logs_dead_lettered += u64::from(fate == Fate::DeadLettered);
                    continue;
                }
            };
            let item = Matched {
                seq,
                log_id: id.to_string(),
                json,
            };
            match &mut self.webhook {
                None => {
                    let out = out.as_mut().expect("locked for the dry run");
                    let line = [open.as_bytes(), &item.json, close.as_bytes(), b"\n"].concat();
                    out.write_all(&line).map_err(stdout_error)?;
                    self.ledger.ack(item.seq, Fate::Delivered);
                }
                Some(d) => {
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
        if let (Some(d), Some(batch), false) = (&mut self.webhook, self.batcher.take(), stopped) {
            d.submit(batch);
        }
    }

    /// A request's end, into the ledger; its error leaves the route.
    pub fn absorb(&mut self, done: Done) {
        if let Some(d) = &mut self.webhook {
            d.ended();
        }
        for (seq, fate) in done.fates {
            self.counts.logs_delivered += u64::from(fate == Fate::Delivered);
            self.counts.logs_dead_lettered += u64::from(fate == Fate::DeadLettered);
            self.ledger.ack(seq, fate);
        }
        if let Some(e) = done.error {
            self.fail(anyhow!(e));
        }
    }

    /// It takes nothing more, and what it has not started is not started.
    pub fn fail(&mut self, e: anyhow::Error) {
        self.abandon();
        if self.error().is_none() {
            self.left = Some(Some(e));
        }
    }

    /// Requests not started are not started.
    pub fn abandon(&self) {
        if let Some(d) = &self.webhook {
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
        self.webhook.as_ref().map_or(0, Deliverer::in_flight)
    }

    /// Where it stands now, for the state file.
    pub fn standing(&self) -> Place {
        Place {
            checkpoint: self.ledger.checkpoint(),
            windows: self.ledger.saved(),
            start_from: self.start_from.clone(),
        }
    }

    fn error(&self) -> Option<&anyhow::Error> {
        self.left.as_ref().and_then(Option::as_ref)
    }

    /// How its part of the run ended; `read_failed`: the read itself ended in error.
    pub fn record(&self, read_failed: bool) -> RouteRecord {
        let caught_up = self.ledger.caught_up() && self.left.is_none() && !read_failed;
        let (error, set_aside) = (self.error(), self.counts.logs_dead_lettered > 0);
        RouteRecord {
            route: self.route.name.clone(),
            outcome: Outcome::decide(self.stop.cause(), error.is_some(), set_aside, caught_up),
            checkpoint: self.ledger.checkpoint(),
            error: error.map(|e| format!("{e:#}")),
            ..self.counts.clone()
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
