//! Delivery to the webhook: each request's headers (Authorization, signature, custom), the
//! retry loop, the dead-letter file, and the rayon pool that runs at most WEBHOOK_CONCURRENT_CALLS requests at once, fed page after page
//! without waiting for the end of each.

use crate::checkpoint::Fate;
use crate::config::WebhookConfig;
use crate::encode::{Matched, encode, gzip, split};
use crate::exit;
use crate::http::{describe, redact, snippet};
use crate::pace::{Pace, Signal};
use crate::report::{self, Counters};
use crate::retry::{self, Verdict};
use crate::sign;
use anyhow::{Context, Result};
use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How one request ended.
enum Sent {
    Delivered,
    DeadLettered,
    Failed(String),
}

pub struct Deliverer<'a> {
    http: &'a Client,
    cfg: &'a WebhookConfig,
    pool: rayon::ThreadPool,
    pace: Pace,
    dead_letter: Option<Mutex<File>>,
    counters: &'a Counters,
    deadline: Instant,
    /// Raised on the first request that finally failed: the rest of its page and of the pages
    /// after it is not started, since the checkpoint cannot pass the failed log anyway.
    stop: AtomicBool,
}

impl<'a> Deliverer<'a> {
    pub fn new(
        http: &'a Client,
        cfg: &'a WebhookConfig,
        dead_letter: Option<&Path>,
        counters: &'a Counters,
        deadline: Instant,
    ) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.concurrency)
            .thread_name(|i| format!("deliver-{i}"))
            .build()
            .context("starting the delivery threads")?;
        let dead_letter = dead_letter
            .map(open_dead_letter)
            .transpose()?
            .map(Mutex::new);
        Ok(Deliverer {
            http,
            cfg,
            pool,
            pace: Pace::new(cfg.concurrency),
            dead_letter,
            counters,
            deadline,
            stop: AtomicBool::new(false),
        })
    }

    /// Runs `f` with an empty [`Underway`]: the pages it adds are delivered on the pool while
    /// `f` goes on. Returns once every request started has ended.
    pub fn pipeline<T, R>(&self, f: impl FnOnce(&mut Underway<'_, '_, 'a, T>) -> R) -> R {
        let (done, ended) = channel();
        self.pool.in_place_scope(|scope| {
            f(&mut Underway {
                deliverer: self,
                scope,
                done,
                ended,
                pages: VecDeque::new(),
                added: 0,
            })
        })
    }

    fn send(&self, items: &[Matched]) -> Sent {
        let parts: Vec<&[u8]> = items.iter().map(|m| m.json.as_slice()).collect();
        let (mut body, content_type) = encode(&parts, self.cfg.send_as_batch, self.cfg.format);
        if let Some(max) = self.cfg.max_body_bytes.filter(|max| body.len() > *max) {
            report::warn(format_args!(
                "log {} alone makes a {}-byte body, over WEBHOOK_MAX_BODY_BYTES {max}: sending it anyway",
                items[0].log_id,
                body.len()
            ));
        }
        if self.cfg.gzip {
            body = gzip(&body);
        }
        let id = if self.cfg.send_as_batch {
            sign::batch_id(items.iter().map(|m| m.log_id.as_str()))
        } else {
            items[0].log_id.clone()
        };
        let n = items.len() as u64;
        let mut attempt = 0;
        loop {
            let Some(permit) = self.pace.acquire(&self.stop) else {
                return Sent::Failed("not attempted: the run is stopping".into());
            };
            let started = Instant::now();
            let outcome = self.attempt(&id, &body, content_type);
            let took = started.elapsed();
            Counters::add(&self.counters.requests, 1);
            let (verdict, retry_after, detail) = match outcome {
                Ok((status, retry_after, text)) => {
                    report::request("POST", &redact(&self.cfg.url), &status.to_string(), took);
                    (
                        retry::classify(status),
                        retry_after,
                        format!("webhook answered {status}: {}", snippet(&text)),
                    )
                }
                Err(e) => {
                    let d = describe(e);
                    report::request("POST", &redact(&self.cfg.url), &d, took);
                    (
                        Verdict::Retry { throttled: false },
                        None,
                        format!("webhook request {d}"),
                    )
                }
            };
            match verdict {
                Verdict::Delivered => {
                    permit.release(Signal::Healthy, None);
                    Counters::add(&self.counters.delivered, n);
                    return Sent::Delivered;
                }
                Verdict::Refused(status) => {
                    permit.release(Signal::Neutral, None);
                    return self.refused(items, status, &detail);
                }
                Verdict::Retry { throttled } => {
                    attempt += 1;
                    let wait = retry::next_wait(attempt, retry_after, fastrand::f64());
                    if throttled {
                        // The receiver asked for less: fewer requests in flight, and when it
                        // said for how long, every worker waits, not only this one.
                        permit.release(Signal::Throttled, retry_after.map(|_| wait));
                    } else {
                        permit.release(Signal::Neutral, None);
                    }
                    if Instant::now() + wait > self.deadline {
                        self.stop.store(true, Ordering::Relaxed);
                        return Sent::Failed(format!(
                            "{detail} (after {attempt} attempts; MAX_RUN_TIME reached, the next run goes on)"
                        ));
                    }
                    Counters::add(&self.counters.retries, 1);
                    report::debug(format_args!(
                        "{detail}; retry {attempt} of {} in {} ms",
                        id,
                        wait.as_millis()
                    ));
                    if !crate::pace::sleep(wait, &self.stop) {
                        return Sent::Failed(format!(
                            "{detail} (not retried: the run is stopping)"
                        ));
                    }
                }
            }
        }
    }

    /// One POST. Ok: the status, its Retry-After, and the answer's text.
    fn attempt(
        &self,
        id: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<(u16, Option<std::time::Duration>, String), reqwest::Error> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut req = self
            .http
            .post(self.cfg.url.clone())
            .header(CONTENT_TYPE, content_type)
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(keys) = &self.cfg.signing {
            req = req.header("webhook-signature", keys.sign(id, timestamp, body));
        }
        if let Some(auth) = &self.cfg.authorization {
            req = req.header(AUTHORIZATION, auth.expose());
        }
        if self.cfg.gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        for (name, value) in &self.cfg.headers {
            req = req.header(name, value);
        }
        let resp = req.body(body.to_vec()).send()?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        // Reading the answer lets the connection be reused.
        let text = resp.text().unwrap_or_default();
        Ok((status, retry_after, text))
    }

    /// A permanent refusal: into the dead-letter file if there is one, else the run stops.
    fn refused(&self, items: &[Matched], status: u16, detail: &str) -> Sent {
        let Some(file) = &self.dead_letter else {
            self.stop.store(true, Ordering::Relaxed);
            return Sent::Failed(format!(
                "{detail} (a permanent refusal: fix the receiver, or set DEAD_LETTER_FILE to set such logs aside)"
            ));
        };
        let refused_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let mut lines = Vec::new();
        for m in items {
            let head = serde_json::json!({"log_id": m.log_id, "refused_at": refused_at, "status": status, "refusal": detail}).to_string();
            // Splice the item in as it was serialized for sending, so a replay sends the same bytes.
            lines.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
            lines.extend_from_slice(b",\"item\":");
            lines.extend_from_slice(&m.json);
            lines.extend_from_slice(b"}\n");
        }
        let mut f = file.lock().unwrap();
        match f.write_all(&lines).and_then(|_| f.sync_data()) {
            Ok(()) => {
                report::warn(format_args!(
                    "{} log(s) refused ({detail}); written to the dead-letter file",
                    items.len()
                ));
                Counters::add(&self.counters.dead_lettered, items.len() as u64);
                Sent::DeadLettered
            }
            Err(e) => {
                self.stop.store(true, Ordering::Relaxed);
                Sent::Failed(format!(
                    "{detail}; and writing the dead-letter file failed: {e}"
                ))
            }
        }
    }
}

/// A request that ended: its page's number, its group's index in the page, how it went.
type Ended = (u64, usize, Sent);

/// Pages whose requests are with the pool, oldest first. A page's requests are queued as soon as
/// it is added, behind the previous page's: the workers that finish the end of one page go on
/// with the next instead of idling until its slowest request is answered. Pages are finished
/// in the order they were added, so the checkpoint still advances in order.
pub struct Underway<'r, 's, 'a, T> {
    deliverer: &'s Deliverer<'a>,
    scope: &'r rayon::Scope<'s>,
    done: Sender<Ended>,
    ended: Receiver<Ended>,
    pages: VecDeque<PageUnderway<T>>,
    /// Pages added so far (the next page's number).
    added: u64,
}

struct PageUnderway<T> {
    number: u64,
    items: usize,
    groups: Vec<Range<usize>>,
    sent: Vec<Option<Sent>>,
    /// Requests not ended yet.
    left: usize,
    tag: T,
}

impl<T> Underway<'_, '_, '_, T> {
    /// Queues a page's items on the pool; `tag` comes back with their fates. A page of one
    /// request (a batch page, usually) is sent from this thread instead: handing it to the pool
    /// only added two thread hops, and left pool threads spinning idle between pages.
    pub fn add(&mut self, items: Vec<Matched>, tag: T) {
        let d = self.deliverer;
        let sizes: Vec<usize> = items.iter().map(|m| m.json.len()).collect();
        let groups = split(
            &sizes,
            d.cfg.send_as_batch,
            d.cfg.format,
            d.cfg.max_body_bytes,
        );
        let number = self.added;
        self.added += 1;
        let mut sent: Vec<Option<Sent>> = Vec::with_capacity(groups.len());
        if let [one] = groups.as_slice() {
            sent.push(Some(d.send(&items[one.clone()])));
        } else {
            sent.resize_with(groups.len(), || None);
            let shared: Arc<[Matched]> = items.into();
            for (index, group) in groups.iter().enumerate() {
                let (items, group, done) = (shared.clone(), group.clone(), self.done.clone());
                self.scope.spawn(move |_| {
                    // A panic must still end the request, or its page would be waited for forever.
                    let how = catch_unwind(AssertUnwindSafe(|| d.send(&items[group])))
                        .unwrap_or_else(|_| {
                            d.stop.store(true, Ordering::Relaxed);
                            Sent::Failed("a delivery thread panicked".into())
                        });
                    let _ = done.send((number, index, how));
                });
            }
        }
        self.pages.push_back(PageUnderway {
            number,
            items: sizes.len(),
            left: sent.iter().filter(|s| s.is_none()).count(),
            groups,
            sent,
            tag,
        });
    }

    /// Pages added and not yet finished.
    pub fn count(&self) -> usize {
        self.pages.len()
    }

    /// The oldest page once its requests have ended: its tag, each item's fate in order, and the
    /// first failure's description. Waits for them if `wait`, else `None` while one is running;
    /// `None` when no page is under way.
    pub fn finish_oldest(&mut self, wait: bool) -> Option<(T, Vec<Fate>, Option<String>)> {
        let oldest = self.pages.front()?.number;
        while self.pages[0].left > 0 {
            let (number, index, how) = if wait {
                self.ended.recv().expect("self holds a sender")
            } else {
                self.ended.try_recv().ok()?
            };
            let page = &mut self.pages[(number - oldest) as usize];
            page.sent[index] = Some(how);
            page.left -= 1;
        }
        let page = self.pages.pop_front()?;
        let mut fates = vec![Fate::Pending; page.items];
        let mut first_error = None;
        for (group, how) in page.groups.iter().zip(page.sent) {
            let fate = match how.expect("every request ended") {
                Sent::Delivered => Fate::Delivered,
                Sent::DeadLettered => Fate::DeadLettered,
                Sent::Failed(e) => {
                    first_error.get_or_insert(e);
                    Fate::Pending
                }
            };
            fates[group.clone()].fill(fate);
        }
        Some((page.tag, fates, first_error))
    }
}

impl<T> Drop for Underway<'_, '_, '_, T> {
    /// Pages left unfinished were given up (the run is stopping): their requests not yet started
    /// are not started.
    fn drop(&mut self) {
        if !self.pages.is_empty() {
            self.deliverer.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Appends, mode 0600 (logs can hold personal data), and tightened if it was wider.
fn open_dead_letter(path: &Path) -> Result<File> {
    let cannot = |what: &str, e: std::io::Error| {
        exit::settings(format!(
            "DEAD_LETTER_FILE {}: cannot {what} it ({e})",
            path.display()
        ))
    };
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let file = open.open(path).map_err(|e| cannot("open", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| cannot("restrict to mode 0600", e))?;
    }
    Ok(file)
}
