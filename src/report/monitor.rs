//! Cron monitors around a run, living inside it: the pings of healthchecks.io and the services
//! that copied it (`<url>/start` once the run holds its lock, then `<url>` on exit 0 or
//! `<url>/<exit code>` otherwise), and the metrics file ([`metrics`]) written after it. Both
//! render the run's [`Outcome`] and the state the run holds in memory: no file is read back. A
//! ping is retried a little ([`post`]), and a monitor never fails a run: a ping that does not
//! get through or a metrics file that cannot be written is a warning, and the exit code is the
//! run's.

use crate::http::ClientConfig;
use crate::outcome::Outcome;
use crate::report::metrics;
use crate::report::post::{self, Failure};
use crate::report::{self, Summary};
use crate::say;
use crate::secret::{self, Secret};
use crate::state::State;
use crate::stop::{Part, Stop, Tell};
use reqwest::Url;
use reqwest::blocking::Client;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Monitors show the ping's body to the user; healthchecks.io keeps the first 100 kB, others
/// less. The summary line and an error fit in far less.
const MAX_PING_BODY: usize = 10_000;

/// Where a run reports that it ran: a cron monitor's ping URL and a Prometheus textfile.
#[derive(Debug, Clone, Default)]
pub struct MonitorConfig {
    /// HEALTHCHECK_URL: `/start`, then `<url>` on exit 0 or `/<exit code>`. It carries a token.
    pub healthcheck: Option<Secret>,
    /// METRICS_FILE: rewritten atomically after every run.
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    Start,
    /// The end, with the exit code.
    End(u8),
}

/// The URL to ping: the monitor's for exit 0, else with `/start` or `/<exit code>` added to its
/// path (its query kept), and `rid`, which pairs a start with its end (healthchecks.io's).
pub fn ping_url(base: &str, ping: Ping, rid: &str) -> Option<Url> {
    let mut url = Url::parse(base.trim()).ok()?;
    url.query_pairs_mut().append_pair("rid", rid);
    let suffix = match ping {
        Ping::Start => Some("start".to_string()),
        Ping::End(0) => None,
        Ping::End(code) => Some(code.to_string()),
    };
    if let Some(suffix) = suffix {
        url.path_segments_mut().ok()?.pop_if_empty().push(&suffix);
    }
    Some(url)
}

/// A random UUID (version 4), as healthchecks.io takes for `rid`.
fn run_id() -> String {
    // The version (4) and the variant (RFC 4122) in their bits.
    let n = fastrand::u128(..) & !(0xf << 76 | 0x3 << 62) | (0x4 << 76 | 0x2 << 62);
    let hex = format!("{n:032x}");
    [0..8, 8..12, 12..16, 16..20, 20..32]
        .map(|r| &hex[r])
        .join("-")
}

/// Watches one real run (never a dry run) from its start to its end.
pub struct Monitor<'a> {
    cfg: &'a MonitorConfig,
    /// The tenant as the dead-letter records name it.
    tenant: String,
    /// The tenant's host: the metrics' `tenant` label.
    host: &'a str,
    /// DEAD_LETTER_FILE, whose lines waiting for the tenant the metrics count.
    dead_letters: Vec<&'a Path>,
    http: Option<Client>,
    started: Instant,
    rid: String,
    stop: Arc<Stop>,
}

impl<'a> Monitor<'a> {
    pub fn new(
        cfg: &'a MonitorConfig,
        http: &ClientConfig,
        (tenant, host): (String, &'a str),
        dead_letters: Vec<&'a Path>,
        stop: Arc<Stop>,
    ) -> Monitor<'a> {
        let http = cfg.healthcheck.as_ref().and_then(|_| {
            crate::http::client(http)
                .map_err(|e| say::warn(format_args!("healthcheck pings disabled: {e:#}")))
                .ok()
        });
        Monitor {
            cfg,
            tenant,
            host,
            dead_letters,
            http,
            started: Instant::now(),
            rid: run_id(),
            stop,
        }
    }

    /// Pings `/start` on a thread of its own; whether there is a ping. `pinged` is told when it
    /// was answered or given up: the run waits for it on its channel, which a signal ends.
    pub fn started(&self, pinged: Tell<()>) -> bool {
        let (Some(http), Some(base)) = (self.http.clone(), self.cfg.healthcheck.clone()) else {
            return false;
        };
        let (rid, stop) = (self.rid.clone(), Arc::clone(&self.stop));
        std::thread::Builder::new()
            .name("ping".into())
            .spawn(move || {
                // A ping that panicked is a ping not sent: the run is not affected.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    send_ping(&http, &base, Ping::Start, &rid, String::new(), &stop)
                }));
                pinged(());
            })
            .is_ok()
    }

    /// A run that reached its summary: the end ping with the summary line and its JSON as the
    /// body, and the metrics of the state it recorded itself in.
    pub fn finished(&self, summary: &Summary, state: &State) {
        let json = serde_json::to_string(summary).expect("summary serializes");
        let body = format!("{}\n{json}", summary.line());
        self.end(summary.run.outcome, body, Some(state), None);
    }

    /// A run that ended before its summary; `state` as it read it. One that found the lock held
    /// reports nothing: the run holding the lock reports its own end.
    pub fn ended_early(&self, err: &anyhow::Error, state: Option<&State>) {
        let outcome = Outcome::of_error(err);
        if outcome == Outcome::Locked {
            return;
        }
        let error = format!("{err:#}");
        let body = format!("error: {error}\n{}", report::failure_json(outcome, &error));
        self.end(outcome, body, state, Some(self.started.elapsed()));
    }

    /// The end ping, then the metrics; `early`: how long a run took that ended before its summary.
    fn end(&self, outcome: Outcome, body: String, state: Option<&State>, early: Option<Duration>) {
        if let (Some(http), Some(base)) = (&self.http, &self.cfg.healthcheck) {
            let ping = Ping::End(outcome.exit_code());
            send_ping(http, base, ping, &self.rid, body, &self.stop);
        }
        let file = self.cfg.metrics_file.as_deref();
        let early = early.map(|took| (outcome, took));
        let dead_letters = (&self.dead_letters[..], self.tenant.as_str());
        metrics::write(file, self.host, dead_letters, state, early);
    }
}

/// One ping, retried as [`post`] says (`/start` until a signal, the end until the deadline).
fn send_ping(http: &Client, base: &Secret, ping: Ping, rid: &str, body: String, stop: &Stop) {
    let setting = crate::settings::HEALTHCHECK_URL;
    let (shown, part) = match ping {
        Ping::Start => (format!("{setting}/start"), Part::Sending),
        Ping::End(0) => (setting.to_string(), Part::Reporting),
        Ping::End(code) => (format!("{setting}/{code}"), Part::Reporting),
    };
    let Some(url) = ping_url(base.expose(), ping, rid) else {
        return;
    };
    let body = bytes::Bytes::from(truncate(secret::scrub(&body), MAX_PING_BODY));
    let body = ("text/plain; charset=utf-8", body);
    let failed = match post::post(http, url.as_str(), body, (stop, part), &shown, setting.env) {
        Ok(_) => return,
        Err(Failure::Answered { status, .. }) => format!("was answered {status}"),
        Err(Failure::Unreached(why)) => format!("failed ({why})"),
    };
    say::warn(format_args!(
        "the ping to {shown} {failed}; the run is not affected"
    ));
}

fn truncate(mut text: String, max: usize) -> String {
    let end = (0..=max).rev().find(|&i| text.is_char_boundary(i));
    text.truncate(end.unwrap_or(0));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_urls_add_start_or_the_exit_code_to_the_path_and_keep_the_query() {
        let base = "https://hc-ping.com/5c1e1b3a-uuid";
        assert_eq!(
            ping_url(base, Ping::End(0), "r").unwrap().as_str(),
            format!("{base}?rid=r")
        );
        assert_eq!(
            ping_url(base, Ping::Start, "r").unwrap().as_str(),
            "https://hc-ping.com/5c1e1b3a-uuid/start?rid=r"
        );
        assert_eq!(
            ping_url("https://x.example/p/key/slug/?create=1", Ping::End(3), "r")
                .unwrap()
                .as_str(),
            "https://x.example/p/key/slug/3?create=1&rid=r"
        );
    }

    #[test]
    fn run_ids_are_version_4_uuids() {
        let id = run_id();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(run_id(), id);
    }

    #[test]
    fn ping_bodies_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("abc".into(), 10), "abc");
    }
}
