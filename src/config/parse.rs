//! Parsing and checking of single setting values: each function names its setting in its
//! error and shows a good value. `Config::new` (in `config/mod.rs`) puts them together.

use crate::exit;
use anyhow::Result;
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::BTreeSet;

use crate::settings::*;

/// Headers the tool sets itself; a custom header may not replace them.
#[rustfmt::skip]
const RESERVED_HEADERS: &[&str] = &[
    "authorization", "content-type", "content-encoding", "content-length", "host", "user-agent",
    "webhook-id", "webhook-timestamp", "webhook-signature", "x-hub-signature-256",
    "transfer-encoding",
];

pub(super) fn parse_domain(domain: &str) -> Result<Url> {
    let domain = domain.trim();
    let wrong = |why: String| {
        let shown = crate::redact::redact_raw(domain);
        exit::settings(format!("{} '{shown}' {why}", AUTH0_DOMAIN.label()))
    };
    let with_scheme = match domain.contains("://") {
        true => domain.to_string(),
        false => format!("https://{domain}"),
    };
    let why = |e| format!("is not a domain or URL ({e}); e.g. acme.eu.auth0.com");
    let url = Url::parse(&with_scheme).map_err(|e| wrong(why(e)))?;
    let why = if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        "must be a domain like acme.eu.auth0.com or an http(s) URL".to_string()
    } else if !url.username().is_empty() || url.password().is_some() {
        format!(
            "holds a user name or password: give only the domain (the credentials are {AUTH0_CLIENT_ID} and {AUTH0_CLIENT_SECRET})"
        )
    } else if url.query().is_some() || url.fragment().is_some() {
        "has a query or fragment: give only the domain, e.g. acme.eu.auth0.com".to_string()
    } else {
        return Ok(url);
    };
    Err(wrong(why))
}

pub(super) fn parse_url(raw: &str, name: &str, allow_insecure: bool) -> Result<Url> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        exit::settings(format!(
            "{name} '{}' is not a URL ({e}); e.g. https://hooks.example.com/auth0",
            crate::redact::redact_raw(raw)
        ))
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure || loopback(url.host_str()) => Ok(url),
        "http" => Err(exit::settings(format!(
            "{name} must use https (logs and credentials would cross the network in clear text); http is allowed only for loopback hosts or with --allow-insecure-http"
        ))),
        other => Err(exit::settings(format!(
            "{name} must be an https URL, got scheme '{other}'"
        ))),
    }
}

/// Whether a URL's host is this machine: `localhost`, 127.0.0.0/8 or `[::1]`.
fn loopback(host: Option<&str>) -> bool {
    let host = host.unwrap_or_default().trim_matches(['[', ']']);
    let ip = host.parse::<std::net::IpAddr>();
    host.eq_ignore_ascii_case("localhost") || ip.is_ok_and(|ip| ip.is_loopback())
}

/// LOG_TYPES: type codes and Log Streams' category names, comma-separated, as the set of codes
/// they mean.
pub(super) fn parse_log_types(list: &str) -> Result<BTreeSet<String>> {
    let wrong = |words: &str| exit::settings(format!("{}{words}", LOG_TYPES.label()));
    let eg = "e.g. sapi,fapi or management.success,management.fail";
    let mut types = BTreeSet::new();
    for raw in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let codes = crate::filter::categories::entry(raw);
        types.extend(codes.map_err(|e| wrong(&format!(": {e}; {eg}")))?);
    }
    match types.is_empty() {
        true => Err(wrong(
            " must name at least one log type code, e.g. sapi,fapi",
        )),
        false => Ok(types),
    }
}

/// A custom header. The value is never shown: it often carries an API key.
pub(super) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let (name, value, label) = (name.trim(), value.trim(), WEBHOOK_HEADERS.label());
    let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        exit::settings(format!(
            "{label}: '{name}' is not a valid header name (letters, digits and -), e.g. X-Env"
        ))
    })?;
    if RESERVED_HEADERS.contains(&n.as_str()) {
        return Err(exit::settings(format!(
            "{label}: header '{name}' is set by the tool itself and cannot be replaced (use {} for the Authorization header, {} for Content-Type)",
            AUTHORIZATION.env, WEBHOOK_CONTENT_TYPE.env
        )));
    }
    let mut v = header_value(value).map_err(|why| {
        exit::settings(format!(
            "{label}: the value of header '{name}' {why} (the value is not shown)"
        ))
    })?;
    // Custom headers often carry an API key: keep the value out of `Debug` (check -vv).
    v.set_sensitive(true);
    crate::secret::register(value);
    Ok((n, v))
}

/// A header value as HTTP allows it; the error says what is wrong without showing the value.
pub(super) fn header_value(value: &str) -> std::result::Result<HeaderValue, &'static str> {
    if value.chars().any(|c| c == '\r' || c == '\n') {
        return Err("holds a line break, which an HTTP header cannot carry");
    }
    HeaderValue::from_str(value)
        .map_err(|_| "holds a control character, which an HTTP header cannot carry")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_header_value_is_taken_or_refused_without_panic(text in "\\PC{0,30}") {
            let _ = header_value(&text);
        }
    }
}
