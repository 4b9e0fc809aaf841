//! A hostile HTTP server for tests of bounded memory and truthful messages: answers that never
//! end, or that stop half-way. [`super::Server`] sends whole, sized answers, so these are
//! written on the raw TCP stream. Every connection is closed after one answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

/// What the server sends for one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A whole answer with this status, content type and body.
    Whole {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// That status with a chunked body of `chunk` repeated until the client goes away.
    Endless { status: u16, chunk: Vec<u8> },
    /// 200 announcing `Content-Length: announced`, then `part` of it, then the connection is
    /// closed: a reset in the middle of a page.
    Cut { announced: usize, part: Vec<u8> },
}

impl Answer {
    /// A valid Auth0 token answer.
    pub fn token() -> Answer {
        Answer::Whole {
            status: 200,
            content_type: "application/json",
            body: br#"{"access_token":"hostile-token-1","token_type":"Bearer","expires_in":86400}"#
                .to_vec(),
        }
    }

    /// 200 with a JSON array that never closes: `[[[[...` forever.
    pub fn endless_json() -> Answer {
        Answer::endless(200)
    }

    /// That status with a body of `[[[[...` forever.
    pub fn endless(status: u16) -> Answer {
        Answer::Endless {
            status,
            chunk: vec![b'['; 64 * 1024],
        }
    }
}

type Route = dyn Fn(&str, &str) -> Answer + Send + Sync + 'static;

/// The server; it lives until the test process ends.
pub struct Hostile {
    addr: SocketAddr,
}

impl Hostile {
    /// Starts a server on 127.0.0.1 answering each request with `route(method, path)`.
    pub fn start(route: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let route: Arc<Route> = Arc::new(route);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let route = Arc::clone(&route);
                thread::spawn(move || {
                    let _ = serve(stream, &*route);
                });
            }
        });
        Hostile { addr }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// An Auth0 tenant whose token endpoint works and whose logs answer is `logs`.
pub fn tenant(logs: Answer) -> Hostile {
    Hostile::start(move |_, path| match path {
        "/oauth/token" => Answer::token(),
        _ => logs.clone(),
    })
}

fn serve(stream: TcpStream, route: &Route) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let path = target.split('?').next().unwrap_or("/").to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;

    let mut out = stream;
    match route(&method, &path) {
        Answer::Whole {
            status,
            content_type,
            body,
        } => {
            let head = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            out.write_all(head.as_bytes())?;
            out.write_all(&body)?;
        }
        Answer::Endless { status, chunk } => {
            let head = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            out.write_all(head.as_bytes())?;
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            loop {
                out.write_all(&framed)?;
            }
        }
        Answer::Cut { announced, part } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {announced}\r\n\r\n"
            );
            out.write_all(head.as_bytes())?;
            out.write_all(&part)?;
        }
    }
    out.flush()
}
