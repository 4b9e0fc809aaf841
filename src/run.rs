//! One pass of the pipeline: lock and read the state, stream logs from Auth0 (the source, on a
//! thread of its own), filter them, hand them to the sink (the webhook, or stdout for a dry
//! run), move the checkpoint with the ordered acker as deliveries end (saving it at most every
//! second), then record and report the run.

use crate::cli::Output;
use crate::config::Config;
use crate::log::Log;
use crate::logid::{self, StartFrom};
use crate::outcome::Outcome;
use crate::report::monitor::Monitor;
use crate::report::{self, Summary, retention};
use crate::say::{self, Counters, Progress};
use crate::signal;
use crate::sink::dead_letter::DeadLetter;
use crate::sink::encode::{Batcher, Matched};
use crate::sink::webhook::{Deliverer, Done};
use crate::source::auth0::Auth0;
use crate::source::{self, Event, Fetched, Room};
use crate::state::checkpoint::Fate;
use crate::state::ledger::{self, Ledger};
use crate::state::{self, RunRecord, State};
use crate::stop::{Cause, Part, Stop, Tell, receive};
use anyhow::{Result, anyhow};
use std::collections::VecDeque;
use std::io::Write;
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
    /// A delivery request ended.
    Sent(Done),
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
    fn tell<T: 'static>(&self, wrap: fn(T) -> Msg) -> Tell<T> {
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
            &cfg.http(),
            (
                cfg.tenant(),
                cfg.auth0.base_url.host_str().unwrap_or_default(),
            ),
            cfg.dead_letter.as_deref(),
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
    // A checkpoint a previous run left (not a first run, not a START_FROM applied now): the first
    // page after it shows whether Auth0 deleted logs it had not reached.
    let mut expired_from = state.checkpoint.clone();
    if let Some(sf) = cfg.start_from.as_ref()
        && apply_start_from(&mut state, sf)
    {
        expired_from = None;
        warnings.extend(retention::start_from_beyond(
            &sf.raw,
            &sf.checkpoint,
            SystemTime::now(),
            cfg.log_retention,
        ));
    }

    let started_at = SystemTime::now();
    let started = Instant::now();
    stop.shorten(started + cfg.max_run_time);
    let http = crate::http::client(&cfg.http())?;
    let counters = Arc::new(Counters::default());
    let auth0 = Arc::new(Auth0::new(
        http.clone(),
        cfg.auth0.clone(),
        state.token.clone(),
    ));
    // Made before any network call, so a dead-letter file that cannot be opened stops the run
    // with exit 2 and nothing sent. A dry run sends nothing, so it needs none.
    let sink = match dry_run {
        true => Sink::Stdout,
        false => Sink::Webhook(Deliverer::new(
            &http,
            &cfg.webhook,
            cfg.dead_letter
                .as_deref()
                .map(|p| DeadLetter::open(p, &tenant))
                .transpose()?,
            Arc::clone(&counters),
            Arc::clone(stop),
            events.tell(Msg::Sent),
        )?),
    };

    let ended = Pipeline {
        cfg,
        state_file: &state_file,
        auth0,
        counters: Arc::clone(&counters),
        stop: Arc::clone(stop),
        events,
        started,
        saved: state.checkpoint.clone(),
        saved_at: None,
        persist: !dry_run,
        expired_from,
        expired_window: None,
        lost: None,
        noted: Vec::new(),
    }
    .run(&mut state, sink);

    let cause = stop.cause();
    let mut error = ended.error.as_ref().map(|e| format!("{e:#}"));
    if let (Some(sig), None) = (stop.signal(), &error) {
        error = Some(format!(
            "interrupted by {}; the next run goes on from the checkpoint",
            signal::name(sig)
        ));
    }
    let dead_lettered = Counters::get(&counters.dead_lettered);
    warnings.extend(ended.warning);
    let outcome = Outcome::decide(cause, error.is_some(), dead_lettered > 0, ended.caught_up);
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
            checkpoint: state.checkpoint.clone(),
            error,
            warning: {
                warnings.extend(ended.newest_date.as_deref().and_then(|d| {
                    retention::drift(d, outcome.caught_up(), SystemTime::now(), cfg.log_retention)
                }));
                (!warnings.is_empty()).then(|| warnings.join("; "))
            },
            newest_log_date: ended.newest_date.clone(),
        },
        dry_run,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    if !dry_run {
        state.token = ended.token;
        state.record(summary.run.clone());
        if let Err(e) = state.save(&state_file) {
            // The summary tells what is on disk, not what this run had in memory.
            summary.run.checkpoint = ended.saved;
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
pub fn apply_start_from(state: &mut State, sf: &StartFrom) -> bool {
    if state.start_from.as_deref() == Some(sf.raw.as_str()) {
        say::info(retention::start_from_kept(&sf.raw));
        return false;
    }
    say::info(format_args!(
        "applying {} {} (the checkpoint was {})",
        crate::settings::START_FROM,
        sf.raw,
        state.checkpoint.as_deref().unwrap_or("none")
    ));
    state.checkpoint = Some(sf.checkpoint.clone());
    // The windows saved were past the old checkpoint: the backfill starts afresh.
    state.windows.clear();
    state.start_from = Some(sf.raw.clone());
    true
}

/// Where matching logs go.
enum Sink {
    /// `--dry-run`: each item as a JSON line on stdout, "delivered" at once.
    Stdout,
    Webhook(Deliverer),
}

struct Pipeline<'a> {
    cfg: &'a Config,
    state_file: &'a Path,
    auth0: Arc<Auth0>,
    counters: Arc<Counters>,
    /// Fired by a signal, a failed delivery, or here when reading is over.
    stop: Arc<Stop>,
    events: &'a Channel,
    started: Instant,
    /// The checkpoint as last written to the state file.
    saved: Option<String>,
    saved_at: Option<Instant>,
    /// False in a dry run: the state file is never written.
    persist: bool,
    /// The checkpoint a previous run left: the first log after it shows whether Auth0 deleted
    /// logs that run had not reached.
    expired_from: Option<String>,
    /// The window that starts at `expired_from`, once the source has opened it.
    expired_window: Option<crate::state::ledger::WindowId>,
    /// What that comparison found lost.
    lost: Option<String>,
    /// What the source said the summary should tell (how reading had to start).
    noted: Vec<String>,
}

/// How the pipeline ended.
struct Ended {
    error: Option<anyhow::Error>,
    /// Logs lost to Auth0's retention before this run, when the first page shows it.
    warning: Option<String>,
    /// `date` of the newest log the checkpoint moved past.
    newest_date: Option<String>,
    /// Every window read and delivered, the last one caught up, with no error.
    caught_up: bool,
    saved: Option<String>,
    token: Option<crate::state::CachedToken>,
}

impl Pipeline<'_> {
    fn run(mut self, state: &mut State, mut sink: Sink) -> Ended {
        // The source stops fetching early enough that the last batch, and the requests in
        // flight, can still be answered before MAX_RUN_TIME.
        let margin = self.cfg.webhook.timeout.min(self.cfg.max_run_time / 5);
        let fetch_until = self
            .stop
            .deadline()
            .and_then(|d| d.checked_sub(margin))
            .unwrap_or(self.started);
        let start = state.checkpoint.clone().unwrap_or_else(logid::oldest);
        let plan = ledger::chain(&start, &state.windows);
        let (board, room) = source::start(
            Arc::clone(&self.auth0),
            self.cfg.auth0.base_url.clone(),
            &plan,
            fetch_until,
            Arc::clone(&self.stop),
            self.events.tell(Msg::Source),
        );
        let _progress = Progress::start(Arc::clone(&self.counters), move || board.reached());

        let mut acker = Ledger::resume(state.checkpoint.clone(), &plan);
        let mut error = self.consume(&room, &mut sink, &mut acker, state, fetch_until);
        // The cursor threads are not waited for: they end at their next step, and an Auth0
        // request in flight must not hold up a run that is stopping.
        self.stop.fire(Cause::Read);
        drop(room);
        if error.as_ref().is_some_and(|e| e.is::<ClosedPipe>()) {
            error = None;
        }
        if let Sink::Webhook(d) = &mut sink {
            self.drain(d, &mut acker, state, &mut error);
        }
        if acker.take_moved() {
            state.checkpoint = acker.checkpoint();
        }
        state.windows = acker.saved();
        Ended {
            warning: (self.lost.take().into_iter())
                .chain(self.noted.drain(..))
                .reduce(|a, b| format!("{a}; {b}")),
            caught_up: acker.caught_up() && error.is_none(),
            error,
            newest_date: acker.newest_date().map(str::to_string),
            saved: self.saved,
            token: self.auth0.token_for_cache(),
        }
    }

    /// Reads the run's channel until reading ends, then sends what is left; the first error ends it.
    fn consume(
        &mut self,
        room: &Room,
        sink: &mut Sink,
        acker: &mut Ledger,
        state: &mut State,
        fetch_until: Instant,
    ) -> Option<anyhow::Error> {
        let mut batcher = Batcher::new(
            self.cfg.webhook.send_as_batch,
            self.cfg.batch_size as usize,
            self.cfg.webhook.max_body_bytes,
            self.cfg.webhook.format,
        );
        // The read's events as they came, taken in order: a page only when the sink has room
        // for its logs, so memory stays flat.
        let mut read: VecDeque<Event> = VecDeque::new();
        let mut fetch_error = None;
        loop {
            while let Some(event) = read.pop_front() {
                let room_now = !matches!(sink, Sink::Webhook(d) if !d.has_room());
                let (window, logs) = match event {
                    Event::Opened { window, after } => {
                        if self.expired_from.as_deref() == Some(after.as_str()) {
                            self.expired_window = Some(window);
                        }
                        acker.open(window, after);
                        continue;
                    }
                    Event::Noted(note) => {
                        self.noted.push(note);
                        continue;
                    }
                    Event::Closed { window, end } => {
                        acker.close(window, end);
                        continue;
                    }
                    Event::Page { window, logs } if room_now => (window, logs),
                    // A page the sink has no room for yet, or the end of reading.
                    held => {
                        read.push_front(held);
                        break;
                    }
                };
                // Its place was taken before it was sent: never waits.
                let _ = room.recv();
                if self.expired_window == Some(window)
                    && let (Some(from), Some(first)) = (self.expired_from.take(), logs.first())
                {
                    self.lost = retention::lost_span(
                        &from,
                        first.id(),
                        SystemTime::now(),
                        self.cfg.log_retention,
                    );
                }
                Counters::add(&self.counters.pages, 1);
                Counters::add(&self.counters.fetched, logs.len() as u64);
                if let Err(e) = self.take(window, logs, sink, &mut batcher, acker) {
                    return Some(e);
                }
            }
            // Every cursor has ended and all they read is taken. The fetch thread stops by
            // itself at `fetch_until`, but an Auth0 request it has in flight must not hold up
            // the end of the run.
            let ended = matches!(read.front(), Some(Event::Ended));
            if ended || self.stop.stopped(Part::Sending).is_some() || Instant::now() >= fetch_until
            {
                break;
            }
            match receive(&self.events.rx, Some(fetch_until)) {
                Some(Msg::Source(Ok(event))) => read.push_back(event),
                Some(Msg::Source(Err(e))) => {
                    // What was fetched before is still delivered; the error ends the run after.
                    fetch_error = Some(e.context("fetching logs from Auth0"));
                    break;
                }
                Some(Msg::Sent(done)) => {
                    if let Sink::Webhook(d) = sink {
                        d.ended();
                    }
                    if let Some(e) = self.absorb(done, acker, state) {
                        return Some(e);
                    }
                }
                Some(Msg::Pinged | Msg::Signal) | None => {}
            }
        }
        let stopped = self.stop.stopped(Part::Sending);
        if !acker.caught_up() && stopped.is_none() && Instant::now() >= fetch_until {
            say::info(format_args!(
                "{} reached; the next run goes on from the checkpoint",
                crate::settings::MAX_RUN_TIME
            ));
        }
        // The backlog ended, fetching failed or MAX_RUN_TIME is near: the last partial batch
        // goes now. After a signal nothing new is started.
        if let (Sink::Webhook(d), Some(batch), None) = (sink, batcher.take(), stopped) {
            d.submit(batch);
        }
        fetch_error
    }

    /// Filters a page's logs into the acker and the sink.
    fn take(
        &self,
        window: crate::state::ledger::WindowId,
        logs: Vec<Log>,
        sink: &mut Sink,
        batcher: &mut Batcher,
        acker: &mut Ledger,
    ) -> Result<()> {
        let mut out = matches!(sink, Sink::Stdout).then(|| std::io::stdout().lock());
        for log in &logs {
            let (id, date) = (log.id(), log.date());
            if !self.cfg.filter.matches(log) {
                acker.skip(window, id, date);
                continue;
            }
            Counters::add(&self.counters.matched, 1);
            let seq = acker.pending(window, id, date);
            let json = match self.cfg.filter.item(log, self.cfg.webhook.shape) {
                Ok(json) => json,
                Err(why) => {
                    let fate = match sink {
                        Sink::Webhook(d) => d.set_aside_unsent(id, &why).map_err(|e| anyhow!(e))?,
                        Sink::Stdout => {
                            say::warn(format_args!("log {id} is not shown: {why}"));
                            Fate::DeadLettered
                        }
                    };
                    acker.ack(seq, fate);
                    continue;
                }
            };
            let item = Matched {
                seq,
                log_id: id.to_string(),
                json,
            };
            match sink {
                Sink::Stdout => {
                    let out = out.as_mut().expect("locked for the dry run");
                    out.write_all(&item.json)
                        .and_then(|_| out.write_all(b"\n"))
                        .map_err(stdout_error)?;
                    acker.ack(item.seq, Fate::Delivered);
                }
                Sink::Webhook(d) => {
                    if let Some(batch) = batcher.add(item) {
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

    /// Applies a request's outcome to the acker, saving the checkpoint when it is due.
    fn absorb(
        &mut self,
        done: Done,
        acker: &mut Ledger,
        state: &mut State,
    ) -> Option<anyhow::Error> {
        for (seq, fate) in done.fates {
            acker.ack(seq, fate);
        }
        (self.save_if_due(acker, state)).or_else(|| done.error.map(|e| anyhow!(e)))
    }

    /// Waits for the requests in flight. Their timeouts and retries end by the deadline on
    /// their own, except those under way when a signal brought it forward: after a signal, the
    /// wait ends at the deadline, the end of its grace, and what is still out is given up.
    fn drain(
        &mut self,
        d: &mut Deliverer,
        acker: &mut Ledger,
        state: &mut State,
        error: &mut Option<anyhow::Error>,
    ) {
        // A failed delivery has already stopped the requests not started (the deliverer does
        // that itself); after a failed fetch, what was fetched before is still delivered.
        while d.in_flight() > 0 {
            let grace_end = self.stop.signal().and(self.stop.deadline());
            if grace_end.is_some_and(|end| Instant::now() >= end) {
                break;
            }
            if let Some(Msg::Sent(done)) = receive(&self.events.rx, grace_end) {
                d.ended();
                if let Some(e) = self.absorb(done, acker, state) {
                    d.abandon();
                    error.get_or_insert(e);
                }
            }
        }
    }

    /// Moves the state's checkpoint to the acker's, and writes it when a second has passed
    /// since the last write (a dry run writes nothing).
    fn save_if_due(&mut self, acker: &mut Ledger, state: &mut State) -> Option<anyhow::Error> {
        // A window's progress is saved too, though the checkpoint waits at an earlier one.
        let windows = acker.saved();
        if !acker.take_moved() && windows == state.windows {
            return None;
        }
        state.checkpoint = acker.checkpoint();
        state.windows = windows;
        if !self.persist || self.saved_at.is_some_and(|t| t.elapsed() < SAVE_EVERY) {
            return None;
        }
        self.saved_at = Some(Instant::now());
        state.token = self.auth0.token_for_cache();
        let saved = state.save(self.state_file);
        if saved.is_ok() {
            self.saved = state.checkpoint.clone();
        }
        saved.err()
    }
}

/// stdout was closed by its reader during a dry run: not a failure.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
struct ClosedPipe;

/// A dry run's items are its product: a reader that left (`| head -1`) wants no more, so the
/// run stops fetching and ends well; any other write error (`>/dev/full`) means the output is
/// not whole, and the run fails saying so.
fn stdout_error(e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe => ClosedPipe.into(),
        _ => anyhow!("writing the dry run's items to stdout: {e}"),
    }
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
        let mut s = State::default();
        assert!(apply_start_from(&mut s, &sf("7d", "100")));
        assert_eq!(s.checkpoint.as_deref(), Some("100"));
        s.checkpoint = Some("250".into());
        assert!(!apply_start_from(&mut s, &sf("7d", "150")));
        assert_eq!(
            s.checkpoint.as_deref(),
            Some("250"),
            "same START_FROM again must not rewind"
        );
        s.windows = crate::state::ledger::chain("300", &[]);
        assert!(apply_start_from(&mut s, &sf("50", "50")));
        assert_eq!(
            s.checkpoint.as_deref(),
            Some("50"),
            "a new START_FROM is applied"
        );
        assert!(s.windows.is_empty(), "and the old windows are dropped");
    }
}
