//! Settings: flags and environment (through clap), the optional TOML file, defaults, turned once
//! into a validated [`Config`]. Only this module reads clap's structs (the stages' few enums of
//! words derive its `ValueEnum`, so each word is spelt once); every message names the setting.

mod file;
mod given;
pub mod misspelt;
mod parse;

use crate::cli::Settings;
use crate::exit;
use crate::filter::{Endpoint, Filter};
use crate::http::ClientConfig;
pub use crate::report::monitor::MonitorConfig;
pub use crate::report::slack::SlackConfig;
use crate::secret::Secret;
use crate::settings::*;
use crate::sink::encode::PayloadFormat;
use crate::sink::sign::Signer;
pub use crate::sink::webhook::WebhookConfig;
pub use crate::source::auth0::Auth0Config;
use anyhow::Result;
pub use file::FileSettings;
use given::{Given, given_owned};
use parse::{header, header_value, parse_domain, parse_log_types, parse_url};
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a run needs, checked. Built by [`Config::new`].
#[derive(Debug, Clone)]
pub struct Config {
    pub auth0: Auth0Config,
    /// Where the logs go: the `[[route]]` tables, or the one route `default`.
    pub routes: Vec<Route>,
    pub max_run_time: Duration,
    /// AUTH0_LOG_RETENTION: how long Auth0 keeps logs on the tenant's plan.
    pub log_retention: Duration,
    pub state_file: PathBuf,
    pub ca_cert: Option<PathBuf>,
    /// The client for Auth0 and the reports: the top level's timeouts.
    pub http: ClientConfig,
    pub slack: Option<SlackConfig>,
    pub monitor: MonitorConfig,
    /// Files holding secrets, named as the user set them, for `check`'s warnings.
    pub secret_files: Vec<(String, PathBuf)>,
}

/// One destination: which logs, in what form, to which webhook, from where.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub webhook: WebhookConfig,
    pub filter: Filter,
    pub batch_size: u32,
    pub start_from: Option<crate::logid::StartFrom>,
    pub dead_letter: Option<PathBuf>,
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

/// Reads an environment variable; injected so tests need not touch the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn load_file(path: Option<&std::path::Path>) -> Result<FileSettings> {
    // CONFIG_FILE="" is unset, like every other setting.
    let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(FileSettings::default());
    };
    let text = given::read_text(&CONFIG_FILE.label(), path, crate::files::CONFIG_CAP)?;
    file::parse(path, &text).map_err(exit::settings)
}

/// The state file: --state / STATE_FILE, then the config file, then the XDG state directory.
pub fn state_path(flags: &Settings, file: &FileSettings, env: Env) -> Result<PathBuf> {
    if let Some(p) = Given::new(flags, file, env).get(&STATE_FILE)? {
        return Ok(p);
    }
    let base = env(XDG_STATE_HOME)
        .map(PathBuf::from)
        .or_else(|| env(HOME).map(|h| PathBuf::from(h).join(".local/state")))
        .ok_or_else(|| {
            let label = STATE_FILE.label();
            exit::settings(format!("{label} is not set and neither is {HOME}"))
        })?;
    Ok(base.join("auth0-mgmt-webhooks").join("state.json"))
}

impl Config {
    pub fn new(flags: &Settings, env: Env) -> Result<Config> {
        let file = load_file(flags.path(&CONFIG_FILE).as_deref())?;
        let g = Given::new(flags, &file, env);
        // reqwest reads the proxy variables itself; their credentials must never show either.
        crate::proxy::register_secrets(env);
        all_required(g)?;
        let state_file = state_path(flags, &file, env)?;

        let base_url = parse_domain(&g.required(&AUTH0_DOMAIN, "acme.eu.auth0.com")?)?;
        let client_id = g.required(&AUTH0_CLIENT_ID, "the M2M application's client ID")?;
        let client_secret = g.secret(&AUTH0_CLIENT_SECRET)?.ok_or_else(|| {
            exit::settings(format!(
                "{} is required: set it, or {} to a file holding it (never a flag: command lines are visible to every user)",
                AUTH0_CLIENT_SECRET.env,
                AUTH0_CLIENT_SECRET.file_var()
            ))
        })?;

        let allow_insecure = g.get(&ALLOW_INSECURE_HTTP)?;
        let daily_report_hour = daily_report_time(g.get(&DAILY_REPORT_HOUR)?, env)?;
        let slack = match g.secret(&SLACK_INCOMING_WEBHOOK_URL)? {
            Some(url) => {
                let parsed = secret_url(&url, SLACK_INCOMING_WEBHOOK_URL.env, allow_insecure)?;
                register_url_secrets(&parsed, true);
                Some(SlackConfig {
                    url,
                    send_success: g.get(&SLACK_SEND_SUCCESS)?,
                    daily_report_hour,
                    remind_every: g.get(&SLACK_REMIND_EVERY)?,
                })
            }
            None => None,
        };
        let healthcheck = g.secret(&HEALTHCHECK_URL)?;
        if let Some(url) = &healthcheck {
            secret_url(url, HEALTHCHECK_URL.env, allow_insecure)?;
        }
        let metrics_file = g.get(&METRICS_FILE)?;
        if let Some(p) = metrics_file.as_ref().filter(|p| p.file_name().is_none()) {
            return Err(exit::settings(format!(
                "{METRICS_FILE} '{}' must name a file, e.g. /var/lib/node_exporter/textfile/auth0-mgmt-webhooks.prom",
                p.display()
            )));
        }
        let ca_cert = g.get(&CA_CERT)?;
        if let Some(p) = &ca_cert {
            check_ca_cert(p)?;
        }

        let mut secret_files = secret_files(g);
        let tables: Vec<(&str, Option<&FileSettings>)> = match file.routes.as_slice() {
            [] => vec![(crate::state::DEFAULT_ROUTE, None)],
            tables => tables.iter().map(|(n, t)| (n.as_str(), Some(t))).collect(),
        };
        let mut routes = Vec::new();
        for (name, table) in tables {
            let g = Given { route: table, ..g };
            let named = |e: anyhow::Error| match table {
                Some(_) => exit::settings(format!("route {name:?}: {e:#}")),
                None => e,
            };
            let (route, url_file) = route(g, name, allow_insecure).map_err(named)?;
            secret_files.extend(url_file.map(|p| (WEBHOOK_URL.file_var(), p)));
            routes.push(route);
        }
        alike_routes(&routes);
        shared_dead_letter(&routes)?;

        Ok(Config {
            http: ClientConfig {
                connect_timeout: g.get(&WEBHOOK_CONNECT_TIMEOUT)?,
                timeout: g.get(&WEBHOOK_TIMEOUT)?,
                concurrency: g.get(&WEBHOOK_CONCURRENT_CALLS)?,
                ca_cert: ca_cert.clone(),
            },
            auth0: Auth0Config {
                audience: audience(g, &base_url)?,
                base_url,
                client_id,
                client_secret,
                rate_limit: g.get(&AUTH0_RATE_LIMIT)?,
            },
            routes,
            max_run_time: g.get(&MAX_RUN_TIME)?,
            log_retention: g.get(&AUTH0_LOG_RETENTION)?,
            state_file,
            ca_cert,
            slack,
            monitor: MonitorConfig {
                healthcheck,
                metrics_file,
            },
            secret_files,
        })
    }

    /// How messages name route `r`: `route siem: `, or nothing without `[[route]]` tables.
    pub fn of(&self, r: &Route) -> String {
        match self.named() {
            true => format!("route {}: ", r.name),
            false => String::new(),
        }
    }

    /// Whether the routes are the config file's tables, not the one `default` of the settings.
    pub fn named(&self) -> bool {
        !matches!(self.routes.as_slice(), [only] if only.name == crate::state::DEFAULT_ROUTE)
    }

    /// The route `redeliver --route` names; without one, the only route.
    pub fn route(&self, name: Option<&str>) -> Result<&Route> {
        let names = || {
            let names: Vec<&str> = self.routes.iter().map(|r| r.name.as_str()).collect();
            names.join(", ")
        };
        match (name, self.routes.as_slice()) {
            (None, [only]) => Ok(only),
            (None, _) => Err(exit::settings(format!(
                "the config file has several routes: name one with --route ({})",
                names()
            ))),
            (Some(name), routes) => routes.iter().find(|r| r.name == name).ok_or_else(|| {
                exit::settings(format!(
                    "--route {name}: no such route; routes are {}",
                    names()
                ))
            }),
        }
    }

    /// Every route's DEAD_LETTER_FILE.
    pub fn dead_letters(&self) -> Vec<&std::path::Path> {
        self.routes
            .iter()
            .filter_map(|r| r.dead_letter.as_deref())
            .collect()
    }

    /// The tenant as recorded in the state file, so one state file is never used for two tenants.
    pub fn tenant(&self) -> String {
        let url = self.auth0.base_url.as_str();
        url.trim_end_matches('/').to_string()
    }
}

/// One route's settings, read through its table first; and the WEBHOOK_URL_FILE it read.
fn route(g: Given, name: &str, allow_insecure: bool) -> Result<(Route, Option<PathBuf>)> {
    let (webhook_url, url_file) = webhook_url(g, allow_insecure)?;
    let authorization = g.secret(&AUTHORIZATION)?;
    if let Some(a) = &authorization {
        header_value(a.expose()).map_err(|why| {
            let file = AUTHORIZATION.file_var();
            exit::settings(format!(
                "{AUTHORIZATION} (or {file}) {why} (the value is not shown)"
            ))
        })?;
    }
    no_credentials_in_url(&webhook_url, authorization.is_some())?;
    let signing = signer(g.get(&SIGNATURE_SCHEME)?, g.secret(&WEBHOOK_SECRET)?)?;
    let start = g.get(&START_FROM)?.map(|raw| {
        let checkpoint = crate::logid::parse_start_from(&raw, std::time::SystemTime::now());
        checkpoint.map(|checkpoint| crate::logid::StartFrom { checkpoint, raw })
    });
    let start_from = start.transpose().map_err(|e| invalid(&START_FROM, e))?;
    let shape = g.get(&PAYLOAD_SHAPE)?;
    let (send_as_batch, format, content_type) = body(g, shape)?;
    let route = Route {
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
    };
    Ok((route, url_file))
}

/// Each route sets its refused logs aside in a file of its own, so that `redeliver --route`
/// sends each log back where it was refused.
fn shared_dead_letter(routes: &[Route]) -> Result<()> {
    for (i, a) in routes.iter().enumerate() {
        let Some(file) = &a.dead_letter else {
            continue;
        };
        if let Some(b) = routes[i + 1..]
            .iter()
            .find(|b| b.dead_letter.as_ref() == Some(file))
        {
            return Err(exit::settings(format!(
                "routes {:?} and {:?} both set refused logs aside in {DEAD_LETTER_FILE} {}: give each route its own (dead_letter_file in its [[route]] table), so that redeliver --route sends each log back where it was refused",
                a.name,
                b.name,
                file.display()
            )));
        }
    }
    Ok(())
}

/// Two routes with the same webhook and filter send the same logs twice: a warning, as a copy
/// of a table is more likely a mistake than a wish.
fn alike_routes(routes: &[Route]) {
    for (i, a) in routes.iter().enumerate() {
        let same = |b: &&Route| {
            b.webhook.url == a.webhook.url && format!("{:?}", b.filter) == format!("{:?}", a.filter)
        };
        if let Some(b) = routes[i + 1..].iter().find(same) {
            crate::say::warn(format_args!(
                "routes {:?} and {:?} send the same logs to the same webhook {}",
                a.name,
                b.name,
                a.webhook.shown_url()
            ));
        }
    }
}

/// A parser's words as a settings error naming the setting: `LOG_TYPES (--log-types): ...`.
fn invalid(s: &Name, words: impl std::fmt::Display) -> anyhow::Error {
    exit::settings(format!("{}: {words}", s.label()))
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

/// WEBHOOK_URL may not carry a user name or password: the HTTP client would send them as a
/// second Authorization header, a secret in a form nothing registers (a receiver echoing its
/// request would leak it). AUTHORIZATION is the one place for credentials.
fn no_credentials_in_url(url: &Url, authorization_set: bool) -> Result<()> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    let also = match authorization_set {
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

/// CA_CERT must name a regular file: `/dev/null` or a folder is said to be what it is.
fn check_ca_cert(path: &std::path::Path) -> Result<()> {
    let why = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => return Ok(()),
        Ok(m) => format!("{}, not a file of PEM certificates", crate::files::kind(&m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no such file".to_string(),
        Err(e) => e.to_string(),
    };
    Err(exit::settings(format!(
        "{} {}: {why}",
        CA_CERT.label(),
        path.display()
    )))
}

/// A URL that is itself a secret, checked without ever being shown.
fn secret_url(url: &Secret, name: &str, allow_insecure: bool) -> Result<Url> {
    let raw = url.expose();
    parse_url(raw, name, allow_insecure).map_err(|e| {
        let shown = crate::redact::redact_raw(raw);
        exit::settings(e.to_string().replace(&shown, "***").replace(raw, "***"))
    })
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

/// AUTH0_AUDIENCE: a URL as given, or a domain meaning `https://{domain}/api/v2/`.
fn audience(g: Given, base_url: &Url) -> Result<Url> {
    let Some(raw) = g.get(&AUTH0_AUDIENCE)? else {
        return Ok(base_url.join("api/v2/").expect("api/v2/ joins a base URL"));
    };
    let wrong = |why: String| {
        exit::settings(format!(
            "{AUTH0_AUDIENCE} '{raw}' {why}; e.g. acme.eu.auth0.com or https://acme.eu.auth0.com/api/v2/ (the tenant's own domain, also behind a custom domain)"
        ))
    };
    if !raw.contains("://") {
        return Url::parse(&format!("https://{raw}/api/v2/"))
            .map_err(|e| wrong(format!("is not a domain ({e})")));
    }
    let url = Url::parse(&raw).map_err(|e| wrong(format!("is not a URL ({e})")))?;
    match matches!(url.scheme(), "http" | "https") && url.host().is_some() {
        true => Ok(url),
        false => Err(wrong("must be an https URL".to_string())),
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
        (PiiMethod::Mask, _) => Method::Mask,
        (PiiMethod::Drop, _) => Method::Drop,
        (PiiMethod::Hash, None) => {
            return Err(exit::settings(format!(
                "{} hash needs {PII_HASH_KEY} (or {}): a secret of at least 16 characters, e.g. the output of `openssl rand -hex 32`",
                PII_METHOD.label(),
                PII_HASH_KEY.file_var()
            )));
        }
        (PiiMethod::Hash, Some(key)) if key.expose().chars().count() < 16 => {
            return Err(exit::settings(format!(
                "{PII_HASH_KEY} must be at least 16 characters (the value is not shown), e.g. the output of `openssl rand -hex 32`"
            )));
        }
        (PiiMethod::Hash, Some(key)) => Method::Hash(key),
    };
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

/// DAILY_REPORT_HOUR, or the extension's DAILY_REPORT_TIME (an hour, or `HH:00`), not both.
fn daily_report_time(ours: Option<u8>, env: Env) -> Result<Option<u8>> {
    let Some(raw) = env(DAILY_REPORT_TIME) else {
        return Ok(ours);
    };
    if ours.is_some() {
        return Err(exit::settings(format!(
            "{DAILY_REPORT_TIME} (the extension's name) and {} (or {} in the --config file) are both set: keep one",
            DAILY_REPORT_HOUR.label(),
            DAILY_REPORT_HOUR.key()
        )));
    }
    let raw = raw.trim();
    let (hour, minutes) = raw.split_once(':').unwrap_or((raw, "00"));
    match hour.parse::<u8>() {
        Ok(h) if h <= 23 && minutes == "00" => Ok(Some(h)),
        _ => Err(exit::settings(format!(
            "{DAILY_REPORT_TIME} must be an hour from 0 to 23 (UTC), e.g. 9 or 09:00 (reports go by the hour), got '{raw}'"
        ))),
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

/// Two or more required settings missing: one error naming them all (one gets its own).
fn all_required(g: Given) -> Result<()> {
    let missing: Vec<String> = [
        (AUTH0_DOMAIN.name, "e.g. acme.eu.auth0.com"),
        (AUTH0_CLIENT_ID.name, "the M2M application's client ID"),
        (AUTH0_CLIENT_SECRET.name, ""),
        (WEBHOOK_URL.name, "e.g. https://hooks.example.com/auth0"),
    ]
    .into_iter()
    .filter(|(s, _)| !g.is_set(s))
    .map(|(s, what)| match s.flag {
        None => format!(
            "{s}, or {} naming a file that holds it (never a flag)",
            s.file_var()
        ),
        _ => format!("{}, {what}", s.label()),
    })
    .collect();
    if missing.len() < 2 {
        return Ok(());
    }
    Err(exit::settings(format!(
        "{} required settings are missing:\n  {}\n(in the environment, as flags, or in the --config file)",
        missing.len(),
        missing.join("\n  ")
    )))
}

/// The config file and the files the secrets were read from, as `Given::secret` chooses them.
fn secret_files(g: Given) -> Vec<(String, PathBuf)> {
    let config = g.flags.path(&CONFIG_FILE);
    let secrets = ALL.iter().filter(|s| s.form() == Form::Secret);
    let read = secrets
        .filter(|s| (g.env)(s.env).is_none())
        .filter_map(|s| {
            let path = (g.env)(&s.file_var()).map(PathBuf::from);
            let path = path.or_else(|| g.file.file_of(s).filter(|_| g.file.get(s).is_none()));
            Some((s.file_var(), path?))
        });
    let config = config.map(|p| ("--config file".to_string(), p));
    config.into_iter().chain(read).collect()
}

/// Registers a URL's password and query values as secrets, with `path_too` its path too.
fn register_url_secrets(url: &Url, path_too: bool) {
    let query = url.query_pairs().map(|(_, v)| v.into_owned());
    for value in url.password().map(str::to_string).into_iter().chain(query) {
        crate::secret::register(&value);
    }
    if path_too {
        crate::secret::register(url.path());
        // A server may echo the token alone ("unknown token ..."): long segments are tokens,
        // short ones (`bulk`, `tag`, `services`) are words that messages need.
        for segment in url.path_segments().into_iter().flatten() {
            if segment.len() >= SECRET_SEGMENT_LEN {
                crate::secret::register(segment);
            }
        }
    }
}

/// The shortest path segment of a secret URL taken for a token on its own.
const SECRET_SEGMENT_LEN: usize = 12;

#[cfg(test)]
mod tests;
