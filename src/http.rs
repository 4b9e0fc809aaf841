//! The one HTTP client (kept-alive connections, no redirects, a User-Agent, TLS always
//! verified) and how requests and their errors are shown without leaking secrets.

use crate::config::Config;
use anyhow::{Context, Result};
use reqwest::Url;
use reqwest::blocking::Client;

pub const USER_AGENT: &str = concat!("auth0-mgmt-webhooks/", env!("CARGO_PKG_VERSION"));

pub fn client(cfg: &Config) -> Result<Client> {
    let mut b = Client::builder()
        .user_agent(USER_AGENT)
        // A redirect would carry the body, the Authorization header and the signature to
        // another host: a 3xx is a failed attempt instead.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(cfg.webhook.connect_timeout)
        .timeout(cfg.webhook.timeout)
        .pool_max_idle_per_host(cfg.webhook.concurrency + 1)
        .tcp_nodelay(true);
    if let Some(path) = &cfg.ca_cert {
        let pem =
            std::fs::read(path).with_context(|| format!("reading CA_CERT {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            crate::exit::settings(format!(
                "CA_CERT {}: not a PEM certificate file ({e})",
                path.display()
            ))
        })?;
        if certs.is_empty() {
            return Err(crate::exit::settings(format!(
                "CA_CERT {}: no certificate in it",
                path.display()
            )));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().context("building the HTTP client")
}

/// A URL fit for a log line: no user info, and query values replaced by `***` (receivers
/// sometimes take a token in the query).
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, _)| (k.into_owned(), "***".into()))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// A transport error as a short phrase, without the URL reqwest would add (it could be the
/// Slack URL, which is a secret).
pub fn describe(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    if msg.contains("certificate") {
        msg.push_str(" (certificates are always verified; for a private CA give --ca-cert)");
    }
    msg
}

/// The start of a response body, for an error message.
pub fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
