//! Cron monitors as an operator wires them: HEALTHCHECK_URL pinged at the start and end of each
//! run (against a local fake ping service), and METRICS_FILE read back with a Prometheus
//! text-format parser, as node_exporter's textfile collector would.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::support::cli::{Ran, Setup, matching, sapi_logs};
use crate::support::{Behaviour, Reply, Server, log_id, realistic_logs};

/// The ping URL's token: a secret that must never be printed.
const TOKEN: &str = "5c1e1b3a-ping-token-XYZPINGSECRET";

/// A fake healthchecks.io: records each ping's path, body and `rid`, answers `status`.
struct PingService {
    server: Server,
    pings: Arc<Mutex<Vec<(String, String)>>>,
    rids: Arc<Mutex<Vec<String>>>,
}

impl PingService {
    fn start(status: u16) -> PingService {
        let pings = Arc::new(Mutex::new(Vec::new()));
        let rids = Arc::new(Mutex::new(Vec::new()));
        let (seen, seen_rids) = (Arc::clone(&pings), Arc::clone(&rids));
        let server = Server::start(move |req| {
            seen.lock()
                .unwrap()
                .push((req.path().to_string(), req.body_text()));
            seen_rids
                .lock()
                .unwrap()
                .push(req.query("rid").unwrap_or_default());
            Reply::text(status, "OK")
        });
        PingService {
            server,
            pings,
            rids,
        }
    }

    /// The `rid` of each ping, in order.
    fn rids(&self) -> Vec<String> {
        self.rids.lock().unwrap().clone()
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

/// The metrics file parsed by `prometheus-parse`, as node_exporter's textfile collector would
/// read it: each sample's value, keyed by its name without the `auth0_mgmt_webhooks_` prefix,
/// followed by its labels other than `tenant` (`runs_total{status="ok"}`). Fails the test if a
/// line does not parse, a metric lacks its HELP text or the `tenant` label, or a `_total` is not
/// a counter and anything else not a gauge.
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
            let v = match s.value {
                prometheus_parse::Value::Counter(v) if s.metric.ends_with("_total") => v,
                prometheus_parse::Value::Gauge(v) if !s.metric.ends_with("_total") => v,
                _ => panic!("{} has the wrong type:\n{text}", s.metric),
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
            let mut labels: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "tenant")
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            labels.sort();
            let key = match labels.is_empty() {
                true => name.to_string(),
                false => format!("{name}{{{}}}", labels.join(",")),
            };
            (key, v)
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
    let body_json: serde_json::Value =
        serde_json::from_str(pings[1].1.lines().nth(1).expect("a JSON line")).unwrap();
    assert_eq!(body_json["status"], "ok");
    assert_eq!(body_json["caught_up"], true);
    assert_eq!(body_json["exit_code"], 0);

    let m = metrics(&prom);
    let names: Vec<&str> = m.keys().map(String::as_str).collect();
    let version = format!("build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        names,
        [
            version.as_str(),
            "checkpoint_lag_seconds",
            "last_run_caught_up",
            "last_run_duration_seconds",
            "last_run_exit_code",
            "last_run_logs_dead_lettered",
            "last_run_logs_delivered",
            "last_run_status",
            "last_run_timestamp_seconds",
            "last_success_timestamp_seconds",
            "logs_dead_lettered_total",
            "logs_delivered_total",
            "logs_fetched_total",
            "runs_total{status=\"dead-lettered\"}",
            "runs_total{status=\"failed\"}",
            "runs_total{status=\"interrupted\"}",
            "runs_total{status=\"ok\"}",
        ]
    );
    assert_eq!(m[version.as_str()], 1.0);
    assert_eq!(m["last_run_status"], 1.0);
    assert_eq!(m["last_run_exit_code"], 0.0);
    assert_eq!(m["last_run_caught_up"], 1.0);
    assert_eq!(m["checkpoint_lag_seconds"], 0.0, "caught up: not behind");
    assert_eq!(m["logs_fetched_total"], logs.len() as f64);
    assert_eq!(m["runs_total{status=\"ok\"}"], 1.0);
    assert_eq!(m["runs_total{status=\"failed\"}"], 0.0);
    assert_eq!(m["last_run_logs_delivered"], delivered as f64);
    assert_eq!(m["last_run_logs_dead_lettered"], 0.0);
    assert!(m["last_run_timestamp_seconds"] >= before.floor());
    assert_eq!(
        m["last_success_timestamp_seconds"],
        m["last_run_timestamp_seconds"]
    );
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
fn a_failed_run_pings_its_exit_code_with_the_error_keeps_the_last_success_and_counts_on() {
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
    assert_eq!(ping.kinds(), ["/start", "", "/start", "/1"], "{pings:#?}");
    // Each run's start and end carry one run id, and the two runs have two.
    let rids = ping.rids();
    assert!(!rids[0].is_empty(), "{rids:?}");
    assert_eq!((&rids[0], &rids[2]), (&rids[1], &rids[3]), "{rids:?}");
    assert_ne!(rids[0], rids[2]);
    assert!(
        pings[3].1.contains("400"),
        "the error is in the body: {pings:#?}"
    );

    let m = metrics(&prom);
    assert_eq!(m["last_run_status"], 0.0);
    assert_eq!(m["last_run_exit_code"], 1.0);
    assert_eq!(m["last_run_caught_up"], 0.0);
    assert_eq!(m["last_run_logs_delivered"], 0.0);
    assert_eq!(m["runs_total{status=\"ok\"}"], 1.0);
    assert_eq!(m["runs_total{status=\"failed\"}"], 1.0);
    assert_eq!(m["logs_fetched_total"], first["logs_fetched_total"] + 5.0);
    assert_eq!(m["logs_delivered_total"], first["logs_delivered_total"]);
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
fn a_run_that_fails_before_its_summary_still_pings_its_exit_code_and_writes_status_0() {
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
    assert_eq!(ping.kinds(), ["/start", "/2"], "{pings:#?}");
    assert!(pings[1].1.contains("state.json"), "{pings:#?}");
    assert!(pings[1].1.contains("\"status\":\"invalid\""), "{pings:#?}");
    let m = metrics(&prom);
    assert_eq!(m["last_run_status"], 0.0);
    assert_eq!(m["last_run_exit_code"], 2.0);
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
    // Each ping is retried a little, then given up.
    assert_eq!(ping.kinds(), ["/start", "/start", "/start", "", "", ""]);

    // Nothing listens there any more: the run is not held up or failed either.
    let dead = ping.url();
    drop(ping);
    let ran = s.run(&[], &[("HEALTHCHECK_URL", &dead)]);
    ran.assert_code(0);
    assert_no_token(&ran);
    assert!(ran.stderr.contains("warning:"), "{}", ran.stderr);
}

#[test]
fn a_ping_refused_with_400_is_sent_once() {
    let s = Setup::new(realistic_logs(10, 2));
    let ping = PingService::start(400);
    let ran = s.run(&[], &[("HEALTHCHECK_URL", &ping.url())]);
    ran.assert_code(0);
    assert_eq!(ping.kinds(), ["/start", ""], "no wait changes a 400");
    assert!(
        ran.stderr
            .contains("the ping to HEALTHCHECK_URL/start was answered 400"),
        "{}",
        ran.stderr
    );
    assert_no_token(&ran);
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

/// A receiver that refuses (422) any request carrying one of `refused`, takes every other, and
/// takes everything once `refused` is emptied.
fn refusing(refused: &Arc<Mutex<Vec<String>>>) -> Server {
    let refused = Arc::clone(refused);
    Server::start(move |req| {
        let body = req.body_text();
        if refused.lock().unwrap().iter().any(|id| body.contains(id)) {
            Reply::text(422, "we do not take this log")
        } else {
            Reply::status(200)
        }
    })
}

#[test]
fn a_dead_lettered_run_pings_3_and_the_pending_gauge_follows_the_file_through_redeliver() {
    let s = Setup::new(sapi_logs(1..=30));
    let refused = Arc::new(Mutex::new(vec![log_id(7), log_id(19)]));
    let receiver = refusing(&refused);
    let ping = PingService::start(200);
    let prom = s.home.join("auth0.prom");
    let dead = s.home.join("dead.jsonl");
    let env = [
        ("HEALTHCHECK_URL", ping.url()),
        ("METRICS_FILE", prom.to_str().unwrap().to_string()),
        ("DEAD_LETTER_FILE", dead.to_str().unwrap().to_string()),
        ("WEBHOOK_URL", receiver.url()),
    ];
    let run = |sub: &str| {
        let mut cmd = s.home.bare();
        cmd.env("AUTH0_CLIENT_SECRET", crate::support::CLIENT_SECRET)
            .env("AUTH0_DOMAIN", s.tenant.url())
            .env("AUTH0_CLIENT_ID", crate::support::CLIENT_ID)
            .env("STATE_FILE", s.state())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg(sub);
        Ran::of(&mut cmd)
    };

    let ran = run("run");
    ran.assert_code(3);
    assert_eq!(
        ping.kinds(),
        ["/start", "/3"],
        "a dead-lettered run is no success"
    );
    let m = metrics(&prom);
    assert_eq!(m["dead_letter_pending"], 2.0);
    assert_eq!(m["last_run_status"], 0.0);
    assert_eq!(m["last_run_exit_code"], 3.0);
    assert_eq!(m["logs_dead_lettered_total"], 2.0);
    assert_eq!(m["runs_total{status=\"dead-lettered\"}"], 1.0);
    assert!(!m.contains_key("last_success_timestamp_seconds"), "{m:?}");

    let check = run("check");
    assert!(
        check
            .stdout
            .contains("2 logs waiting in DEAD_LETTER_FILE: run redeliver"),
        "{}",
        check.all()
    );

    // Nothing new: the next run is ok, and the dead letters are still counted.
    run("run").assert_code(0);
    assert_eq!(metrics(&prom)["dead_letter_pending"], 2.0);

    refused.lock().unwrap().clear();
    run("redeliver").assert_code(0);
    let m = metrics(&prom);
    assert_eq!(m["dead_letter_pending"], 0.0, "redeliver updates the gauge");
    assert_eq!(
        m["last_run_exit_code"], 0.0,
        "the last run is still the last run"
    );
    assert_eq!(
        ping.kinds(),
        ["/start", "/3", "/start", ""],
        "redeliver pings nothing"
    );
}

#[test]
fn a_run_that_finds_the_lock_held_pings_nothing_and_warns_only_without_q() {
    let s = Setup::new(sapi_logs(1..=5));
    let ping = PingService::start(200);
    let prom = s.home.join("auth0.prom");
    let lock = std::fs::File::create(s.home.join("state.json.lock")).unwrap();
    lock.try_lock().expect("the test takes the lock");
    let env = [
        ("HEALTHCHECK_URL", ping.url()),
        ("METRICS_FILE", prom.to_str().unwrap().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let ran = s.run(&[], &env);
    ran.assert_code(75);
    assert!(
        ran.stderr.contains("warning: another run holds the lock"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("error:"), "{}", ran.stderr);
    let quiet = s.run(&["-q"], &env);
    quiet.assert_code(75);
    assert_eq!(quiet.stderr, "", "a locked run is normal: -q shows nothing");
    let json = s.run(&["--output", "json"], &env);
    let v: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["exit_code"].as_u64()),
        (Some("locked"), Some(75))
    );

    assert!(ping.pings().is_empty(), "{:?}", ping.pings());
    assert!(!prom.exists());
    assert_eq!(s.receiver.request_count(), 0);
}

#[test]
fn a_run_cut_short_with_a_backlog_says_not_caught_up_everywhere_and_the_next_says_caught_up() {
    // 15 pages, each answered after 300 ms: no 1-second run can fetch them all (a cursor reads
    // three pages before the backlog is cut into windows for others).
    let s = Setup::new(sapi_logs(1..=1500));
    s.tenant.set_latency(std::time::Duration::from_millis(300));
    let ping = PingService::start(200);
    let prom = s.home.join("auth0.prom");
    let env = [
        ("HEALTHCHECK_URL", ping.url()),
        ("METRICS_FILE", prom.to_str().unwrap().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let ran = s.run(&["--max-run-time", "1s", "--output", "json"], &env);
    ran.assert_code(0);
    let summary: serde_json::Value = serde_json::from_str(ran.stdout.trim()).unwrap();
    assert_eq!(summary["status"], "ok");
    assert_eq!(summary["caught_up"], false, "{summary}");
    let pings = ping.pings();
    assert!(pings[1].1.contains("not caught up"), "{pings:#?}");
    assert!(pings[1].1.contains("\"caught_up\":false"), "{pings:#?}");
    let m = metrics(&prom);
    assert_eq!(m["last_run_caught_up"], 0.0);
    assert_eq!(m["last_run_status"], 1.0, "a backlog left is no failure");
    assert!(m["checkpoint_lag_seconds"] > 0.0, "{m:?}");

    s.tenant.set_latency(std::time::Duration::ZERO);
    s.run(&[], &env).assert_code(0);
    let history = s
        .home
        .bare()
        .arg("history")
        .arg("--state")
        .arg(s.state())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&history.stdout);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][2], "CAUGHT_UP", "{table}");
    assert_eq!((rows[1][1], rows[1][2]), ("ok", "no"), "{table}");
    assert_eq!((rows[2][1], rows[2][2]), ("ok", "yes"), "{table}");
    assert_eq!(metrics(&prom)["last_run_caught_up"], 1.0);
}

#[test]
fn a_state_file_from_before_outcomes_still_loads_and_shows_its_runs() {
    let s = Setup::new(sapi_logs(1..=3));
    let old = r#"{
  "checkpoint": null,
  "start_from": null,
  "history": [
    {"started_at": "2026-01-01T00:00:00.000Z", "finished_at": "2026-01-01T00:00:01.000Z",
     "status": "ok", "logs_fetched": 1, "logs_matched": 1, "logs_delivered": 1,
     "requests": 1, "retries": 0, "checkpoint": null, "error": null, "warning": null},
    {"started_at": "2026-01-01T00:05:00.000Z", "finished_at": "2026-01-01T00:05:01.000Z",
     "status": "interrupted", "logs_fetched": 0, "logs_matched": 0, "logs_delivered": 0,
     "requests": 0, "retries": 0, "checkpoint": null, "error": "x", "warning": null}
  ]
}"#;
    std::fs::write(s.state(), old).unwrap();
    s.run(&[], &[]).assert_code(0);
    let out = s
        .home
        .bare()
        .args(["history", "--json", "--state"])
        .arg(s.state())
        .output()
        .unwrap();
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let seen: Vec<(&str, u64)> = runs
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap(),
                r["exit_code"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [("ok", 0), ("interrupted", 143), ("ok", 0)]);
}

#[test]
fn a_run_that_fails_after_reading_the_state_keeps_the_last_success_and_the_totals() {
    let s = Setup::new(sapi_logs(1..=5));
    let prom = s.home.join("auth0.prom");
    let prom_s = prom.to_str().unwrap();
    s.run(&[], &[("METRICS_FILE", prom_s)]).assert_code(0);
    let first = metrics(&prom);

    // A dead-letter file in a folder that does not exist: refused once the state is read.
    let dead = s.home.join("no/such/folder/dead.jsonl");
    s.run(
        &[],
        &[
            ("METRICS_FILE", prom_s),
            ("DEAD_LETTER_FILE", dead.to_str().unwrap()),
        ],
    )
    .assert_code(2);
    let m = metrics(&prom);
    assert_eq!(m["last_run_exit_code"], 2.0);
    assert_eq!(
        m["last_success_timestamp_seconds"],
        first["last_success_timestamp_seconds"]
    );
    assert_eq!(m["logs_delivered_total"], 5.0);
    assert_eq!(m["runs_total{status=\"ok\"}"], 1.0);
    assert!(m.contains_key("checkpoint_lag_seconds"), "{m:?}");
}

#[cfg(unix)]
#[test]
fn an_interrupted_run_pings_143_and_counts_as_interrupted() {
    let s = Setup::new(sapi_logs(1..=200));
    s.receiver.set_delay(std::time::Duration::from_millis(200));
    let ping = PingService::start(200);
    let prom = s.home.join("auth0.prom");
    let mut cmd = s.command("run");
    cmd.args(["--send-as-batch", "false", "--concurrency", "1"])
        .env("HEALTHCHECK_URL", ping.url())
        .env("METRICS_FILE", &prom);
    let child = crate::support::cli::start(&mut cmd);
    let started = std::time::Instant::now();
    while s.receiver.unique_delivered().len() < 2 {
        assert!(
            started.elapsed() < crate::support::cli::GUARD,
            "no delivery"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: kill(2) with a pid this test started and a valid signal number.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    Ran::wait(child).assert_code(143);

    assert_eq!(ping.kinds(), ["/start", "/143"]);
    let m = metrics(&prom);
    assert_eq!(m["last_run_exit_code"], 143.0);
    assert_eq!(m["last_run_caught_up"], 0.0);
    assert_eq!(m["runs_total{status=\"interrupted\"}"], 1.0);
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
        [format!("/ping/{TOKEN}/start"), format!("/ping/{TOKEN}/143")]
    );
}
