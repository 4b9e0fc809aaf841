//! Auth0's side: the client-credentials token (cached in the state), pages of logs, every
//! request paced by the tenant's rate budget (`pacer`), and retries.

use crate::http::{self, ReadFailed, TooLarge, Unanswered, Verdict, read_capped, redact, snippet};
use crate::log::Log;
use crate::retry::{self, Attempt, now_unix};
use crate::say;
use crate::secret::{Secret, register};
use crate::settings::{
    AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET, AUTH0_DOMAIN, AUTH0_RATE_LIMIT, BATCH_SIZE, MAX_RUN_TIME,
};
use crate::source::pacer::{Pacer, Share};
use crate::state::CachedToken;
use crate::stop::{Part, Stop};
use anyhow::{Result, anyhow, bail};
use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::CONTENT_TYPE;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// AUTH0_* settings: the tenant, the application and this tool's share of the rate limit.
#[derive(Debug, Clone)]
pub struct Auth0Config {
    /// `https://{domain}`, or the URL given when the domain setting had a scheme.
    pub base_url: Url,
    /// The token's audience: AUTH0_AUDIENCE, else `{base_url}api/v2/`.
    pub audience: Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub rate_limit: Share,
}

/// Which page to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The newest logs, for `check` only (search mode: paging by it skips logs stored late).
    Newest,
    /// Checkpoint mode: the logs after this id.
    After(String),
    /// Search mode, oldest first, at or after this date (or all): a real id to start from.
    Since(Option<String>),
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

/// Attempts at one page, failed token requests included, before the run gives up on Auth0.
const MAX_ATTEMPTS: u32 = 8;
/// Fresh tokens for one page before a 401 or 403 means the credentials are refused.
const MAX_REFRESHES: u32 = 3;
/// Answers that are not a usable page (a proxy's error page, a reset) before the page fails.
const MAX_MALFORMED: u32 = 3;
/// A cached token is replaced this long before it expires.
const TOKEN_MARGIN: u64 = 600;
const AUTH0_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of one Auth0 answer that is read: 100 real logs are a few hundred KB.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// Owns its client and settings, so the fetch thread can outlive a run stopped by a signal.
pub struct Auth0 {
    http: Client,
    cfg: Auth0Config,
    token: Mutex<Option<CachedToken>>,
    pacer: Pacer,
    /// Held while a token is fetched, so cursors do not each fetch one.
    fetching: Mutex<()>,
}

/// The last moment (Unix seconds) a run uses this cached token; `None` for another client's.
pub fn usable_until(token: &CachedToken, client_id: &str) -> Option<u64> {
    (token.client_id == client_id).then(|| token.expires_at.saturating_sub(TOKEN_MARGIN))
}

/// The access token and its expiry (Unix seconds) from a token answer's body.
pub fn parse_token(body: &[u8], now: u64) -> Result<(Secret, u64)> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let pairs: Vec<_> = url::form_urlencoded::parse(text.trim().as_bytes()).collect();
        let keys: Vec<_> = pairs.iter().map(|(k, _)| k.as_ref()).collect();
        if !keys.iter().any(|k| k.contains("token")) {
            bail!("Auth0's token answer is not JSON: {}", snippet(&text));
        }
        for (_, v) in pairs
            .iter()
            .filter(|(k, _)| k.ends_with("token") || k.contains("secret"))
        {
            register(v);
        }
        bail!(
            "Auth0's token answer is form-encoded, not JSON (keys {}; values not shown): is {AUTH0_DOMAIN} an Auth0 tenant?",
            keys.join(", ")
        );
    };
    let Some(token) = v["access_token"].as_str().filter(|t| !t.is_empty()) else {
        bail!("Auth0's token answer has no access_token");
    };
    let expires_in = v["expires_in"].as_u64().unwrap_or(3600);
    Ok((Secret::new(token), now.saturating_add(expires_in)))
}

/// Auth0 answered 400 to a logs request: a `from` it does not take, say (`source::start`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

/// Auth0 refused the client credentials or the token made from them (told apart by `check`).
#[derive(Debug, thiserror::Error)]
#[error(
    "Auth0 refused the credentials ({0}: {1}): check {id} and {secret}, and that the application is authorized for the Management API with the read:logs scope",
    id = AUTH0_CLIENT_ID,
    secret = AUTH0_CLIENT_SECRET
)]
pub struct CredentialsRefused(u16, String);

/// What one Auth0 request came to short of a usable answer.
type Step = Attempt<Result<Page>>;

fn fail(e: anyhow::Error) -> Step {
    Attempt::Done(Err(e))
}

fn again(why: String, wait: Option<Duration>) -> Step {
    Attempt::Again { why, wait }
}

impl Auth0 {
    pub fn new(http: Client, cfg: Auth0Config, cached: Option<CachedToken>) -> Self {
        let now = now_unix();
        let cached = cached.filter(|t| usable_until(t, &cfg.client_id).is_some_and(|u| u > now));
        Auth0 {
            http,
            pacer: Pacer::new(cfg.rate_limit),
            cfg,
            token: Mutex::new(cached),
            fetching: Mutex::new(()),
        }
    }

    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// The token to keep in the state file for the next run.
    pub fn token_for_cache(&self) -> Option<CachedToken> {
        self.cached().clone()
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<CachedToken>> {
        self.token.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached token, else one fetched, cached and recorded in `new`.
    fn token(&self, until: Instant, stop: &Stop, new: &mut Option<Secret>) -> Result<Secret, Step> {
        let _one = self.fetching.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = self.cached().as_ref() {
            return Ok(t.access_token.clone());
        }
        let url = self.cfg.base_url.join("oauth/token").expect("a path joins");
        let form = json!({
            "grant_type": "client_credentials",
            "client_id": self.cfg.client_id,
            "client_secret": self.cfg.client_secret.expose(),
            "audience": self.cfg.audience.as_str(),
        })
        .to_string();
        let (_, text) = self.send(until, stop, "POST", &url, || {
            let req = self.http.post(url.clone()).timeout(AUTH0_TIMEOUT);
            Ok(req.header(CONTENT_TYPE, "application/json").body(form))
        })?;
        let (access_token, expires_at) = match text {
            Ok(text) => parse_token(text.as_bytes(), now_unix()).map_err(fail)?,
            Err(e) if e.is::<ReadFailed>() => return Err(again(format!("{e:#}"), None)),
            Err(e) => return Err(fail(e)),
        };
        let token = new.insert(access_token).clone();
        *self.cached() = Some(CachedToken {
            access_token: token.clone(),
            expires_at,
            client_id: self.cfg.client_id.clone(),
        });
        Ok(token)
    }

    /// One page of logs, in at most [`MAX_ATTEMPTS`]; a 401/403 replaces the token.
    pub fn page(&self, cursor: &Cursor, take: u32, until: Instant, stop: &Stop) -> Result<Page> {
        let mut url = self.cfg.base_url.join("api/v2/logs")?;
        let take = take.to_string();
        let search = |sort| [("page", "0"), ("per_page", &take), ("sort", sort)];
        let mut q = url.query_pairs_mut();
        match cursor {
            Cursor::Newest => q
                .extend_pairs(search("date:-1"))
                .append_pair("include_totals", "false"),
            Cursor::After(id) => q.extend_pairs([("from", id.as_str()), ("take", &take)]),
            Cursor::Since(date) => q
                .extend_pairs(date.iter().map(|d| ("q", format!("date:[{d} TO *]"))))
                .extend_pairs(search("date:1")),
            Cursor::Next(_) => &mut q,
        };
        drop(q);
        if let Cursor::Next(next) = cursor {
            url = next.clone();
        }
        let (mut refreshed, mut malformed, mut fetched) = (0, 0, None);
        let outcome = retry::run(Some(until), stop, Part::Reading, Some(MAX_ATTEMPTS), |_| {
            // The token is taken when the budget lets the request go, as fresh as can be.
            let mut used = None;
            let reply = self.send(until, stop, "GET", &url, || {
                let token = self.token(until, stop, &mut fetched)?;
                let req = self.http.get(url.clone()).timeout(AUTH0_TIMEOUT);
                Ok(req.bearer_auth(used.insert(token).expose()))
            });
            let (next, text) = match reply {
                Ok(reply) => reply,
                Err(step) => return step,
            };
            let bad = match text {
                Ok(text) => match parse_logs(&text) {
                    Ok(logs) => return Attempt::Done(Ok(Page { logs, next })),
                    Err(e) if e.is::<TooManyValues>() => return fail(e),
                    Err(e) => e,
                },
                Err(e) if e.is::<ReadFailed>() => e,
                // A refused token is replaced once; after that only one from the cache (another
                // cursor may have seen it expire): a fresh token refused means bad credentials.
                Err(e) if e.is::<CredentialsRefused>() => {
                    let from_cache = used.is_some() && used != fetched;
                    if refreshed == 0 || refreshed < MAX_REFRESHES && from_cache {
                        say::verbose("Auth0 refused the access token; getting a new one");
                        refreshed += 1;
                        let mut cached = self.cached();
                        // Unless another cursor has already replaced it.
                        if cached.as_ref().map(|t| &t.access_token) == used.as_ref() {
                            *cached = None;
                        }
                        return Attempt::Step;
                    }
                    return fail(e);
                }
                Err(e) => return fail(e),
            };
            malformed += 1;
            if malformed >= MAX_MALFORMED {
                return fail(bad);
            }
            let why = format!("{bad:#}");
            say::warn(format_args!("{why}; asking again"));
            again(why, Some(retry::backoff(malformed, fastrand::f64())))
        });
        outcome.map_err(|why| anyhow!(why))?
    }

    /// One request once the rate budget allows it: its `rel="next"` link and 200's body.
    fn send(
        &self,
        until: Instant,
        stop: &Stop,
        method: &str,
        url: &Url,
        build: impl FnOnce() -> Result<RequestBuilder, Step>,
    ) -> Result<(Option<String>, Result<String>), Step> {
        let (path, counts) = (url.path(), url.path().starts_with("/api/v2/"));
        let Some(ticket) = self.pacer.acquire(counts, until, stop) else {
            let why = match stop.stopped(Part::Reading) {
                Some(_) => "the run is stopping".to_string(),
                None => format!(
                    "the Auth0 rate budget ({AUTH0_RATE_LIMIT}) allows no request before {MAX_RUN_TIME}; the next run goes on"
                ),
            };
            let cut = CutShort(format!("{method} {path} not sent: {why}"));
            return Err(fail(cut.into()));
        };
        let reply = http::attempt(build()?, method, &redact(url), AUTH0_DOMAIN.env);
        let r = reply.map_err(|failed| match failed {
            Unanswered::Final(d) => fail(anyhow!("{method} {path}: {d}")),
            Unanswered::Passing(d) => again(format!("{method} {path}: {d}"), None),
        })?;
        self.pacer.answer(ticket, r.status, r.resp.headers());
        let (status, asked, headers) = (r.status, r.retry_after, r.resp.headers());
        let said = format!("Auth0 answered {status} to {method} {path}");
        if let Verdict::Retry { .. } = r.verdict {
            let asked_words = asked.map(|w| format!(", asked to wait {}", retry::human(w)));
            // After a 429 the budget itself holds the next request back.
            let wait = (status == 429).then_some(Duration::ZERO).or(asked);
            return Err(again(said + &asked_words.unwrap_or_default(), wait));
        }
        let to = http::location(headers, url, redact);
        let mut links = headers.get_all(reqwest::header::LINK).iter();
        let next = links.find_map(|v| parse_next_link(v.to_str().ok()?));
        let text = read_capped(r.resp, MAX_ANSWER_BYTES).map_err(|e| match e.downcast::<TooLarge>() {
            Ok(big) => anyhow!(
                "Auth0's answer to {method} {path}: {big}; a proxy or server in the way is misbehaving, or a log in it is huge (nothing was delivered from it, the checkpoint stays; pages are always 100 logs, whatever {BATCH_SIZE})"
            ),
            Err(e) => e.context(format!("{method} {path}")),
        });
        let text = text.map(|b| {
            String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
        });
        let text = text.and_then(|text| match status {
            200 => Ok(text),
            300..=399 => bail!(
                "{said}, {}; redirects are never followed (they would carry the credentials elsewhere): set {AUTH0_DOMAIN} to the host that answers itself",
                to.unwrap_or_else(|| "a redirect without a Location".into())
            ),
            401 | 403 => Err(CredentialsRefused(status, snippet(&text)).into()),
            400 if method == "GET" => Err(Refused(format!("{said}: {}", snippet(&text))).into()),
            _ => bail!("{said}: {}", snippet(&text)),
        });
        Ok((next, text))
    }
}

/// A request not sent as the run stopped or reached MAX_RUN_TIME: cut short, not failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CutShort(String);

/// `<https://t/api/v2/logs?from=1&take=100>; rel="next"` -> the URL, as RFC 8288 writes it.
pub fn parse_next_link(value: &str) -> Option<String> {
    value.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let next = |r: &str| r.eq_ignore_ascii_case("next");
        let rel = |(k, v): (&str, &str)| {
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim().trim_matches('"').split_whitespace().any(next)
        };
        let mut params = params.split(';').filter_map(|p| p.split_once('='));
        params.any(rel).then(|| target.to_string())
    })
}

/// The most items a page may hold: 16 MiB of `[],[],...` would otherwise take hundreds of MB.
pub const MAX_PAGE_ITEMS: usize = 1000;

#[derive(Debug, thiserror::Error)]
#[error(
    "Auth0's logs answer holds more than {MAX_PAGE_ITEMS} items, where a page holds at most 100 logs: a proxy or server in the way is misbehaving; the checkpoint is kept"
)]
pub struct TooManyValues;

/// A page is a JSON array of logs, each with an id: anything else is an error, never a skip.
pub fn parse_logs(text: &str) -> Result<Vec<Log>> {
    use serde::de::IgnoredAny;
    // Counted first: items that are ignored take no memory.
    match serde_json::from_str::<Vec<IgnoredAny>>(text) {
        Ok(items) if items.len() > MAX_PAGE_ITEMS => return Err(TooManyValues.into()),
        Ok(_) => {}
        Err(_) if serde_json::from_str::<IgnoredAny>(text).is_ok() => {
            bail!("Auth0's logs answer is not a JSON array: {}", snippet(text))
        }
        Err(_) => bail!("Auth0's logs answer is not JSON: {}", snippet(text)),
    }
    let items: Vec<Box<RawValue>> = serde_json::from_str(text)?;
    let item = |(n, raw)| Log::parse(raw).map_err(|(why, raw)| (n, why, snippet(raw.get())));
    let logs: Result<_, _> = items.into_iter().enumerate().map(item).collect();
    logs.map_err(|(n, why, shown)| {
        anyhow!("Auth0's logs answer has a log {why} (item {n}): {shown}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

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
    fn a_page_of_too_many_items_is_refused_while_it_is_read() {
        let mut page = String::from("[");
        page.push_str(&"[],".repeat(MAX_PAGE_ITEMS));
        page.push_str("[]]");
        let e = parse_logs(&page).unwrap_err();
        assert!(e.is::<TooManyValues>(), "{e}");
        assert!(e.to_string().contains("checkpoint is kept"), "{e}");
        // Values inside a log are not items: they stay text.
        let mut deep = String::from(r#"[{"log_id":"9","a":["#);
        deep.push_str(&"[],".repeat(MAX_PAGE_ITEMS * 10));
        deep.push_str("[]]}]");
        assert_eq!(parse_logs(&deep).unwrap().len(), 1);
    }

    #[test]
    fn cached_token_is_used_only_for_its_client_and_well_before_expiry() {
        let t = CachedToken {
            access_token: Secret::new("t"),
            expires_at: 10_000,
            client_id: "a".into(),
        };
        assert_eq!(usable_until(&t, "a"), Some(10_000 - TOKEN_MARGIN));
        assert_eq!(usable_until(&t, "b"), None);
    }

    #[test]
    fn token_answers_are_parsed_and_a_form_encoded_token_is_never_shown() {
        let (t, exp) =
            parse_token(br#"{"access_token":"tok-json-1","expires_in":60}"#, 100).unwrap();
        assert_eq!((t.expose(), exp), ("tok-json-1", 160));
        let (_, exp) = parse_token(
            br#"{"access_token":"tok-json-2","expires_in":18446744073709551615}"#,
            100,
        )
        .unwrap();
        assert_eq!(exp, u64::MAX, "expiry saturates");
        let e = parse_token(b"access_token=form-token-secret-1&token_type=Bearer", 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("form-encoded") && e.contains("access_token"),
            "{e}"
        );
        assert!(!e.contains("form-token-secret-1"), "{e}");
        assert_eq!(crate::secret::scrub("x form-token-secret-1"), "x ***");
        assert!(
            parse_token(b"<html>oops</html>", 0)
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
        assert!(
            parse_token(b"{}", 0)
                .unwrap_err()
                .to_string()
                .contains("no access_token")
        );
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[ -~]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[ -~]{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever JSON a page holds, the logs taken from it are its items exactly as written.
        #[test]
        fn any_json_page_is_taken_as_written_or_refused(
            items in proptest::collection::vec(json_value(), 0..6),
            with_ids in proptest::bool::ANY,
        ) {
            let items: Vec<Value> = items
                .into_iter()
                .enumerate()
                .map(|(n, v)| match v {
                    Value::Object(mut o) if with_ids => {
                        o.insert("log_id".into(), Value::from(n.to_string()));
                        Value::Object(o)
                    }
                    other => other,
                })
                .collect();
            let text = serde_json::to_string(&items).unwrap();
            if let Ok(logs) = parse_logs(&text) {
                proptest::prop_assert_eq!(logs.len(), items.len());
                for (log, item) in logs.iter().zip(&items) {
                    proptest::prop_assert_eq!(log.raw(), serde_json::to_string(item).unwrap());
                }
            } else {
                proptest::prop_assert!(!with_ids || items.iter().any(|i| !i.is_object()));
            }
        }

        #[test]
        fn any_page_answer_is_parsed_or_refused_without_panic(text in ".{0,300}") {
            let _ = parse_logs(&text);
        }

        #[test]
        fn any_json_shaped_page_is_parsed_or_refused_without_panic(
            text in r#"[\[\]{}",:0-9a-z_ \\]{0,200}"#
        ) {
            if let Ok(logs) = parse_logs(&text) {
                proptest::prop_assert!(logs.iter().all(|l| !l.id().is_empty()));
            }
        }

        #[test]
        fn any_token_answer_is_parsed_or_refused_without_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            now in proptest::num::u64::ANY,
        ) {
            let _ = parse_token(&body, now);
        }

        #[test]
        fn any_rate_limit_header_is_read_without_panic(value in "[ -~]{0,40}", status in 100u16..600) {
            let mut headers = HeaderMap::new();
            if let Ok(v) = value.parse() {
                for name in ["x-ratelimit-reset", "x-ratelimit-limit", "x-ratelimit-remaining", "retry-after"] {
                    headers.insert(name, reqwest::header::HeaderValue::clone(&v));
                }
            }
            let pacer = crate::source::pacer::Pacer::new(crate::source::pacer::Share::Fraction(1.0));
            let stop = Stop::new();
            let soon = Instant::now() + Duration::from_millis(5);
            if let Some(t) = pacer.acquire(true, soon, &stop) {
                pacer.answer(t, status, &headers);
            }
            let _ = pacer.acquire(true, soon, &stop);
        }
    }

    #[test]
    fn credentials_error_names_the_settings_and_scope() {
        let snippet = snippet(r#"{"error":"access_denied"}"#);
        let m = CredentialsRefused(401, snippet).to_string();
        assert!(
            m.contains("AUTH0_CLIENT_SECRET") && m.contains("read:logs"),
            "{m}"
        );
    }
}
