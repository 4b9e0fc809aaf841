//! The Prometheus textfile-collector file (METRICS_FILE), written atomically after every run and
//! every `redeliver`: gauges of the last run, `_total` counters kept in the state, the
//! dead-letter lines waiting, and `build_info`. Rendered from the outcome and the state the run
//! holds in memory, never from a file read back.

use crate::outcome::{Outcome, RECORDED};
use crate::report;
use crate::say;
use crate::settings::{DEAD_LETTER_FILE, MAX_RUN_TIME, METRICS_FILE};
use crate::state::{RouteRecord, State};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PREFIX: &str = "auth0_mgmt_webhooks";

/// Writes METRICS_FILE, if set (a failure is a warning); `early`: a run's end it did not record.
pub fn write(
    file: Option<&Path>,
    host: &str,
    (dead_letters, tenant): (&[&Path], &str),
    state: Option<&State>,
    early: Option<(Outcome, Duration)>,
) {
    let Some(path) = file else {
        return;
    };
    // Another tenant sharing the file counts its own lines.
    let count = |file: &&Path| {
        let n = crate::sink::dead_letter::pending(file, tenant);
        let file = file.display();
        let why = |e| format!("counting the lines of {DEAD_LETTER_FILE} {file}: {e}");
        n.map_err(|e| say::warn(why(e))).ok().flatten()
    };
    let pending = dead_letters.iter().filter(|_| state.is_some()).map(count);
    let pending = pending.reduce(|a, b| Some(a? + b?)).flatten();
    let text = render(host, state, early, pending, SystemTime::now());
    // Readable by all (0644), since node_exporter runs as another user; it holds no secret.
    let written = crate::state::replace_file(path, text.as_bytes(), METRICS_FILE.env, Some(0o644));
    if let Err(e) = written {
        say::warn(format_args!(
            "{METRICS_FILE} not written ({e:#}); the run is not affected"
        ));
    }
}

/// How far behind Auth0 delivery is: 0 when caught up, else the age of the newest log passed,
/// or of the checkpoint's log (an upper bound that grows while runs fail).
fn lag(
    outcome: Outcome,
    newest_log_date: Option<&str>,
    checkpoint: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    let since = |at| now.duration_since(at).unwrap_or_default();
    match newest_log_date {
        _ if outcome.caught_up() => Some(Duration::ZERO),
        Some(date) => Some(report::age(date, now).unwrap_or_default()),
        None => crate::logid::stored_at(checkpoint?).map(since),
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The textfile in the Prometheus text format, from the state in memory and an `early` end.
fn render(
    tenant: &str,
    state: Option<&State>,
    early: Option<(Outcome, Duration)>,
    dead_letter_pending: Option<u64>,
    now: SystemTime,
) -> String {
    // A label value escapes backslashes, quotes and newlines.
    let tenant = (tenant.replace('\\', "\\\\"))
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    let mut out = String::new();
    let mut metric = |name: &str, samples: &[(String, f64)]| {
        let counter = name.ends_with("_total");
        let kind = if counter { "counter" } else { "gauge" };
        out += &format!("# HELP {PREFIX}_{name} {}\n", help(name));
        out += &format!("# TYPE {PREFIX}_{name} {kind}\n");
        for (labels, value) in samples {
            let value = number(*value);
            out += &format!("{PREFIX}_{name}{{tenant=\"{tenant}\"{labels}}} {value}\n");
        }
    };
    let version = format!(",version=\"{}\"", env!("CARGO_PKG_VERSION"));
    metric("build_info", &[(version, 1.0)]);
    let time = |t: &str| humantime::parse_rfc3339_weak(t).ok();
    let last = state.and_then(|s| s.history.back());
    // (when it ended, its outcome, how long it took, logs delivered, logs set aside)
    let ended = match early {
        Some((outcome, took)) => Some((unix(now), outcome, took, 0, 0)),
        None => last.map(|r| {
            let (end, start) = (time(&r.finished_at), time(&r.started_at));
            let took = end.zip(start).and_then(|(e, s)| e.duration_since(s).ok());
            let (at, took) = (end.map(unix).unwrap_or_default(), took.unwrap_or_default());
            (at, r.outcome, took, r.logs_delivered, r.logs_dead_lettered)
        }),
    };
    // Each metric of one sample, if known.
    let mut one: Vec<(&str, f64)> = Vec::new();
    if let Some((at, outcome, took, delivered, dead_lettered)) = ended {
        one.extend([
            ("last_run_timestamp_seconds", at),
            ("last_run_status", flag(outcome.is_success())),
            ("last_run_exit_code", f64::from(outcome.exit_code())),
            ("last_run_caught_up", flag(outcome.caught_up())),
            ("last_run_duration_seconds", took.as_secs_f64()),
            ("last_run_logs_delivered", delivered as f64),
            ("last_run_logs_dead_lettered", dead_lettered as f64),
        ]);
    }
    let mut runs = Vec::new();
    if let Some(state) = state {
        let t = &state.totals;
        let success = t.last_success_at.as_deref().and_then(time);
        one.extend(success.map(|at| ("last_success_timestamp_seconds", unix(at))));
        // The newest log's date says how far behind the last run was, unless it ended early.
        let newest = last.and_then(|r| r.newest_log_date.as_deref());
        let newest = newest.filter(|_| early.is_none());
        // With routes, the last run's checkpoint is the lagging route's.
        let checkpoint = last.and_then(|r| r.checkpoint.as_deref());
        let lag =
            ended.and_then(|e| lag(e.1, newest, checkpoint.or(state.checkpoint.as_deref()), now));
        one.extend(lag.map(|lag| ("checkpoint_lag_seconds", lag.as_secs_f64())));
        one.extend([
            ("logs_fetched_total", t.logs_fetched as f64),
            ("logs_delivered_total", t.logs_delivered as f64),
            ("logs_dead_lettered_total", t.logs_dead_lettered as f64),
        ]);
        // Every recorded status from the first run on, so `increase()` sees the first failure.
        let others = t.runs.keys().filter(|s| !RECORDED.contains(s));
        for s in RECORDED.iter().chain(others) {
            let n = t.runs.get(s).copied().unwrap_or(0);
            runs.push((format!(",status=\"{s}\""), n as f64));
        }
    }
    one.extend(dead_letter_pending.map(|n| ("dead_letter_pending", n as f64)));
    for (name, value) in one {
        metric(name, &[(String::new(), value)]);
    }
    if state.is_some() {
        metric("runs_total", &runs);
    }
    // Each route's part of the last run, unless it ended early.
    let routes = last.filter(|_| early.is_none());
    let routes = routes.map_or(&[][..], |r| &r.routes);
    type Value = fn(&RouteRecord) -> f64;
    let each: [(&str, Value); 4] = [
        ("exit_code", |r| f64::from(r.outcome.exit_code())),
        ("caught_up", |r| flag(r.outcome.caught_up())),
        ("logs_delivered", |r| r.logs_delivered as f64),
        ("logs_dead_lettered", |r| r.logs_dead_lettered as f64),
    ];
    for (name, value) in each.into_iter().filter(|_| !routes.is_empty()) {
        let label = |r: &RouteRecord| format!(",route=\"{}\"", r.route);
        let samples = routes.iter().map(|r| (label(r), value(r)));
        metric(&format!("route_last_run_{name}"), &Vec::from_iter(samples));
    }
    out
}

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// Each metric's `# HELP` text, after its name; [`help`] words those that name a setting.
const HELP: &str = "\
build_info Always 1; the version of the tool that wrote this file.
last_run_timestamp_seconds When the last run ended, in Unix seconds.
last_run_status 1 if the last run ended with exit 0 (ok), else 0.
last_run_exit_code The last run's exit code (0 ok, 1 failed, 2 invalid, 3 dead-lettered, 128+N signal N).
last_run_duration_seconds How long the last run took.
last_run_logs_delivered Logs the last run delivered to the webhook.
last_run_logs_dead_lettered Logs the last run set aside in the dead-letter file.
last_success_timestamp_seconds When the last run that ended with exit 0 ended, in Unix seconds.
checkpoint_lag_seconds How far behind Auth0 the checkpoint is (0 when the last run caught up).
logs_fetched_total Logs fetched from Auth0 by every run of this state file.
logs_delivered_total Logs delivered to the webhook by every run of this state file.
logs_dead_lettered_total Logs set aside in the dead-letter file by every run of this state file.
runs_total Runs of this state file, by how they ended.
route_last_run_exit_code Each route's part of the last run: its exit code.
route_last_run_caught_up 1 if the route reached the newest log in the last run.
route_last_run_logs_delivered Logs the last run delivered to the route's webhook.
route_last_run_logs_dead_lettered Logs the last run set aside for the route.";

fn help(name: &str) -> String {
    match name {
        "last_run_caught_up" => format!(
            "1 if the last run reached the newest log Auth0 had, 0 if it stopped short ({MAX_RUN_TIME}, a failure, a signal)."
        ),
        "dead_letter_pending" => format!("Lines waiting in {DEAD_LETTER_FILE} for redeliver."),
        _ => {
            let mut lines = HELP.lines();
            let line = lines.find_map(|l| l.strip_prefix(name)?.strip_prefix(' '));
            line.expect("every metric has a HELP line").to_string()
        }
    }
}

/// Whole numbers without a fraction, others to the millisecond.
fn number(v: f64) -> String {
    let digits = if v.fract() == 0.0 { 0 } else { 3 };
    format!("{v:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RunRecord;

    #[test]
    fn lag_is_zero_when_caught_up_else_the_newest_log_age_else_the_checkpoint_age() {
        let now = humantime::parse_rfc3339("2026-11-26T10:00:00Z").unwrap();
        let behind = Outcome::Ok { caught_up: false };
        let newest = Some("2026-11-26T09:59:00.000Z");
        assert_eq!(
            lag(behind, newest, None, now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            lag(Outcome::Ok { caught_up: true }, newest, None, now),
            Some(Duration::ZERO)
        );
        let cp = format!("900{}{}", "20261126095000000", "0".repeat(36));
        assert_eq!(
            lag(Outcome::Failed, None, Some(&cp), now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(lag(Outcome::Failed, None, None, now), None);
        assert_eq!(lag(Outcome::Failed, None, Some("garbage"), now), None);
    }

    #[test]
    fn metrics_of_the_state_take_the_last_run_the_totals_and_the_last_success() {
        let now = humantime::parse_rfc3339("2026-11-26T10:00:00Z").unwrap();
        let mut state = State::default();
        let run = |outcome, end: &str| RunRecord {
            started_at: "2026-11-26T09:00:00.000Z".into(),
            finished_at: end.into(),
            outcome,
            logs_fetched: 4,
            logs_delivered: 3,
            ..Default::default()
        };
        state.record(run(
            Outcome::Ok { caught_up: true },
            "2026-11-26T09:00:02.000Z",
        ));
        state.record(run(
            Outcome::DeadLettered { caught_up: true },
            "2026-11-26T09:05:00.000Z",
        ));
        let text = render("t", Some(&state), None, Some(2), now);
        let success = humantime::parse_rfc3339("2026-11-26T09:00:02Z").unwrap();
        for sample in [
            "last_run_exit_code{tenant=\"t\"} 3\n",
            "last_run_duration_seconds{tenant=\"t\"} 300\n",
            // Dead-lettered is no success.
            &format!(
                "last_success_timestamp_seconds{{tenant=\"t\"}} {}\n",
                number(unix(success))
            ),
            "logs_fetched_total{tenant=\"t\"} 8\n",
            "logs_delivered_total{tenant=\"t\"} 6\n",
            "runs_total{tenant=\"t\",status=\"ok\"} 1\n",
            "runs_total{tenant=\"t\",status=\"failed\"} 0\n",
            "dead_letter_pending{tenant=\"t\"} 2\n",
            "checkpoint_lag_seconds{tenant=\"t\"} 0\n",
        ] {
            assert!(text.contains(sample), "{sample} not in {text}");
        }
        assert!(!text.contains("route="), "no route label without routes");

        let route = |name: &str, outcome| crate::state::RouteRecord {
            route: name.into(),
            outcome,
            logs_delivered: 5,
            ..Default::default()
        };
        let mut last = run(Outcome::Failed, "2026-11-26T09:10:00.000Z");
        last.routes = vec![
            route("siem", Outcome::Ok { caught_up: true }),
            route("oncall", Outcome::Failed),
        ];
        state.record(last);
        let text = render("t", Some(&state), None, None, now);
        for sample in [
            "route_last_run_exit_code{tenant=\"t\",route=\"siem\"} 0\n",
            "route_last_run_exit_code{tenant=\"t\",route=\"oncall\"} 1\n",
            "route_last_run_caught_up{tenant=\"t\",route=\"oncall\"} 0\n",
            "route_last_run_logs_delivered{tenant=\"t\",route=\"siem\"} 5\n",
        ] {
            assert!(text.contains(sample), "{sample} not in {text}");
        }
    }

    #[test]
    fn a_run_that_failed_after_reading_the_state_keeps_its_last_success_and_totals() {
        let now = humantime::parse_rfc3339("2026-11-26T10:00:00Z").unwrap();
        let mut state = State::default();
        state.record(RunRecord {
            started_at: "2026-11-26T09:00:00.000Z".into(),
            finished_at: "2026-11-26T09:00:01.000Z".into(),
            outcome: Outcome::Ok { caught_up: true },
            logs_delivered: 7,
            ..Default::default()
        });
        state.checkpoint = Some(format!("900{}{}", "20261126095000000", "0".repeat(36)));
        let early = Some((Outcome::Failed, Duration::from_secs(1)));
        let text = render("t", Some(&state), early, Some(1), now);
        for sample in [
            "last_run_exit_code{tenant=\"t\"} 1\n",
            "last_run_duration_seconds{tenant=\"t\"} 1\n",
            "last_success_timestamp_seconds{tenant=\"t\"} ",
            "logs_delivered_total{tenant=\"t\"} 7\n",
            // The checkpoint's age, not 0.
            "checkpoint_lag_seconds{tenant=\"t\"} 600\n",
            "dead_letter_pending{tenant=\"t\"} 1\n",
        ] {
            assert!(text.contains(sample), "{sample} not in {text}");
        }
    }

    #[test]
    fn render_escapes_the_tenant_and_leaves_out_what_is_not_known() {
        let early = Some((Outcome::Invalid, Duration::from_millis(1500)));
        let now = UNIX_EPOCH + Duration::from_secs(100);
        let text = render("acme\"eu", None, early, None, now);
        assert!(text.contains("auth0_mgmt_webhooks_last_run_status{tenant=\"acme\\\"eu\"} 0\n"));
        assert!(text.contains(
            "auth0_mgmt_webhooks_last_run_duration_seconds{tenant=\"acme\\\"eu\"} 1.500\n"
        ));
        assert!(
            text.contains("last_run_exit_code{tenant=\"acme\\\"eu\"} 2\n"),
            "{text}"
        );
        for absent in ["last_success", "lag", "_total", "dead_letter_pending"] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
    }
}
