//! One pass of the pipeline: lock and read the state, stream logs from Auth0 (the source, on a
//! thread of its own), filter them, hand them to the sink (the webhook, or stdout for a dry
//! run), move the checkpoint with the ordered acker as deliveries end (saving it at most every
//! second), then record and report the run.

use crate::cli::Output;
use crate::config::Config;
use crate::lane::{ClosedPipe, Lane};
use crate::logid::{self, StartFrom};
use crate::outcome::Outcome;
use crate::report::monitor::Monitor;
use crate::report::{self, Summary, retention};
use crate::say::{self, Counters, Progress};
use crate::signal;
use crate::sink::dead_letter::DeadLetter;
use crate::sink::webhook::{Deliverer, Done};
use crate::source::auth0::Auth0;
use crate::source::{self, Event, Fetched, Room};
use crate::state::ledger;
use crate::state::{self, Place, RouteRecord, RunRecord, State};
use crate::stop::{Cause, Part, Stop, Tell, receive};
use anyhow::Result;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime};

/// The checkpoint is saved at most this often during a run (and always at its end). Each save
/// is two fsyncs; on a backlog of fast pages saving after every one took about 30% of the run's
/// CPU time. A crash loses at most this much progress: those logs are sent again, never skipped.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What the run's threads tell it, on its one channel.
enum Msg {
    /// The cursors: an event of the read, or why reading stopped.
    Source(Fetched),
    /// A delivery request of route `.0` ended.
    Sent(usize, Done),
    /// The `/start` ping was answered or given up.
    Pinged,
    /// A signal fired the token.
    Signal,
}

/// The run's channel: its threads send, the run reads.
struct Channel {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
}

impl Channel {
    /// How a thread tells the run `T`, as the message `wrap` makes of it.
    fn tell<T: 'static>(&self, wrap: impl Fn(T) -> Msg + Send + Sync + 'static) -> Tell<T> {
        let tx = self.tx.clone();
        Arc::new(move |t| tx.send(wrap(t)).is_ok())
    }
}

/// One run, reported to the monitors from inside: `/start` once it holds the lock, the end
/// with its outcome. The outcome of a run that got as far as reading its state (its summary
/// printed, recorded and reported); an error for one that did not. Its stop token is watched
/// for signals from its start to its end.
pub fn run(cfg: &Config, dry_run: bool, output: Output) -> Result<Outcome> {
    let stop = Arc::new(Stop::new());
    let (tx, rx) = channel();
    let events = Channel { tx, rx };
    let _watch = signal::watch(&stop, events.tell(|()| Msg::Signal));
    // A dry run is not a run that monitors should hear of.
    let monitor = (!dry_run).then(|| {
        Monitor::new(
            &cfg.monitor,
            &cfg.http,
            (
                cfg.tenant(),
                cfg.auth0.base_url.host_str().unwrap_or_default(),
            ),
            cfg.dead_letters(),
            Arc::clone(&stop),
        )
    });
    // The state as read, for the metrics of a run that fails after reading it.
    let mut read = None;
    let result = run_watched(
        cfg,
        dry_run,
        output,
        (&stop, &events),
        monitor.as_ref(),
        &mut read,
    );
    if let (Some(m), Err(e)) = (&monitor, &result) {
        m.ended_early(e, read.as_ref());
    }
    result
}

fn run_watched(
    cfg: &Config,
    dry_run: bool,
    output: Output,
    (stop, events): (&Arc<Stop>, &Channel),
    monitor: Option<&Monitor>,
    read: &mut Option<State>,
) -> Result<Outcome> {
    let state_file = state::resolve(&cfg.state_file)?;
    // A dry run writes nothing, so it needs no lock and may run beside a real run.
    let _lock = if dry_run {
        None
    } else {
        state::refuse_foreign(&state_file)?;
        Some(state::lock(&state_file)?)
    };
    // Only a run that holds the lock has started: one that found it held pings nothing. The
    // ping is waited for, unless a signal comes: a monitor that hangs must not keep a run that
    // was asked to stop from ending (it then pings `/<exit code>`).
    if let Some(m) = monitor
        && m.started(events.tell(|()| Msg::Pinged))
    {
        while !matches!(receive(&events.rx, None), Some(Msg::Pinged) | None) {
            if stop.stopped(Part::Sending).is_some() {
                say::warn(format_args!(
                    "not waiting for the {}/start ping: stopping",
                    crate::settings::HEALTHCHECK_URL
                ));
                break;
            }
        }
    }
    let mut state = State::load(&state_file)?;
    let tenant = cfg.tenant();
    state.check_tenant(&tenant, &state_file)?;
    state.tenant = Some(tenant.clone());
    *read = Some(state.clone());
    let mut warnings = Vec::new();
    let places = places(cfg, &mut state, &mut warnings);
    // A checkpoint a previous run left (not a first run, not a START_FROM applied now) where the
    // read starts: the first page after it shows whether Auth0 deleted logs it had not reached.
    let standings: Vec<ledger::Standing> = (places.iter())
        .map(|(p, _)| (p.checkpoint.as_deref(), &p.windows[..]))
        .collect();
    let plan = ledger::plan(&standings);
    let expired_from = (places.iter())
        .any(|(p, carried)| *carried && p.checkpoint.as_deref() == Some(&plan[0].after))
        .then(|| plan[0].after.clone());

    let started_at = SystemTime::now();
    let started = Instant::now();
    stop.shorten(started + cfg.max_run_time);
    // The source stops fetching early enough that the last batch, and the requests in flight,
    // can still be answered before MAX_RUN_TIME.
    let slowest = cfg.routes.iter().map(|r| r.webhook.timeout).max();
    let margin = slowest.unwrap_or_default().min(cfg.max_run_time / 5);
    let fetch_until = (stop.deadline()).and_then(|d| d.checked_sub(margin));
    let http = crate::http::client(&cfg.http)?;
    let counters = Arc::new(Counters::default());
    let auth0 = Arc::new(Auth0::new(
        http.clone(),
        cfg.auth0.clone(),
        state.token.clone(),
    ));
    // Made before any network call, so a dead-letter file that cannot be opened stops the run
    // with exit 2 and nothing sent. A dry run sends nothing, so it needs none.
    let mut lanes = Vec::new();
    for (i, (route, (place, _))) in cfg.routes.iter().zip(places).enumerate() {
        let route_stop = Stop::child(stop);
        let webhook = match dry_run {
            true => None,
            false => Some(Deliverer::new(
                &crate::http::client(&route.http(&cfg.ca_cert))?,
                &route.webhook,
                (route.dead_letter.as_deref())
                    .map(|p| DeadLetter::open(p, &tenant))
                    .transpose()?,
                Arc::clone(&counters),
                Arc::clone(&route_stop),
                events.tell(move |done| Msg::Sent(i, done)),
            )?),
        };
        lanes.push(Lane::new(route, place, &plan, webhook, route_stop));
    }

    let mut pipe = Pipeline {
        cfg,
        state_file: (!dry_run).then_some(&state_file),
        auth0,
        counters: Arc::clone(&counters),
        stop: Arc::clone(stop),
        events,
        fetch_until: fetch_until.unwrap_or(started),
        saved: oldest(&lanes),
        lanes,
        saved_at: None,
        expired_from,
        lost: None,
        noted: Vec::new(),
    };
    let read_error = pipe.run(&mut state, &plan);

    let cause = stop.cause();
    let routes: Vec<RouteRecord> = (pipe.lanes.iter())
        .map(|l| l.record(read_error.is_some()))
        .collect();
    let errors = (routes.iter().zip(&cfg.routes))
        .filter_map(|(r, route)| Some(format!("{}{}", cfg.of(route), r.error.as_ref()?)));
    let errors: Vec<String> = (read_error.map(|e| format!("{e:#}")).into_iter())
        .chain(errors)
        .collect();
    let error = (!errors.is_empty()).then(|| errors.join("; ")).or_else(|| {
        let sig = signal::name(stop.signal()?);
        Some(format!(
            "interrupted by {sig}; the next run goes on from the checkpoint"
        ))
    });
    let dead_lettered = Counters::get(&counters.dead_lettered);
    let caught_up = routes.iter().all(|r| r.outcome.caught_up());
    let outcome = Outcome::decide(cause, error.is_some(), dead_lettered > 0, caught_up);
    let newest_date = behind(&pipe.lanes)
        .and_then(|l| l.ledger.newest_date())
        .map(str::to_string);
    warnings.extend(pipe.lost.take().into_iter().chain(pipe.noted.drain(..)));
    warnings.extend(newest_date.as_deref().and_then(|d| {
        retention::drift(d, outcome.caught_up(), SystemTime::now(), cfg.log_retention)
    }));
    let mut summary = Summary {
        run: RunRecord {
            started_at: humantime::format_rfc3339_millis(started_at).to_string(),
            finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            outcome,
            logs_fetched: Counters::get(&counters.fetched),
            logs_matched: Counters::get(&counters.matched),
            logs_delivered: Counters::get(&counters.delivered),
            logs_dead_lettered: dead_lettered,
            requests: Counters::get(&counters.requests),
            retries: Counters::get(&counters.retries),
            checkpoint: oldest(&pipe.lanes),
            error,
            warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
            newest_log_date: newest_date,
            routes: if cfg.named() { routes } else { Vec::new() },
        },
        dry_run,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    if !dry_run {
        state.token = pipe.auth0.token_for_cache();
        state.record(summary.run.clone());
        if let Err(e) = state.save(&state_file) {
            // The summary tells what is on disk, not what this run had in memory.
            summary.run.checkpoint = pipe.saved.clone();
            summary.run.outcome = Outcome::Failed;
            summary.run.error = Some(format!("{e:#}"));
            if let Some(last) = state.history.back_mut() {
                *last = summary.run.clone();
            }
        }
    }
    if let Some(w) = &summary.run.warning {
        say::warn(w);
    }
    if let Some(e) = &summary.run.error {
        say::error(e);
    }
    match output {
        Output::Json => report::print_json_summary(&summary),
        Output::Text => report::summary(summary.line(), summary.run.outcome),
    }
    if !dry_run && let Some(slack) = &cfg.slack {
        let before = (state.last_daily_report.clone(), state.trouble.clone());
        crate::report::slack::after_run(
            &http,
            slack,
            cfg.auth0.base_url.host_str().unwrap_or_default(),
            &summary,
            &mut state,
            SystemTime::now(),
            stop,
        );
        if (state.last_daily_report.clone(), state.trouble.clone()) != before
            && let Err(e) = state.save(&state_file)
        {
            say::warn(format_args!("recording what Slack was told: {e:#}"));
        }
    }
    if let Some(m) = monitor {
        m.finished(&summary, &state);
    }
    Ok(summary.run.outcome)
}

/// START_FROM is applied only when it differs from the one last applied, so it can stay in the
/// settings without rewinding every run; each run says which. Whether it was applied now.
pub fn apply_start_from(place: &mut Place, sf: &StartFrom, of: &str) -> bool {
    if place.start_from.as_deref() == Some(sf.raw.as_str()) {
        say::info(format_args!("{of}{}", retention::start_from_kept(&sf.raw)));
        return false;
    }
    say::info(format_args!(
        "{of}applying {} {} (the checkpoint was {})",
        crate::settings::START_FROM,
        sf.raw,
        place.checkpoint.as_deref().unwrap_or("none")
    ));
    place.checkpoint = Some(sf.checkpoint.clone());
    // The windows saved were past the old checkpoint: the backfill starts afresh.
    place.windows.clear();
    place.start_from = Some(sf.raw.clone());
    true
}

/// Where each route starts, and whether from a checkpoint a previous run left: its START_FROM
/// once; a route new to the state at the newest checkpoint the others have, never at the
/// oldest log by accident. A route the state has and the settings do not is warned of: its
/// place is kept, and no longer holds back the read.
fn places(cfg: &Config, state: &mut State, warnings: &mut Vec<String>) -> Vec<(Place, bool)> {
    let known = state.places();
    for (name, _) in known
        .iter()
        .filter(|(n, _)| cfg.routes.iter().all(|r| r.name != *n))
    {
        say::warn(format_args!(
            "route {name:?} is in {} but not in the settings: its checkpoint is kept there, and no longer holds back the read",
            crate::settings::STATE_FILE
        ));
    }
    let newest =
        (known.iter().filter_map(|(_, p)| p.checkpoint.clone())).max_by(|a, b| logid::cmp(a, b));
    let mut places = Vec::new();
    for r in &cfg.routes {
        let mut place = state.place(&r.name);
        let mut carried = place.checkpoint.is_some();
        if let Some(sf) = &r.start_from
            && apply_start_from(&mut place, sf, &cfg.of(r))
        {
            carried = false;
            warnings.extend(retention::start_from_beyond(
                &sf.raw,
                &sf.checkpoint,
                SystemTime::now(),
                cfg.log_retention,
            ));
        } else if place.checkpoint.is_none() && place.windows.is_empty() && newest.is_some() {
            say::info(format_args!(
                "route {} is new: it starts at the other routes' newest checkpoint {} (set start_from in its table to send it older logs)",
                r.name,
                newest.as_deref().unwrap_or_default()
            ));
            place.checkpoint = newest.clone();
        }
        places.push((place, carried));
    }
    places
}

/// The route furthest behind (`None`, before any log, is the oldest checkpoint).
fn behind<'l>(lanes: &'l [Lane]) -> Option<&'l Lane<'l>> {
    let at = |l: &Lane| l.ledger.checkpoint();
    lanes.iter().min_by(|a, b| match (at(a), at(b)) {
        (Some(a), Some(b)) => logid::cmp(&a, &b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    })
}

/// The checkpoint the next read starts after: the oldest route's.
fn oldest(lanes: &[Lane]) -> Option<String> {
    behind(lanes)?.ledger.checkpoint()
}

struct Pipeline<'a> {
    cfg: &'a Config,
    /// `None` in a dry run: the state file is never written.
    state_file: Option<&'a Path>,
    auth0: Arc<Auth0>,
    counters: Arc<Counters>,
    /// Fired by a signal, or here when reading is over.
    stop: Arc<Stop>,
    events: &'a Channel,
    lanes: Vec<Lane<'a>>,
    fetch_until: Instant,
    /// Where the next read would start, as last written to the state file.
    saved: Option<String>,
    saved_at: Option<Instant>,
    /// The checkpoint a previous run left where the read starts: the first log of window 0
    /// after it shows whether Auth0 deleted logs that run had not reached.
    expired_from: Option<String>,
    /// What that comparison found lost.
    lost: Option<String>,
    /// What the source said the summary should tell (how reading had to start).
    noted: Vec<String>,
}

impl Pipeline<'_> {
    /// Runs the read and the routes to their end; a failed read, or a state file that could
    /// not be written, is the error.
    fn run(&mut self, state: &mut State, plan: &[ledger::SavedWindow]) -> Option<anyhow::Error> {
        let (board, room) = source::start(
            Arc::clone(&self.auth0),
            self.cfg.auth0.base_url.clone(),
            plan,
            self.fetch_until,
            Arc::clone(&self.stop),
            self.events.tell(Msg::Source),
        );
        let _progress = Progress::start(Arc::clone(&self.counters), move || board.reached());

        let error = self.consume(&room, state);
        // The cursor threads are not waited for: they end at their next step, and an Auth0
        // request in flight must not hold up a run that is stopping.
        self.stop.fire(Cause::Read);
        drop(room);
        let mut error = error.filter(|e| !e.is::<ClosedPipe>());
        self.drain(state, &mut error);
        for l in &self.lanes {
            state.set_place(&l.route.name, l.standing());
        }
        error
    }

    /// Reads the run's channel until reading ends or every route has left, then sends what is
    /// left; a failed read, or a state file that cannot be written, ends it.
    fn consume(&mut self, room: &Room, state: &mut State) -> Option<anyhow::Error> {
        // The read's events as they came, taken in order: a page only when every route has
        // room for its logs, so memory stays flat.
        let mut read: VecDeque<Event> = VecDeque::new();
        let mut fetch_error = None;
        loop {
            while let Some(event) = read.pop_front() {
                match event {
                    Event::Noted(note) => self.noted.push(note),
                    Event::Page { window, logs } if room_for(&mut self.lanes) => {
                        // Its place was taken before it was sent: never waits.
                        let _ = room.recv();
                        if window == 0
                            && let (Some(from), Some(first)) =
                                (self.expired_from.take(), logs.first())
                        {
                            let (now, kept) = (SystemTime::now(), self.cfg.log_retention);
                            self.lost = retention::lost_span(&from, first.id(), now, kept);
                        }
                        Counters::add(&self.counters.pages, 1);
                        Counters::add(&self.counters.fetched, logs.len() as u64);
                        let named = self.cfg.named();
                        for l in self.lanes.iter_mut() {
                            match l.take(window, &logs, &self.counters, named) {
                                Err(e) if e.is::<ClosedPipe>() => return Some(e),
                                Err(e) => l.fail(e),
                                Ok(()) => {}
                            }
                        }
                    }
                    // A page some route has no room for yet, or the end of reading.
                    held @ (Event::Page { .. } | Event::Ended) => {
                        read.push_front(held);
                        break;
                    }
                    opened_or_closed => {
                        self.lanes.iter_mut().for_each(|l| l.see(&opened_or_closed))
                    }
                }
            }
            // Every cursor has ended and all they read is taken. The fetch thread stops by
            // itself at `fetch_until`, but an Auth0 request it has in flight must not hold up
            // the end of the run.
            let ended = matches!(read.front(), Some(Event::Ended));
            let all_left = self.lanes.iter().all(|l| l.left.is_some());
            if ended
                || all_left
                || self.stop.stopped(Part::Sending).is_some()
                || Instant::now() >= self.fetch_until
            {
                break;
            }
            match receive(&self.events.rx, Some(self.fetch_until)) {
                Some(Msg::Source(Ok(event))) => read.push_back(event),
                Some(Msg::Source(Err(e))) => {
                    // What was fetched before is still delivered; the error ends the run after.
                    fetch_error = Some(e.context("fetching logs from Auth0"));
                    break;
                }
                Some(Msg::Sent(i, done)) => {
                    self.lanes[i].absorb(done);
                    if let Some(e) = self.save_if_due(state) {
                        return Some(e);
                    }
                }
                Some(Msg::Pinged | Msg::Signal) | None => {}
            }
        }
        let stopped = self.stop.stopped(Part::Sending);
        let behind = (self.lanes.iter()).any(|l| l.left.is_none() && !l.ledger.caught_up());
        if behind && stopped.is_none() && Instant::now() >= self.fetch_until {
            say::info(format_args!(
                "{} reached; the next run goes on from the checkpoint",
                crate::settings::MAX_RUN_TIME
            ));
        }
        // The backlog ended, fetching failed or MAX_RUN_TIME is near: the last partial batches
        // go now. After a signal nothing new is started.
        self.lanes.iter_mut().for_each(Lane::flush);
        fetch_error
    }

    /// Waits for the requests in flight. Their timeouts and retries end by the deadline on
    /// their own, except those under way when a signal brought it forward: after a signal, the
    /// wait ends at the deadline, the end of its grace, and what is still out is given up.
    fn drain(&mut self, state: &mut State, error: &mut Option<anyhow::Error>) {
        let several = self.lanes.len() > 1;
        while self.lanes.iter().any(|l| l.in_flight() > 0) {
            // A route retrying a failing receiver while the others are done is given up: the
            // next run sends it what it missed. A single route waits, retrying to the deadline.
            let mut busy = self.lanes.iter_mut().filter(|l| l.in_flight() > 0);
            if let (Some(l), None, true) = (busy.next(), busy.next(), several)
                && l.failing()
            {
                l.leave_behind();
            }
            for l in self.lanes.iter().filter(|l| matches!(l.left, Some(None))) {
                l.abandon();
            }
            let grace_end = self.stop.signal().and(self.stop.deadline());
            if grace_end.is_some_and(|end| Instant::now() >= end) {
                break;
            }
            if let Some(Msg::Sent(i, done)) = receive(&self.events.rx, grace_end) {
                self.lanes[i].absorb(done);
                if let Some(e) = self.save_if_due(state) {
                    self.lanes.iter().for_each(Lane::abandon);
                    error.get_or_insert(e);
                }
            }
        }
    }

    /// Moves each route's place in the state to where its ledger is, and writes the state
    /// when a second has passed since the last write (a dry run writes nothing).
    fn save_if_due(&mut self, state: &mut State) -> Option<anyhow::Error> {
        let mut moved = false;
        for l in &self.lanes {
            let now = l.standing();
            moved |= state.place(&l.route.name) != now;
            state.set_place(&l.route.name, now);
        }
        let due = moved && self.saved_at.is_none_or(|t| t.elapsed() >= SAVE_EVERY);
        let file = self.state_file.filter(|_| due)?;
        self.saved_at = Some(Instant::now());
        state.token = self.auth0.token_for_cache();
        let saved = state.save(file);
        if saved.is_ok() {
            self.saved = oldest(&self.lanes);
        }
        saved.err()
    }
}

/// Whether every route has room for a page now. A route whose receiver keeps failing is left
/// behind while another route can go on; the last one waits, as a single route does.
fn room_for(lanes: &mut [Lane]) -> bool {
    let mut going = lanes.iter().filter(|l| l.left.is_none()).count();
    for l in lanes.iter_mut() {
        if !l.has_room() && l.failing() && going > 1 {
            l.leave_behind();
            going -= 1;
        }
    }
    lanes.iter().all(Lane::has_room)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sf(raw: &str, checkpoint: &str) -> StartFrom {
        StartFrom {
            raw: raw.into(),
            checkpoint: checkpoint.into(),
        }
    }

    #[test]
    fn start_from_is_applied_once() {
        let mut s = Place::default();
        assert!(apply_start_from(&mut s, &sf("7d", "100"), ""));
        assert_eq!(s.checkpoint.as_deref(), Some("100"));
        s.checkpoint = Some("250".into());
        assert!(!apply_start_from(&mut s, &sf("7d", "150"), ""));
        assert_eq!(
            s.checkpoint.as_deref(),
            Some("250"),
            "same START_FROM again must not rewind"
        );
        s.windows = crate::state::ledger::chain("300", &[]);
        assert!(apply_start_from(&mut s, &sf("50", "50"), ""));
        assert_eq!(
            s.checkpoint.as_deref(),
            Some("50"),
            "a new START_FROM is applied"
        );
        assert!(s.windows.is_empty(), "and the old windows are dropped");
    }
}
