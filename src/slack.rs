//! Slack reports: a message for each failed run, for each good run with SLACK_SEND_SUCCESS, and
//! a daily summary of the run history. Slack being down never fails a run: it is a warning.

use crate::config::SlackConfig;
use crate::http::{describe, read_prefix, snippet};
use crate::report::{self, Summary};
use crate::state::{RunRecord, State};
use reqwest::blocking::Client;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SLACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Slack answers `ok` or a short error; more than this of an answer is never read.
const ANSWER_PREFIX: usize = 4 * 1024;
const DAY: u64 = 86_400;

pub fn after_run(
    http: &Client,
    slack: &SlackConfig,
    tenant: &str,
    summary: &Summary,
    state: &mut State,
    now: SystemTime,
) {
    // Anything but a plain success is news: a failure, an interruption, logs set aside.
    if summary.run.status != "ok" || slack.send_success {
        post(http, slack, &run_message(tenant, summary));
    }
    let today = utc_day(now);
    if daily_due(
        slack.daily_report_hour,
        state.last_daily_report.as_deref(),
        now,
    ) {
        let runs: Vec<&RunRecord> = state
            .history
            .iter()
            .filter(|r| within_day(r, now))
            .collect();
        if post(http, slack, &daily_message(tenant, &runs)) {
            state.last_daily_report = Some(today);
        }
    }
}

/// The first run at or after `hour` (UTC) each day sends the daily report.
pub fn daily_due(hour: Option<u8>, last_sent_day: Option<&str>, now: SystemTime) -> bool {
    let Some(hour) = hour else { return false };
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let hour_now = (secs % DAY) / 3600;
    hour_now >= u64::from(hour) && last_sent_day != Some(utc_day(now).as_str())
}

fn utc_day(now: SystemTime) -> String {
    humantime::format_rfc3339_seconds(now).to_string()[..10].to_string()
}

fn within_day(r: &RunRecord, now: SystemTime) -> bool {
    report::age(&r.started_at, now).is_some_and(|age| age.as_secs() <= DAY)
}

pub fn run_message(tenant: &str, s: &Summary) -> String {
    let counts = format!(
        "fetched {}, matched {}, delivered {}{}, {}, {}, {:.1}s; checkpoint `{}`",
        s.run.logs_fetched,
        s.run.logs_matched,
        s.run.logs_delivered,
        if s.run.logs_dead_lettered > 0 {
            format!(", dead-lettered {}", s.run.logs_dead_lettered)
        } else {
            String::new()
        },
        report::count(s.run.requests, "request", "requests"),
        report::count(s.run.retries, "retry", "retries"),
        s.duration_ms as f64 / 1000.0,
        s.run.checkpoint.as_deref().unwrap_or("none"),
    );
    let mut text = match &s.run.error {
        Some(e) => format!(
            ":x: auth0-mgmt-webhooks run failed for {tenant}: {e}\n{counts}. The next run goes on from the checkpoint."
        ),
        None if s.run.logs_dead_lettered > 0 => format!(
            ":warning: auth0-mgmt-webhooks run for {tenant} set {} refused log{} aside in the dead-letter file: {counts}",
            s.run.logs_dead_lettered,
            if s.run.logs_dead_lettered == 1 {
                ""
            } else {
                "s"
            }
        ),
        None => format!(":white_check_mark: auth0-mgmt-webhooks run ok for {tenant}: {counts}"),
    };
    if let Some(w) = &s.run.warning {
        text.push_str(&format!("\n:warning: {w}"));
    }
    text
}

pub fn daily_message(tenant: &str, runs: &[&RunRecord]) -> String {
    let failed = runs.iter().filter(|r| r.status != "ok").count();
    let sum = |f: fn(&RunRecord) -> u64| runs.iter().map(|r| f(r)).sum::<u64>();
    let mut text = format!(
        ":bar_chart: auth0-mgmt-webhooks daily report for {tenant}: {} in the last 24 hours ({failed} failed); {} fetched, {} matched, {} delivered, {}.",
        report::count(runs.len() as u64, "run", "runs"),
        report::count(sum(|r| r.logs_fetched), "log", "logs"),
        sum(|r| r.logs_matched),
        sum(|r| r.logs_delivered),
        report::count(sum(|r| r.retries), "retry", "retries"),
    );
    if let Some(last) = runs.last() {
        text.push_str(&format!(
            " Checkpoint now `{}`.",
            last.checkpoint.as_deref().unwrap_or("none")
        ));
    }
    if let Some(err) = runs.iter().rev().find_map(|r| r.error.as_deref()) {
        text.push_str(&format!(" Last error: {err}"));
    }
    text
}

/// Sends one message; true when Slack took it. The URL is a secret: never printed. The text is
/// scrubbed of every secret the process holds (it quotes errors, which quote servers).
fn post(http: &Client, slack: &SlackConfig, text: &str) -> bool {
    let started = std::time::Instant::now();
    let result = http
        .post(slack.url.expose())
        .timeout(SLACK_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json!({ "text": crate::secret::scrub(text) }).to_string())
        .send();
    match result {
        Ok(r) if r.status().is_success() => {
            let status = r.status().as_u16().to_string();
            drop(read_prefix(r, ANSWER_PREFIX));
            report::request(
                "POST",
                "(Slack webhook; its URL is a secret)",
                &status,
                started.elapsed(),
            );
            true
        }
        Ok(r) => {
            let status = r.status().as_u16();
            let answer = snippet(&read_prefix(r, ANSWER_PREFIX));
            report::warn(format_args!(
                "Slack refused the report ({status}): {answer}"
            ));
            false
        }
        Err(e) => {
            report::warn(format_args!(
                "could not send the Slack report: {}",
                describe(e)
            ));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc).unwrap()
    }

    #[test]
    fn daily_report_is_due_once_a_day_after_the_hour() {
        assert!(!daily_due(None, None, at("2026-11-26T10:00:00Z")));
        assert!(!daily_due(Some(9), None, at("2026-11-26T08:59:00Z")));
        assert!(daily_due(Some(9), None, at("2026-11-26T09:00:00Z")));
        assert!(daily_due(
            Some(9),
            Some("2026-11-25"),
            at("2026-11-26T23:00:00Z")
        ));
        assert!(!daily_due(
            Some(9),
            Some("2026-11-26"),
            at("2026-11-26T23:00:00Z")
        ));
    }

    #[test]
    fn daily_message_sums_the_runs() {
        let ok = RunRecord {
            status: "ok".into(),
            logs_delivered: 5,
            logs_matched: 5,
            checkpoint: Some("9".into()),
            ..Default::default()
        };
        let bad = RunRecord {
            status: "failed".into(),
            error: Some("webhook answered 500".into()),
            ..Default::default()
        };
        let m = daily_message("acme", &[&ok, &bad, &ok]);
        assert!(
            m.contains("3 runs")
                && m.contains("(1 failed)")
                && m.contains("10 delivered")
                && m.contains("webhook answered 500"),
            "{m}"
        );
    }
}
