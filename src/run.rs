//! One pass of the pipeline: lock and read the state, fetch pages on one thread while earlier
//! pages are delivered on the pool, advance the checkpoint after each page in order (saving it
//! at most every second), then record and report the run.

use crate::auth0::{Auth0, Cursor};
use crate::checkpoint::{self, Fate};
use crate::cli::Output;
use crate::config::Config;
use crate::deliver::Deliverer;
use crate::encode::Matched;
use crate::exit::{self, Failure};
use crate::filter;
use crate::report::{self, Counters, Progress, Summary};
use crate::state::{self, RunRecord, State};
use anyhow::{Result, anyhow};
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant, SystemTime};

/// A checkpoint whose newest log is older than this is drifting toward Auth0's retention limit
/// (1 to 30 days by plan): logs past it are deleted without notice.
const DRIFT_WARNING: Duration = Duration::from_secs(7 * 24 * 3600);

/// The checkpoint is saved after a page at most this often (and always at the end of the run).
/// Each save is two fsyncs; on a backlog of fast pages saving after every one took about 30%
/// of the run's CPU time. A crash loses at most this much progress: those logs are sent again,
/// never skipped.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// One run. The exit code and the summary (what `--output json` prints and the history keeps)
/// of a run that got as far as reading its state; an error for one that did not.
pub fn run(cfg: &Config, dry_run: bool, output: Output) -> Result<(u8, Summary)> {
    // A dry run writes nothing, so it needs no lock and may run beside a real run.
    let _lock = if dry_run {
        None
    } else {
        Some(state::lock(&cfg.state_file)?)
    };
    let mut state = State::load(&cfg.state_file)?;
    let tenant = cfg.tenant();
    if let Some(other) = state.tenant.as_ref().filter(|t| **t != tenant) {
        return Err(Failure::BadState {
            path: cfg.state_file.clone(),
            reason: format!(
                "it belongs to tenant {other}, not {tenant}: give each tenant its own STATE_FILE"
            ),
        }
        .into());
    }
    state.tenant = Some(tenant);
    apply_start_from(&mut state, cfg.start_from.as_deref());

    let started_at = SystemTime::now();
    let started = Instant::now();
    let deadline = started + cfg.max_run_time;
    let http = crate::http::client(cfg)?;
    let counters = Arc::new(Counters::default());
    let auth0 = Auth0::new(&http, &cfg.auth0, state.token.clone());
    // Made before any network call, so a dead-letter file that cannot be opened stops the run
    // with exit 2 and nothing sent. A dry run sends nothing, so it needs none.
    let deliverer = match dry_run {
        true => None,
        false => Some(Deliverer::new(
            &http,
            &cfg.webhook,
            cfg.dead_letter.as_deref(),
            &counters,
            deadline,
        )?),
    };

    let outcome = {
        let _progress = Progress::start(counters.clone());
        let pipeline = Pipeline {
            cfg,
            auth0: &auth0,
            deliverer: deliverer.as_ref(),
            counters: &counters,
            deadline,
        };
        pipeline.run(&mut state)
    };

    let error = outcome.error.as_ref().map(|e| format!("{e:#}"));
    let summary = Summary {
        run: RunRecord {
            started_at: humantime::format_rfc3339_millis(started_at).to_string(),
            finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            status: if error.is_none() { "ok" } else { "failed" }.to_string(),
            logs_fetched: Counters::get(&counters.fetched),
            logs_matched: Counters::get(&counters.matched),
            logs_delivered: Counters::get(&counters.delivered),
            requests: Counters::get(&counters.requests),
            retries: Counters::get(&counters.retries),
            checkpoint: state.checkpoint.clone(),
            error,
            warning: outcome
                .newest_date
                .as_deref()
                .and_then(|d| drift_warning(d, SystemTime::now())),
        },
        dry_run,
        newest_log_date: outcome.newest_date.clone(),
        logs_dead_lettered: Counters::get(&counters.dead_lettered),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    if let Some(w) = &summary.run.warning {
        report::warn(w);
    }
    if let Some(e) = &summary.run.error {
        report::error(e);
    }
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string(&summary).expect("summary serializes")
        ),
        Output::Text => report::info(summary.line()),
    }
    if !dry_run {
        state.token = auth0.token_for_cache();
        state.record(summary.run.clone());
        if let Some(slack) = &cfg.slack {
            let tenant = cfg.auth0.base_url.host_str().unwrap_or_default();
            crate::slack::after_run(
                &http,
                slack,
                tenant,
                &summary,
                &mut state,
                SystemTime::now(),
            );
        }
        state.save(&cfg.state_file)?;
    }
    let code = if summary.run.error.is_none() {
        exit::OK
    } else {
        exit::FAILED
    };
    Ok((code, summary))
}

/// START_FROM is applied only when it differs from the one last applied, so it can stay in the
/// settings without rewinding every run.
pub fn apply_start_from(state: &mut State, start_from: Option<&str>) {
    let Some(id) = start_from else { return };
    if state.start_from.as_deref() == Some(id) {
        return;
    }
    report::info(format_args!(
        "applying START_FROM {id} (the checkpoint was {})",
        state.checkpoint.as_deref().unwrap_or("none")
    ));
    state.checkpoint = Some(id.to_string());
    state.start_from = Some(id.to_string());
}

/// The warning for a newest processed log this old, if it is too old.
pub fn drift_warning(newest_date: &str, now: SystemTime) -> Option<String> {
    let age = report::age(newest_date, now)?;
    (age > DRIFT_WARNING).then(|| {
        format!(
            "the newest log processed is {} days old (from {newest_date}): the checkpoint is drifting toward Auth0's log retention limit (1 to 30 days by plan); logs older than that are lost. Run more often or raise MAX_RUN_TIME/BATCH_SIZE.",
            age.as_secs() / 86_400
        )
    })
}

struct Pipeline<'a> {
    cfg: &'a Config,
    auth0: &'a Auth0<'a>,
    /// `None` in a dry run: items are printed instead.
    deliverer: Option<&'a Deliverer<'a>>,
    counters: &'a Counters,
    deadline: Instant,
}

#[derive(Default)]
struct Outcome {
    error: Option<anyhow::Error>,
    /// `date` of the newest log the checkpoint moved past.
    newest_date: Option<String>,
    /// When the state was last saved during the run.
    saved: Option<Instant>,
}

/// A fetched page whose matching logs are being delivered.
struct Fetched {
    logs: Vec<Value>,
    /// Where each matching log is in `logs`.
    positions: Vec<usize>,
}

type Page = Result<Vec<Value>>;

impl Pipeline<'_> {
    fn run(&self, state: &mut State) -> Outcome {
        let stop = AtomicBool::new(false);
        let cursor = match &state.checkpoint {
            Some(id) => Cursor::After(id.clone()),
            None => Cursor::Oldest,
        };
        // A rendezvous channel: the fetcher gets at most one page ahead of delivery, so memory
        // stays flat whatever the backlog.
        let (tx, rx) = sync_channel::<Page>(0);
        std::thread::scope(|s| {
            s.spawn(|| self.fetch(cursor, tx, &stop));
            let outcome = self.consume(rx, state);
            stop.store(true, Ordering::Relaxed);
            outcome
        })
    }

    fn fetch(&self, mut cursor: Cursor, tx: SyncSender<Page>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) && Instant::now() < self.deadline {
            let page = self
                .auth0
                .page(&cursor, self.cfg.batch_size, self.deadline, stop);
            match &page {
                Ok(logs) if logs.is_empty() => return,
                Ok(logs) => {
                    let last = logs
                        .last()
                        .and_then(filter::log_id)
                        .expect("parse_logs checked ids");
                    cursor = Cursor::After(last.to_string());
                }
                Err(_) => {}
            }
            let failed = page.is_err();
            if tx.send(page).is_err() || failed {
                return;
            }
        }
    }

    fn consume(&self, rx: Receiver<Page>, state: &mut State) -> Outcome {
        let mut outcome = Outcome::default();
        let Some(deliverer) = self.deliverer else {
            for page in rx {
                let logs = match self.accept(page) {
                    Ok(Some(logs)) => logs,
                    Ok(None) => break,
                    Err(e) => {
                        outcome.error = Some(e);
                        break;
                    }
                };
                let (positions, matched) = self.select(&logs);
                let fates = self.print(&matched);
                self.finish(
                    Fetched { logs, positions },
                    fates,
                    None,
                    state,
                    &mut outcome,
                );
            }
            return outcome;
        };
        let mut fetch_error = None;
        deliverer.pipeline(|underway| {
            for page in rx {
                let logs = match self.accept(page) {
                    Ok(Some(logs)) => logs,
                    Ok(None) => break,
                    Err(e) => {
                        fetch_error = Some(e);
                        break;
                    }
                };
                let (positions, matched) = self.select(&logs);
                underway.add(matched, Fetched { logs, positions });
                // Finish the pages done by now, and wait while two are under way: two at most,
                // this one and the end of the one before it.
                loop {
                    let wait = underway.count() > 1;
                    let Some((page, fates, error)) = underway.finish_oldest(wait) else {
                        break;
                    };
                    if !self.finish(page, fates, error, state, &mut outcome) {
                        return;
                    }
                }
            }
            while let Some((page, fates, error)) = underway.finish_oldest(true) {
                if !self.finish(page, fates, error, state, &mut outcome) {
                    return;
                }
            }
        });
        // Pages fetched before a failed fetch were still delivered; a failed delivery among
        // them is the error to report, as it concerns older logs.
        if outcome.error.is_none() {
            outcome.error = fetch_error;
        }
        outcome
    }

    /// A fetched page, counted; `None` once MAX_RUN_TIME is reached.
    fn accept(&self, page: Page) -> Result<Option<Vec<Value>>> {
        let logs = page.map_err(|e| e.context("fetching logs from Auth0"))?;
        if Instant::now() >= self.deadline {
            report::info("MAX_RUN_TIME reached; the next run goes on from the checkpoint");
            return Ok(None);
        }
        Counters::add(&self.counters.pages, 1);
        Counters::add(&self.counters.fetched, logs.len() as u64);
        Ok(Some(logs))
    }

    /// Moves the checkpoint past what a page's deliveries handled (`item_fates`: one per
    /// matching log, in order). False when the run stops at this page: one of its logs is
    /// still pending, so no later page may move the checkpoint either.
    fn finish(
        &self,
        page: Fetched,
        item_fates: Vec<Fate>,
        error: Option<String>,
        state: &mut State,
        outcome: &mut Outcome,
    ) -> bool {
        let Fetched { logs, positions } = page;
        let mut fates = vec![Fate::Skipped; logs.len()];
        for (pos, fate) in positions.iter().zip(item_fates) {
            fates[*pos] = fate;
        }
        let ids = logs.iter().map(|l| filter::log_id(l).unwrap_or_default());
        if let Some(new) = checkpoint::advance(ids.zip(fates.iter().copied())) {
            let last = logs
                .iter()
                .position(|l| filter::log_id(l) == Some(new))
                .expect("id from this page");
            outcome.newest_date = logs[last]
                .get("date")
                .and_then(Value::as_str)
                .map(str::to_string);
            state.checkpoint = Some(new.to_string());
            if self.deliverer.is_some() && outcome.saved.is_none_or(|t| t.elapsed() >= SAVE_EVERY) {
                outcome.saved = Some(Instant::now());
                state.token = self.auth0.token_for_cache();
                if let Err(e) = state.save(&self.cfg.state_file) {
                    outcome.error = Some(e);
                    return false;
                }
            }
        }
        match error {
            Some(e) => {
                outcome.error = Some(anyhow!(e));
                false
            }
            None if fates.contains(&Fate::Pending) => {
                outcome.error = Some(anyhow!("some matching logs were not delivered"));
                false
            }
            None => true,
        }
    }

    /// The matching logs of a page as payload items, with their positions in the page.
    fn select(&self, logs: &[Value]) -> (Vec<usize>, Vec<Matched>) {
        let mut positions = Vec::new();
        let mut matched = Vec::new();
        for (pos, log) in logs.iter().enumerate() {
            if self.cfg.filter.matches(log) {
                positions.push(pos);
                matched.push(Matched {
                    log_id: filter::log_id(log).unwrap_or_default().to_string(),
                    json: filter::item_json(log, self.cfg.webhook.shape),
                });
            }
        }
        Counters::add(&self.counters.matched, matched.len() as u64);
        (positions, matched)
    }

    /// `--dry-run`: each item as one JSON line on stdout.
    fn print(&self, matched: &[Matched]) -> Vec<Fate> {
        let mut out = std::io::stdout().lock();
        for m in matched {
            let _ = out.write_all(&m.json).and_then(|_| out.write_all(b"\n"));
        }
        let _ = out.flush();
        vec![Fate::Delivered; matched.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_from_is_applied_once() {
        let mut s = State::default();
        apply_start_from(&mut s, Some("100"));
        assert_eq!(s.checkpoint.as_deref(), Some("100"));
        s.checkpoint = Some("250".into());
        apply_start_from(&mut s, Some("100"));
        assert_eq!(
            s.checkpoint.as_deref(),
            Some("250"),
            "same START_FROM again must not rewind"
        );
        apply_start_from(&mut s, Some("50"));
        assert_eq!(
            s.checkpoint.as_deref(),
            Some("50"),
            "a new START_FROM is applied"
        );
        apply_start_from(&mut s, None);
        assert_eq!(s.checkpoint.as_deref(), Some("50"));
    }

    #[test]
    fn drift_warning_only_past_a_week() {
        let now = humantime::parse_rfc3339("2026-11-26T00:00:00Z").unwrap();
        assert!(drift_warning("2026-11-20T00:00:00.000Z", now).is_none());
        let w = drift_warning("2026-11-10T00:00:00.000Z", now).unwrap();
        assert!(w.contains("16 days old") && w.contains("retention"), "{w}");
        assert!(drift_warning("garbage", now).is_none());
    }
}
