//! A fake webhook receiver that records every request and answers as scripted.

use std::collections::{BTreeSet, VecDeque};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::http::{Reply, Request, Server, find_header, lock};

/// How the receiver answers when its scripted queue is empty.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// 200.
    Accept,
    /// Always that status.
    Status(u16),
    /// Fails a `fail_ratio` share of requests (seeded, so reproducible) with `status`; every
    /// `retry_after_every`-th failure is a 429 with `Retry-After: 1` instead.
    Flaky {
        fail_ratio: f64,
        status: u16,
        seed: u64,
        retry_after_every: Option<usize>,
    },
    /// 302 with that `Location`.
    Redirect(String),
    /// Always that status, with a body echoing the request's headers (Authorization and custom
    /// headers first), as a careless receiver's error page does.
    Echo(u16),
}

/// One request the receiver got.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The body, gunzipped when `Content-Encoding: gzip` (raw if it does not gunzip).
    pub body: Vec<u8>,
    /// Size of the body as sent (before gunzipping).
    pub wire_len: usize,
    /// What the receiver answered; 0 when it dropped the connection.
    pub status: u16,
    /// The log ids of the items, read from the body once when it came: tests poll
    /// `delivered_ids` while a run goes on, and parsing every body again at each poll, under
    /// the lock the handler takes, slowed a backfill of thousands of logs to a crawl.
    ids: Vec<String>,
}

impl Received {
    /// The first header with that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The items in the body (see [`parse_items`]).
    pub fn items(&self) -> Vec<Value> {
        parse_items(&self.body)
    }

    /// The log ids of the items, in order (items without one are skipped).
    pub fn log_ids(&self) -> Vec<String> {
        self.ids.clone()
    }
}

/// Splits a body into items: a JSON array gives its elements, any other JSON value gives
/// itself, and JSON lines (one value per non-empty line) give one item per line. A body that
/// is none of these gives no items.
pub fn parse_items(body: &[u8]) -> Vec<Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items,
        Ok(value) => vec![value],
        Err(_) => {
            let Ok(text) = std::str::from_utf8(body) else {
                return Vec::new();
            };
            let lines: Result<Vec<Value>, _> = text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(serde_json::from_str::<Value>)
                .collect();
            lines.unwrap_or_default()
        }
    }
}

/// The log id of an item: `log_id`, else `_id`, else the same inside a `data` envelope.
pub fn item_log_id(item: &Value) -> Option<String> {
    let direct = |v: &Value| {
        v.get("log_id")
            .or_else(|| v.get("_id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    direct(item).or_else(|| item.get("data").and_then(direct))
}

struct State {
    requests: Vec<Received>,
    behaviour: Behaviour,
    rng: fastrand::Rng,
    failures: usize,
    queue: VecDeque<Reply>,
    delay: Duration,
}

/// A fake webhook receiver. Clones share the same state and server.
#[derive(Clone)]
pub struct FakeReceiver {
    state: Arc<Mutex<State>>,
    server: Arc<Server>,
}

impl FakeReceiver {
    /// Starts a receiver that accepts everything (on any path).
    pub fn start() -> FakeReceiver {
        let state = Arc::new(Mutex::new(State {
            requests: Vec::new(),
            behaviour: Behaviour::Accept,
            rng: fastrand::Rng::with_seed(0),
            failures: 0,
            queue: VecDeque::new(),
            delay: Duration::ZERO,
        }));
        let handler_state = Arc::clone(&state);
        let server = Server::start(move |request| handle(&handler_state, request));
        FakeReceiver {
            state,
            server: Arc::new(server),
        }
    }

    /// `http://127.0.0.1:PORT/hook` (any path is accepted).
    pub fn url(&self) -> String {
        format!("{}/hook", self.server.url())
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Replaces the behaviour (and restarts a `Flaky` sequence from its seed).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        let mut state = lock(&self.state);
        if let Behaviour::Flaky { seed, .. } = &behaviour {
            state.rng = fastrand::Rng::with_seed(*seed);
        }
        state.failures = 0;
        state.behaviour = behaviour;
    }

    /// Queues a reply for the next request; queued replies are used before the behaviour.
    pub fn push_reply(&self, reply: Reply) {
        lock(&self.state).queue.push_back(reply);
    }

    /// A delay added to every answer (dropped connections included).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    pub fn requests(&self) -> Vec<Received> {
        lock(&self.state).requests.clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// Forgets the recorded requests (behaviour, queue and delay are kept).
    pub fn clear(&self) {
        lock(&self.state).requests.clear();
    }

    /// The log id of every item of every request answered 2xx, in arrival order, repeats
    /// included.
    pub fn delivered_ids(&self) -> Vec<String> {
        let state = lock(&self.state);
        state
            .requests
            .iter()
            .filter(|r| r.accepted())
            .flat_map(|r| r.ids.iter().cloned())
            .collect()
    }

    pub fn unique_delivered(&self) -> BTreeSet<String> {
        self.delivered_ids().into_iter().collect()
    }

    /// The items of every request answered 2xx, in arrival order.
    pub fn items(&self) -> Vec<Value> {
        let state = lock(&self.state);
        state
            .requests
            .iter()
            .filter(|r| r.accepted())
            .flat_map(Received::items)
            .collect()
    }

    /// The peak number of requests handled at the same time (from fully read to answered).
    pub fn max_in_flight(&self) -> usize {
        self.server.max_in_flight()
    }
}

fn gunzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn decide(state: &mut State, request: &Request) -> Reply {
    if let Some(reply) = state.queue.pop_front() {
        return reply;
    }
    match state.behaviour.clone() {
        Behaviour::Accept => Reply::status(200),
        Behaviour::Status(status) => Reply::status(status),
        Behaviour::Redirect(location) => Reply::status(302).with_header("Location", location),
        Behaviour::Echo(status) => {
            // Authorization and custom headers first, so that an error message's snippet of
            // the answer has them.
            let mut headers: Vec<(&String, &String)> =
                request.headers.iter().map(|(k, v)| (k, v)).collect();
            headers.sort_by_key(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !(k == "authorization" || k.starts_with("x-"))
            });
            let headers: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            Reply::text(
                status,
                &format!("refused; you sent {}", headers.join(" | ")),
            )
        }
        Behaviour::Flaky {
            fail_ratio,
            status,
            retry_after_every,
            ..
        } => {
            if state.rng.f64() >= fail_ratio {
                return Reply::status(200);
            }
            state.failures += 1;
            match retry_after_every {
                Some(k) if k > 0 && state.failures.is_multiple_of(k) => {
                    Reply::status(429).with_header("Retry-After", 1)
                }
                _ => Reply::status(status),
            }
        }
    }
}

fn handle(state: &Mutex<State>, request: &Request) -> Reply {
    let gzipped = request.header("content-encoding").is_some_and(|encoding| {
        encoding
            .split(',')
            .any(|e| e.trim().eq_ignore_ascii_case("gzip"))
    });
    let body = if gzipped {
        gunzip(&request.body).unwrap_or_else(|| request.body.clone())
    } else {
        request.body.clone()
    };
    let ids = parse_items(&body).iter().filter_map(item_log_id).collect();
    let (reply, delay) = {
        let mut st = lock(state);
        let reply = decide(&mut st, request);
        st.requests.push(Received {
            method: request.method.clone(),
            target: request.target.clone(),
            headers: request.headers.clone(),
            body,
            wire_len: request.body.len(),
            status: reply.status_code(),
            ids,
        });
        (reply, st.delay)
    };
    match reply {
        Reply::Drop => {
            thread::sleep(delay);
            Reply::Drop
        }
        Reply::Respond {
            status,
            headers,
            body,
            delay: own,
        } => Reply::Respond {
            status,
            headers,
            body,
            delay: own + delay,
        },
    }
}
