//! `check`: the settings, the credentials and the webhook host, tried before the first run,
//! with nothing sent to the webhook and nothing written.

use crate::auth0::{Auth0, Cursor};
use crate::config::Config;
use crate::exit;
use crate::report;
use crate::state::State;
use anyhow::{Context, Result};
use std::net::ToSocketAddrs;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime};

pub fn check(cfg: &Config) -> Result<u8> {
    let say = |ok: bool, what: String| println!("{} {what}", if ok { "ok  " } else { "FAIL" });
    say(
        true,
        format!("settings valid; state file {}", cfg.state_file.display()),
    );

    let state = State::load(&cfg.state_file)?;
    let where_ = match (&state.checkpoint, &cfg.start_from) {
        (_, Some(sf)) if state.start_from.as_deref() != Some(sf.raw.as_str()) => {
            format!(
                "the next run starts after START_FROM {} (checkpoint {})",
                sf.raw, sf.checkpoint
            )
        }
        (Some(c), _) => format!("checkpoint {c}"),
        (None, _) => {
            "no checkpoint yet: the first run starts at the oldest log Auth0 keeps".to_string()
        }
    };
    say(true, where_);

    let http = crate::http::client(cfg)?;
    let auth0 = Auth0::new(http, cfg.auth0.clone(), None);
    let deadline = Instant::now() + Duration::from_secs(60);
    let page = auth0
        .page(&Cursor::Newest, 1, deadline, &AtomicBool::new(false))
        .with_context(|| format!("reading logs from {}", cfg.auth0.base_url));
    let mut failed = false;
    match page {
        Ok(page) => {
            say(
                true,
                format!("token obtained and logs readable at {}", cfg.auth0.base_url),
            );
            match page.logs.first().and_then(|l| l.date()) {
                Some(date) => say(
                    true,
                    format!("newest log is from {date}{}", age(date, SystemTime::now())),
                ),
                None => say(true, "the tenant has no logs yet".to_string()),
            }
        }
        Err(e) => {
            say(false, format!("{e:#}"));
            failed = true;
        }
    }

    let host = cfg
        .webhook
        .url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']']);
    let port = cfg.webhook.url.port_or_known_default().unwrap_or(443);
    match (host, port).to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(_)) => say(
            true,
            format!("webhook host {host} resolves (nothing was sent to it)"),
        ),
        _ => {
            say(false, format!("webhook host {host} does not resolve"));
            failed = true;
        }
    }
    if let Some(s) = &cfg.slack {
        say(
            true,
            format!(
                "Slack reports on failure{}",
                if s.send_success { " and success" } else { "" }
            ),
        );
    }
    report::debug(format_args!("{cfg:?}"));
    Ok(if failed { exit::FAILED } else { exit::OK })
}

/// How long ago a log's date was, to the minute: a quiet tenant shows hours or days.
fn age(date: &str, now: SystemTime) -> String {
    match report::age(date, now) {
        Some(d) if d.as_secs() < 60 => " (less than a minute ago)".to_string(),
        Some(d) => format!(
            " ({} ago)",
            humantime::format_duration(Duration::from_secs(d.as_secs() / 60 * 60))
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_is_shown_to_the_minute() {
        let now = humantime::parse_rfc3339("2026-11-26T10:00:00Z").unwrap();
        assert_eq!(
            age("2026-11-26T09:59:30.000Z", now),
            " (less than a minute ago)"
        );
        assert_eq!(age("2026-11-24T07:29:10.500Z", now), " (2days 2h 30m ago)");
        assert_eq!(age("2026-11-27T00:00:00.000Z", now), "");
        assert_eq!(age("not a date", now), "");
    }
}
