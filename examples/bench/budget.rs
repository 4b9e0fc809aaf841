//! Issue 17's scenarios: the tool against a fake tenant limited as Auth0 limits one (a token
//! bucket with `x-ratelimit-*` headers) that answers a page in 300 ms. Each runs once: they
//! take seconds by design (the bucket paces them), and their figures are ratios to the bucket's
//! own bound, which a repeat would not change much.

use super::support::neighbour::Neighbour;
use super::support::tenant::{base_date_ms, iso8601, stored_id};
use super::support::{CLIENT_ID, CLIENT_SECRET, FakeReceiver, FakeTenant, realistic_logs};
use super::{MARKER, Row, mb, run_tool_at};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PAGE_LATENCY: Duration = Duration::from_millis(300);

/// `n` realistic logs whose ids (the time Auth0 stored them) and dates are spread evenly over
/// `span`, from the fixtures' day on.
fn spread(n: usize, span: Duration, seed: u64) -> Vec<Value> {
    let step = span.as_millis() as u64 / n as u64;
    realistic_logs(n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, mut log)| {
            let counter = i as u64 + 1;
            let at = base_date_ms() + counter * step;
            let id = stored_id(counter, at);
            log["log_id"] = json!(id);
            log["_id"] = json!(id);
            log["date"] = json!(iso8601(at));
            log
        })
        .collect()
}

/// Pages a full read asks for: one per 100 logs, and the empty one that says caught up.
fn pages(logs: usize) -> f64 {
    (logs as f64 / 100.0).ceil() + 1.0
}

struct Read {
    wall: Duration,
    requests: usize,
    refused: usize,
    peak_mb: f64,
    delivered: u64,
}

/// One run against a tenant limited to `per_sec` requests a second, burst `burst`.
fn read(logs: &[Value], per_sec: f64, burst: u32, env: &[(&str, &str)]) -> Read {
    let tenant = FakeTenant::start(logs.to_vec());
    tenant.set_plan(per_sec, burst);
    tenant.set_latency(PAGE_LATENCY);
    let receiver = FakeReceiver::start();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let m = run_tool_at(&tenant.url(), &receiver.url(), dir.path(), &[], env);
    Read {
        wall: m.wall,
        requests: tenant.log_requests().len(),
        refused: tenant.refused(),
        peak_mb: mb(m.max_rss_kib),
        delivered: m.summary["logs_delivered"].as_u64().unwrap_or(0),
    }
}

fn row(scenario: &str, measured: String, ideal: String, ratio: f64, target: f64) -> Row {
    Row {
        scenario: scenario.into(),
        measured,
        ideal,
        ratio: format!("{ratio:.3}x"),
        target: format!("<={target}x"),
        pass: ratio <= target,
    }
}

fn figure_row(scenario: &str, measured: String, target: &str, pass: bool) -> Row {
    Row {
        scenario: scenario.into(),
        measured,
        ideal: "-".into(),
        ratio: "-".into(),
        target: target.into(),
        pass,
    }
}

/// 20,000 logs on the Enterprise limit (16/s, burst 50) at the full share: stored over two days,
/// then all within one hour (a burst, which the windows must still share among the cursors).
pub fn enterprise(rows: &mut Vec<Row>) {
    const LOGS: usize = 20_000;
    for (label, span, target) in [
        (
            "20,000 logs over 2 days, 16/s",
            Duration::from_secs(2 * 86_400),
            1.35,
        ),
        (
            "20,000 logs in 1 hour, 16/s",
            Duration::from_secs(3600),
            1.5,
        ),
    ] {
        let logs = spread(LOGS, span, 17);
        let r = read(&logs, 16.0, 50, &[("AUTH0_RATE_LIMIT", "100%")]);
        let ideal = Duration::from_secs_f64(pages(LOGS) / 16.0);
        let refused = r.refused as f64 / r.requests.max(1) as f64;
        println!(
            "{label}, AUTH0_RATE_LIMIT=100%: {:.2} s wall ({} requests, {} refused with 429), {:.1} MB peak, {} logs delivered",
            r.wall.as_secs_f64(),
            r.requests,
            r.refused,
            r.peak_mb,
            r.delivered
        );
        rows.push(row(
            &format!("{label}: time"),
            format!("{:.2} s", r.wall.as_secs_f64()),
            format!("{:.2} s", ideal.as_secs_f64()),
            r.wall.as_secs_f64() / ideal.as_secs_f64(),
            target,
        ));
        rows.push(figure_row(
            &format!("{label}: 429s"),
            format!("{:.1}%", refused * 100.0),
            "<=2%",
            refused <= 0.02,
        ));
        rows.push(figure_row(
            &format!("{label}: peak memory"),
            format!("{:.1} MB", r.peak_mb),
            "<=40 MB",
            r.peak_mb <= 40.0,
        ));
    }
}

/// 3,000 logs on the Free limit (2/s, burst 2) at the full share: no 429 at all, and the refill
/// modelled rather than waited for to the whole-second reset.
pub fn free(rows: &mut Vec<Row>) {
    const LOGS: usize = 3000;
    let logs = realistic_logs(LOGS, 18);
    let r = read(&logs, 2.0, 2, &[("AUTH0_RATE_LIMIT", "100%")]);
    let ideal = Duration::from_secs_f64(pages(LOGS) / 2.0);
    println!(
        "3,000 logs, 2/s burst 2, AUTH0_RATE_LIMIT=100%: {:.2} s wall ({} requests, {} refused with 429)",
        r.wall.as_secs_f64(),
        r.requests,
        r.refused
    );
    rows.push(row(
        "3,000 logs, 2/s: time",
        format!("{:.2} s", r.wall.as_secs_f64()),
        format!("{:.2} s", ideal.as_secs_f64()),
        r.wall.as_secs_f64() / ideal.as_secs_f64(),
        1.3,
    ));
    rows.push(figure_row(
        "3,000 logs, 2/s: 429s",
        r.refused.to_string(),
        "0",
        r.refused == 0,
    ));
}

/// The default share on the Enterprise limit: no 429, and on average at most 55% of the rate.
pub fn default_share(rows: &mut Vec<Row>) {
    const LOGS: usize = 10_000;
    let logs = spread(LOGS, Duration::from_secs(86_400), 19);
    let r = read(&logs, 16.0, 50, &[]);
    let rate = r.requests as f64 / r.wall.as_secs_f64();
    println!(
        "10,000 logs, 16/s, default AUTH0_RATE_LIMIT (50%): {:.2} s wall, {} requests ({rate:.1}/s), {} refused with 429",
        r.wall.as_secs_f64(),
        r.requests,
        r.refused
    );
    rows.push(figure_row(
        "default share, 16/s: average rate",
        format!("{:.0}% of 16/s", rate / 16.0 * 100.0),
        "<=55%",
        rate <= 16.0 * 0.55,
    ));
    rows.push(figure_row(
        "default share, 16/s: 429s",
        r.refused.to_string(),
        "0",
        r.refused == 0,
    ));
}

/// The default share on the Free limit while another client of the tenant (the customer's own
/// backend) makes about one request a second: that client gets no 429.
pub fn neighbour(rows: &mut Vec<Row>) {
    const LOGS: usize = 1500;
    let tenant = FakeTenant::start(realistic_logs(LOGS, 20));
    tenant.set_plan(2.0, 2);
    tenant.set_latency(PAGE_LATENCY);
    let receiver = FakeReceiver::start();
    let neighbour = Neighbour::start(&tenant, Duration::from_secs(1));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let m = run_tool_at(&tenant.url(), &receiver.url(), dir.path(), &[], &[]);
    let (made, refused) = neighbour.stop();
    println!(
        "1,500 logs, 2/s burst 2, default share, a neighbour at ~1 request/s: {:.2} s wall; the neighbour made {made} requests, {refused} refused; the tool's requests refused: {}",
        m.wall.as_secs_f64(),
        tenant.refused() - refused
    );
    rows.push(figure_row(
        "default share, 2/s: neighbour's 429s",
        format!("{refused} of {made}"),
        "0",
        refused == 0 && made > 0,
    ));
}

/// `kill -9` in the middle of a parallel backfill, then another run: nothing lost, and how many
/// logs reached the receiver twice.
pub fn kill(rows: &mut Vec<Row>) {
    const LOGS: usize = 20_000;
    let logs = spread(LOGS, Duration::from_secs(2 * 86_400), 21);
    let expected: BTreeSet<String> = logs
        .iter()
        .filter(|l| matches!(l["type"].as_str(), Some("sapi" | "fapi")))
        .map(|l| l["log_id"].as_str().unwrap_or_default().to_string())
        .collect();
    let tenant = FakeTenant::start(logs);
    tenant.set_plan(16.0, 50);
    tenant.set_latency(PAGE_LATENCY);
    let receiver = FakeReceiver::start();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let state = dir.path().join("state.json");
    let exe = std::env::current_exe().expect("the bench's own path");
    let tool = || {
        let mut cmd = Command::new(&exe);
        cmd.env_clear()
            .env("AUTH0_CLIENT_SECRET", CLIENT_SECRET)
            .env("AUTH0_RATE_LIMIT", "100%")
            .env("HOME", dir.path())
            .arg(MARKER)
            .args([
                "-q",
                "run",
                "--domain",
                &tenant.url(),
                "--client-id",
                CLIENT_ID,
            ])
            .args(["--webhook-url", &receiver.url()])
            .arg("--state")
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let mut child = tool().spawn().expect("start the tool");
    let started = Instant::now();
    while receiver.unique_delivered().len() < expected.len() / 2 {
        if started.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let before = receiver.unique_delivered().len();
    let status = tool().status().expect("run the tool again");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in receiver.requests() {
        for id in r.log_ids() {
            *seen.entry(id).or_default() += 1;
        }
    }
    let repeats: usize = seen.values().map(|n| n - 1).sum();
    let lost = expected.iter().filter(|id| !seen.contains_key(*id)).count();
    println!(
        "kill -9 with {before} of {} matching logs delivered, then a run ({status}): {lost} lost, {repeats} delivered twice",
        expected.len()
    );
    rows.push(figure_row(
        "kill -9 in a parallel backfill: lost",
        lost.to_string(),
        "0",
        lost == 0 && status.success(),
    ));
    rows.push(figure_row(
        "kill -9 in a parallel backfill: repeats",
        format!("{repeats} of {}", expected.len()),
        "reported",
        true,
    ));
}
