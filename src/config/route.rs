//! One route's settings: where its logs go, which ones and in what form, read through its
//! `[[route]]` table first, then the top level; and the checks across routes.

use super::given::{self, Given, given_owned};
use super::parse::{header, header_value, parse_log_types, parse_url};
use super::{invalid, register_url_secrets, secret_url};
use crate::exit;
use crate::filter::{Endpoint, Filter};
use crate::http::ClientConfig;
use crate::secret::Secret;
use crate::settings::*;
use crate::sink::encode::PayloadFormat;
use crate::sink::sign::Signer;
use crate::sink::webhook::WebhookConfig;
use anyhow::Result;
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One destination: which logs, in what form, to which webhook, from where.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub webhook: WebhookConfig,
    pub filter: Filter,
    pub batch_size: u32,
    pub start_from: Option<crate::logid::StartFrom>,
    pub dead_letter: Option<PathBuf>,
    /// The WEBHOOK_URL_FILE the URL was read from, for `check`'s warnings.
    pub url_file: Option<PathBuf>,
}

impl Route {
    /// The route's HTTP client: its timeouts and concurrency.
    pub fn http(&self, ca_cert: &Option<PathBuf>) -> ClientConfig {
        ClientConfig {
            connect_timeout: self.webhook.connect_timeout,
            timeout: self.webhook.timeout,
            concurrency: self.webhook.concurrency,
            ca_cert: ca_cert.clone(),
        }
    }
}

/// One route's settings, read through its table first.
pub(super) fn route(g: Given, name: &str, insecure: bool) -> Result<Route> {
    let (webhook_url, url_file) = webhook_url(g, insecure)?;
    let authorization = g.secret(&AUTHORIZATION)?;
    credentials(&webhook_url, authorization.as_ref())?;
    let signing = signer(g.get(&SIGNATURE_SCHEME)?, g.secret(&WEBHOOK_SECRET)?)?;
    let start = g.get(&START_FROM)?.map(|raw| {
        let checkpoint = crate::logid::parse_start_from(&raw, std::time::SystemTime::now());
        checkpoint.map(|checkpoint| crate::logid::StartFrom { checkpoint, raw })
    });
    let start_from = start.transpose().map_err(|e| invalid(&START_FROM, e))?;
    let shape = g.get(&PAYLOAD_SHAPE)?;
    let (send_as_batch, format, content_type) = body(g, shape)?;
    Ok(Route {
        name: name.to_string(),
        webhook: WebhookConfig {
            url_is_secret: url_file.is_some(),
            url: webhook_url,
            authorization,
            send_as_batch,
            concurrency: g.get(&WEBHOOK_CONCURRENT_CALLS)?,
            connect_timeout: g.get(&WEBHOOK_CONNECT_TIMEOUT)?,
            timeout: g.get(&WEBHOOK_TIMEOUT)?,
            format,
            shape,
            gzip: g.get(&WEBHOOK_GZIP)?,
            headers: headers(g)?,
            max_body_bytes: g.get(&WEBHOOK_MAX_BODY_BYTES)?,
            signing,
            content_type,
        },
        filter: Filter {
            log_types: parse_log_types(&g.get(&LOG_TYPES)?)?,
            endpoints: endpoints(g)?,
            pii: pii(g)?,
        },
        batch_size: g.get(&BATCH_SIZE)?,
        start_from,
        dead_letter: g.get(&DEAD_LETTER_FILE)?,
        url_file,
    })
}

/// Across routes: two may not share a dead-letter file (`redeliver --route` must send each log
/// back where it was refused); two with the same webhook and filter send each log twice, which
/// is warned of, as a copied table is more likely a mistake than a wish.
pub(super) fn across(routes: &[Route]) -> Result<()> {
    for (i, a) in routes.iter().enumerate() {
        for b in &routes[i + 1..] {
            let names = format!("routes {:?} and {:?}", a.name, b.name);
            let shared = (a.dead_letter.as_ref()).filter(|f| b.dead_letter.as_ref() == Some(f));
            if let Some(file) = shared {
                return Err(exit::settings(format!(
                    "{names} both set refused logs aside in {DEAD_LETTER_FILE} {}: give each route its own (dead_letter_file in its [[route]] table), so that redeliver --route sends each log back where it was refused",
                    file.display()
                )));
            }
            if b.webhook.url == a.webhook.url
                && format!("{:?}", b.filter) == format!("{:?}", a.filter)
            {
                let url = a.webhook.shown_url();
                crate::say::warn(format_args!(
                    "{names} send the same logs to the same webhook {url}"
                ));
            }
        }
    }
    Ok(())
}

/// AUTH0_API_ENDPOINTS: none means all.
fn endpoints(g: Given) -> Result<Vec<Endpoint>> {
    let Some(list) = g.get(&AUTH0_API_ENDPOINTS)? else {
        return Ok(Vec::new());
    };
    let endpoints = Endpoint::parse_list(&list).map_err(|e| invalid(&AUTH0_API_ENDPOINTS, e))?;
    if endpoints.is_empty() {
        return Err(exit::settings(format!(
            "{} '{list}' names no endpoint: list some, e.g. users, clients, or leave it unset for all",
            AUTH0_API_ENDPOINTS.label()
        )));
    }
    Ok(endpoints)
}

/// The extra headers: the file's table, the variable (a JSON object), then the flags.
fn headers(g: Given) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let g = g.at(&WEBHOOK_HEADERS);
    let mut given: Vec<(String, String)> = g.file.headers.clone().into_iter().flatten().collect();
    if let Some(json) = given_owned((g.env)(WEBHOOK_HEADERS.env)) {
        let map: BTreeMap<String, String> = serde_json::from_str(&json).map_err(|e| {
            exit::settings(format!(
                "{} must be a JSON object of strings, e.g. {{\"X-Env\":\"prod\"}}: {e}",
                WEBHOOK_HEADERS.label()
            ))
        })?;
        given.extend(map);
    }
    for h in g.flags.all(&WEBHOOK_HEADERS) {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| invalid(&WEBHOOK_HEADERS, "must look like 'Name: value', with a ':'"))?;
        given.push((k.to_string(), v.to_string()));
    }
    given.iter().map(|(k, v)| header(k, v)).collect()
}

/// AUTHORIZATION must be a header value. WEBHOOK_URL may not carry a user name or password:
/// the HTTP client would send them as a second Authorization header, a secret in a form nothing
/// registers (a receiver echoing its request would leak it). AUTHORIZATION is the one place
/// for credentials.
fn credentials(url: &Url, authorization: Option<&Secret>) -> Result<()> {
    if let Some(why) = authorization.and_then(|a| header_value(a.expose()).err()) {
        let file = AUTHORIZATION.file_var();
        let words = format!("{AUTHORIZATION} (or {file}) {why} (the value is not shown)");
        return Err(exit::settings(words));
    }
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    let also = match authorization.is_some() {
        true => format!(" {AUTHORIZATION} is set too, and two Authorization headers would go out."),
        false => String::new(),
    };
    Err(exit::settings(format!(
        "{} {} holds a user name or password, which would be sent as an Authorization: Basic header.{also} Remove them from the URL and set {AUTHORIZATION} (or {}) to 'Basic ' followed by the base64 of user:password (printf %s 'user:password' | base64)",
        WEBHOOK_URL.label(),
        crate::redact::redact(url),
        AUTHORIZATION.file_var()
    )))
}

/// WEBHOOK_URL, or WEBHOOK_URL_FILE: a URL read from a file is a secret as a whole.
fn webhook_url(g: Given, allow_insecure: bool) -> Result<(Url, Option<PathBuf>)> {
    let g = g.at(&WEBHOOK_URL);
    let from_file = given_owned((g.env)(&WEBHOOK_URL.file_var()))
        .map(PathBuf::from)
        .or(g.file.file_of(&WEBHOOK_URL));
    let (label, file_var) = (WEBHOOK_URL.label(), WEBHOOK_URL.file_var());
    match (g.get(&WEBHOOK_URL)?, from_file) {
        (Some(_), Some(_)) => Err(exit::settings(format!(
            "set {label} or {file_var}, not both"
        ))),
        (Some(raw), None) => {
            let url = parse_url(&raw, &label, allow_insecure)?;
            // A receiver may echo the URL it was called on.
            register_url_secrets(&url, false);
            Ok((url, None))
        }
        (None, Some(path)) => {
            let raw = given::read_secret(&WEBHOOK_URL, path.clone())?;
            let what = format!("{file_var} {}", path.display());
            let url = secret_url(&raw, &what, allow_insecure)?;
            register_url_secrets(&url, true);
            Ok((url, Some(path)))
        }
        (None, None) => Err(exit::settings(format!(
            "{label} is required, e.g. https://hooks.example.com/auth0 (or {file_var} naming a file that holds it)"
        ))),
    }
}

/// PII_FIELDS, PII_METHOD and PII_HASH_KEY (16 characters at least: a short one is guessed).
fn pii(g: Given) -> Result<Option<crate::filter::pii::Pii>> {
    use crate::filter::pii::{Method, Pii};
    let method = g.get(&PII_METHOD)?;
    let key = g.secret(&PII_HASH_KEY)?;
    let Some(fields) = g.get(&PII_FIELDS)? else {
        return match method {
            Some(_) => Err(exit::settings(format!(
                "{} is set but {} is not: name the fields to hide, e.g. email,username",
                PII_METHOD.label(),
                PII_FIELDS.label()
            ))),
            None => Ok(None),
        };
    };
    let method = match (method.unwrap_or(PiiMethod::Mask), key) {
        (PiiMethod::Mask, _) => Ok(Method::Mask),
        (PiiMethod::Drop, _) => Ok(Method::Drop),
        (PiiMethod::Hash, None) => Err(format!(
            "{} hash needs {PII_HASH_KEY} (or {}): a secret of at least 16 characters, e.g. the output of `openssl rand -hex 32`",
            PII_METHOD.label(),
            PII_HASH_KEY.file_var()
        )),
        (PiiMethod::Hash, Some(key)) if key.expose().chars().count() < 16 => Err(format!(
            "{PII_HASH_KEY} must be at least 16 characters (the value is not shown), e.g. the output of `openssl rand -hex 32`"
        )),
        (PiiMethod::Hash, Some(key)) => Ok(Method::Hash(key)),
    };
    let method = method.map_err(exit::settings)?;
    let pii = Pii::parse(&fields, method).map_err(|e| invalid(&PII_FIELDS, e))?;
    Ok(Some(pii))
}

/// WEBHOOK_SECRET read as SIGNATURE_SCHEME says; a scheme without a secret is a mistake.
fn signer(scheme: Option<SignatureScheme>, key: Option<Secret>) -> Result<Option<Signer>> {
    use SignatureScheme as Scheme;
    match (scheme, key) {
        (Some(Scheme::XHubSignature256), None) => Err(exit::settings(format!(
            "{} x-hub-signature-256 needs {WEBHOOK_SECRET} (or {}): the key the receiver verifies with, at least 16 characters",
            SIGNATURE_SCHEME.label(),
            WEBHOOK_SECRET.file_var()
        ))),
        (scheme, Some(key)) => {
            Signer::parse(scheme.unwrap_or(Scheme::StandardWebhooks), key.expose())
                .map(Some)
                .map_err(|e| invalid(&WEBHOOK_SECRET, e))
        }
        (_, None) => Ok(None),
    }
}

/// SEND_AS_BATCH, PAYLOAD_FORMAT and WEBHOOK_CONTENT_TYPE together: `jsonobject` means
/// SEND_AS_BATCH=false; PAYLOAD_SHAPE=log-stream defaults to what Log Streams sends.
fn body(g: Given, shape: PayloadShape) -> Result<(bool, PayloadFormat, Option<HeaderValue>)> {
    let as_batch = g.get(&SEND_AS_BATCH)?;
    let log_stream = shape == PayloadShape::LogStream;
    let content_type = match g.get(&WEBHOOK_CONTENT_TYPE)? {
        Some(raw) => Some(HeaderValue::from_str(&raw).map_err(|_| {
            exit::settings(format!(
                "{WEBHOOK_CONTENT_TYPE} {raw:?} is not a valid header value (no line breaks or control characters), e.g. application/json"
            ))
        })?),
        None if log_stream => Some(HeaderValue::from_static("application/json")),
        None => None,
    };
    let format = match g.get(&PAYLOAD_FORMAT)? {
        Some(FormatSetting::Jsonobject) if as_batch == Some(true) => {
            return Err(exit::settings(format!(
                "{PAYLOAD_FORMAT}=jsonobject sends one log per request, {SEND_AS_BATCH}=true sends batches: set one of them (jsonobject alone, or {SEND_AS_BATCH}=false with any format)"
            )));
        }
        Some(FormatSetting::Jsonobject) => return Ok((false, PayloadFormat::Array, content_type)),
        Some(FormatSetting::Jsonl) => PayloadFormat::Jsonl,
        None if log_stream => PayloadFormat::Jsonl,
        _ => PayloadFormat::Array,
    };
    Ok((as_batch.unwrap_or(true), format, content_type))
}
