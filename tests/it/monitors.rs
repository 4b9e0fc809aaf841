//! Cron monitors as an operator wires them: HEALTHCHECK_URL pinged at the start and end of each
//! run (against a local fake ping service), and METRICS_FILE read back with a Prometheus
//! text-format parser, as node_exporter's textfile collector would.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::support::cli::{Ran, Setup, matching};
use crate::support::{Behaviour, Reply, Server, realistic_logs};

/// The ping URL's token: a secret that must never be printed.
const TOKEN: &str = "5c1e1b3a-ping-token-XYZPINGSECRET";

/// A fake healthchecks.io: records each ping's path and body, answers `status`.
struct PingService {
    server: Server,
    pings: Arc<Mutex<Vec<(String, String)>>>,
}

impl PingService {
    fn start(status: u16) -> PingService {
        let pings = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&pings);
        let server = Server::start(move |req| {
            seen.lock()
                .unwrap()
                .push((req.path().to_string(), req.body_text()));
            Reply::text(status, "OK")
        });
        PingService { server, pings }
    }

    fn url(&self) -> String {
        format!("{}/ping/{TOKEN}", self.server.url())
    }

    /// The pings received, as the suffix after the token ("" for success), with their bodies.
    fn pings(&self) -> Vec<(String, String)> {
        let base = format!("/ping/{TOKEN}");
        self.pings
            .lock()
            .unwrap()
            .iter()
            .map(|(path, body)| {
                let suffix = path
                    .strip_prefix(&base)
                    .unwrap_or_else(|| panic!("pinged another path: {path}"));
                (suffix.to_string(), body.clone())
            })
            .collect()
    }

    fn kinds(&self) -> Vec<String> {
        self.pings().into_iter().map(|(k, _)| k).collect()
    }
}

/// The metrics file parsed by `prometheus-parse`: each gauge's value, keyed by its name without
/// the `auth0_mgmt_webhooks_` prefix. Fails the test if a line does not parse, a sample is not a
/// gauge, lacks its HELP text, or lacks the `tenant` label.
fn metrics(path: &Path) -> BTreeMap<String, f64> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("the metrics file parses");
    // The parser skips what it does not understand: every sample line must have become a sample.
    let sample_lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    assert_eq!(
        scrape.samples.len(),
        sample_lines,
        "unparsed lines in:\n{text}"
    );
    scrape
        .samples
        .iter()
        .map(|s| {
            let prometheus_parse::Value::Gauge(v) = s.value else {
                panic!("{} is not a gauge:\n{text}", s.metric)
            };
            assert!(
                scrape.docs.contains_key(&s.metric),
                "no HELP for {}",
                s.metric
            );
            assert_eq!(s.labels.get("tenant"), Some("127.0.0.1"), "{text}");
            let name = s
                .metric
                .strip_prefix("auth0_mgmt_webhooks_")
                .unwrap_or_else(|| panic!("unprefixed metric {}", s.metric));
            (name.to_string(), v)
        })
        .collect()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn assert_no_token(ran: &Ran) {
    assert!(
        !ran.all().contains("XYZPINGSECRET"),
        "the ping URL was printed:\n{}",
        ran.all()
    );
}

#[test]
fn a_good_run_pings_start_then_success_with_its_summary_and_writes_every_gauge() {
    let logs = realistic_logs(30, 5);
    let s = Setup::new(logs.clone());
    let ping = PingService::start(200);
    let prom = s.home.join("auth0.prom");
    let before = now();

    let ran = s.run(
        &[],
        &[
            ("HEALTHCHECK_URL", &ping.url()),
            ("METRICS_FILE", prom.to_str().unwrap()),
        ],
    );
    ran.assert_code(0);
    assert_no_token(&ran);

    let pings = ping.pings();
    assert_eq!(ping.kinds(), ["/start", ""], "{pings:#?}");
    let delivered = matching(&logs).len();
    assert!(
        pings[1].1.contains(&format!("delivered {delivered}")),
        "the success ping carries the summary line: {pings:#?}"
    );

    let m = metrics(&prom);
    let names: Vec<&str> = m.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "checkpoint_lag_seconds",
            "last_run_duration_seconds",
            "last_run_logs_dead_lettered",
            "last_run_logs_delivered",
            "last_run_status",
            "last_run_timestamp_seconds",
            "last_success_timestamp_seconds",
        ]
    );
    assert_eq!(m["last_run_status"], 1.0);
    assert_eq!(m["last_run_logs_delivered"], delivered as f64);
    assert_eq!(m["last_run_logs_dead_lettered"], 0.0);
    assert!(m["last_run_timestamp_seconds"] >= before.floor());
    assert_eq!(
        m["last_success_timestamp_seconds"],
        m["last_run_timestamp_seconds"]
    );
    assert!(m["checkpoint_lag_seconds"] >= 0.0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "node_exporter, another user, must read it");
    }
    let leftovers: Vec<_> = std::fs::read_dir(s.home.join(""))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_failed_run_pings_fail_with_the_error_and_keeps_the_last_success() {
    let s = Setup::new(realistic_logs(20, 6));
    let ping = PingService::start(200);
    let prom = s.home.join("auth0.prom");
    let prom_s = prom.to_str().unwrap().to_string();
    let env = [
        ("HEALTHCHECK_URL", ping.url()),
        ("METRICS_FILE", prom_s.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.run(&[], &env).assert_code(0);
    let first = metrics(&prom);

    s.tenant.push_logs(
        (21..=25)
            .map(|i| crate::support::log(i, "sapi", "post", "/api/v2/users"))
            .collect(),
    );
    s.receiver.set_behaviour(Behaviour::Status(400));
    let ran = s.run(&[], &env);
    ran.assert_code(1);
    assert_no_token(&ran);

    let pings = ping.pings();
    assert_eq!(
        ping.kinds(),
        ["/start", "", "/start", "/fail"],
        "{pings:#?}"
    );
    assert!(
        pings[3].1.contains("400"),
        "the error is in the body: {pings:#?}"
    );

    let m = metrics(&prom);
    assert_eq!(m["last_run_status"], 0.0);
    assert_eq!(m["last_run_logs_delivered"], 0.0);
    assert_eq!(
        m["last_success_timestamp_seconds"], first["last_success_timestamp_seconds"],
        "a failure keeps the time of the last success"
    );
    assert!(m["last_run_timestamp_seconds"] >= first["last_run_timestamp_seconds"]);
    assert!(
        m["checkpoint_lag_seconds"] >= 0.0,
        "the lag is still reported while runs fail"
    );
}

#[test]
fn a_run_that_fails_before_its_summary_still_pings_fail_and_writes_status_0() {
    let s = Setup::new(realistic_logs(10, 1));
    std::fs::write(s.state(), "{not json").unwrap();
    let ping = PingService::start(200);
    let prom = s.home.join("auth0.prom");

    let ran = s.run(
        &[],
        &[
            ("HEALTHCHECK_URL", &ping.url()),
            ("METRICS_FILE", prom.to_str().unwrap()),
        ],
    );
    ran.assert_code(2);
    let pings = ping.pings();
    assert_eq!(ping.kinds(), ["/start", "/fail"], "{pings:#?}");
    assert!(pings[1].1.contains("state.json"), "{pings:#?}");
    let m = metrics(&prom);
    assert_eq!(m["last_run_status"], 0.0);
    assert!(!m.contains_key("last_success_timestamp_seconds"), "{m:?}");
    assert_eq!(s.receiver.request_count(), 0);
}

#[test]
fn a_monitor_that_fails_is_a_warning_without_its_url_and_the_run_still_succeeds() {
    let s = Setup::new(realistic_logs(10, 2));
    let ping = PingService::start(500);
    let ran = s.run(&[], &[("HEALTHCHECK_URL", &ping.url())]);
    ran.assert_code(0);
    assert_no_token(&ran);
    assert!(ran.stderr.contains("warning:"), "{}", ran.stderr);
    assert!(ran.stderr.contains("500"), "{}", ran.stderr);
    assert_eq!(ping.kinds(), ["/start", ""]);

    // Nothing listens there any more: the run is not held up or failed either.
    let dead = ping.url();
    drop(ping);
    let ran = s.run(&[], &[("HEALTHCHECK_URL", &dead)]);
    ran.assert_code(0);
    assert_no_token(&ran);
    assert!(ran.stderr.contains("warning:"), "{}", ran.stderr);
}

#[test]
fn a_dry_run_pings_nothing_and_writes_no_metrics() {
    let s = Setup::new(realistic_logs(10, 3));
    let ping = PingService::start(200);
    let prom = s.home.join("auth0.prom");
    s.run(
        &["--dry-run"],
        &[
            ("HEALTHCHECK_URL", &ping.url()),
            ("METRICS_FILE", prom.to_str().unwrap()),
        ],
    )
    .assert_code(0);
    assert!(ping.pings().is_empty());
    assert!(!prom.exists());
}

#[test]
fn a_plain_http_ping_url_to_another_host_is_refused_without_showing_it() {
    let s = Setup::new(Vec::new());
    let ran = s.run(
        &[],
        &[("HEALTHCHECK_URL", "http://hc.example/ping/XYZPINGSECRET")],
    );
    ran.assert_code(2);
    assert!(
        ran.stderr.contains("HEALTHCHECK_URL must use https"),
        "{}",
        ran.stderr
    );
    assert_no_token(&ran);
}

#[cfg(unix)]
#[test]
fn sigterm_while_the_start_ping_hangs_ends_the_run_gracefully() {
    use crate::support::cli::{GUARD, Ran, start};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let s = Setup::new(realistic_logs(20, 7));
    // A monitor whose /start never answers (until the test ends); the other pings are answered.
    let release = Arc::new(AtomicBool::new(false));
    let pings = Arc::new(Mutex::new(Vec::new()));
    let (held, seen) = (Arc::clone(&release), Arc::clone(&pings));
    let monitor = Server::start(move |req| {
        seen.lock().unwrap().push(req.path().to_string());
        while req.path().ends_with("/start") && !held.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Reply::text(200, "OK")
    });
    let url = format!("{}/ping/{TOKEN}", monitor.url());
    let child = start(s.command("run").env("HEALTHCHECK_URL", &url));
    let since = Instant::now();
    while pings.lock().unwrap().is_empty() {
        assert!(since.elapsed() < GUARD, "no /start ping");
        std::thread::sleep(Duration::from_millis(10));
    }

    // SAFETY: kill(2) with a pid we started and a valid signal number.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = Ran::wait(child);
    release.store(true, Ordering::SeqCst);

    assert_eq!(out.code, 143, "{}", out.stderr);
    assert!(out.stderr.contains("interrupted"), "{}", out.stderr);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.state()).unwrap()).unwrap();
    assert_eq!(state["history"][0]["status"], "interrupted");
    let paths = pings.lock().unwrap().clone();
    assert_eq!(
        paths,
        [
            format!("/ping/{TOKEN}/start"),
            format!("/ping/{TOKEN}/fail")
        ]
    );
}
