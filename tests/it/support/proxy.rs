//! A forward proxy as corporate networks have them: it takes `CONNECT host:port` only with the
//! right `Proxy-Authorization`, answers 407 otherwise, and tunnels the bytes. Raw TCP: a tunnel
//! is not something an HTTP server crate does. It records every CONNECT it was asked for.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use super::http::lock;

/// One CONNECT the proxy was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// `host:port` as asked.
    pub target: String,
    /// Whether the credentials were right (else it answered 407).
    pub authorized: bool,
}

pub struct ConnectProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Connect>>>,
}

impl ConnectProxy {
    /// A proxy on 127.0.0.1 that wants `Proxy-Authorization: Basic base64(user:password)`.
    pub fn start(user: &str, password: &str) -> ConnectProxy {
        use base64::Engine;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("the proxy's address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (expected, record) = (expected.clone(), Arc::clone(&record));
                thread::spawn(move || {
                    let _ = serve(stream, &expected, &record);
                });
            }
        });
        ConnectProxy { addr, seen }
    }

    /// `http://user:password@127.0.0.1:PORT`, as HTTPS_PROXY takes it.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    pub fn connects(&self) -> Vec<Connect> {
        lock(&self.seen).clone()
    }
}

fn serve(client: TcpStream, expected: &str, seen: &Mutex<Vec<Connect>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let mut client = client;
    let request = head.first().cloned().unwrap_or_default();
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "CONNECT" {
        client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    }
    let authorized = head.iter().skip(1).any(|h| {
        h.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("proxy-authorization") && value.trim() == expected
        })
    });
    lock(seen).push(Connect {
        target: target.to_string(),
        authorized,
    });
    if !authorized {
        client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    let upstream = TcpStream::connect(target)?;
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    // Bytes the reader took past the head belong to the tunnel.
    let buffered = reader.buffer().to_vec();
    let (mut up_write, mut up_read) = (upstream.try_clone()?, upstream);
    up_write.write_all(&buffered)?;
    let mut down = client.try_clone()?;
    let mut client_read = reader.into_inner();
    let upward = thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut up_write);
        let _ = up_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut up_read, &mut down);
    let _ = down.shutdown(std::net::Shutdown::Write);
    let _ = upward.join();
    Ok(())
}
