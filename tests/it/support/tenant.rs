//! A fake Auth0 tenant: `POST /oauth/token` and `GET /api/v2/logs`, with scriptable faults,
//! latency and a token-bucket rate limit, plus generators of realistic log objects.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::http::{Reply, Request, Server, lock, parse_form, reason};

pub const CLIENT_ID: &str = "demo-client";
pub const CLIENT_SECRET: &str = "demo-secret";
/// The `hostname` field of generated logs.
pub const TENANT_HOSTNAME: &str = "demo-tenant.eu.auth0.com";
/// Date of log counter 0, in Unix milliseconds: midnight UTC three days before the test process
/// started, the same for every log of the process. Relative to now, never a calendar day, so
/// that the logs are always recent (no drift warning, within any plan's retention but the
/// Free plan's day) and always in the past (86,400 logs, 3 s apart, fit before today).
pub fn base_date_ms() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        const DAY_MS: u64 = 86_400_000;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_millis() as u64;
        (now / DAY_MS - 3) * DAY_MS
    })
}
/// Default and maximum of `take` / `per_page`.
pub const DEFAULT_TAKE: usize = 50;
pub const MAX_TAKE: usize = 100;
/// Search mode can page through this many results at most.
pub const SEARCH_WINDOW: usize = 1000;

/// A scripted fault, consumed by the next logs request (before any other handling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// That status with a short JSON error body (e.g. 502, 503, 500).
    Status(u16),
    /// 429 with `Retry-After`, `x-ratelimit-remaining: 0` and `x-ratelimit-reset` = now + secs.
    RateLimited { retry_after_secs: u64 },
    /// 200 with a `text/html` error page.
    Html,
    /// 200 with a JSON array whose element has neither `log_id` nor `_id`.
    BadJson,
    /// Close the connection without answering.
    Drop,
    /// Exactly this answer (headers such as `x-ratelimit-reset` or `Location` included).
    Reply(Reply),
    /// That status with a JSON body echoing the request: its body, then its headers, as a
    /// careless server's error page does.
    Echo(u16),
}

struct Bucket {
    limit: u32,
    window: Duration,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn rate_per_sec(&self) -> f64 {
        f64::from(self.limit) / self.window.as_secs_f64().max(0.001)
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_sec()).min(f64::from(self.limit));
        self.last = now;
    }

    /// Seconds until the bucket is full again.
    fn secs_to_full(&self) -> u64 {
        ((f64::from(self.limit) - self.tokens) / self.rate_per_sec()).ceil() as u64
    }

    /// Seconds until one more request is allowed (at least 1).
    fn secs_to_next(&self) -> u64 {
        (((1.0 - self.tokens) / self.rate_per_sec()).ceil() as u64).max(1)
    }
}

struct Token {
    issued: Instant,
    expires_in: u64,
    revoked: bool,
}

struct State {
    base_url: String,
    /// Sorted by log id.
    logs: Vec<Value>,
    tokens: HashMap<String, Token>,
    next_token: u64,
    token_requests: usize,
    token_bodies: Vec<Value>,
    token_faults: VecDeque<Fault>,
    expires_in: u64,
    latency: Duration,
    bucket: Option<Bucket>,
    faults: VecDeque<Fault>,
    fail_every_nth: Option<(usize, u16)>,
    log_request_count: usize,
    log_requests: Vec<String>,
    served: usize,
    /// Logs requests refused with 429 by the token bucket.
    refused: usize,
    /// Checkpoint mode ignores `from` (a cursor that never moves).
    ignore_from: bool,
    /// What checkpoint mode does with a `from` that is not a stored log's id.
    made_from: MadeFrom,
    /// Replaces the `Link` header of every logs answer.
    link: Option<String>,
    /// Replaces the value of every `x-ratelimit-*` header, as a proxy that rewrites them does.
    rate_headers_as: Option<String>,
}

/// What a tenant does with a `from` that is not the id of a log it stores (one made for a
/// moment): Auth0 documents `from` as a log's id, so a tenant may not take any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MadeFrom {
    /// The logs after it, as for any id.
    Taken,
    /// 400 `invalid from`.
    Refused,
    /// Answered from the oldest log, as if there were no `from`.
    Ignored,
}

/// A fake Auth0 tenant. Clones share the same state and server; the server stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct FakeTenant {
    state: Arc<Mutex<State>>,
    server: Arc<Server>,
}

impl FakeTenant {
    /// Starts a tenant holding those logs (any order; they are kept sorted by log id).
    pub fn start(logs: Vec<Value>) -> FakeTenant {
        let mut logs = logs;
        logs.sort_by(|a, b| id_of(a).cmp(id_of(b)));
        let state = Arc::new(Mutex::new(State {
            base_url: String::new(),
            logs,
            tokens: HashMap::new(),
            next_token: 1,
            token_requests: 0,
            token_bodies: Vec::new(),
            token_faults: VecDeque::new(),
            expires_in: 86_400,
            latency: Duration::ZERO,
            bucket: None,
            faults: VecDeque::new(),
            fail_every_nth: None,
            log_request_count: 0,
            log_requests: Vec::new(),
            served: 0,
            refused: 0,
            ignore_from: false,
            made_from: MadeFrom::Taken,
            link: None,
            rate_headers_as: None,
        }));
        let handler_state = Arc::clone(&state);
        let server = Server::start(move |request| handle(&handler_state, request));
        lock(&state).base_url = server.url();
        FakeTenant {
            state,
            server: Arc::new(server),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A client-credentials token request with the right credentials, as another client of the
    /// tenant makes it; the answer as it comes.
    pub fn request_token(&self, client: &reqwest::blocking::Client) -> reqwest::blocking::Response {
        let body = json!({
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "audience": format!("{}/api/v2/", self.url()),
        });
        client
            .post(format!("{}/oauth/token", self.url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("the fake tenant answers")
    }

    /// `127.0.0.1:PORT` (what a tenant "domain" would be).
    pub fn domain(&self) -> String {
        self.server.addr().to_string()
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Number of `POST /oauth/token` requests (successful or not).
    pub fn token_requests(&self) -> usize {
        lock(&self.state).token_requests
    }

    /// The parsed bodies of every token request, in order.
    pub fn token_request_bodies(&self) -> Vec<Value> {
        lock(&self.state).token_bodies.clone()
    }

    /// Every token issued so far becomes invalid.
    pub fn expire_tokens(&self) {
        for token in lock(&self.state).tokens.values_mut() {
            token.revoked = true;
        }
    }

    /// `expires_in` of tokens issued from now on (they really expire after that many seconds).
    pub fn set_token_expires_in(&self, secs: u64) {
        lock(&self.state).expires_in = secs;
    }

    /// A fault for the next token request (same shapes as the logs faults).
    pub fn push_token_fault(&self, fault: Fault) {
        lock(&self.state).token_faults.push_back(fault);
    }

    /// Delay before every logs answer (faults included).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency = latency;
    }

    /// A token bucket of `limit` requests, refilled evenly over `window`, starting full.
    /// When empty, logs requests get 429 with `Retry-After`.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        lock(&self.state).bucket = Some(Bucket {
            limit: limit.max(1),
            window,
            tokens: f64::from(limit.max(1)),
            last: Instant::now(),
        });
    }

    /// Auth0's limit of a plan: `per_sec` requests a second, `burst` at once (Enterprise: 16
    /// and 50; Free: 2 and 2).
    pub fn set_plan(&self, per_sec: f64, burst: u32) {
        self.set_rate_limit(burst, Duration::from_secs_f64(f64::from(burst) / per_sec));
    }

    /// Logs requests the token bucket refused with 429.
    pub fn refused(&self) -> usize {
        lock(&self.state).refused
    }

    pub fn clear_rate_limit(&self) {
        lock(&self.state).bucket = None;
    }

    /// Queues a fault for the next logs request not yet answered by an earlier fault.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.state).faults.push_back(fault);
    }

    pub fn pending_faults(&self) -> usize {
        lock(&self.state).faults.len()
    }

    /// Every n-th logs request (counting all of them, from now on) is answered with `status`.
    /// `n == 0` turns this off.
    pub fn fail_every_nth(&self, n: usize, status: u16) {
        let mut state = lock(&self.state);
        state.fail_every_nth = (n > 0).then_some((n, status));
        state.log_request_count = 0;
    }

    /// Adds logs while running.
    pub fn push_logs(&self, logs: Vec<Value>) {
        let mut state = lock(&self.state);
        state.logs.extend(logs);
        state.logs.sort_by(|a, b| id_of(a).cmp(id_of(b)));
    }

    /// All stored logs, sorted by log id.
    pub fn logs(&self) -> Vec<Value> {
        lock(&self.state).logs.clone()
    }

    pub fn log_count(&self) -> usize {
        lock(&self.state).logs.len()
    }

    /// Targets (path + query) of the `/api/v2/logs` requests, in order.
    pub fn log_requests(&self) -> Vec<String> {
        lock(&self.state).log_requests.clone()
    }

    /// From now on checkpoint mode answers with the first logs whatever `from` says: a cursor
    /// that does not move.
    pub fn ignore_from(&self) {
        lock(&self.state).ignore_from = true;
    }

    /// From now on checkpoint mode treats a `from` that is not a stored log's id so.
    pub fn made_from(&self, made: MadeFrom) {
        lock(&self.state).made_from = made;
    }

    /// Every `x-ratelimit-*` header of a logs answer says `value` (`n/a`, `-1`, `0`, `1.5`)
    /// instead of the bucket's figures, as a proxy that rewrites them would; the bucket still
    /// refuses what it cannot take.
    pub fn set_rate_headers_as(&self, value: &str) {
        lock(&self.state).rate_headers_as = Some(value.to_string());
    }

    /// From now on every logs answer carries this `Link` header instead of its own.
    pub fn set_link(&self, link: &str) {
        lock(&self.state).link = Some(link.to_string());
    }

    /// Log objects returned so far by successful logs answers (repeats included).
    pub fn logs_served(&self) -> usize {
        lock(&self.state).served
    }
}

fn date_of(log: &Value) -> &str {
    log.get("date").and_then(Value::as_str).unwrap_or("")
}

fn id_of(log: &Value) -> &str {
    log.get("log_id")
        .or_else(|| log.get("_id"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `reply` with the rate headers Auth0 sends on every logs answer, of a bucket that never runs
/// low (those of a fake tenant without a plan). A hand-made tenant that sends none has the tool
/// fall back to the smallest rate Auth0 publishes, and wait 1.2 s before each page but the first.
pub fn with_roomy_rate_headers(reply: Reply) -> Reply {
    reply
        .with_header("x-ratelimit-limit", 50)
        .with_header("x-ratelimit-remaining", 49)
        .with_header("x-ratelimit-reset", unix_now() + 1)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn error_body(status: u16, message: &str, code: Option<&str>) -> Value {
    let mut body = json!({
        "statusCode": status,
        "error": reason(status),
        "message": message,
    });
    if let Some(code) = code {
        body["errorCode"] = json!(code);
    }
    body
}

fn handle(state: &Mutex<State>, request: &Request) -> Reply {
    match (request.method.as_str(), request.path()) {
        ("POST", "/oauth/token") => handle_token(state, request),
        ("GET", "/api/v2/logs") => {
            let (reply, latency) = handle_logs(state, request);
            match reply {
                Reply::Drop => {
                    thread::sleep(latency);
                    Reply::Drop
                }
                reply => reply.after(latency),
            }
        }
        (_, "/oauth/token") | (_, "/api/v2/logs") => Reply::json(
            405,
            &error_body(405, "Method not allowed", Some("method_not_allowed")),
        ),
        _ => Reply::json(404, &error_body(404, "Not Found", None)),
    }
}

fn fault_reply(fault: &Fault, request: &Request, rate_headers: &[(String, String)]) -> Reply {
    let with_rate = |mut reply: Reply| {
        for (name, value) in rate_headers {
            reply = reply.with_header(name, value);
        }
        reply
    };
    match fault {
        Fault::Status(status) => with_rate(Reply::json(
            *status,
            &error_body(*status, "The logs service is temporarily unavailable", None),
        )),
        Fault::RateLimited { retry_after_secs } => Reply::json(
            429,
            &error_body(
                429,
                "Global limit has been reached",
                Some("too_many_requests"),
            ),
        )
        .with_header("x-ratelimit-limit", 50)
        .with_header("x-ratelimit-remaining", 0)
        .with_header("x-ratelimit-reset", unix_now() + retry_after_secs)
        .with_header("Retry-After", retry_after_secs),
        Fault::Html => with_rate(Reply::body(
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html>\n<html><head><title>Auth0</title></head>\
             <body><h1>Oops!, something went wrong</h1>\
             <p>There could be a misconfiguration in the system or a service outage.</p>\
             </body></html>\n",
        )),
        Fault::BadJson => with_rate(Reply::json(
            200,
            &json!([{
                "date": iso8601(base_date_ms()),
                "type": "sapi",
                "description": "a log without an id",
            }]),
        )),
        Fault::Drop => Reply::Drop,
        Fault::Reply(reply) => reply.clone(),
        Fault::Echo(status) => Reply::json(
            *status,
            &json!({
                "error": "invalid_request",
                "you_sent": {"body": request.body_text(), "headers": request.headers},
            }),
        ),
    }
}

fn handle_token(state: &Mutex<State>, request: &Request) -> Reply {
    let body: Value = match request.header("content-type") {
        Some(ct) if ct.starts_with("application/x-www-form-urlencoded") => {
            let pairs = parse_form(&request.body_text());
            Value::Object(pairs.into_iter().map(|(k, v)| (k, json!(v))).collect())
        }
        _ => request.json().unwrap_or(Value::Null),
    };
    let mut st = lock(state);
    st.token_requests += 1;
    st.token_bodies.push(body.clone());
    if let Some(fault) = st.token_faults.pop_front() {
        return fault_reply(&fault, request, &[]);
    }
    if !body.is_object() {
        return Reply::json(
            400,
            &json!({"error": "invalid_request", "error_description": "Invalid request body"}),
        );
    }
    if body["grant_type"] != json!("client_credentials") {
        return Reply::json(
            400,
            &json!({"error": "unsupported_grant_type",
                    "error_description": "Unsupported grant type"}),
        );
    }
    if body["client_id"] != json!(CLIENT_ID) || body["client_secret"] != json!(CLIENT_SECRET) {
        return Reply::json(
            401,
            &json!({"error": "access_denied", "error_description": "Unauthorized"}),
        );
    }
    let token = format!("tok-{}", st.next_token);
    st.next_token += 1;
    let expires_in = st.expires_in;
    st.tokens.insert(
        token.clone(),
        Token {
            issued: Instant::now(),
            expires_in,
            revoked: false,
        },
    );
    Reply::json(
        200,
        &json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": "read:logs",
        }),
    )
}

/// The answer to a logs request, and the latency to apply to it.
fn handle_logs(state: &Mutex<State>, request: &Request) -> (Reply, Duration) {
    let mut st = lock(state);
    let latency = st.latency;
    st.log_requests.push(request.target.clone());
    st.log_request_count += 1;

    // Rate-limit headers of this answer (computed before this request's token is taken).
    if let Some(bucket) = st.bucket.as_mut() {
        bucket.refill();
    }
    let rate_headers = |st: &State| -> Vec<(String, String)> {
        let (limit, remaining, reset) = match &st.bucket {
            Some(b) => (
                b.limit,
                b.tokens.floor() as u32,
                unix_now() + b.secs_to_full(),
            ),
            None => (50, 49, unix_now() + 1),
        };
        vec![
            ("x-ratelimit-limit".to_string(), limit.to_string()),
            ("x-ratelimit-remaining".to_string(), remaining.to_string()),
            ("x-ratelimit-reset".to_string(), reset.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name, st.rate_headers_as.clone().unwrap_or(value)))
        .collect()
    };

    if let Some(fault) = st.faults.pop_front() {
        return (fault_reply(&fault, request, &rate_headers(&st)), latency);
    }
    if let Some((n, status)) = st.fail_every_nth
        && st.log_request_count.is_multiple_of(n)
    {
        return (
            fault_reply(&Fault::Status(status), request, &rate_headers(&st)),
            latency,
        );
    }

    let respond = |st: &State, reply: Reply| {
        rate_headers(st)
            .into_iter()
            .fold(reply, |reply, (name, value)| {
                reply.with_header(&name, value)
            })
    };

    // Authentication.
    let presented = request.header("authorization").and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    let Some(presented) = presented else {
        let body = error_body(401, "Missing authentication", None);
        return (respond(&st, Reply::json(401, &body)), latency);
    };
    let valid = st
        .tokens
        .get(&presented)
        .is_some_and(|t| !t.revoked && t.issued.elapsed() < Duration::from_secs(t.expires_in));
    if !valid {
        let body = error_body(401, "Invalid token", Some("invalid_token"));
        return (respond(&st, Reply::json(401, &body)), latency);
    }

    // Rate limit.
    if let Some(bucket) = st.bucket.as_mut() {
        if bucket.tokens < 1.0 {
            let retry = bucket.secs_to_next();
            st.refused += 1;
            let body = error_body(
                429,
                "Global limit has been reached",
                Some("too_many_requests"),
            );
            let reply = respond(&st, Reply::json(429, &body)).with_header("Retry-After", retry);
            return (reply, latency);
        }
        bucket.tokens -= 1.0;
    }

    let reply = match query_logs(&st, request) {
        Ok((body, page_len, max_id, take)) => {
            st.served += page_len;
            let mut reply = respond(&st, Reply::json(200, &body));
            if let Some(link) = &st.link {
                reply = reply.with_header("Link", link);
            } else if let Some(max_id) = max_id {
                let link = format!(
                    "<{}/api/v2/logs?from={max_id}&take={take}>; rel=\"next\"",
                    st.base_url
                );
                reply = reply.with_header("Link", link);
            }
            reply
        }
        Err(message) => {
            let body = error_body(400, &message, Some("invalid_query_string"));
            respond(&st, Reply::json(400, &body))
        }
    };
    (reply, latency)
}

fn parse_count(
    request: &Request,
    name: &str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, String> {
    let Some(text) = request.query(name) else {
        return Ok(default);
    };
    let value: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("Query validation error: '{name}' must be an integer"))?;
    if value < min || value > max {
        return Err(format!(
            "Query validation error: '{name}' must be between {min} and {max}"
        ));
    }
    Ok(value)
}

/// (body, number of logs, largest log id in the page, take for the Link header)
fn query_logs(
    st: &State,
    request: &Request,
) -> Result<(Value, usize, Option<String>, usize), String> {
    if let Some(from) = request.query("from") {
        // Checkpoint mode: every other parameter is ignored.
        let take = parse_count(request, "take", DEFAULT_TAKE, 1, MAX_TAKE)?;
        let made = st
            .logs
            .binary_search_by(|log| id_of(log).cmp(from.as_str()))
            .is_err();
        if made && st.made_from == MadeFrom::Refused {
            return Err("invalid from".to_string());
        }
        let start = if st.ignore_from || made && st.made_from == MadeFrom::Ignored {
            0
        } else {
            st.logs.partition_point(|log| id_of(log) <= from.as_str())
        };
        let page: Vec<Value> = st.logs[start..].iter().take(take).cloned().collect();
        let max_id = page.last().map(|log| id_of(log).to_string());
        let len = page.len();
        return Ok((Value::Array(page), len, max_id, take));
    }

    // Search mode.
    let per_page = parse_count(request, "per_page", DEFAULT_TAKE, 1, MAX_TAKE)?;
    let page = parse_count(request, "page", 0, 0, usize::MAX)?;
    let offset = page.saturating_mul(per_page);
    if offset.saturating_add(per_page) > SEARCH_WINDOW {
        return Err(format!(
            "You can only page through the first {SEARCH_WINDOW} records. \
             See https://auth0.com/docs/logs/retrieve-log-events-using-mgmt-api#limitations"
        ));
    }
    let oldest_first = request
        .query("sort")
        .is_some_and(|sort| sort.trim() == "date:1");
    // Of the query syntax, only the date range that finds where a date starts: `date:[X TO *]`,
    // dates compared as text (they all have the same shape). Any other `q` is ignored.
    let since = request.query("q").and_then(|q| {
        let since = q.strip_prefix("date:[")?.strip_suffix(" TO *]")?;
        Some(since.to_string())
    });
    let mut order: Vec<&Value> = st
        .logs
        .iter()
        .filter(|log| since.as_deref().is_none_or(|since| date_of(log) >= since))
        .collect();
    order.sort_by(|a, b| (date_of(a), id_of(a)).cmp(&(date_of(b), id_of(b))));
    if !oldest_first {
        order.reverse();
    }
    let total = order.len();
    let logs: Vec<Value> = order
        .into_iter()
        .skip(offset)
        .take(per_page)
        .cloned()
        .collect();
    let max_id = logs.iter().map(id_of).max().map(str::to_string);
    let len = logs.len();
    let body = if request.query("include_totals").as_deref() == Some("true") {
        json!({"start": offset, "limit": per_page, "length": len, "total": total, "logs": logs})
    } else {
        Value::Array(logs)
    };
    Ok((body, len, max_id, per_page))
}

// ---------------------------------------------------------------------------------------------
// Log generators
// ---------------------------------------------------------------------------------------------

/// The 56-digit log id of a counter, shaped as Auth0's: `"900"`, the 17-digit UTC time the log
/// was stored (`YYYYMMDDhhmmssSSS`; here its date), then the counter padded to 36 digits. Ids
/// sort (as strings) in counter order.
pub fn log_id(counter: u64) -> String {
    stored_id(counter, log_date_ms(counter))
}

/// The id of a log with that counter stored at `stored_ms` (Unix milliseconds).
pub fn stored_id(counter: u64, stored_ms: u64) -> String {
    let stamp: String = iso8601(stored_ms)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!("900{stamp}{counter:036}")
}

/// A log that happened at its counter's date but was stored `late_ms` later, as Auth0 does
/// under load: its id sorts after logs that happened after it.
pub fn stored_late(mut log: Value, counter: u64, late_ms: u64) -> Value {
    let id = stored_id(counter, log_date_ms(counter) + late_ms);
    log["log_id"] = json!(id);
    log["_id"] = json!(id);
    log
}

/// The date of a counter, in Unix milliseconds: 3 s apart plus a jitter below 2 s, so
/// strictly increasing with the counter.
pub fn log_date_ms(counter: u64) -> u64 {
    let jitter = counter.wrapping_mul(2_654_435_761) % 2000;
    base_date_ms() + counter * 3000 + jitter
}

/// The ISO 8601 date of a counter, e.g. `2026-11-27T00:00:03.123Z`.
pub fn log_date(counter: u64) -> String {
    iso8601(log_date_ms(counter))
}

/// Formats Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let millis = unix_ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// `n` realistic logs for counters `1..=n` (so `log_id(0)` sorts before all of them):
/// about 60 % `sapi`, 15 % `fapi`, the rest `s`, `f`, `seacft` and `mgmt_api_read`.
/// Deterministic for a given seed.
pub fn realistic_logs(n: usize, seed: u64) -> Vec<Value> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (1..=n as u64)
        .map(|counter| {
            let roll = rng.u32(0..100);
            let kind = match roll {
                0..60 => "sapi",
                60..75 => "fapi",
                75..85 => "s",
                85..92 => "f",
                92..97 => "seacft",
                _ => "mgmt_api_read",
            };
            let call = matches!(kind, "sapi" | "fapi").then(|| random_call(&mut rng));
            let omit_details = kind == "sapi" && rng.u32(0..100) < 2;
            let (method, path) = call.unwrap_or_default();
            build_log(&mut rng, counter, kind, &method, &path, omit_details)
        })
        .collect()
}

/// One log with that counter's id and date. For `sapi`/`fapi` the request has that method
/// (any case; stored lower case) and path; for other types both are ignored.
pub fn log(id_counter: u64, kind: &str, method: &str, path: &str) -> Value {
    let mut rng = fastrand::Rng::with_seed(id_counter ^ 0x5eed_1095);
    build_log(
        &mut rng,
        id_counter,
        kind,
        &method.to_ascii_lowercase(),
        path,
        false,
    )
}

const ADMINS: &[(&str, &str, &str)] = &[
    (
        "google-oauth2|104625348921003845726",
        "Ada Admin",
        "ada@example.com",
    ),
    (
        "auth0|65a1f0c2e4b0d1a2b3c4d5e6",
        "Bob Ops",
        "bob.ops@example.com",
    ),
    (
        "samlp|corp|carol@example.com",
        "Carol Security",
        "carol@example.com",
    ),
];

const CLIENTS: &[(&str, &str)] = &[
    ("Zk3nR8pQ2vX7mL1tY6wB9cD4fG0hJ5sA", "Auth0 Dashboard"),
    ("qW4eR7tY1uI9oP3aS6dF2gH8jK5lZ0xC", "Terraform Provider"),
    ("mN2bV5cX8zL1kJ4hG7fD0sA3pO6iU9yT", "Deploy CLI"),
    ("Hc9Xv2Lq7Rm4Tn1Bw8Zs5Kd3Pf6Yg0Ja", "Backoffice Sync"),
];

const APPS: &[(&str, &str)] = &[
    ("aP1sD2fG3hJ4kL5zX6cV7bN8mQ9wE0rT", "Storefront"),
    ("yU7iO8pA9sD0fG1hJ2kL3zX4cV5bN6mQ", "Mobile App"),
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "node-auth0/4.14.0 (node.js/v20.18.0)",
    "Go-http-client/2.0",
    "terraform-provider-auth0/1.8.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
     Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
];

fn hex(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
        .collect()
}

fn alnum(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len).map(|_| rng.alphanumeric()).collect()
}

fn ip(rng: &mut fastrand::Rng) -> String {
    let prefix = ["203.0.113", "198.51.100", "192.0.2"][rng.usize(0..3)];
    format!("{prefix}.{}", rng.u8(1..255))
}

/// A random Management API call: (lower-case method, path).
fn random_call(rng: &mut fastrand::Rng) -> (String, String) {
    if rng.u32(0..100) < 5 {
        // Recorded without the /api prefix.
        let (method, path) = if rng.bool() {
            (
                ["get", "patch", "delete"][rng.usize(0..3)],
                format!("/v2/users/auth0|{}", hex(rng, 24)),
            )
        } else {
            (["get", "post"][rng.usize(0..2)], "/v2/users".to_string())
        };
        return (method.to_string(), path);
    }
    let (methods, path): (&[&str], String) = match rng.u32(0..100) {
        0..20 => (&["get", "get", "post"], "/api/v2/users".to_string()),
        20..40 => (
            &["get", "patch", "patch", "delete"],
            format!("/api/v2/users/auth0|{}", hex(rng, 24)),
        ),
        40..47 => (&["get"], "/api/v2/users-by-email".to_string()),
        47..55 => (&["get", "post"], "/api/v2/clients".to_string()),
        55..67 => (
            &["get", "patch", "delete"],
            format!("/api/v2/clients/{}", alnum(rng, 32)),
        ),
        67..75 => (&["get", "post"], "/api/v2/connections".to_string()),
        75..82 => (
            &["get", "patch", "delete"],
            format!("/api/v2/rules/rul_{}", alnum(rng, 16)),
        ),
        82..88 => (&["get", "patch"], "/api/v2/emails/provider".to_string()),
        88..94 => (&["get"], "/api/v2/stats/daily".to_string()),
        _ => (&["get", "patch"], "/api/v2/tenants/settings".to_string()),
    };
    (methods[rng.usize(0..methods.len())].to_string(), path)
}

/// The resource part of a Management API path: `users`, `clients`, ... and whether it names
/// one object (`/users/{id}`).
fn resource(path: &str) -> (&str, bool) {
    let rest = path
        .strip_prefix("/api/v2/")
        .or_else(|| path.strip_prefix("/v2/"))
        .unwrap_or(path.trim_start_matches('/'));
    let mut parts = rest.splitn(2, '/');
    let first = parts.next().unwrap_or("");
    let single = parts.next().is_some_and(|id| !id.is_empty());
    (first, single)
}

fn describe(method: &str, path: &str) -> String {
    let (res, single) = resource(path);
    let noun = match res {
        "users" | "users-by-email" => "User",
        "clients" => "Client",
        "connections" => "Connection",
        "rules" => "Rule",
        "emails" => "Email Provider",
        "stats" => "Daily Stats",
        "tenants" => "Tenant Settings",
        other => other,
    };
    match (
        method,
        single || matches!(res, "emails" | "tenants" | "stats"),
    ) {
        ("get", false) if res == "users-by-email" => "Get users by email".to_string(),
        ("get", false) => format!("Get {}s", noun.to_ascii_lowercase()),
        ("get", true) => format!("Get {noun}"),
        ("post", _) => format!("Create a {noun}"),
        ("patch", _) | ("put", _) => format!("Update a {noun}"),
        ("delete", _) => format!("Delete a {noun}"),
        (other, _) => format!("{} {path}", other.to_ascii_uppercase()),
    }
}

fn request_body(rng: &mut fastrand::Rng, method: &str, path: &str) -> Value {
    if !matches!(method, "post" | "patch" | "put") {
        return json!({});
    }
    let (res, single) = resource(path);
    match (res, single) {
        ("users", false) => json!({
            "email": format!("user{}@example.org", rng.u32(1000..99999)),
            "connection": "Username-Password-Authentication",
            "password": "[REDACTED]",
            "email_verified": false,
        }),
        ("users", true) => match rng.u32(0..3) {
            0 => json!({"blocked": rng.bool()}),
            1 => {
                let plan = ["free", "pro", "team"][rng.usize(0..3)];
                json!({"app_metadata": {"plan": plan}})
            }
            _ => json!({"email": format!("renamed{}@example.org", rng.u32(1000..99999))}),
        },
        ("clients", false) => json!({
            "name": format!("App {}", rng.u32(1..500)),
            "app_type": "regular_web",
            "callbacks": ["https://app.example.com/callback"],
        }),
        ("clients", true) => json!({
            "callbacks": ["https://app.example.com/callback", "http://localhost:3000/callback"],
        }),
        ("connections", _) => json!({
            "name": format!("db-{}", rng.u32(1..100)),
            "strategy": "auth0",
        }),
        ("rules", _) => json!({"enabled": rng.bool()}),
        ("emails", _) => json!({"name": "sendgrid", "enabled": true,
                               "credentials": {"api_key": "[REDACTED]"}}),
        ("tenants", _) => json!({"friendly_name": "Demo Tenant", "session_lifetime": 168}),
        _ => json!({}),
    }
}

fn success_response(rng: &mut fastrand::Rng, method: &str, path: &str) -> Value {
    let (res, single) = resource(path);
    let status = match method {
        "post" => 201,
        "delete" => 204,
        _ => 200,
    };
    let body = match (method, res, single) {
        ("delete", _, _) => json!({}),
        ("get", "users" | "users-by-email", false) => json!([
            {"user_id": format!("auth0|{}", hex(rng, 24)), "email": "someone@example.org"}
        ]),
        (_, "users", _) => json!({
            "user_id": format!("auth0|{}", hex(rng, 24)),
            "email": "someone@example.org",
            "updated_at": "2026-11-19T10:00:00.000Z",
        }),
        ("get", "clients", false) => json!([{"client_id": alnum(rng, 32), "name": "Storefront"}]),
        (_, "clients", _) => json!({"client_id": alnum(rng, 32), "name": "Storefront"}),
        (_, "connections", false) if method == "get" => {
            json!([{"id": format!("con_{}", alnum(rng, 16)), "strategy": "auth0"}])
        }
        (_, "connections", _) => json!({"id": format!("con_{}", alnum(rng, 16))}),
        (_, "stats", _) => json!([{"date": "2026-11-19T00:00:00.000Z", "logins": rng.u32(0..900)}]),
        _ => json!({"ok": true}),
    };
    json!({"statusCode": status, "body": body})
}

fn failure_response(rng: &mut fastrand::Rng, method: &str, path: &str) -> (Value, String) {
    let (res, _) = resource(path);
    let noun = match res {
        "users" | "users-by-email" => "user",
        "clients" => "client",
        "connections" => "connection",
        "rules" => "rule",
        _ => "resource",
    };
    let scope_verb = match method {
        "get" => "read",
        "post" => "create",
        "delete" => "delete",
        _ => "update",
    };
    let (status, code, message) = match rng.u32(0..6) {
        0 if method != "get" && method != "delete" => (
            400,
            "invalid_body",
            "Payload validation error: 'Invalid value' on property name".to_string(),
        ),
        1 => (
            403,
            "insufficient_scope",
            format!("Insufficient scope, expected any of: {scope_verb}:{noun}s"),
        ),
        2 if method == "post" => (409, "conflict", format!("The {noun} already exists.")),
        3 => (
            401,
            "invalid_token",
            "Expired token received for JSON Web Token validation".to_string(),
        ),
        4 => (
            429,
            "too_many_requests",
            "Global limit has been reached".to_string(),
        ),
        _ => (
            404,
            "inexistent_resource",
            format!("The {noun} does not exist."),
        ),
    };
    let response = json!({
        "statusCode": status,
        "body": {"statusCode": status, "error": reason(status), "message": message,
                 "errorCode": code},
    });
    (response, message)
}

fn build_log(
    rng: &mut fastrand::Rng,
    counter: u64,
    kind: &str,
    method: &str,
    path: &str,
    omit_details: bool,
) -> Value {
    let id = log_id(counter);
    let date_ms = log_date_ms(counter);
    let caller_ip = ip(rng);
    let user_agent = USER_AGENTS[rng.usize(0..USER_AGENTS.len())];
    let end_user = format!("auth0|{}", hex(rng, 24));

    let (description, client, user_id, is_mobile, details) = match kind {
        "sapi" | "fapi" => {
            let admin = ADMINS[rng.usize(0..ADMINS.len())];
            let client = CLIENTS[rng.usize(0..CLIENTS.len())];
            let scopes: Vec<&str> = match resource(path).0 {
                "users" | "users-by-email" => vec!["read:users", "update:users", "create:users"],
                "clients" => vec!["read:clients", "update:clients", "create:clients"],
                "connections" => vec!["read:connections", "create:connections"],
                "rules" => vec!["read:rules", "update:rules", "delete:rules"],
                "emails" => vec!["read:email_provider", "update:email_provider"],
                "stats" => vec!["read:stats"],
                _ => vec!["read:tenant_settings", "update:tenant_settings"],
            };
            let mut query = json!({});
            if resource(path).0 == "users-by-email" {
                query = json!({"email": format!("user{}@example.org", rng.u32(1000..99999))});
            } else if resource(path).0 == "stats" {
                query = json!({"from": "20261101", "to": "20261119"});
            }
            let request = json!({
                "method": method,
                "path": path,
                "query": query,
                "body": request_body(rng, method, path),
                "channel": "https://manage.auth0.com/",
                "ip": caller_ip,
                "auth": {
                    "user": {"user_id": admin.0, "name": admin.1, "email": admin.2},
                    "strategy": "jwt",
                    "credentials": {"jti": hex(rng, 32), "scopes": scopes},
                },
            });
            let (response, description) = if kind == "sapi" {
                (success_response(rng, method, path), describe(method, path))
            } else {
                failure_response(rng, method, path)
            };
            let details = json!({"request": request, "response": response});
            (
                description,
                client,
                admin.0.to_string(),
                false,
                Some(details),
            )
        }
        "s" => {
            let app = APPS[rng.usize(0..APPS.len())];
            let details = json!({
                "prompts": [],
                "initiatedAt": date_ms - 2100,
                "completedAt": date_ms,
                "elapsedTime": 2100,
                "session_id": alnum(rng, 32),
            });
            (
                "Success Login".to_string(),
                app,
                end_user,
                rng.u32(0..10) == 0,
                Some(details),
            )
        }
        "f" => {
            let app = APPS[rng.usize(0..APPS.len())];
            let details = json!({"error": {"message": "Wrong email or password."}});
            (
                "Wrong email or password.".to_string(),
                app,
                end_user,
                rng.u32(0..10) == 0,
                Some(details),
            )
        }
        "seacft" => {
            let app = APPS[rng.usize(0..APPS.len())];
            let details = json!({"code": format!("*************{}", alnum(rng, 4))});
            (
                "Authorization Code for Access Token".to_string(),
                app,
                end_user,
                false,
                Some(details),
            )
        }
        "mgmt_api_read" => {
            let admin = ADMINS[rng.usize(0..ADMINS.len())];
            let client = CLIENTS[rng.usize(0..CLIENTS.len())];
            let details = json!({"accessedSecrets": ["client_secret"]});
            (
                "API GET operation returned secrets".to_string(),
                client,
                admin.0.to_string(),
                false,
                Some(details),
            )
        }
        other => {
            let app = APPS[rng.usize(0..APPS.len())];
            (
                format!("{other} event"),
                app,
                end_user,
                false,
                Some(json!({})),
            )
        }
    };

    let mut log = json!({
        "date": iso8601(date_ms),
        "type": kind,
        "description": description,
        "client_id": client.0,
        "client_name": client.1,
        "ip": caller_ip,
        "user_agent": user_agent,
        "user_id": user_id,
        "hostname": TENANT_HOSTNAME,
        "isMobile": is_mobile,
        "log_id": id,
        "_id": id,
    });
    if let Some(details) = details.filter(|_| !omit_details) {
        log["details"] = details;
    }
    log
}
