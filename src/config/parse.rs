//! Parsing and checking of single setting values: each function names its setting in its
//! error and shows a good value. `Config::new` (in `config.rs`) puts them together.

use crate::exit;
use crate::secret::Secret;
use anyhow::Result;
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use super::Env;

/// Headers the tool sets itself; a custom header may not replace them.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "content-encoding",
    "content-length",
    "host",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "transfer-encoding",
];

pub(super) fn required(value: Option<String>, name: &str, example: &str) -> Result<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| exit::settings(format!("{name} is required, e.g. {example}")))
}

/// A secret from `NAME`, `NAME_FILE`, or the config file's keys of the same names, in that order.
pub(super) fn secret(
    env: Env,
    name: &str,
    in_file: Option<String>,
    file_path: Option<PathBuf>,
) -> Result<Option<Secret>> {
    let from_env = env(name);
    let path_env = env(&format!("{name}_FILE")).map(PathBuf::from);
    if from_env.is_some() && path_env.is_some() {
        return Err(exit::settings(format!(
            "set {name} or {name}_FILE, not both"
        )));
    }
    if let Some(v) = from_env {
        return Ok(Some(Secret::new(v.trim())));
    }
    if let Some(path) = path_env.or(if in_file.is_none() { file_path } else { None }) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| exit::settings(format!("{name}_FILE {}: {e}", path.display())))?;
        let value = text.trim();
        if value.is_empty() {
            return Err(exit::settings(format!(
                "{name}_FILE {} is empty",
                path.display()
            )));
        }
        return Ok(Some(Secret::new(value)));
    }
    Ok(in_file.map(|v| Secret::new(v.trim())))
}

pub(super) fn parse_domain(domain: &str) -> Result<Url> {
    let with_scheme = if domain.contains("://") {
        domain.to_string()
    } else {
        format!("https://{domain}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        exit::settings(format!(
            "AUTH0_DOMAIN '{domain}' is not a domain or URL ({e}); e.g. acme.eu.auth0.com"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(exit::settings(format!(
            "AUTH0_DOMAIN '{domain}' must be a domain like acme.eu.auth0.com or an http(s) URL"
        )));
    }
    Ok(url)
}

pub(super) fn parse_url(raw: &str, name: &str, allow_insecure: bool) -> Result<Url> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        exit::settings(format!(
            "{name} '{raw}' is not a URL ({e}); e.g. https://hooks.example.com/auth0"
        ))
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure || is_loopback(&url) => Ok(url),
        "http" => Err(exit::settings(format!(
            "{name} must use https (logs and credentials would cross the network in clear text); http is allowed only for loopback hosts or with --allow-insecure-http"
        ))),
        other => Err(exit::settings(format!(
            "{name} must be an https URL, got scheme '{other}'"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub(super) fn parse_log_types(list: &str) -> Result<BTreeSet<String>> {
    let types: BTreeSet<String> = list
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if types.is_empty() {
        return Err(exit::settings(
            "LOG_TYPES must name at least one log type code, e.g. sapi,fapi",
        ));
    }
    if let Some(bad) = types
        .iter()
        .find(|t| !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(exit::settings(format!(
            "LOG_TYPES: '{bad}' is not a log type code (letters, digits, _), e.g. sapi,fapi"
        )));
    }
    Ok(types)
}

pub(super) fn duration(
    flag: Option<humantime::Duration>,
    file: Option<&str>,
    name: &str,
    default: &str,
) -> Result<Duration> {
    if let Some(d) = flag {
        return Ok(d.into());
    }
    let raw = file.unwrap_or(default);
    humantime::parse_duration(raw.trim()).map_err(|e| {
        exit::settings(format!(
            "{name} '{raw}' is not a duration ({e}); e.g. {default}"
        ))
    })
}

pub(super) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| exit::settings(format!("header name '{name}' is not valid")))?;
    if RESERVED_HEADERS.contains(&n.as_str()) {
        return Err(exit::settings(format!(
            "header '{name}' is set by the tool itself and cannot be replaced (use AUTHORIZATION for the Authorization header, WEBHOOK_CONTENT_TYPE for Content-Type)"
        )));
    }
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        exit::settings(format!(
            "header '{name}' has a value that is not valid in HTTP"
        ))
    })?;
    // Custom headers often carry an API key: keep the value out of `Debug` (check -vv).
    v.set_sensitive(true);
    crate::secret::register(value);
    Ok((n, v))
}
