//! The webhook sink: headers, retries, a pool of WEBHOOK_CONCURRENT_CALLS workers; a refused batch
//! is split to find the refused logs, and endpoint answers or refusals of everything stop the run.

use crate::filter::PayloadShape;
use crate::http::{self, Unanswered, Verdict, read_prefix, snippet};
use crate::retry::{self, Attempt};
use crate::say::{self, Counters};
use crate::secret::{Secret, scrub};
use crate::settings::{
    AUTHORIZATION as AUTHORIZATION_SETTING, DEAD_LETTER_FILE, MAX_RUN_TIME, PAYLOAD_FORMAT,
    WEBHOOK_CONTENT_TYPE, WEBHOOK_GZIP, WEBHOOK_HEADERS, WEBHOOK_MAX_BODY_BYTES, WEBHOOK_SECRET,
    WEBHOOK_URL,
};
use crate::sink::dead_letter::DeadLetter;
use crate::sink::encode::{Matched, PayloadFormat, encode, gzip};
use crate::sink::pace::{Pace, Signal};
use crate::sink::sign::{self, Signer};
use crate::state::checkpoint::Fate;
use crate::state::ledger::Ticket;
use crate::stop::{Cause, Part, Stop, Tell};
use anyhow::{Context, Result};
use reqwest::Url;
use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// The webhook's settings: where, how each request is made, and how many at once.
#[derive(Clone)]
pub struct WebhookConfig {
    pub url: Url,
    /// Read from WEBHOOK_URL_FILE: a credential as a whole, only `scheme://host` is ever shown.
    pub url_is_secret: bool,
    pub authorization: Option<Secret>,
    pub send_as_batch: bool,
    pub concurrency: usize,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub format: PayloadFormat,
    pub shape: PayloadShape,
    pub gzip: bool,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub max_body_bytes: Option<usize>,
    pub signing: Option<Signer>,
    /// WEBHOOK_CONTENT_TYPE, or the log-stream default; `None`: the format's own type.
    pub content_type: Option<HeaderValue>,
}

/// By hand, for the URL (`check -vv` prints this); the pattern names every field.
impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        macro_rules! fields {
            ($($name:ident),*) => {{
                let WebhookConfig { url: _, $($name),* } = self;
                f.debug_struct("WebhookConfig").field("url", &self.shown_url())
                    $(.field(stringify!($name), $name))*.finish()
            }};
        }
        fields! { url_is_secret, authorization, send_as_batch, concurrency, connect_timeout,
        timeout, format, shape, gzip, headers, max_body_bytes, signing, content_type }
    }
}

impl WebhookConfig {
    /// The webhook URL as messages show it.
    pub fn shown_url(&self) -> String {
        self.show(&self.url)
    }

    /// A URL on the webhook's side as messages show it: redacted, or only its origin if secret.
    pub fn show(&self, url: &Url) -> String {
        match self.url_is_secret {
            true => url.origin().ascii_serialization(),
            false => crate::redact::redact(url),
        }
    }
}

/// Refusals in a row, none accepted yet, taken to mean the receiver refuses everything: a stop.
pub const REFUSED_BEFORE_ANY_ACCEPTED: u32 = 3;
/// The same, once the receiver has accepted something in this run.
pub const REFUSED_IN_A_ROW: u32 = 10;
const NONE_ACCEPTED: &str = " and has accepted none in this run";
/// How much of an answer is read: enough for the error message; the rest is never read.
const ANSWER_PREFIX: usize = 4096;

/// How one request's logs ended, in the order they were given.
#[derive(Debug, Default)]
pub struct Done {
    pub fates: Vec<(Ticket, Fate)>,
    /// Why some are still pending.
    pub error: Option<String>,
}

/// How one request (with its retries) ended.
#[derive(Debug)]
pub enum Sent {
    Delivered {
        status: u16,
    },
    /// The receiver refuses these logs (a 4xx about the payload).
    Refused {
        status: u16,
        detail: String,
    },
    /// Not delivered, not for these logs: the endpoint, the credentials, no time left, a stop.
    Failed(String),
}

pub struct Deliverer {
    shared: Arc<Direct>,
    pool: rayon::ThreadPool,
    tell: Tell<Done>,
    in_flight: usize,
}

/// One request at a time, outside the pool, as a run sends it: `redeliver`, `check --send-test`;
/// and what the pool's workers share.
pub struct Direct {
    http: Client,
    cfg: WebhookConfig,
    pace: Pace,
    dead_letter: Option<DeadLetter>,
    counters: Arc<Counters>,
    /// Fired on the first request that failed for good: the checkpoint cannot pass it anyway.
    stop: Arc<Stop>,
    accepted_any: AtomicBool,
    refused_in_a_row: AtomicU32,
    /// The last answer asked for a retry: the run queues, and so fetches, no more.
    failing: AtomicBool,
}

impl Deliverer {
    pub fn new(
        http: &Client,
        cfg: &WebhookConfig,
        dead_letter: Option<DeadLetter>,
        counters: Arc<Counters>,
        stop: Arc<Stop>,
        tell: Tell<Done>,
    ) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.concurrency)
            .thread_name(|i| format!("deliver-{i}"))
            .build()
            .context("starting the delivery threads")?;
        let mut shared = Direct::new(http, cfg, counters, stop);
        shared.dead_letter = dead_letter;
        Ok(Deliverer {
            shared: Arc::new(shared),
            pool,
            tell,
            in_flight: 0,
        })
    }

    /// Queues one request's logs; its [`Done`] is told to the run, which calls [`Self::ended`].
    pub fn submit(&mut self, items: Vec<Matched>) {
        self.in_flight += 1;
        let (shared, tell) = (Arc::clone(&self.shared), Arc::clone(&self.tell));
        self.pool.spawn(move || {
            // A panic must still end the request, or the run would wait for it forever.
            let how = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                #[cfg(debug_assertions)]
                crate::settings::fault("worker");
                let mut done = Done::default();
                shared.deliver(&items, &mut done);
                done
            }))
            .unwrap_or_else(|panic| {
                shared.stop.fire(Cause::Failed);
                let why = crate::stop::panicked(panic.as_ref());
                let error = Some(format!("a delivery thread panicked: {why}"));
                let fates = items.iter().map(|m| (m.seq, Fate::Pending)).collect();
                Done { fates, error }
            });
            tell(how);
        });
    }

    pub fn ended(&mut self) {
        self.in_flight -= 1;
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether more requests should be queued now (see [`room`]).
    pub fn has_room(&self) -> bool {
        room(self.in_flight, self.shared.cfg.concurrency, self.failing())
    }

    /// A log that must not be sent as it is (PII_FIELDS cannot mask it): set aside like a refusal.
    pub fn set_aside_unsent(&self, log_id: &str, why: &str) -> Result<Fate, String> {
        let what = format!("log {log_id} is not sent: {why}");
        self.shared
            .set_aside(what, |file| file.append_unsendable(log_id, why))
    }

    /// Its token: a failure fires it.
    pub fn stop(&self) -> Arc<Stop> {
        Arc::clone(&self.shared.stop)
    }

    /// The last answer asked for a retry: nothing more is queued until it is answered.
    pub fn failing(&self) -> bool {
        self.shared.failing.load(Ordering::Relaxed)
    }

    /// Requests not started yet are not started: the run failed.
    pub fn abandon(&self) {
        self.shared.stop.fire(Cause::Failed);
    }
}

/// Every worker busy while the next is filled, no more (flat memory); none while failing.
fn room(in_flight: usize, concurrency: usize, failing: bool) -> bool {
    in_flight == 0 || (!failing && in_flight < concurrency * 2)
}

impl Direct {
    pub fn new(
        http: &Client,
        cfg: &WebhookConfig,
        counters: Arc<Counters>,
        stop: Arc<Stop>,
    ) -> Direct {
        Direct {
            http: http.clone(),
            cfg: cfg.clone(),
            pace: Pace::new(cfg.concurrency),
            dead_letter: None,
            counters,
            stop,
            accepted_any: AtomicBool::new(false),
            refused_in_a_row: AtomicU32::new(0),
            failing: AtomicBool::new(false),
        }
    }

    /// `items` as one request with this `webhook-id`, retried as a run retries.
    pub fn send(&self, webhook_id: &str, items: &[Matched]) -> Sent {
        self.send_as(webhook_id, items, None)
    }

    /// One attempt: a retryable answer is reported, not retried.
    pub fn send_once(&self, webhook_id: &str, items: &[Matched]) -> Sent {
        self.send_as(webhook_id, items, Some(1))
    }

    /// Sends `items` as one request; a refused batch is split in two and each half sent.
    fn deliver(&self, items: &[Matched], done: &mut Done) {
        let all = |done: &mut Done, fate| done.fates.extend(items.iter().map(|m| (m.seq, fate)));
        if self.stop.stopped(Part::Sending).is_some() {
            return all(done, Fate::Pending);
        }
        match self.send_as(&self.webhook_id(items), items, None) {
            Sent::Delivered { .. } => {
                self.accepted_any.store(true, Ordering::Relaxed);
                self.refused_in_a_row.store(0, Ordering::Relaxed);
                Counters::add(&self.counters.delivered, items.len() as u64);
                all(done, Fate::Delivered);
            }
            Sent::Refused { .. } if items.len() > 1 => {
                say::verbose(format_args!(
                    "the webhook refused a batch of {}: splitting it to find the refused logs",
                    items.len()
                ));
                let (left, right) = items.split_at(items.len() / 2);
                self.deliver(left, done);
                self.deliver(right, done);
            }
            Sent::Refused { status, detail } => {
                let fate = self.set_aside_refused(&items[0], status, &detail);
                let fate = fate.unwrap_or_else(|e| {
                    done.error.get_or_insert(e);
                    Fate::Pending
                });
                all(done, fate);
            }
            Sent::Failed(e) => {
                self.stop.fire(Cause::Failed);
                // After a signal, what fails for want of time or of a start is why the signal
                // stopped the run, not a failure of its own: the logs wait for the next run.
                if self.stop.signal().is_none() {
                    done.error.get_or_insert(e);
                }
                all(done, Fate::Pending);
            }
        }
    }

    /// A log the receiver refuses: into the dead-letter file, unless refusals look systemic.
    fn set_aside_refused(&self, item: &Matched, status: u16, detail: &str) -> Result<Fate, String> {
        let in_a_row = self.refused_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        let (limit, none) = match self.accepted_any.load(Ordering::Relaxed) {
            false => (REFUSED_BEFORE_ANY_ACCEPTED, NONE_ACCEPTED),
            true => (REFUSED_IN_A_ROW, ""),
        };
        if self.dead_letter.is_some() && in_a_row >= limit {
            self.stop.fire(Cause::Failed);
            return Err(format!(
                "{detail}: the webhook refused {in_a_row} logs in a row{none}, which looks like a problem with the receiver or its settings rather than with these logs; stopped instead of filling the dead-letter file (log {} and the rest are kept for the next run)",
                item.log_id
            ));
        }
        let id = self.webhook_id(std::slice::from_ref(item));
        let what = format!("log {} refused ({detail})", item.log_id);
        self.set_aside(what, |file| file.append(item, &id, status, detail))
    }

    /// The log `what` names, written by `write`; without a file, or failing, the run stops.
    fn set_aside(
        &self,
        what: String,
        write: impl FnOnce(&DeadLetter) -> std::io::Result<()>,
    ) -> Result<Fate, String> {
        let written = match &self.dead_letter {
            None => Err(format!("set {DEAD_LETTER_FILE} to set such logs aside")),
            Some(f) => write(f).map_err(|e| format!("writing the dead-letter file failed: {e}")),
        };
        if let Err(e) = written {
            self.stop.fire(Cause::Failed);
            return Err(format!("{what}; {e}"));
        }
        say::warn(format_args!("{what}; written to the dead-letter file"));
        Counters::add(&self.counters.dead_lettered, 1);
        Ok(Fate::DeadLettered)
    }

    fn webhook_id(&self, items: &[Matched]) -> String {
        if self.cfg.send_as_batch {
            sign::batch_id(items.iter().map(|m| m.log_id.as_str()))
        } else {
            items[0].log_id.clone()
        }
    }

    /// One request with this `webhook-id`, retried until answered for good or `max_attempts`.
    fn send_as(&self, id: &str, items: &[Matched], max_attempts: Option<u32>) -> Sent {
        let parts: Vec<&[u8]> = items.iter().map(|m| m.json.as_slice()).collect();
        let (body, format_type) = encode(&parts, self.cfg.send_as_batch, self.cfg.format);
        let (first, size) = (&items[0].log_id, body.len());
        if let Some(max) = self.cfg.max_body_bytes.filter(|max| size > *max) {
            say::warn(format_args!(
                "log {first} alone makes a {size}-byte body, over {WEBHOOK_MAX_BODY_BYTES} {max}: sending it anyway"
            ));
        }
        let format_type = HeaderValue::from_static(format_type);
        let mut base = (self.http.post(self.cfg.url.clone()))
            .header(
                CONTENT_TYPE,
                self.cfg.content_type.clone().unwrap_or(format_type),
            )
            .header("webhook-id", id);
        if let Some(auth) = &self.cfg.authorization {
            base = base.header(AUTHORIZATION, auth.expose());
        }
        // Signed as the receiver's application reads it: HTTP stacks undo the gzip first.
        // What travels: the body itself, or gzipped; shared by every attempt, never copied.
        let body = bytes::Bytes::from(body);
        let (wire, base) = match self.cfg.gzip {
            true => (gzip(&body).into(), base.header(CONTENT_ENCODING, "gzip")),
            false => (body.clone(), base),
        };
        let custom = self.cfg.headers.iter();
        let base = custom.fold(base, |b, (n, v)| b.header(n, v)).body(wire);
        let outcome = retry::run(None, &self.stop, Part::Sending, max_attempts, |n| {
            let left = self.stop.remaining();
            let Some(permit) = self.pace.acquire(&self.stop).filter(|_| !left.is_zero()) else {
                let why = match self.stop.cause() == Some(Cause::Deadline) {
                    true => format!("{MAX_RUN_TIME} reached, the next run goes on"),
                    false => "the run is stopping".to_string(),
                };
                return Attempt::Done(Sent::Failed(format!("not attempted: {why}")));
            };
            Counters::add(&self.counters.retries, u64::from(n > 0));
            Counters::add(&self.counters.requests, 1);
            let timestamp = retry::now_unix();
            let request = (base.try_clone().expect("a body of bytes clones"))
                .timeout(self.cfg.timeout.min(left))
                .header("webhook-timestamp", timestamp.to_string());
            let signature = (self.cfg.signing.iter()).map(|s| s.header(id, timestamp, &body));
            let request = signature.fold(request, |r, (n, v)| r.header(n, v));
            let reply = http::attempt(request, "POST", &self.cfg.shown_url(), WEBHOOK_URL.env);
            let (status, verdict, retry_after, resp) = match reply {
                Ok(r) => (r.status, r.verdict, r.retry_after, r.resp),
                Err(Unanswered::Final(d)) => {
                    return Attempt::Done(Sent::Failed(format!("webhook request {d}")));
                }
                Err(Unanswered::Passing(d)) => {
                    self.failing.store(true, Ordering::Relaxed);
                    let why = format!("webhook request {d} (webhook-id {id})");
                    return Attempt::Again { why, wait: None };
                }
            };
            let location = http::location(resp.headers(), &self.cfg.url, |u| self.cfg.show(u));
            let location = location.map(|l| format!(" ({l})")).unwrap_or_default();
            let text = snippet(&scrub(&read_prefix(resp, ANSWER_PREFIX)));
            let detail = format!("webhook answered {status}: {text}{location}");
            // The receiver is up unless it asks for a retry; when it asks for less, fewer
            // requests are in flight, and when it said for how long, every worker waits.
            self.failing
                .store(matches!(verdict, Verdict::Retry { .. }), Ordering::Relaxed);
            let pause = retry_after.map(|asked| asked.min(retry::MAX_RETRY_AFTER));
            match verdict {
                Verdict::Delivered => permit.release(Signal::Healthy, None),
                Verdict::Retry { throttled: true } => permit.release(Signal::Throttled, pause),
                _ => {}
            }
            Attempt::Done(match verdict {
                Verdict::Delivered => Sent::Delivered { status },
                Verdict::Refused(status) => Sent::Refused { status, detail },
                Verdict::Misconfigured(s) => Sent::Failed(format!("{detail}; {}", advice(s))),
                Verdict::Retry { .. } => {
                    let (why, wait) = (format!("{detail} (webhook-id {id})"), retry_after);
                    return Attempt::Again { why, wait };
                }
            })
        });
        match (outcome, max_attempts) {
            (Ok(sent), _) => sent,
            (Err(why), Some(_)) => Sent::Failed(format!(
                "{why}; a run retries this answer with backoff until {MAX_RUN_TIME}"
            )),
            (Err(why), None) => Sent::Failed(why),
        }
    }
}

/// What a user should change after an answer about the endpoint or the credentials.
fn advice(status: u16) -> String {
    match status {
        300..=399 => format!(
            "redirects are never followed (they would carry the logs and credentials elsewhere): set {WEBHOOK_URL} to the final address"
        ),
        401 | 403 | 407 => format!(
            "the receiver does not accept the credentials: check {AUTHORIZATION_SETTING} (and {WEBHOOK_HEADERS}, {WEBHOOK_SECRET})"
        ),
        415 => format!(
            "the receiver does not accept the body's content type: set {WEBHOOK_CONTENT_TYPE} (receivers written for Log Streams want application/json), or check {PAYLOAD_FORMAT} and {WEBHOOK_GZIP}"
        ),
        _ => format!("the receiver has no such endpoint for a POST: check {WEBHOOK_URL}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_about_the_endpoint_names_the_setting_to_fix() {
        assert!(advice(401).contains("AUTHORIZATION"));
        assert!(advice(404).contains("WEBHOOK_URL"));
        assert!(advice(308).contains("WEBHOOK_URL"));
        assert!(advice(415).contains("WEBHOOK_CONTENT_TYPE"));
    }

    #[test]
    fn no_request_is_queued_behind_a_failing_receiver() {
        assert!(room(9, 5, false));
        assert!(!room(10, 5, false));
        assert!(!room(1, 5, true), "requests are being retried: queue none");
        assert!(room(0, 5, true));
    }
}
