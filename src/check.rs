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
        (_, Some(sf)) if state.start_from.as_deref() != Some(sf.as_str()) => {
            format!("the next run starts after START_FROM {sf}")
        }
        (Some(c), _) => format!("checkpoint {c}"),
        (None, _) => {
            "no checkpoint yet: the first run starts at the oldest log Auth0 keeps".to_string()
        }
    };
    say(true, where_);

    let http = crate::http::client(cfg)?;
    let auth0 = Auth0::new(&http, &cfg.auth0, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    let page = auth0
        .page(&Cursor::Oldest, 1, deadline, &AtomicBool::new(false))
        .with_context(|| format!("reading logs from {}", cfg.auth0.base_url));
    let mut failed = false;
    match page {
        Ok(logs) => {
            say(
                true,
                format!("token obtained and logs readable at {}", cfg.auth0.base_url),
            );
            match logs
                .first()
                .and_then(|l| l.get("date"))
                .and_then(|d| d.as_str())
            {
                Some(date) => say(
                    true,
                    format!("oldest log kept by Auth0 is from {date}{}", age(date)),
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

fn age(date: &str) -> String {
    let Ok(t) = humantime::parse_rfc3339_weak(date) else {
        return String::new();
    };
    match SystemTime::now().duration_since(t) {
        Ok(d) => format!(" ({} days ago)", d.as_secs() / 86_400),
        Err(_) => String::new(),
    }
}
