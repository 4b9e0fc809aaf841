//! The HTTP server under the fakes, for tests and benchmarks: hyper serves HTTP/1.1 on
//! `127.0.0.1:0` (keep-alive, chunked request bodies, `Expect: 100-continue`), and every request
//! goes to a plain blocking handler that says what to answer, or to close the connection
//! without an answer. The connections are accepted here, so that they can be counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::runtime::Runtime;

/// Locks a fake's state. A poisoned lock means a handler (or a test) panicked while holding
/// it: whoever takes it next fails loudly, rather than read state left half-changed.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|_| {
        panic!("a fake's lock is poisoned: a handler panicked while holding it (see above)")
    })
}

/// One request as received by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path and `?query`, exactly as received on the request line.
    pub target: String,
    /// Header names (lower case) and values as received.
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked transfer coding removed (content codings such as gzip are
    /// left alone).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header with that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        match self.target.split_once('?') {
            Some((path, _)) => path,
            None => &self.target,
        }
    }

    /// The first query parameter with that name, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        parse_form(query)
            .into_iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }
}

/// What the handler wants the server to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answer, after waiting `delay`. `Content-Length` is set by the server (any
    /// `Content-Length` or `Transfer-Encoding` header given here is ignored).
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
    },
    /// Close the TCP connection without answering.
    Drop,
}

impl Reply {
    /// An answer with that status and an empty body.
    pub fn status(status: u16) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// An answer with a JSON body (`Content-Type: application/json`).
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        let body = serde_json::to_vec(value).expect("a serde_json::Value always serializes");
        Reply::body(status, "application/json; charset=utf-8", body)
    }

    /// An answer with any body and content type.
    pub fn body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Respond {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// An answer with a plain text body.
    pub fn text(status: u16, body: &str) -> Reply {
        Reply::body(status, "text/plain; charset=utf-8", body)
    }

    /// Adds a header (no effect on `Reply::Drop`).
    pub fn with_header(mut self, name: &str, value: impl ToString) -> Reply {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Waits that long before answering (no effect on `Reply::Drop`; replaces any earlier delay).
    pub fn after(mut self, wait: Duration) -> Reply {
        if let Reply::Respond { delay, .. } = &mut self {
            *delay = wait;
        }
        self
    }

    /// The status this reply answers with, 0 for `Reply::Drop`.
    pub fn status_code(&self) -> u16 {
        match self {
            Reply::Respond { status, .. } => *status,
            Reply::Drop => 0,
        }
    }

    /// The first header with that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        match self {
            Reply::Respond { headers, .. } => find_header(headers, name),
            Reply::Drop => None,
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync + 'static;

#[derive(Default)]
struct Counts {
    requests: AtomicUsize,
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// What each handler that panicked was asked, and its message.
    panics: Mutex<Vec<String>>,
}

/// Counts a request as in flight until dropped.
struct InFlight(Arc<Counts>);

impl InFlight {
    fn enter(counts: &Arc<Counts>) -> InFlight {
        let now = counts.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counts.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(Arc::clone(counts))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running server. Dropping it stops accepting and closes the open connections, and fails
/// the test if a handler panicked (a failed assertion in a fake answers 500, which the tool
/// under test may well retry or set aside: the test must not pass on it).
pub struct Server {
    addr: SocketAddr,
    counts: Arc<Counts>,
    runtime: Option<Runtime>,
}

impl Server {
    /// Starts a server on `127.0.0.1` with a port chosen by the system.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let runtime = runtime();
        let listener = listen(&runtime);
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let counts = Arc::new(Counts::default());
        let handler: Arc<Handler> = Arc::new(handler);
        let accept_counts = Arc::clone(&counts);
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    // E.g. too many open files: back off a little and keep serving.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                accept_counts.connections.fetch_add(1, Ordering::SeqCst);
                let _ = tcp.set_nodelay(true);
                let (handler, counts) = (Arc::clone(&handler), Arc::clone(&accept_counts));
                let service = service_fn(move |request| {
                    answer(request, Arc::clone(&handler), Arc::clone(&counts))
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(tcp), service));
            }
        });
        Server {
            addr,
            counts,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests fully read so far (including the ones answered with `Reply::Drop`).
    pub fn request_count(&self) -> usize {
        self.counts.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far (shows whether clients reuse connections).
    pub fn connection_count(&self) -> usize {
        self.counts.connections.load(Ordering::SeqCst)
    }

    /// The most requests handled at the same time (from fully read to answered) so far.
    pub fn max_in_flight(&self) -> usize {
        self.counts.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        let panics =
            std::mem::take(&mut *self.counts.panics.lock().unwrap_or_else(|p| p.into_inner()));
        // A test already failing says so itself; a second panic would abort the process.
        if !panics.is_empty() && !std::thread::panicking() {
            panic!(
                "{} handler(s) of the test server at {} panicked:\n{}",
                panics.len(),
                self.addr,
                panics.join("\n")
            );
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

/// A small runtime for one server: its connections are few, its handlers block on their own
/// threads.
pub(crate) fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("start a runtime for a test server")
}

/// A listener on `127.0.0.1:0`, bound before the server is handed out so that its URL works
/// at once.
pub(crate) fn listen(runtime: &Runtime) -> tokio::net::TcpListener {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let _entered = runtime.enter();
    tokio::net::TcpListener::from_std(listener).expect("a listener the runtime can poll")
}

/// The handler's `Reply::Drop`: hyper closes a connection whose service fails, without
/// answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the test handler dropped the connection")
    }
}

impl std::error::Error for Dropped {}

async fn answer(
    request: hyper::Request<Incoming>,
    handler: Arc<Handler>,
    counts: Arc<Counts>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let (head, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let request = Request {
        method: head.method.to_string(),
        target: head
            .uri
            .path_and_query()
            .map_or("/", |target| target.as_str())
            .to_string(),
        headers: head
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.to_string(), value)
            })
            .collect(),
        body: body.to_vec(),
    };
    counts.requests.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight::enter(&counts);
    let asked = format!("{} {}", request.method, request.target);
    let reply = match tokio::task::spawn_blocking(move || handler(&request)).await {
        Ok(reply) => reply,
        Err(e) => {
            let payload = e.try_into_panic().ok();
            let message = payload
                .as_deref()
                .and_then(|p| p.downcast_ref::<String>().cloned())
                .or_else(|| {
                    payload
                        .as_deref()
                        .and_then(|p| p.downcast_ref::<&str>())
                        .map(|m| m.to_string())
                })
                .unwrap_or_default();
            let mut panics = counts.panics.lock().unwrap_or_else(|p| p.into_inner());
            panics.push(format!("  {asked}: {message}"));
            Reply::text(500, "the test handler panicked")
        }
    };
    let Reply::Respond {
        status,
        headers,
        body,
        delay,
    } = reply
    else {
        return Err(Dropped);
    };
    tokio::time::sleep(delay).await;
    let mut response = hyper::Response::builder().status(status);
    for (name, value) in &headers {
        if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("transfer-encoding")
        {
            response = response.header(name, value);
        }
    }
    Ok(response
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| {
            let mut refused = hyper::Response::new(Full::new(Bytes::from_static(
                b"the test handler's reply is not valid HTTP",
            )));
            *refused.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            refused
        }))
}

/// The first header with that name (case-insensitive).
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Parses `a=1&b=x%20y` (query strings, form bodies) into decoded pairs.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// The standard reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Unknown")
}
