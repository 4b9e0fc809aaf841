//! The one HTTP client (no redirects, TLS always verified), the one attempt every client makes
//! with it, and how answers and errors are read and shown without leaking secrets.

use anyhow::{Context, Result};

pub use crate::redact::{redact, redact_raw, snippet};
use crate::settings::CA_CERT;
use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, LOCATION};
use std::error::Error;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const USER_AGENT: &str = concat!("auth0-mgmt-webhooks/", env!("CARGO_PKG_VERSION"));

/// What the client is built from.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// WEBHOOK_CONCURRENT_CALLS: the connections kept alive.
    pub concurrency: usize,
    /// CA_CERT: a PEM file of extra CA certificates.
    pub ca_cert: Option<PathBuf>,
}

pub fn client(cfg: &ClientConfig) -> Result<Client> {
    let mut b = Client::builder()
        .user_agent(USER_AGENT)
        // A redirect would carry the body, the Authorization header and the signature to
        // another host: a 3xx is a failed attempt instead.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.timeout)
        .pool_max_idle_per_host(cfg.concurrency + 1)
        .tcp_nodelay(true);
    if let Some(path) = &cfg.ca_cert {
        let name = CA_CERT.label();
        let pem = crate::files::read_setting(&name, path, crate::files::CA_CERT_CAP)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default();
        if certs.is_empty() {
            let why = format!("{name} {}: not a PEM file of certificates", path.display());
            return Err(crate::exit::settings(why));
        }
        b = certs.into_iter().fold(b, |b, c| b.add_root_certificate(c));
    }
    b.build().context("building the HTTP client")
}

/// What one answer means, for every client: the webhook, Auth0, Slack and pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delivered.
    Delivered,
    /// Worth another attempt; `throttled` (429, 503): everyone is asked to slow down.
    Retry { throttled: bool },
    /// The receiver refuses these logs (400, 413, 422 and other 4xx): a batch is split.
    Refused(u16),
    /// About the endpoint or the credentials (401, 404, a redirect...): the run stops.
    Misconfigured(u16),
}

/// What is retried (Vector's `RetryLogic`), endpoint answers told apart from payload ones.
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        429 | 503 => Verdict::Retry { throttled: true },
        300..=399 | 401 | 403 | 404 | 405 | 407 | 410 | 415 | 421 | 426 | 501 => {
            Verdict::Misconfigured(status)
        }
        408 | 500..=599 => Verdict::Retry { throttled: false },
        _ => Verdict::Refused(status),
    }
}

/// `err` and its causes, an io::Error's inner error included (its `source` skips that one).
fn chain<'a>(err: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&e| {
        let io = e.downcast_ref::<std::io::Error>();
        match io.and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => e.source(),
        }
    })
}

/// What to change when a transport error is a refused certificate; `None` when it is not.
fn refused_certificate(err: &(dyn Error + 'static), setting: &str) -> Option<String> {
    use rustls::{CertificateError as Cert, Error as Tls};
    let why = chain(err).find_map(|e| match e.downcast_ref::<Tls>()? {
        Tls::InvalidCertificate(why) => Some(why),
        _ => None,
    })?;
    let fix = match why {
        Cert::NotValidForName | Cert::NotValidForNameContext { .. } => format!(
            "the certificate is for another host name: set {setting} to a name the certificate holds, or have the server present a certificate for this one ({CA_CERT} only adds trusted CAs)"
        ),
        // Not signed by a trusted CA (a private CA, self-signed), expired, or malformed.
        _ => format!(
            "the certificate is not signed by a trusted CA: for a private CA set {} to its certificate file, or check {setting}",
            CA_CERT.label()
        ),
    };
    Some(fix + "; not retried, as waiting does not change a certificate")
}

/// An answer, as [`attempt`] read it.
pub struct Reply {
    pub status: u16,
    pub verdict: Verdict,
    pub retry_after: Option<Duration>,
    pub resp: Response,
}

/// A request that got no answer, described without its URL.
#[derive(Debug)]
pub enum Unanswered {
    /// A refused certificate: no wait changes it.
    Final(String),
    /// Timeout, reset, refused connection: worth another attempt.
    Passing(String),
}

/// One attempt of `req`, shown in `-v` lines as `method shown`, for every client.
pub fn attempt(
    req: RequestBuilder,
    method: &str,
    shown: &str,
    setting: &str,
) -> Result<Reply, Unanswered> {
    let started = Instant::now();
    let sent = req.send();
    let status = sent.as_ref().map_or(0, |resp| resp.status().as_u16());
    let outcome = sent.as_ref().map_or_else(describe, |_| status.to_string());
    crate::say::request(method, shown, &outcome, started.elapsed());
    match sent {
        Ok(resp) => Ok(Reply {
            status,
            verdict: classify(status),
            retry_after: crate::retry::retry_after(resp.headers()),
            resp,
        }),
        Err(e) => Err(match refused_certificate(&e, setting) {
            Some(advice) => Unanswered::Final(format!("{outcome}; {advice}")),
            None => Unanswered::Passing(outcome),
        }),
    }
}

/// Where a redirect's `Location` points (joined to `base`, written by `show`) for a message.
pub fn location(headers: &HeaderMap, base: &Url, show: impl Fn(&Url) -> String) -> Option<String> {
    let raw = String::from_utf8_lossy(headers.get(LOCATION)?.as_bytes()).into_owned();
    Some(match base.join(&raw) {
        Ok(to) => format!("redirecting to {}", show(&to)),
        Err(_) => "redirecting to an address that is not a URL".to_string(),
    })
}

/// A transport error as a short phrase, without the URL reqwest adds (it may be a secret).
fn describe(err: &reqwest::Error) -> String {
    let kind = match () {
        _ if err.is_timeout() => "timed out",
        _ if err.is_connect() => "could not connect",
        _ if err.is_body() || err.is_decode() => "failed while reading the answer",
        _ => "failed",
    };
    let mut msg = causes(kind, err);
    if msg.contains("certificate") {
        msg.push_str(" (certificates are always verified; for a private CA give --ca-cert)");
    }
    if msg.contains("proxy authorization required") {
        msg += " (the proxy refused the user name and password in HTTPS_PROXY, HTTP_PROXY or ALL_PROXY)";
    }
    crate::secret::scrub(&msg)
}

/// `kind`, then each of `err`'s causes that it does not already say.
fn causes(kind: &str, err: &(dyn Error + 'static)) -> String {
    chain(err)
        .skip(1)
        .fold(kind.to_string(), |msg, e| match e.to_string() {
            text if msg.contains(&text) => msg,
            text => msg + ": " + &text,
        })
}

/// What went wrong while reading an answer's body, as a short phrase.
fn describe_io(err: &std::io::Error) -> String {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<reqwest::Error>());
    let timed_out = inner.map_or(err.kind() == std::io::ErrorKind::TimedOut, |e| {
        e.is_timeout()
    });
    let how = if timed_out { "timed out" } else { "failed" };
    let what = inner.map_or_else(|| format!(": {err}"), |e| causes("", e));
    crate::secret::scrub(&format!("{how} while reading the answer{what}"))
}

#[derive(Debug, thiserror::Error)]
#[error("the answer is larger than {}, the most this tool reads", size(*.0))]
pub struct TooLarge(usize);

/// Reading an answer's body failed on the way: worth another attempt.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReadFailed(pub String);

fn size(bytes: usize) -> String {
    match bytes.trailing_zeros() {
        20.. => format!("{} MiB", bytes >> 20),
        10.. => format!("{} KiB", bytes >> 10),
        _ => format!("{bytes} bytes"),
    }
}

/// At most `max` bytes of an answer, lossily, for an error message; what arrived if it fails.
pub fn read_prefix(resp: Response, max: usize) -> String {
    let mut buf = Vec::new();
    let _ = resp.take(max as u64).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The whole body of an answer, or [`TooLarge`] past `max` bytes, or [`ReadFailed`].
pub fn read_capped(mut resp: Response, max: usize) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(TooLarge(max).into());
    }
    let mut buf = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = match resp.read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadFailed(describe_io(&e)).into()),
        };
        let want = buf.len() + n;
        if want > max {
            return Err(TooLarge(max).into());
        }
        // Doubling, but never past the cap, where Vec's own growth would reach twice it.
        if buf.capacity() < want {
            buf.reserve_exact((buf.capacity() * 2).clamp(want, max) - buf.len());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_documented() {
        assert_eq!(classify(200), Verdict::Delivered);
        assert_eq!(classify(204), Verdict::Delivered);
        for s in [408, 500, 502, 504] {
            assert_eq!(classify(s), Verdict::Retry { throttled: false }, "{s}");
        }
        for s in [429, 503] {
            assert_eq!(classify(s), Verdict::Retry { throttled: true }, "{s}");
        }
        for s in [400, 409, 413, 422] {
            assert_eq!(classify(s), Verdict::Refused(s), "{s}");
        }
        for s in [301, 302, 307, 308, 401, 403, 404, 405, 407, 410, 415, 501] {
            assert_eq!(classify(s), Verdict::Misconfigured(s), "{s}");
        }
    }

    #[test]
    fn refused_certificates_are_told_from_passing_failures() {
        use rustls::{CertificateError, Error as Tls};
        // As reqwest nests it: the TLS error inside an io::Error inside the request error.
        let nested = |tls: Tls| -> Box<dyn std::error::Error + 'static> {
            Box::new(std::io::Error::other(std::io::Error::other(tls)))
        };
        let advice = |e: &(dyn std::error::Error + 'static)| refused_certificate(e, "WEBHOOK_URL");
        for untrusted in [CertificateError::UnknownIssuer, CertificateError::Expired] {
            let a = advice(nested(Tls::InvalidCertificate(untrusted)).as_ref()).unwrap();
            assert!(
                a.contains("not signed by a trusted CA") && a.contains("CA_CERT"),
                "{a}"
            );
            assert!(
                a.contains("WEBHOOK_URL") && a.contains("not retried"),
                "{a}"
            );
        }
        let host = nested(Tls::InvalidCertificate(CertificateError::NotValidForName));
        let a = refused_certificate(host.as_ref(), "AUTH0_DOMAIN").unwrap();
        assert!(
            a.contains("another host name") && a.contains("AUTH0_DOMAIN"),
            "{a}"
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(advice(&reset), None);
        assert_eq!(advice(nested(Tls::HandshakeNotComplete).as_ref()), None);
    }

    #[test]
    fn redact_hides_credentials_and_query_values() {
        let u = Url::parse("https://user:pw@hooks.example.com/x?token=abc&env=prod").unwrap();
        let r = redact(&u);
        assert_eq!(r, "https://hooks.example.com/x?token=***&env=***");
    }

    #[test]
    fn snippet_is_one_short_line() {
        assert_eq!(
            snippet("<html>\n  <b>502</b>\n</html>"),
            "<html> <b>502</b> </html>"
        );
        assert_eq!(snippet(&"x".repeat(500)).len(), 203);
    }

    #[test]
    fn snippet_scrubs_echoed_secrets() {
        let _s = crate::secret::Secret::new("snippet-echoed-secret-1");
        assert_eq!(
            snippet("{\"you_sent\": \"snippet-echoed-secret-1\"}"),
            "{\"you_sent\": \"***\"}"
        );
    }

    #[test]
    fn raw_urls_lose_user_info_and_query() {
        assert_eq!(
            redact_raw("https://u:pw@ho st/x?token=abc"),
            "https://***@ho st/x?***"
        );
        assert_eq!(redact_raw("not a url"), "not a url");
        assert_eq!(redact_raw("u:pw@host:99"), "***@host:99");
    }

    /// A server on 127.0.0.1 that answers every connection with `head` and then `body`,
    /// repeated until the client goes away (or once when `endless` is false).
    fn hostile_server(head: &'static str, body: Vec<u8>, endless: bool) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let body = body.clone();
                std::thread::spawn(move || {
                    let mut req = [0u8; 4096];
                    let _ = conn.read(&mut req);
                    if conn.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    while conn.write_all(&body).is_ok() && endless {}
                });
            }
        });
        format!("http://{addr}/")
    }

    const CHUNKED: &str =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    /// One chunk of 1024 `[`: a JSON answer that never ends.
    fn chunk() -> Vec<u8> {
        let mut c = b"400\r\n".to_vec();
        c.extend(std::iter::repeat_n(b'[', 1024));
        c.extend_from_slice(b"\r\n");
        c
    }

    #[test]
    fn an_endless_answer_is_read_only_up_to_the_cap() {
        let url = hostile_server(CHUNKED, chunk(), true);
        let http = Client::new();
        let prefix = read_prefix(http.get(&url).send().unwrap(), 100);
        assert_eq!(prefix, "[".repeat(100));
        let err = read_capped(http.get(&url).send().unwrap(), 64 * 1024).unwrap_err();
        assert!(err.downcast_ref::<TooLarge>().is_some(), "{err}");
        assert!(err.to_string().contains("64 KiB"), "{err}");
    }

    #[test]
    fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let url = hostile_server(
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
            b"[".to_vec(),
            false,
        );
        let err = read_capped(Client::new().get(&url).send().unwrap(), 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the answer is larger than 1 MiB, the most this tool reads"
        );
    }

    #[test]
    fn a_server_stalling_mid_body_is_a_timeout_while_reading() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let _ = conn.read(&mut [0u8; 4096]);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n[");
            // Stall, keeping the connection open, until the client has given up.
            let _ = done_rx.recv();
        });
        let resp = Client::new()
            .get(&url)
            .timeout(std::time::Duration::from_millis(300))
            .send()
            .unwrap();
        let err = read_capped(resp, 1 << 20).unwrap_err();
        drop(done_tx);
        let msg = err
            .downcast_ref::<ReadFailed>()
            .expect("a ReadFailed")
            .to_string();
        assert!(
            msg.starts_with("timed out while reading the answer"),
            "{msg}"
        );
    }

    #[test]
    fn a_connection_closed_mid_body_is_a_read_failure_not_an_empty_body() {
        let url = hostile_server(
            "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
            b"[{\"log_id\":".to_vec(),
            false,
        );
        let err = read_capped(Client::new().get(&url).send().unwrap(), 1 << 20).unwrap_err();
        let msg = err
            .downcast_ref::<ReadFailed>()
            .expect("a ReadFailed")
            .to_string();
        assert!(msg.starts_with("failed while reading the answer"), "{msg}");
    }
}
