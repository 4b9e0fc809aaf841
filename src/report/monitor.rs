//! Cron monitors around a run: the pings of healthchecks.io and the services that copied it
//! (`<url>/start` as a run begins, `<url>` on success, `<url>/fail` on failure) and the Prometheus
//! textfile-collector file written after it. A monitor never fails a run: a ping that does not
//! get through or a metrics file that cannot be written is a warning, and the exit code is the
//! run's.

use crate::config::Config;
use crate::exit::Failure;
use crate::http::describe;
use crate::report::{self, Summary};
use crate::secret;
use crate::state::State;
use anyhow::Result;
use reqwest::Url;
use reqwest::blocking::Client;
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One short timeout for a whole ping: a monitor that is down must not hold up the run, nor eat
/// into the schedule's interval.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Monitors show the ping's body to the user; healthchecks.io keeps the first 100 kB, others
/// less. The summary line and an error fit in far less.
const MAX_PING_BODY: usize = 10_000;

/// Every metric's name starts with this.
const PREFIX: &str = "auth0_mgmt_webhooks";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    Start,
    Success,
    Fail,
}

impl Ping {
    fn suffix(self) -> Option<&'static str> {
        match self {
            Ping::Start => Some("start"),
            Ping::Success => None,
            Ping::Fail => Some("fail"),
        }
    }
}

/// The URL to ping: the monitor's URL for success, with `/start` or `/fail` added to its path
/// (its query, if any, kept).
pub fn ping_url(base: &str, ping: Ping) -> Option<Url> {
    let mut url = Url::parse(base.trim()).ok()?;
    if let Some(suffix) = ping.suffix() {
        url.path_segments_mut().ok()?.pop_if_empty().push(suffix);
    }
    Some(url)
}

/// Watches one real run (never a dry run) from its start to its end.
pub struct Monitor<'a> {
    cfg: &'a Config,
    http: Option<Client>,
    started: Instant,
}

impl<'a> Monitor<'a> {
    /// Pings `/start`, if a HEALTHCHECK_URL is set.
    pub fn start(cfg: &'a Config) -> Monitor<'a> {
        let http = cfg.monitor.healthcheck.as_ref().and_then(|_| {
            crate::http::client(cfg)
                .map_err(|e| report::warn(format_args!("healthcheck pings disabled: {e:#}")))
                .ok()
        });
        let monitor = Monitor {
            cfg,
            http,
            started: Instant::now(),
        };
        monitor.ping_start();
        monitor
    }

    /// The `/start` ping, given up on when a signal comes: a monitor that hangs must not keep
    /// a run that was asked to stop from ending (it then pings `/fail`).
    fn ping_start(&self) {
        let (Some(http), Some(base)) = (self.http.clone(), self.cfg.monitor.healthcheck.clone())
        else {
            return;
        };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("ping".into())
            .spawn(move || {
                send_ping(&http, &base, Ping::Start, String::new());
                let _ = done_tx.send(());
            });
        if spawned.is_err() {
            return;
        }
        while let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(Duration::from_millis(50)) {
            if crate::signal::received().is_some() {
                report::warn("not waiting for the HEALTHCHECK_URL/start ping: stopping");
                return;
            }
        }
    }

    /// Reports how the run ended: success or `/fail` with the summary line (and the error) as
    /// the body, and the metrics file. A run that found another holding the lock reports
    /// nothing: that other run will.
    pub fn finish(self, result: &Result<(u8, Summary)>) {
        let locked = |e: &anyhow::Error| {
            e.chain()
                .any(|c| matches!(c.downcast_ref::<Failure>(), Some(Failure::Locked { .. })))
        };
        if let Err(e) = result
            && locked(e)
        {
            return;
        }
        let end = End::of(result, self.started.elapsed());
        let body = secret::scrub(&end.body);
        self.ping(if end.ok { Ping::Success } else { Ping::Fail }, body);
        if let Some(path) = &self.cfg.monitor.metrics_file {
            let now = SystemTime::now();
            let metrics = self.metrics(&end, path, now);
            let tenant = self.cfg.auth0.base_url.host_str().unwrap_or_default();
            if let Err(e) = write_atomically(path, &render(tenant, &metrics)) {
                report::warn(format_args!(
                    "METRICS_FILE not written ({e:#}); the run is not affected"
                ));
            }
        }
    }

    fn ping(&self, ping: Ping, body: String) {
        if let (Some(http), Some(base)) = (&self.http, &self.cfg.monitor.healthcheck) {
            send_ping(http, base, ping, body);
        }
    }

    fn metrics(&self, end: &End, path: &Path, now: SystemTime) -> Metrics {
        // What the run itself does not say is read back from the state: the checkpoint of a
        // run that never reached its summary, the last success of a failed one.
        let state = || State::load(&self.cfg.state_file).ok();
        let checkpoint = match end.checkpoint.clone() {
            Some(c) => Some(c),
            None if !end.ok => state().and_then(|s| s.checkpoint),
            None => None,
        };
        let last_success = if end.ok {
            Some(unix(now))
        } else {
            previous_success(path).or_else(|| {
                state()?
                    .history
                    .iter()
                    .rev()
                    .find(|r| r.status == "ok")
                    .and_then(|r| humantime::parse_rfc3339_weak(&r.finished_at).ok())
                    .map(unix)
            })
        };
        Metrics {
            last_run: unix(now),
            last_success,
            ok: end.ok,
            duration: end.duration.as_secs_f64(),
            delivered: end.delivered,
            dead_lettered: end.dead_lettered,
            lag: lag(end, checkpoint.as_deref(), now).map(|d| d.as_secs_f64()),
        }
    }
}

/// One ping, with its timeout; a failure is a warning.
fn send_ping(http: &Client, base: &crate::secret::Secret, ping: Ping, body: String) {
    let shown = match ping.suffix() {
        Some(s) => format!("HEALTHCHECK_URL/{s}"),
        None => "HEALTHCHECK_URL".to_string(),
    };
    let Some(url) = ping_url(base.expose(), ping) else {
        return;
    };
    let started = Instant::now();
    let sent = http
        .post(url)
        .timeout(PING_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(truncate(body, MAX_PING_BODY))
        .send();
    match sent {
        Ok(r) if r.status().is_success() => {
            report::request("POST", &shown, r.status().as_str(), started.elapsed())
        }
        Ok(r) => report::warn(format_args!(
            "the ping to {shown} was answered {}; the run is not affected",
            r.status()
        )),
        Err(e) => report::warn(format_args!(
            "the ping to {shown} failed ({}); the run is not affected",
            secret::scrub(&describe(e))
        )),
    }
}

/// How a run ended, as the monitors see it.
#[derive(Debug, Clone, PartialEq)]
struct End {
    ok: bool,
    body: String,
    duration: Duration,
    delivered: u64,
    dead_lettered: u64,
    fetched: u64,
    checkpoint: Option<String>,
    newest_log_date: Option<String>,
}

impl End {
    fn of(result: &Result<(u8, Summary)>, elapsed: Duration) -> End {
        match result {
            Ok((_, s)) => End {
                ok: s.run.error.is_none(),
                body: match &s.run.error {
                    Some(e) => format!("{e}\n{}", s.line()),
                    None => s.line(),
                },
                duration: Duration::from_millis(s.duration_ms),
                delivered: s.run.logs_delivered,
                dead_lettered: s.run.logs_dead_lettered,
                fetched: s.run.logs_fetched,
                checkpoint: s.run.checkpoint.clone(),
                newest_log_date: s.newest_log_date.clone(),
            },
            Err(e) => End {
                ok: false,
                body: format!("error: {e:#}"),
                duration: elapsed,
                delivered: 0,
                dead_lettered: 0,
                fetched: 0,
                checkpoint: None,
                newest_log_date: None,
            },
        }
    }
}

/// How far behind Auth0 the delivery is: the age of the newest log the checkpoint passed. A run
/// that ended well and found nothing new is caught up (0). A failed run that moved nothing is
/// at most as far behind as the log its checkpoint names (the time in its id), an upper bound
/// that keeps growing while runs fail. `None` when nothing is known (no checkpoint yet).
fn lag(end: &End, checkpoint: Option<&str>, now: SystemTime) -> Option<Duration> {
    if let Some(date) = &end.newest_log_date {
        return Some(report::age(date, now).unwrap_or_default());
    }
    if end.ok && end.fetched == 0 {
        return Some(Duration::ZERO);
    }
    let stored = crate::source::logid::stored_at(checkpoint?)?;
    Some(now.duration_since(stored).unwrap_or_default())
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The gauges of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Unix seconds when the run ended.
    pub last_run: f64,
    /// Unix seconds when the last good run ended; `None` until one has.
    pub last_success: Option<f64>,
    pub ok: bool,
    pub duration: f64,
    pub delivered: u64,
    pub dead_lettered: u64,
    /// Seconds; see [`lag`].
    pub lag: Option<f64>,
}

/// The textfile, in the Prometheus text exposition format: each gauge with its HELP and TYPE.
pub fn render(tenant: &str, m: &Metrics) -> String {
    let label = format!("{{tenant=\"{}\"}}", escape_label(tenant));
    let gauges: [(&str, &str, Option<f64>); 7] = [
        (
            "last_run_timestamp_seconds",
            "When the last run ended, in Unix seconds.",
            Some(m.last_run),
        ),
        (
            "last_success_timestamp_seconds",
            "When the last run that ended without error ended, in Unix seconds.",
            m.last_success,
        ),
        (
            "last_run_status",
            "1 if the last run ended without error, 0 if it failed.",
            Some(if m.ok { 1.0 } else { 0.0 }),
        ),
        (
            "last_run_duration_seconds",
            "How long the last run took.",
            Some(m.duration),
        ),
        (
            "last_run_logs_delivered",
            "Logs the last run delivered to the webhook.",
            Some(m.delivered as f64),
        ),
        (
            "last_run_logs_dead_lettered",
            "Logs the last run set aside in the dead-letter file.",
            Some(m.dead_lettered as f64),
        ),
        (
            "checkpoint_lag_seconds",
            "Age of the newest log the checkpoint has passed (0 when caught up).",
            m.lag,
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in gauges {
        let Some(value) = value else { continue };
        out.push_str(&format!(
            "# HELP {PREFIX}_{name} {help}\n# TYPE {PREFIX}_{name} gauge\n{PREFIX}_{name}{label} {}\n",
            number(value)
        ));
    }
    out
}

/// Whole numbers without a fraction, others to the millisecond.
fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The last success recorded in the metrics file a previous run wrote, so a failed run keeps it.
fn previous_success(path: &Path) -> Option<f64> {
    // Read only if it is a regular file of a sane size: a FIFO there would block the run's end.
    let bytes = crate::files::read_capped(path, crate::files::CONFIG_CAP).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let name = format!("{PREFIX}_last_success_timestamp_seconds");
    text.lines()
        .filter(|l| l.starts_with(&name))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Temp file beside it, then rename: the collector never reads half a file. Readable by all
/// (0644), since node_exporter runs as another user; it holds no secret.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    crate::state::replace_file(path, text.as_bytes(), "METRICS_FILE", Some(0o644))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(ok: bool) -> End {
        End {
            ok,
            body: String::new(),
            duration: Duration::from_millis(1500),
            delivered: 3,
            dead_lettered: 1,
            fetched: 0,
            checkpoint: None,
            newest_log_date: None,
        }
    }

    #[test]
    fn ping_urls_add_start_and_fail_to_the_path_and_keep_the_query() {
        let base = "https://hc-ping.com/5c1e1b3a-uuid";
        assert_eq!(ping_url(base, Ping::Success).unwrap().as_str(), base);
        assert_eq!(
            ping_url(base, Ping::Start).unwrap().as_str(),
            "https://hc-ping.com/5c1e1b3a-uuid/start"
        );
        assert_eq!(
            ping_url("https://x.example/p/key/slug/?create=1", Ping::Fail)
                .unwrap()
                .as_str(),
            "https://x.example/p/key/slug/fail?create=1"
        );
    }

    #[test]
    fn lag_is_the_newest_log_age_zero_when_caught_up_and_the_checkpoint_age_on_failure() {
        let now = humantime::parse_rfc3339("2026-11-26T10:00:00Z").unwrap();
        let mut e = end(true);
        e.newest_log_date = Some("2026-11-26T09:59:00.000Z".into());
        assert_eq!(lag(&e, None, now), Some(Duration::from_secs(60)));
        assert_eq!(lag(&end(true), None, now), Some(Duration::ZERO));
        let cp = format!("900{}{}", "20261126095000000", "0".repeat(36));
        assert_eq!(
            lag(&end(false), Some(&cp), now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(lag(&end(false), None, now), None);
        assert_eq!(lag(&end(false), Some("garbage"), now), None);
    }

    #[test]
    fn render_names_every_gauge_with_the_tenant_and_leaves_out_unknown_ones() {
        let m = Metrics {
            last_run: 1_764_151_200.0,
            last_success: None,
            ok: false,
            duration: 1.5,
            delivered: 3,
            dead_lettered: 1,
            lag: None,
        };
        let text = render("acme\"eu", &m);
        assert!(text.contains("auth0_mgmt_webhooks_last_run_status{tenant=\"acme\\\"eu\"} 0\n"));
        assert!(text.contains(
            "auth0_mgmt_webhooks_last_run_duration_seconds{tenant=\"acme\\\"eu\"} 1.500\n"
        ));
        assert!(!text.contains("last_success"), "{text}");
        assert!(!text.contains("lag"), "{text}");
    }

    #[test]
    fn a_failed_run_keeps_the_last_success_of_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.prom");
        let m = Metrics {
            last_run: 100.0,
            last_success: Some(90.0),
            ok: true,
            duration: 1.0,
            delivered: 0,
            dead_lettered: 0,
            lag: Some(0.0),
        };
        write_atomically(&p, &render("t", &m)).unwrap();
        assert_eq!(previous_success(&p), Some(90.0));
        assert_eq!(previous_success(&dir.path().join("none.prom")), None);
    }

    #[test]
    fn ping_bodies_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("abc".into(), 10), "abc");
    }
}
