//! A minimal threaded HTTP/1.1 server on `std::net`, for tests and benchmarks.
//!
//! One thread accepts connections on `127.0.0.1:0`, and every connection gets its own thread.
//! Connections are kept alive (HTTP/1.1) until the client closes them, asks for
//! `Connection: close`, or the handler's reply carries `Connection: close`. Request bodies may
//! be sent with `Content-Length` or `Transfer-Encoding: chunked`; answers always carry a
//! `Content-Length`. `Server::start_with` serves another kind of connection over the accepted
//! TCP stream (`tls.rs` uses it for HTTPS).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Longest request line or header line accepted.
const MAX_LINE: u64 = 64 * 1024;
/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 200;
/// Largest request body accepted.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Locks a mutex, ignoring poisoning (a panicking handler must not wedge the fakes).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One request as received by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path and `?query`, exactly as received on the request line.
    pub target: String,
    /// Header names and values as received (names keep their case).
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

    /// The raw query string (without `?`), if any.
    pub fn query_string(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// All query parameters, percent-decoded (`+` decodes to a space), in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query_string().map(parse_form).unwrap_or_default()
    }

    /// The first query parameter with that name, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        self.query_pairs()
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
    /// Answer, after waiting `delay`. `Content-Length` is added by the server (any
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

/// A connection requests are read from and answers written to: the TCP stream itself, or a
/// wrapper around it such as a TLS session.
pub trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// Turns an accepted TCP stream into the connection to serve. It runs on the connection's
/// own thread, so a slow or failed handshake never holds up the accept loop.
pub type Wrap = dyn Fn(TcpStream) -> io::Result<Box<dyn Conn>> + Send + Sync + 'static;

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    requests: AtomicUsize,
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    next_conn_id: AtomicU64,
    /// Open connections, so that dropping the server can close them.
    open: Mutex<HashMap<u64, TcpStream>>,
}

/// Counts a request as in flight until dropped.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> InFlight<'a> {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running server. Dropping it stops accepting and closes the open connections.
pub struct Server {
    addr: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a server on `127.0.0.1` with a port chosen by the system.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let plain: Arc<Wrap> = Arc::new(|stream| Ok(Box::new(stream) as Box<dyn Conn>));
        Server::start_with("http", plain, handler)
    }

    /// Starts a server whose connections are `wrap`ped (e.g. in TLS) before requests are read;
    /// `scheme` is what `url()` starts with.
    pub fn start_with(
        scheme: &'static str,
        wrap: Arc<Wrap>,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let shared = Arc::new(Shared::default());
        let handler: Arc<Handler> = Arc::new(handler);
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("http-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, accept_shared, wrap, handler))
            .expect("spawn the accept thread");
        Server {
            addr,
            scheme,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// `http://127.0.0.1:PORT` (or `https://` for a TLS server), without a trailing slash.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests fully read so far (including the ones answered with `Reply::Drop`).
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far (shows whether clients reuse connections).
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Requests being handled right now (fully read, answer not yet written).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The peak of `in_flight()` since the start (or the last `reset_max_in_flight`).
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn reset_max_in_flight(&self) {
        self.shared
            .max_in_flight
            .store(self.in_flight(), Ordering::SeqCst);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept thread, which is blocked in accept().
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if let Some(accept_thread) = self.accept_thread.take()
            && woke
        {
            let _ = accept_thread.join();
        }
        for (_, stream) in lock(&self.shared.open).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, wrap: Arc<Wrap>, handler: Arc<Handler>) {
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // E.g. too many open files: back off a little and keep serving.
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let id = shared.next_conn_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.open).insert(id, clone);
        }
        let conn_shared = Arc::clone(&shared);
        let conn_handler = Arc::clone(&handler);
        let conn_wrap = Arc::clone(&wrap);
        let spawned = thread::Builder::new()
            .name(format!("http-conn-{id}"))
            .spawn(move || {
                let _ = serve_connection(&stream, &*conn_wrap, &conn_shared, &*conn_handler);
                let _ = stream.shutdown(Shutdown::Both);
                lock(&conn_shared.open).remove(&id);
            });
        if spawned.is_err()
            && let Some(stream) = lock(&shared.open).remove(&id)
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Why reading a request stopped.
enum ReadError {
    /// The client closed the connection between requests.
    Closed,
    /// The client sent something we cannot parse: answer 400 and close.
    Bad(&'static str),
    Io,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

fn serve_connection(
    stream: &TcpStream,
    wrap: &Wrap,
    shared: &Shared,
    handler: &Handler,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    // Reads go through the buffer, writes straight to the connection under it.
    let mut conn = BufReader::with_capacity(16 * 1024, wrap(stream.try_clone()?)?);
    loop {
        let (request, client_wants_close) = match read_request(&mut conn) {
            Ok(read) => read,
            Err(ReadError::Closed) | Err(ReadError::Io) => return Ok(()),
            Err(ReadError::Bad(why)) => {
                let reply = Reply::text(400, why);
                write_reply(conn.get_mut(), "GET", reply, true)?;
                return Ok(());
            }
        };
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let _in_flight = InFlight::enter(shared);
        let reply = panic::catch_unwind(AssertUnwindSafe(|| handler(&request)))
            .unwrap_or_else(|_| Reply::text(500, "the test handler panicked"));
        let Reply::Respond {
            status,
            headers,
            body,
            delay,
        } = reply
        else {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        };
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        let reply_wants_close = find_header(&headers, "connection").is_some_and(has_close_token);
        let close = client_wants_close || reply_wants_close || shared.stop.load(Ordering::SeqCst);
        let reply = Reply::Respond {
            status,
            headers,
            body,
            delay: Duration::ZERO,
        };
        write_reply(conn.get_mut(), &request.method, reply, close)?;
        drop(_in_flight);
        if close {
            return Ok(());
        }
    }
}

/// Reads one line ending in LF (the CR is removed). `Ok(None)` at a clean end of stream.
fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        if read as u64 >= MAX_LINE {
            return Err(ReadError::Bad("line too long"));
        }
        return Err(ReadError::Io); // end of stream in the middle of a line
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| ReadError::Bad("line is not UTF-8"))
}

fn read_request(reader: &mut BufReader<impl Read + Write>) -> Result<(Request, bool), ReadError> {
    // Tolerate empty lines before a request line (RFC 9112 section 2.2).
    let request_line = loop {
        match read_line(reader)? {
            None => return Err(ReadError::Closed),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad("unsupported HTTP version"));
    }
    let (method, target, version) = (method.to_string(), target.to_string(), version.to_string());

    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader)? else {
            return Err(ReadError::Io);
        };
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ReadError::Bad("too many headers"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad("malformed header line"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }

    let connection = find_header(&headers, "connection");
    let close = if version == "HTTP/1.0" {
        true // keep it simple: HTTP/1.0 clients get one answer per connection
    } else {
        connection.is_some_and(has_close_token)
    };

    let chunked = find_header(&headers, "transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let content_length = match find_header(&headers, "content-length") {
        Some(value) if !chunked => Some(
            value
                .parse::<usize>()
                .map_err(|_| ReadError::Bad("bad Content-Length"))?,
        ),
        _ => None,
    };
    if content_length.is_some_and(|len| len > MAX_BODY) {
        return Err(ReadError::Bad("body too large"));
    }
    let has_body = chunked || content_length.is_some_and(|len| len > 0);
    if has_body
        && find_header(&headers, "expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let writer = reader.get_mut();
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }

    let body = if chunked {
        read_chunked(reader)?
    } else if let Some(len) = content_length {
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    } else {
        Vec::new()
    };

    Ok((
        Request {
            method,
            target,
            headers,
            body,
        },
        close,
    ))
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let Some(size_line) = read_line(reader)? else {
            return Err(ReadError::Io);
        };
        let size_text = size_line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| ReadError::Bad("bad chunk size"))?;
        if size == 0 {
            // Trailer fields, up to an empty line.
            loop {
                match read_line(reader)? {
                    None => return Err(ReadError::Io),
                    Some(line) if line.is_empty() => return Ok(body),
                    Some(_) => continue,
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(ReadError::Bad("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        match read_line(reader)? {
            Some(line) if line.is_empty() => {}
            Some(_) => return Err(ReadError::Bad("chunk not followed by CRLF")),
            None => return Err(ReadError::Io),
        }
    }
}

fn write_reply(writer: &mut impl Write, method: &str, reply: Reply, close: bool) -> io::Result<()> {
    let Reply::Respond {
        status,
        headers,
        body,
        ..
    } = reply
    else {
        return Ok(());
    };
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    let mut has_connection = false;
    for (name, value) in &headers {
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        if name.eq_ignore_ascii_case("connection") {
            has_connection = true;
        }
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if close && !has_connection {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    if !method.eq_ignore_ascii_case("HEAD") && status != 204 && status != 304 {
        out.extend_from_slice(&body);
    }
    writer.write_all(&out)?;
    writer.flush()
}

fn has_close_token(value: &str) -> bool {
    value
        .split(',')
        .any(|token| token.trim().eq_ignore_ascii_case("close"))
}

/// The first header with that name (case-insensitive).
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Decodes `%XX` escapes and `+` (as a space); invalid escapes are kept as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                i += 3;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes everything but unreserved characters (RFC 3986) as `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Parses `a=1&b=x%20y` (query strings, form bodies) into decoded pairs.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// The standard reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
