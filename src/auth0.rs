//! Auth0's side: the client-credentials token (cached in the state), pages of logs in search
//! mode (first page of a first run) or checkpoint mode, rate limits, and retries.

use crate::config::Auth0Config;
use crate::http::{describe, snippet};
use crate::log::Log;
use crate::report;
use crate::retry;
use crate::secret::Secret;
use crate::state::CachedToken;
use anyhow::{Result, anyhow, bail};
use reqwest::blocking::{Client, Response};
use reqwest::header::HeaderMap;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which page to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The newest logs, in search mode: only `check` uses it, to show how fresh the tenant's
    /// logs are. Never for delivery: search mode sorts by date, not by id (FACTS.md).
    Newest,
    /// Checkpoint mode: the logs after this id.
    After(String),
    /// The `Link: <...>; rel="next"` URL of the previous page (checked by `source`).
    Next(reqwest::Url),
}

/// One answer of the logs endpoint.
#[derive(Debug, Default)]
pub struct Page {
    pub logs: Vec<Log>,
    /// The `Link` header's `rel="next"` target, as given.
    pub next: Option<String>,
}

/// Attempts for one request before the run gives up on Auth0 (waits for rate limits aside).
const MAX_ATTEMPTS: u32 = 8;
/// A cached token is replaced this long before it expires.
const TOKEN_MARGIN: u64 = 600;
const AUTH0_TIMEOUT: Duration = Duration::from_secs(30);

/// Owns its client and settings, so the fetch thread can outlive a run stopped by a signal.
pub struct Auth0 {
    http: Client,
    cfg: Auth0Config,
    token: Mutex<Option<CachedToken>>,
    /// When `x-ratelimit-remaining` reached 0: wait until this reset before the next call.
    paused_until: Mutex<Option<SystemTime>>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Whether a cached token may still be used for this client.
pub fn token_usable(token: &CachedToken, client_id: &str, now: u64) -> bool {
    token.client_id == client_id && token.expires_at > now + TOKEN_MARGIN
}

pub fn credentials_error(status: u16, body: &str) -> anyhow::Error {
    anyhow!(
        "Auth0 refused the credentials ({status}: {}): check AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET, and that the application is authorized for the Management API with the read:logs scope",
        snippet(body)
    )
}

impl Auth0 {
    pub fn new(http: Client, cfg: Auth0Config, cached: Option<CachedToken>) -> Self {
        let cached = cached.filter(|t| token_usable(t, &cfg.client_id, now_unix()));
        Auth0 {
            http,
            cfg,
            token: Mutex::new(cached),
            paused_until: Mutex::new(None),
        }
    }

    /// The token to keep in the state file for the next run.
    pub fn token_for_cache(&self) -> Option<CachedToken> {
        self.token.lock().unwrap().clone()
    }

    fn url(&self, path: &str) -> reqwest::Url {
        self.cfg
            .base_url
            .join(path)
            .expect("a path joins a base URL")
    }

    fn access_token(&self, deadline: Instant, stop: &AtomicBool) -> Result<Secret> {
        if let Some(t) = self.token.lock().unwrap().as_ref() {
            return Ok(t.access_token.clone());
        }
        let fresh = self.fetch_token(deadline, stop)?;
        let secret = fresh.access_token.clone();
        *self.token.lock().unwrap() = Some(fresh);
        Ok(secret)
    }

    fn fetch_token(&self, deadline: Instant, stop: &AtomicBool) -> Result<CachedToken> {
        let url = self.url("oauth/token");
        let body = serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": self.cfg.client_id,
            "client_secret": self.cfg.client_secret.expose(),
            "audience": self.cfg.audience.as_str(),
        });
        let resp = self.call(deadline, stop, "POST", &url, || {
            self.http
                .post(url.clone())
                .timeout(AUTH0_TIMEOUT)
                .json_body(&body)
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        if status == 401 || status == 403 {
            return Err(credentials_error(status, &text));
        }
        if status != 200 {
            bail!(
                "Auth0 answered {status} to the token request: {}",
                snippet(&text)
            );
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| anyhow!("Auth0's token answer is not JSON: {}", snippet(&text)))?;
        let token = v["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("Auth0's token answer has no access_token"))?;
        let expires_in = v["expires_in"].as_u64().unwrap_or(3600);
        Ok(CachedToken {
            access_token: Secret::new(token),
            expires_at: now_unix() + expires_in,
            client_id: self.cfg.client_id.clone(),
        })
    }

    /// One page of logs, retried through 5xx, 429, transport errors and malformed answers; a
    /// 401/403 gets one fresh token.
    pub fn page(
        &self,
        cursor: &Cursor,
        take: u32,
        deadline: Instant,
        stop: &AtomicBool,
    ) -> Result<Page> {
        let mut url = self.url("api/v2/logs");
        match cursor {
            Cursor::Newest => {
                url.query_pairs_mut()
                    .append_pair("page", "0")
                    .append_pair("per_page", &take.to_string())
                    .append_pair("sort", "date:-1")
                    .append_pair("include_totals", "false");
            }
            Cursor::After(id) => {
                url.query_pairs_mut()
                    .append_pair("from", id)
                    .append_pair("take", &take.to_string());
            }
            Cursor::Next(next) => url = next.clone(),
        }
        let mut refreshed = false;
        let mut malformed = 0;
        loop {
            let token = self.access_token(deadline, stop)?;
            let resp = self.call(deadline, stop, "GET", &url, || {
                self.http
                    .get(url.clone())
                    .timeout(AUTH0_TIMEOUT)
                    .bearer_auth(token.expose())
            })?;
            let status = resp.status().as_u16();
            let next = next_link(resp.headers());
            let text = resp.text().unwrap_or_default();
            match status {
                200 => match parse_logs(&text) {
                    Ok(logs) => return Ok(Page { logs, next }),
                    Err(e) => {
                        malformed += 1;
                        if malformed >= 3 {
                            return Err(e);
                        }
                        report::warn(format_args!("{e}; asking again"));
                        self.wait(
                            retry::backoff(malformed, fastrand::f64()),
                            deadline,
                            stop,
                            &e.to_string(),
                        )?;
                    }
                },
                401 | 403 if !refreshed => {
                    report::verbose("Auth0 refused the access token; getting a new one");
                    refreshed = true;
                    *self.token.lock().unwrap() = None;
                }
                401 | 403 => return Err(credentials_error(status, &text)),
                _ => bail!(
                    "Auth0 answered {status} to GET {}: {}",
                    url.path(),
                    snippet(&text)
                ),
            }
        }
    }

    /// Sends a request, retrying what is worth retrying; returns the first answer that is not.
    fn call(
        &self,
        deadline: Instant,
        stop: &AtomicBool,
        method: &str,
        url: &reqwest::Url,
        build: impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<Response> {
        let mut attempt = 0;
        loop {
            self.wait_for_rate_limit(deadline, stop)?;
            let started = Instant::now();
            let result = build().send();
            let (problem, retry_after) = match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    report::request(method, url.as_str(), &status.to_string(), started.elapsed());
                    self.note_rate_limit(resp.headers());
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
                    match status {
                        429 => {
                            let reset = reset_time(resp.headers());
                            let wait = retry_after
                                .or(reset.map(|r| retry::until_unix(r, SystemTime::now())));
                            (
                                format!(
                                    "Auth0 rate limit reached (429) on {method} {}",
                                    url.path()
                                ),
                                Some(wait.unwrap_or(Duration::from_secs(1))),
                            )
                        }
                        408 | 500 | 502..=599 => (
                            format!("Auth0 answered {status} to {method} {}", url.path()),
                            retry_after,
                        ),
                        _ => return Ok(resp),
                    }
                }
                Err(e) => {
                    let d = describe(e);
                    report::request(method, url.as_str(), &d, started.elapsed());
                    (format!("{method} {}: {d}", url.path()), None)
                }
            };
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                bail!("{problem} ({attempt} attempts)");
            }
            report::verbose(format_args!("{problem}; retrying"));
            self.wait(
                retry::next_wait(attempt, retry_after, fastrand::f64()),
                deadline,
                stop,
                &problem,
            )?;
        }
    }

    fn wait(&self, wait: Duration, deadline: Instant, stop: &AtomicBool, why: &str) -> Result<()> {
        if Instant::now() + wait > deadline {
            bail!("{why}; gave up because MAX_RUN_TIME is reached (the next run goes on)");
        }
        if !crate::pace::sleep(wait, stop) {
            bail!("run stopped");
        }
        Ok(())
    }

    fn note_rate_limit(&self, headers: &HeaderMap) {
        let remaining = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if remaining == Some(0)
            && let Some(reset) = reset_time(headers)
        {
            *self.paused_until.lock().unwrap() = Some(UNIX_EPOCH + Duration::from_secs(reset));
        }
    }

    /// Paces calls: once the limit is used up, wait for its reset instead of being refused.
    fn wait_for_rate_limit(&self, deadline: Instant, stop: &AtomicBool) -> Result<()> {
        let Some(until) = self.paused_until.lock().unwrap().take() else {
            return Ok(());
        };
        let wait = until.duration_since(SystemTime::now()).unwrap_or_default();
        if !wait.is_zero() {
            report::verbose(format_args!(
                "Auth0 rate limit used up; waiting {} ms for its reset",
                wait.as_millis()
            ));
            self.wait(wait, deadline, stop, "Auth0 rate limit used up")?;
        }
        Ok(())
    }
}

/// The target of a `Link` header's `rel="next"` entry.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(parse_next_link)
}

/// `<https://t/api/v2/logs?from=1&take=100>; rel="next"` -> the URL. Other relations, and
/// several links in one value, are handled as RFC 8288 writes them.
pub fn parse_next_link(value: &str) -> Option<String> {
    value.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .filter_map(|p| p.split_once('='))
            .any(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
            .then(|| target.to_string())
    })
}

fn reset_time(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A page must be a JSON array of logs, each with an id: anything else is an error, never a
/// silently skipped log. Each log keeps its text as Auth0 wrote it.
pub fn parse_logs(text: &str) -> Result<Vec<Log>> {
    let Ok(items) = serde_json::from_str::<Vec<Box<RawValue>>>(text) else {
        if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
            bail!("Auth0's logs answer is not a JSON array: {}", snippet(text));
        }
        bail!("Auth0's logs answer is not JSON: {}", snippet(text));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(n, raw)| {
            let start = snippet(raw.get());
            Log::parse(raw)
                .map_err(|why| anyhow!("Auth0's logs answer has a log {why} (item {n}): {start}"))
        })
        .collect()
}

/// `RequestBuilder::json` needs reqwest's `json` feature; this is the same in one line.
trait JsonBody {
    fn json_body(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::blocking::RequestBuilder {
    fn json_body(self, v: &Value) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_pages_are_errors_that_say_what_was_wrong() {
        assert!(
            parse_logs("<html>502 Bad Gateway</html>")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
        assert!(
            parse_logs(r#"{"logs": []}"#)
                .unwrap_err()
                .to_string()
                .contains("not a JSON array")
        );
        assert!(
            parse_logs(r#"[{"log_id":"1"},{"type":"sapi"}]"#)
                .unwrap_err()
                .to_string()
                .contains("a log without log_id (item 1)")
        );
        assert_eq!(parse_logs(r#"[{"_id":"1"}]"#).unwrap().len(), 1);
        assert!(parse_logs("[]").unwrap().is_empty());
    }

    #[test]
    fn cached_token_is_used_only_for_its_client_and_well_before_expiry() {
        let t = CachedToken {
            access_token: Secret::new("t"),
            expires_at: 10_000,
            client_id: "a".into(),
        };
        assert!(token_usable(&t, "a", 1_000));
        assert!(!token_usable(&t, "b", 1_000));
        assert!(!token_usable(&t, "a", 10_000 - TOKEN_MARGIN));
    }

    #[test]
    fn credentials_error_names_the_settings_and_scope() {
        let m = credentials_error(401, r#"{"error":"access_denied"}"#).to_string();
        assert!(
            m.contains("AUTH0_CLIENT_SECRET") && m.contains("read:logs"),
            "{m}"
        );
    }
}
