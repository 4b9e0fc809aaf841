//! Slack reports on a change of state: the first run that failed (or dead-lettered, or was
//! interrupted), a reminder while runs still do so (at most every SLACK_REMIND_EVERY), the
//! recovery; each good run only with SLACK_SEND_SUCCESS; and a daily summary of the run history.
//! What Slack was last told is kept in the state. A message is retried a little ([`post`]);
//! Slack being down never fails a run: it is a warning, and the message is due again at the
//! next run.
//!
//! A message is a headline block and an attachment coloured by the outcome, holding the fields
//! the extension's messages had (start, end, logs processed, checkpoint, error); its plain
//! `text` is the fallback notifications and old clients show.

use crate::http::snippet;
use crate::outcome::Outcome;
use crate::report::post::{self, Failure};
use crate::report::{self, Summary};
use crate::say;
use crate::secret::Secret;
use crate::settings::{MAX_RUN_TIME, SLACK_INCOMING_WEBHOOK_URL};
use crate::state::{RunRecord, State, Trouble};
use crate::stop::{Part, Stop};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// What `-v` lines call Slack: its URL is a secret.
const SHOWN: &str = "(Slack webhook; its URL is a secret)";

/// What Slack hears of a run: a change of state, not every run.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Runs started ending this way (after good runs, or after another trouble).
    Began,
    /// Still so, and the last message is older than SLACK_REMIND_EVERY.
    Reminder(Trouble),
    /// A good run after this trouble.
    Recovered(Trouble),
    /// A good run, with SLACK_SEND_SUCCESS.
    Success,
}

/// Which message a run calls for after `prev`, and the trouble to keep once it is sent.
pub fn notice(
    prev: Option<&Trouble>,
    run: &RunRecord,
    now: SystemTime,
    remind_every: Duration,
    send_success: bool,
) -> (Option<Notice>, Option<Trouble>) {
    if run.outcome.is_success() {
        let recovered = prev.map(|t| Notice::Recovered(t.clone()));
        return (recovered.or(send_success.then_some(Notice::Success)), None);
    }
    let (status, told_at) = (run.outcome.status(), rfc3339(now));
    let Some(t) = prev.filter(|t| t.status == status) else {
        let began = Trouble {
            status,
            since: run.started_at.clone(),
            runs: 1,
            told_at,
        };
        return (Some(Notice::Began), Some(began));
    };
    let mut kept = t.clone();
    kept.runs += 1;
    let told = humantime::parse_rfc3339_weak(&t.told_at).ok();
    if told.is_some_and(|at| now.duration_since(at).unwrap_or_default() < remind_every) {
        return (None, Some(kept));
    }
    kept.told_at = told_at;
    (Some(Notice::Reminder(kept.clone())), Some(kept))
}

fn rfc3339(now: SystemTime) -> String {
    humantime::format_rfc3339_millis(now).to_string()
}

/// SLACK_*: where reports go, and which.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub url: Secret,
    pub send_success: bool,
    pub daily_report_hour: Option<u8>,
    /// SLACK_REMIND_EVERY: the least time between two messages about the same trouble.
    pub remind_every: Duration,
}

pub fn after_run(
    http: &Client,
    slack: &SlackConfig,
    tenant: &str,
    summary: &Summary,
    state: &mut State,
    now: SystemTime,
    stop: &Stop,
) {
    let (every, success) = (slack.remind_every, slack.send_success);
    let (notice, trouble) = notice(state.trouble.as_ref(), &summary.run, now, every, success);
    // A message Slack did not take is due again at the next run: the state stays as it was.
    if notice.is_none_or(|n| send(http, slack, stop, &run_payload(tenant, summary, &n))) {
        state.trouble = trouble;
    }
    let last_day = state.last_daily_report.as_deref();
    if daily_due(slack.daily_report_hour, last_day, now) {
        let a_day = |age: Duration| age.as_secs() <= 86_400;
        let within_day = |r: &&RunRecord| report::age(&r.started_at, now).is_some_and(a_day);
        let runs: Vec<&RunRecord> = state.history.iter().filter(within_day).collect();
        if send(http, slack, stop, &daily_payload(tenant, &runs)) {
            state.last_daily_report = Some(rfc3339(now)[..10].to_string());
        }
    }
}

/// The first run at or after `hour` (UTC) each day sends the daily report.
pub fn daily_due(hour: Option<u8>, last_sent_day: Option<&str>, now: SystemTime) -> bool {
    // `2026-11-26T09:00:00.000Z`: the UTC day, then the hour.
    let stamp = rfc3339(now);
    let hour_now: u8 = stamp[11..13].parse().expect("two digits");
    hour.is_some_and(|hour| hour_now >= hour) && last_sent_day != Some(&stamp[..10])
}

/// The bar's colour: red for a failure, amber when nothing is lost but someone should look.
pub fn colour(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok { .. } => GREEN,
        Outcome::DeadLettered { .. } | Outcome::Interrupted { .. } => AMBER,
        Outcome::Failed | Outcome::Locked | Outcome::Invalid => RED,
    }
}

const GREEN: &str = "#2eb67d";
const AMBER: &str = "#ecb22e";
const RED: &str = "#e01e5a";

/// A run's message: its headline (with what a reminder or a recovery adds), its start and end.
pub fn run_payload(tenant: &str, s: &Summary, notice: &Notice) -> Value {
    let r = &s.run;
    let mut headline = match r.outcome {
        Outcome::Ok { caught_up } => {
            let behind = format!(" (not caught up: {MAX_RUN_TIME} reached; the next run goes on)");
            let behind = if caught_up { "" } else { &behind };
            format!(":white_check_mark: auth0-mgmt-webhooks run ok for {tenant}{behind}")
        }
        Outcome::DeadLettered { .. } => format!(
            ":warning: auth0-mgmt-webhooks run for {tenant} set {} aside in the dead-letter file",
            say::count(r.logs_dead_lettered, "refused log", "refused logs")
        ),
        Outcome::Interrupted { .. } => {
            format!(":warning: auth0-mgmt-webhooks run interrupted for {tenant}")
        }
        _ => format!(":x: auth0-mgmt-webhooks run failed for {tenant}"),
    };
    let added = match notice {
        Notice::Reminder(t) => Some(("still", t)),
        Notice::Recovered(t) => Some(("recovered after", t)),
        _ => None,
    };
    if let Some((what, t)) = added {
        let runs = say::count(t.runs, "run", "runs");
        headline.push_str(&format!(" ({what} {} since {}: {runs})", t.status, t.since));
    }
    let first = [("Start", &*r.started_at), ("End", &r.finished_at)];
    let took = Some(Duration::from_millis(s.duration_ms));
    message(&headline, colour(r.outcome), &first, ("Error", r), took)
}

/// The daily summary: the day's runs summed as one, red when one of them failed.
pub fn daily_payload(tenant: &str, runs: &[&RunRecord]) -> Value {
    let sum = |f: fn(&RunRecord) -> u64| runs.iter().map(|r| f(r)).sum::<u64>();
    let day = RunRecord {
        logs_fetched: sum(|r| r.logs_fetched),
        logs_matched: sum(|r| r.logs_matched),
        logs_delivered: sum(|r| r.logs_delivered),
        logs_dead_lettered: sum(|r| r.logs_dead_lettered),
        requests: sum(|r| r.requests),
        retries: sum(|r| r.retries),
        checkpoint: runs.last().and_then(|r| r.checkpoint.clone()),
        error: runs.iter().rev().find_map(|r| r.error.clone()),
        ..RunRecord::default()
    };
    // The worst colour of the day's runs.
    let seen = |c: &&str| runs.iter().any(|r| colour(r.outcome) == *c);
    let bar = [RED, AMBER].into_iter().find(seen).unwrap_or(GREEN);
    // The runs counted by status, best first: `3 ok, 1 failed`.
    let counts = crate::outcome::RECORDED.iter().filter_map(|s| {
        let n = runs.iter().filter(|r| r.outcome.status() == *s).count();
        (n > 0).then(|| format!("{n} {s}"))
    });
    let by_status = Some(Vec::from_iter(counts).join(", ")).filter(|s| !s.is_empty());
    let by_status = by_status.unwrap_or("none".into());
    let n = say::count(runs.len() as u64, "run", "runs");
    let headline = format!(
        ":bar_chart: auth0-mgmt-webhooks daily report for {tenant}: {n} in the last 24 hours ({by_status})"
    );
    let first = format!("{} ({by_status})", runs.len());
    let first = [("Runs", &*first)];
    message(&headline, bar, &first, ("Last error", &day), None)
}

/// The one builder of a message: a headline block, then fields, error and counts on a bar.
fn message(
    headline: &str,
    colour: &str,
    first: &[(&str, &str)],
    (error, r): (&str, &RunRecord),
    took: Option<Duration>,
) -> Value {
    let checkpoint = format!("`{}`", r.checkpoint.as_deref().unwrap_or("none"));
    let dead = Some(r.logs_dead_lettered).filter(|n| *n > 0);
    let (d, m, f) = (r.logs_delivered, r.logs_matched, r.logs_fetched);
    let aside = dead.map_or(String::new(), |n| format!(", {n} dead-lettered"));
    let processed = format!("{d} delivered of {m} matched, {f} fetched{aside}");
    let counts = std::iter::once(format!("fetched {f}, matched {m}, delivered {d}"))
        .chain(dead.map(|n| format!("dead-lettered {n}")))
        .chain(report::traffic(r.requests, r.retries))
        .chain(took.map(|d| format!("{:.1}s", d.as_secs_f64())));
    let counts = Vec::from_iter(counts).join(", ");
    let counts = format!("{counts}; checkpoint {checkpoint}");
    let fields = (first.iter().copied())
        .chain([("Logs processed", &*processed), ("Checkpoint", &checkpoint)])
        .map(|(title, value)| mrkdwn(title, value, 1900));
    let mut text = headline.to_string();
    let mut blocks = vec![json!({"type": "section", "fields": fields.collect::<Vec<_>>()})];
    let routes = r.routes.iter().map(report::route_line).collect::<Vec<_>>();
    let routes = (!routes.is_empty()).then(|| routes.join("\n"));
    for (title, value) in [
        (error, &r.error),
        ("Routes", &routes),
        ("Warning", &r.warning),
    ] {
        if let Some(value) = value {
            text.push_str(&format!("\n{title}: {value}"));
            // Slack allows 3,000 characters in a section, 2,000 in a field.
            blocks.push(json!({"type": "section", "text": mrkdwn(title, value, 2900)}));
        }
    }
    text.push_str(&format!("\n{counts}"));
    let context = json!({"type": "mrkdwn", "text": escape(&counts)});
    blocks.push(json!({"type": "context", "elements": [context]}));
    json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": escape(headline)}}],
        "attachments": [{"color": colour, "fallback": text, "blocks": blocks}],
    })
}

/// A title in bold over its value, clipped to `max` characters.
fn mrkdwn(title: &str, value: &str, max: usize) -> Value {
    let value = escape(value);
    let value = match value.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value,
    };
    json!({"type": "mrkdwn", "text": format!("*{title}*\n{value}")})
}

/// Slack's mrkdwn reads `<...>` as links and mentions: quoted HTML must not ping `@channel`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Sends one message, scrubbed of every secret (it quotes errors); true when Slack took it.
fn send(http: &Client, slack: &SlackConfig, stop: &Stop, message: &Value) -> bool {
    let json = bytes::Bytes::from(crate::secret::scrub(&message.to_string()));
    let (body, setting) = (("application/json", json), SLACK_INCOMING_WEBHOOK_URL.env);
    let (url, cut) = (slack.url.expose(), (stop, Part::Reporting));
    let why = match post::post(http, url, body, cut, SHOWN, setting) {
        Ok(_) => return true,
        Err(Failure::Answered { status, answer }) => {
            format!("Slack refused the report ({status}): {}", snippet(&answer))
        }
        Err(Failure::Unreached(why)) => format!("could not send the Slack report: {why}"),
    };
    say::warn(why);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Status;

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

    fn summary(outcome: Outcome, error: Option<&str>) -> Summary {
        Summary {
            run: RunRecord {
                started_at: "2026-11-26T10:00:00.000Z".into(),
                finished_at: "2026-11-26T10:00:02.000Z".into(),
                outcome,
                logs_fetched: 40,
                logs_matched: 12,
                logs_delivered: 10,
                checkpoint: Some("900123".into()),
                error: error.map(str::to_string),
                ..Default::default()
            },
            dry_run: false,
            duration_ms: 2000,
        }
    }

    /// Every mrkdwn text of the attachment, in order.
    fn texts(v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for block in v["attachments"][0]["blocks"].as_array().unwrap() {
            if let Some(t) = block["text"]["text"].as_str() {
                out.push(t.to_string());
            }
            for f in block["fields"].as_array().into_iter().flatten() {
                out.push(f["text"].as_str().unwrap().to_string());
            }
        }
        out
    }

    #[test]
    fn colour_says_red_failed_amber_look_at_it_green_ok() {
        assert_eq!(colour(Outcome::Failed), RED);
        assert_eq!(colour(Outcome::DeadLettered { caught_up: true }), AMBER);
        assert_eq!(colour(Outcome::Interrupted { signal: 15 }), AMBER);
        assert_eq!(colour(Outcome::Ok { caught_up: false }), GREEN);
    }

    #[test]
    fn run_payload_has_the_extensions_fields_and_the_text_fallback() {
        let v = run_payload(
            "acme",
            &summary(Outcome::Failed, Some("webhook answered 500: <html>")),
            &Notice::Began,
        );
        assert_eq!(v["attachments"][0]["color"], RED);
        assert!(v["text"].as_str().unwrap().contains("run failed for acme"));
        let t = texts(&v);
        assert_eq!(t[0], "*Start*\n2026-11-26T10:00:00.000Z");
        assert_eq!(t[1], "*End*\n2026-11-26T10:00:02.000Z");
        assert_eq!(
            t[2],
            "*Logs processed*\n10 delivered of 12 matched, 40 fetched"
        );
        assert_eq!(t[3], "*Checkpoint*\n`900123`");
        assert_eq!(t[4], "*Error*\nwebhook answered 500: &lt;html&gt;");

        let ok = run_payload(
            "acme",
            &summary(Outcome::Ok { caught_up: true }, None),
            &Notice::Success,
        );
        assert_eq!(ok["attachments"][0]["color"], GREEN);
        assert!(!texts(&ok).iter().any(|t| t.starts_with("*Error*")));
        assert!(!texts(&ok).iter().any(|t| t.starts_with("*Routes*")));
    }

    #[test]
    fn a_run_of_routes_names_each_route_and_how_it_ended() {
        let mut s = summary(Outcome::Failed, Some("route oncall: webhook answered 400"));
        s.run.routes = vec![
            crate::state::RouteRecord {
                route: "siem".into(),
                outcome: Outcome::Ok { caught_up: true },
                logs_matched: 12,
                logs_delivered: 12,
                checkpoint: Some("900123".into()),
                ..Default::default()
            },
            crate::state::RouteRecord {
                route: "oncall".into(),
                logs_matched: 2,
                ..Default::default()
            },
        ];
        let v = run_payload("acme", &s, &Notice::Began);
        let routes = texts(&v)
            .into_iter()
            .find(|t| t.starts_with("*Routes*"))
            .unwrap();
        assert_eq!(
            routes,
            "*Routes*\nsiem: ok, caught up: delivered 12 of 12 matching logs; checkpoint 900123\noncall: failed: delivered 0 of 2 matching logs; checkpoint none yet"
        );
        assert!(v["text"].as_str().unwrap().contains("\nRoutes: siem: ok"));
    }

    #[test]
    fn long_values_are_clipped_to_what_slack_accepts() {
        let long = "x".repeat(5000);
        let v = run_payload(
            "acme",
            &summary(Outcome::Failed, Some(&long)),
            &Notice::Began,
        );
        let error = texts(&v).pop().unwrap();
        assert!(error.chars().count() <= 3000 && error.ends_with('…'));
    }

    #[test]
    fn daily_message_sums_the_runs() {
        let ok = RunRecord {
            outcome: Outcome::Ok { caught_up: true },
            logs_delivered: 5,
            logs_matched: 5,
            checkpoint: Some("9".into()),
            ..Default::default()
        };
        let bad = RunRecord {
            outcome: Outcome::Failed,
            error: Some("webhook answered 500".into()),
            ..Default::default()
        };
        let aside = RunRecord {
            outcome: Outcome::DeadLettered { caught_up: true },
            ..Default::default()
        };
        let v = daily_payload("acme", &[&ok, &bad, &ok, &aside]);
        let m = v["text"].as_str().unwrap();
        assert!(
            m.contains("4 runs in the last 24 hours (2 ok, 1 dead-lettered, 1 failed)")
                && m.contains("delivered 10")
                && m.contains("Last error: webhook answered 500"),
            "{m}"
        );
        assert_eq!(v["attachments"][0]["color"], RED);
        assert_eq!(texts(&v)[0], "*Runs*\n4 (2 ok, 1 dead-lettered, 1 failed)");
    }

    #[test]
    fn slack_hears_of_a_change_of_state_a_reminder_at_most_every_so_often_and_the_recovery() {
        let every = Duration::from_secs(6 * 3600);
        let t0 = at("2026-11-26T10:00:00Z");
        let later = |mins: u64| t0 + Duration::from_secs(mins * 60);
        let run = |outcome| RunRecord {
            started_at: "2026-11-26T10:00:00.000Z".into(),
            outcome,
            ..Default::default()
        };
        let ok = run(Outcome::Ok { caught_up: true });
        let failed = run(Outcome::Failed);
        let aside = run(Outcome::DeadLettered { caught_up: true });

        assert_eq!(notice(None, &ok, t0, every, false), (None, None));
        assert_eq!(notice(None, &ok, t0, every, true).0, Some(Notice::Success));

        let (n, first) = notice(None, &failed, t0, every, false);
        assert_eq!(n, Some(Notice::Began));
        let first = first.unwrap();
        assert_eq!((first.status, first.runs), (Status::Failed, 1));

        // Every 5 minutes for 6 hours: no message, the runs counted.
        let mut t = first.clone();
        for i in 1..72 {
            let (n, next) = notice(Some(&t), &failed, later(5 * i), every, false);
            assert_eq!(n, None, "run {i}");
            t = next.unwrap();
        }
        assert_eq!(t.runs, 72);
        let (n, t) = notice(Some(&t), &failed, later(360), every, false);
        let t = t.unwrap();
        assert_eq!(n, Some(Notice::Reminder(t.clone())));
        assert_eq!((t.runs, t.since.as_str()), (73, "2026-11-26T10:00:00.000Z"));
        assert_eq!(notice(Some(&t), &failed, later(365), every, false).0, None);

        // Another trouble is news; so is the recovery, which ends it.
        let (n, aside_t) = notice(Some(&t), &aside, later(370), every, false);
        assert_eq!(n, Some(Notice::Began));
        let aside_t = aside_t.unwrap();
        assert_eq!(aside_t.status, Status::DeadLettered);
        let (n, after) = notice(Some(&aside_t), &ok, later(375), every, false);
        assert_eq!(n, Some(Notice::Recovered(aside_t)));
        assert_eq!(after, None);
    }

    #[test]
    fn reminders_and_recoveries_say_since_when_and_how_many_runs() {
        let t = Trouble {
            status: Status::Failed,
            since: "2026-11-26T10:00:00.000Z".into(),
            runs: 12,
            told_at: "2026-11-26T10:00:00.000Z".into(),
        };
        let s = summary(Outcome::Ok { caught_up: true }, None);
        let v = run_payload("acme", &s, &Notice::Recovered(t.clone()));
        let text = v["text"].as_str().unwrap();
        assert!(
            text.contains("recovered after failed since 2026-11-26T10:00:00.000Z: 12 runs"),
            "{text}"
        );
        let v = run_payload(
            "acme",
            &summary(Outcome::Failed, Some("x")),
            &Notice::Reminder(t),
        );
        let headline = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(headline.contains("still failed since"), "{headline}");
    }
}
