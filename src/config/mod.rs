//! Settings: flags and environment (through clap), the optional TOML file, defaults, turned once
//! into a validated [`Config`]. Only this module reads clap's structs (the stages' few enums of
//! words derive its `ValueEnum`, so each word is spelt once); every message names the setting.

mod file;
mod file_error;
pub mod misspelt;
mod parse;
mod settings;

use crate::cli::{FormatSetting, Settings, StateArgs};
use crate::exit;
use crate::filter::pii::PiiMethod;
use crate::filter::{Endpoint, Filter, PayloadShape};
use crate::http::ClientConfig;
pub use crate::report::monitor::MonitorConfig;
pub use crate::report::slack::SlackConfig;
use crate::secret::Secret;
use crate::sink::encode::PayloadFormat;
use crate::sink::sign::{SignatureScheme as Scheme, Signer};
pub use crate::sink::webhook::WebhookConfig;
pub use crate::source::auth0::Auth0Config;
use anyhow::Result;
pub use file::FileSettings;
use parse::{
    boolean, choice, duration, given, header, header_value, number, parse_domain, parse_log_types,
    parse_url, required, secret,
};
use reqwest::Url;
use reqwest::header::HeaderValue;
use settings::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a run needs, checked. Built by [`Config::new`].
#[derive(Debug, Clone)]
pub struct Config {
    pub auth0: Auth0Config,
    pub webhook: WebhookConfig,
    pub filter: Filter,
    pub batch_size: u32,
    pub start_from: Option<crate::logid::StartFrom>,
    pub max_run_time: Duration,
    /// AUTH0_LOG_RETENTION: how long Auth0 keeps logs on the tenant's plan.
    pub log_retention: Duration,
    pub state_file: PathBuf,
    pub dead_letter: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
    pub slack: Option<SlackConfig>,
    pub monitor: MonitorConfig,
    /// Files holding secrets (`NAME_FILE`s used, the --config file), named as the user set them,
    /// so `check` can warn when other users can read one.
    pub secret_files: Vec<(String, PathBuf)>,
}

/// Reads an environment variable; injected so tests need not touch the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn load_file(path: Option<&Path>) -> Result<FileSettings> {
    // CONFIG_FILE="" is unset, like every other setting.
    let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(FileSettings::default());
    };
    let bytes = crate::files::read_setting(&CONFIG_FILE.label(), path, crate::files::CONFIG_CAP)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        exit::settings(format!(
            "config file {} is not text (UTF-8)",
            path.display()
        ))
    })?;
    file::parse(path, &text).map_err(exit::settings)
}

/// The state file: --state / STATE_FILE, then the config file, then the XDG state directory.
pub fn state_path(args: &StateArgs, file: &FileSettings, env: Env) -> Result<PathBuf> {
    let nonempty = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
    if let Some(p) = nonempty(&args.state).or_else(|| nonempty(&file.path(&STATE_FILE))) {
        return Ok(p);
    }
    let base = env("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".local/state")))
        .ok_or_else(|| {
            exit::settings(format!(
                "{} is not set and neither is HOME: give --{} FILE",
                STATE_FILE.env,
                STATE_FILE.long()
            ))
        })?;
    Ok(base.join("auth0-mgmt-webhooks").join("state.json"))
}

impl Config {
    pub fn new(s: &Settings, env: Env) -> Result<Config> {
        let file = load_file(s.files.config.as_deref())?;
        // reqwest reads the proxy variables itself; their credentials must never show either.
        crate::proxy::register_secrets(env);
        all_required(s, &file, env)?;
        let state_file = state_path(&s.files, &file, env)?;

        let domain = required(
            s.domain.clone().or(file.owned(&AUTH0_DOMAIN)),
            &AUTH0_DOMAIN.label(),
            "acme.eu.auth0.com",
        )?;
        let base_url = parse_domain(&domain)?;
        let client_id = required(
            s.client_id.clone().or(file.owned(&AUTH0_CLIENT_ID)),
            &AUTH0_CLIENT_ID.label(),
            "the M2M application's client ID",
        )?;
        let client_secret = secret(env, AUTH0_CLIENT_SECRET.env, file.owned(&AUTH0_CLIENT_SECRET), file.file_of(&AUTH0_CLIENT_SECRET))?
            .ok_or_else(|| exit::settings(format!("{} is required: set it, or {} to a file holding it (never a flag: command lines are visible to every user)", AUTH0_CLIENT_SECRET.env, AUTH0_CLIENT_SECRET.file_var())))?;

        let allow_insecure = boolean(
            s.allow_insecure_http.as_deref(),
            file.get(&ALLOW_INSECURE_HTTP),
            &ALLOW_INSECURE_HTTP,
        )?
        .unwrap_or(false);
        let (webhook_url, url_file) = webhook_url(s, &file, env, allow_insecure)?;

        let batch_size =
            number(s.batch_size.as_deref(), file.get(&BATCH_SIZE), &BATCH_SIZE)?.unwrap_or(100);
        let concurrency = number(
            s.concurrency.as_deref(),
            file.get(&WEBHOOK_CONCURRENT_CALLS),
            &WEBHOOK_CONCURRENT_CALLS,
        )?
        .expect("declared with a default");

        let endpoints = match given(s.endpoints.as_deref())
            .or(given(file.get(&AUTH0_API_ENDPOINTS)))
        {
            Some(list) => {
                let endpoints = Endpoint::parse_list(list)
                    .map_err(|e| exit::settings(format!("{}: {e}", AUTH0_API_ENDPOINTS.label())))?;
                if endpoints.is_empty() {
                    return Err(exit::settings(format!(
                        "{} '{list}' names no endpoint: list some, e.g. users, clients, or leave it unset for all",
                        AUTH0_API_ENDPOINTS.label()
                    )));
                }
                endpoints
            }
            None => Vec::new(),
        };
        let log_types = parse_log_types(
            given(s.log_types.as_deref())
                .or(given(file.get(&LOG_TYPES)))
                .or(LOG_TYPES.default)
                .expect("declared with a default"),
        )?;

        let rate_limit =
            match given(s.auth0_rate_limit.as_deref()).or(given(file.get(&AUTH0_RATE_LIMIT))) {
                Some(v) => crate::source::pacer::Share::parse(v).map_err(exit::settings)?,
                None => crate::source::pacer::Share::DEFAULT,
            };

        let max_run_time = duration(
            s.max_run_time.as_deref(),
            file.get(&MAX_RUN_TIME),
            &MAX_RUN_TIME,
        )?;
        let log_retention = duration(
            s.log_retention.as_deref(),
            file.get(&AUTH0_LOG_RETENTION),
            &AUTH0_LOG_RETENTION,
        )?;
        let connect_timeout = duration(
            s.connect_timeout.as_deref(),
            file.get(&WEBHOOK_CONNECT_TIMEOUT),
            &WEBHOOK_CONNECT_TIMEOUT,
        )?;
        let timeout = duration(
            s.timeout.as_deref(),
            file.get(&WEBHOOK_TIMEOUT),
            &WEBHOOK_TIMEOUT,
        )?;

        let max_body_bytes = number(
            s.max_body_bytes.as_deref(),
            file.get(&WEBHOOK_MAX_BODY_BYTES),
            &WEBHOOK_MAX_BODY_BYTES,
        )?;

        let mut headers = Vec::new();
        if let Some(map) = file.headers() {
            for (k, v) in map {
                headers.push(header(k, v)?);
            }
        }
        if let Some(json) = given(s.headers_json.as_deref()) {
            let map: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| {
                exit::settings(format!(
                    "{} must be a JSON object of strings, e.g. {{\"X-Env\":\"prod\"}}: {e}",
                    WEBHOOK_HEADERS.label()
                ))
            })?;
            for (k, v) in &map {
                headers.push(header(k, v)?);
            }
        }
        for h in &s.headers {
            let (k, v) = h.split_once(':').ok_or_else(|| {
                exit::settings(format!(
                    "{}: a --{} must look like 'Name: value', and this one has no ':'",
                    WEBHOOK_HEADERS.label(),
                    WEBHOOK_HEADERS.long()
                ))
            })?;
            headers.push(header(k, v)?);
        }

        let authorization = secret(
            env,
            AUTHORIZATION.env,
            file.owned(&AUTHORIZATION),
            file.file_of(&AUTHORIZATION),
        )?;
        if let Some(a) = &authorization {
            header_value(a.expose()).map_err(|why| {
                exit::settings(format!(
                    "{} (or {}) {why} (the value is not shown)",
                    AUTHORIZATION.env,
                    AUTHORIZATION.file_var()
                ))
            })?;
        }
        no_credentials_in_url(&webhook_url, authorization.is_some())?;
        let daily_report_hour = daily_report_time(
            number(
                s.daily_report_hour.as_deref(),
                file.get(&DAILY_REPORT_HOUR),
                &DAILY_REPORT_HOUR,
            )?,
            env,
        )?;
        let send_as_batch = boolean(
            s.send_as_batch.as_deref(),
            file.get(&SEND_AS_BATCH),
            &SEND_AS_BATCH,
        )?;
        let gzip = boolean(s.gzip.as_deref(), file.get(&WEBHOOK_GZIP), &WEBHOOK_GZIP)?;
        let slack_remind_every = duration(
            s.slack_remind_every.as_deref(),
            file.get(&SLACK_REMIND_EVERY),
            &SLACK_REMIND_EVERY,
        )?;
        let slack_send_success = boolean(
            s.slack_send_success.as_deref(),
            file.get(&SLACK_SEND_SUCCESS),
            &SLACK_SEND_SUCCESS,
        )?;
        let format: Option<FormatSetting> = choice(
            s.payload_format.as_deref(),
            file.get(&PAYLOAD_FORMAT),
            &PAYLOAD_FORMAT,
        )?;
        let shape = choice(
            s.payload_shape.as_deref(),
            file.get(&PAYLOAD_SHAPE),
            &PAYLOAD_SHAPE,
        )?;

        let scheme = choice(
            s.signature_scheme.as_deref(),
            file.get(&SIGNATURE_SCHEME),
            &SIGNATURE_SCHEME,
        )?;
        let signing = signer(
            scheme,
            secret(
                env,
                WEBHOOK_SECRET.env,
                file.owned(&WEBHOOK_SECRET),
                file.file_of(&WEBHOOK_SECRET),
            )?,
        )?;

        let slack = match secret(
            env,
            SLACK_INCOMING_WEBHOOK_URL.env,
            file.owned(&SLACK_INCOMING_WEBHOOK_URL),
            file.file_of(&SLACK_INCOMING_WEBHOOK_URL),
        )? {
            Some(url) => {
                // The URL itself is the credential: check it without ever printing it.
                let parsed =
                    parse_url(url.expose(), SLACK_INCOMING_WEBHOOK_URL.env, allow_insecure)
                        .map_err(|e| exit::settings(e.to_string().replace(url.expose(), "***")))?;
                register_url_secrets(&parsed, true);
                Some(SlackConfig {
                    url,
                    send_success: slack_send_success.unwrap_or(false),
                    daily_report_hour,
                    remind_every: slack_remind_every,
                })
            }
            None => None,
        };

        let start_from = match s
            .start_from
            .as_deref()
            .or(file.get(&START_FROM))
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            Some(raw) => Some(crate::logid::StartFrom {
                raw: raw.to_string(),
                checkpoint: crate::logid::parse_start_from(raw, std::time::SystemTime::now())
                    .map_err(|e| exit::settings(format!("{}: {e}", START_FROM.label())))?,
            }),
            None => None,
        };

        let nonempty = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
        let ca_cert = nonempty(&s.ca_cert).or(nonempty(&file.path(&CA_CERT)));
        if let Some(p) = &ca_cert {
            check_ca_cert(p)?;
        }

        let shape = shape.unwrap_or(PayloadShape::Extension);
        let body = body_settings(s, &file, send_as_batch, format, shape)?;

        Ok(Config {
            auth0: Auth0Config {
                audience: audience(s, &file, &base_url)?,
                base_url,
                client_id,
                client_secret,
                rate_limit,
            },
            webhook: WebhookConfig {
                url_is_secret: url_file.is_some(),
                url: webhook_url,
                authorization,
                send_as_batch: body.send_as_batch,
                concurrency,
                connect_timeout,
                timeout,
                format: body.format,
                shape,
                gzip: gzip.unwrap_or(false),
                headers,
                max_body_bytes,
                signing,
                content_type: body.content_type,
            },
            filter: Filter {
                log_types,
                endpoints,
                pii: pii(s, &file, env)?,
            },
            batch_size,
            start_from,
            max_run_time,
            log_retention,
            state_file,
            dead_letter: nonempty(&s.dead_letter).or(nonempty(&file.path(&DEAD_LETTER_FILE))),
            ca_cert,
            slack,
            monitor: monitor_config(s, &file, env, allow_insecure)?,
            secret_files: secret_files(s, &file, env)
                .into_iter()
                .chain(url_file.map(|p| (WEBHOOK_URL.file_var(), p)))
                .collect(),
        })
    }

    /// The tenant as recorded in the state file, so one state file is never used for two tenants.
    pub fn tenant(&self) -> String {
        self.auth0
            .base_url
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    /// What the HTTP client is built from: the webhook's timeouts and concurrency, and CA_CERT.
    pub fn http(&self) -> ClientConfig {
        ClientConfig {
            connect_timeout: self.webhook.connect_timeout,
            timeout: self.webhook.timeout,
            concurrency: self.webhook.concurrency,
            ca_cert: self.ca_cert.clone(),
        }
    }
}

/// WEBHOOK_URL may not carry a user name or password. The HTTP client would turn them into an
/// `Authorization: Basic ...` header: a second one beside AUTHORIZATION's, and a secret in a form
/// nothing registers, so a receiver echoing its request would leak it into `-vv`, the
/// dead-letter file and the history. AUTHORIZATION is the one place for credentials.
fn no_credentials_in_url(url: &Url, authorization_set: bool) -> Result<()> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    let also = match authorization_set {
        true => format!(
            " {} is set too, and two Authorization headers would go out.",
            AUTHORIZATION.env
        ),
        false => String::new(),
    };
    Err(exit::settings(format!(
        "{} {} holds a user name or password, which would be sent as an Authorization: Basic header.{also} Remove them from the URL and set {} (or {}) to 'Basic ' followed by the base64 of user:password (printf %s 'user:password' | base64)",
        WEBHOOK_URL.label(),
        crate::redact::redact(url),
        AUTHORIZATION.env,
        AUTHORIZATION.file_var()
    )))
}

/// CA_CERT must name a regular file: `/dev/null` or a folder is said to be what it is, not
/// "no such file". Reading it (capped) is left to the HTTP client's builder.
fn check_ca_cert(path: &Path) -> Result<()> {
    let shown = || format!("{} {}", CA_CERT.label(), path.display());
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => Err(exit::settings(format!(
            "{}: {}, not a file of PEM certificates",
            shown(),
            crate::files::kind(&m)
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(exit::settings(format!("{}: no such file", shown())))
        }
        Err(e) => Err(exit::settings(format!("{}: {e}", shown()))),
    }
}

/// WEBHOOK_URL (flag, environment, config file), or WEBHOOK_URL_FILE (environment, config
/// file): a URL read from a file is a secret as a whole, checked without being shown; the file
/// is returned so `check` can warn when others can read it. Setting both is a mistake.
fn webhook_url(
    s: &Settings,
    file: &FileSettings,
    env: Env,
    allow_insecure: bool,
) -> Result<(Url, Option<PathBuf>)> {
    let plain = parse::given_owned(s.webhook_url.clone().or(file.owned(&WEBHOOK_URL)));
    let from_file = parse::given_owned(env(&WEBHOOK_URL.file_var()))
        .map(PathBuf::from)
        .or(file.file_of(&WEBHOOK_URL));
    let path = match (plain, from_file) {
        (Some(_), Some(_)) => {
            return Err(exit::settings(format!(
                "set {} or {}, not both",
                WEBHOOK_URL.label(),
                WEBHOOK_URL.file_var()
            )));
        }
        (Some(raw), None) => {
            let url = parse_url(&raw, &WEBHOOK_URL.label(), allow_insecure)?;
            // A receiver may echo the URL it was called on: its password and query values are
            // secrets like the others.
            register_url_secrets(&url, false);
            return Ok((url, None));
        }
        (None, Some(path)) => path,
        (None, None) => {
            return Err(exit::settings(format!(
                "{} is required, e.g. https://hooks.example.com/auth0 (or {} naming a file that holds it)",
                WEBHOOK_URL.label(),
                WEBHOOK_URL.file_var()
            )));
        }
    };
    let raw = secret(env, WEBHOOK_URL.env, None, Some(path.clone()))?
        .expect("a file was named, so it was read or refused");
    let what = format!("{} {}", WEBHOOK_URL.file_var(), path.display());
    let url = parse_url(raw.expose(), &what, allow_insecure).map_err(|e| {
        let shown = crate::redact::redact_raw(raw.expose());
        exit::settings(
            e.to_string()
                .replace(&shown, "***")
                .replace(raw.expose(), "***"),
        )
    })?;
    register_url_secrets(&url, true);
    Ok((url, Some(path)))
}

/// AUTH0_AUDIENCE: a URL as given, or a domain meaning `https://{domain}/api/v2/` (the
/// Management API's audience); by default that of AUTH0_DOMAIN.
fn audience(s: &Settings, file: &FileSettings, base_url: &Url) -> Result<Url> {
    let Some(raw) = s
        .audience
        .clone()
        .or(file.owned(&AUTH0_AUDIENCE))
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
    else {
        return Ok(base_url.join("api/v2/").expect("api/v2/ joins a base URL"));
    };
    let bad = |why: String| {
        exit::settings(format!(
            "{} '{raw}' {why}; e.g. acme.eu.auth0.com or https://acme.eu.auth0.com/api/v2/ (the tenant's own domain, also behind a custom domain)",
            AUTH0_AUDIENCE.env
        ))
    };
    if raw.contains("://") {
        let url = Url::parse(&raw).map_err(|e| bad(format!("is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(bad("must be an https URL".to_string()));
        }
        Ok(url)
    } else {
        Url::parse(&format!("https://{raw}/api/v2/"))
            .map_err(|e| bad(format!("is not a domain ({e})")))
    }
}

/// PII_FIELDS, PII_METHOD and PII_HASH_KEY (a secret, from the environment or a file, required
/// for `hash` and at least 16 characters: a short key could be guessed, and the tokens with it).
fn pii(s: &Settings, file: &FileSettings, env: Env) -> Result<Option<crate::filter::pii::Pii>> {
    use crate::filter::pii::{Method, Pii};
    let method = choice(s.pii_method.as_deref(), file.get(&PII_METHOD), &PII_METHOD)?;
    let key = secret(
        env,
        PII_HASH_KEY.env,
        file.owned(&PII_HASH_KEY),
        file.file_of(&PII_HASH_KEY),
    )?;
    let Some(fields) = parse::given_owned(s.pii_fields.clone().or(file.owned(&PII_FIELDS))) else {
        if method.is_some() {
            return Err(exit::settings(format!(
                "{} is set but {} is not: name the fields to hide, e.g. email,username",
                PII_METHOD.label(),
                PII_FIELDS.label()
            )));
        }
        return Ok(None);
    };
    let method = match (method.unwrap_or(PiiMethod::Mask), key) {
        (PiiMethod::Mask, _) => Method::Mask,
        (PiiMethod::Drop, _) => Method::Drop,
        (PiiMethod::Hash, None) => {
            return Err(exit::settings(format!(
                "{} hash needs {} (or {}): a secret of at least 16 characters, e.g. the output of `openssl rand -hex 32`",
                PII_METHOD.label(),
                PII_HASH_KEY.env,
                PII_HASH_KEY.file_var()
            )));
        }
        (PiiMethod::Hash, Some(key)) if key.expose().chars().count() < 16 => {
            return Err(exit::settings(format!(
                "{} must be at least 16 characters (the value is not shown), e.g. the output of `openssl rand -hex 32`",
                PII_HASH_KEY.env
            )));
        }
        (PiiMethod::Hash, Some(key)) => Method::Hash(key),
    };
    Pii::parse(&fields, method)
        .map(Some)
        .map_err(|e| exit::settings(format!("{}: {e}", PII_FIELDS.label())))
}

/// WEBHOOK_SECRET read as SIGNATURE_SCHEME says. A scheme chosen without a secret is a mistake:
/// the receiver would wait for signatures that never come.
fn signer(scheme: Option<Scheme>, key: Option<Secret>) -> Result<Option<Signer>> {
    match (scheme, key) {
        (Some(Scheme::XHubSignature256), None) => Err(exit::settings(format!(
            "{} x-hub-signature-256 needs {} (or {}): the key the receiver verifies with, at least 16 characters",
            SIGNATURE_SCHEME.label(),
            WEBHOOK_SECRET.env,
            WEBHOOK_SECRET.file_var()
        ))),
        (scheme, Some(key)) => {
            Signer::parse(scheme.unwrap_or(Scheme::StandardWebhooks), key.expose())
                .map(Some)
                .map_err(|e| exit::settings(format!("{}: {e}", WEBHOOK_SECRET.env)))
        }
        (_, None) => Ok(None),
    }
}

/// DAILY_REPORT_HOUR, or the extension's DAILY_REPORT_TIME (an hour, or `HH:00`) so that its
/// users' settings work unchanged. Errors name the variable the user set; both set is a mistake.
fn daily_report_time(ours: Option<u8>, env: Env) -> Result<Option<u8>> {
    let Some(raw) = env(DAILY_REPORT_TIME) else {
        return Ok(ours);
    };
    if ours.is_some() {
        return Err(exit::settings(format!(
            "{DAILY_REPORT_TIME} (the extension's name) and {} (--{}, or {} in the --config file) are both set: keep one",
            DAILY_REPORT_HOUR.env,
            DAILY_REPORT_HOUR.long(),
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

/// How each webhook request's body is made and labelled.
struct BodySettings {
    send_as_batch: bool,
    format: PayloadFormat,
    content_type: Option<HeaderValue>,
}

/// SEND_AS_BATCH, PAYLOAD_FORMAT (ours or Log Streams' names) and WEBHOOK_CONTENT_TYPE together.
/// `jsonobject` is Log Streams' name for one log per request, so it means SEND_AS_BATCH=false
/// and contradicts an explicit true. PAYLOAD_SHAPE=log-stream defaults to what a Log Streams
/// custom webhook sends: JSON lines, and `application/json` whatever the format (receivers
/// written for it may answer 415 to anything else).
fn body_settings(
    s: &Settings,
    file: &FileSettings,
    as_batch: Option<bool>,
    format: Option<FormatSetting>,
    shape: PayloadShape,
) -> Result<BodySettings> {
    let content_type = match s
        .content_type
        .as_deref()
        .or(file.get(&WEBHOOK_CONTENT_TYPE))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(raw) => Some(HeaderValue::from_str(raw).map_err(|_| {
            exit::settings(format!(
                "{} {raw:?} is not a valid header value (no line breaks or control characters), e.g. application/json",
                WEBHOOK_CONTENT_TYPE.env
            ))
        })?),
        None => None,
    };
    let log_stream = shape == PayloadShape::LogStream;
    let (send_as_batch, format) = match format {
        Some(FormatSetting::Jsonobject) if as_batch == Some(true) => {
            return Err(exit::settings(format!(
                "{format}=jsonobject sends one log per request, {batch}=true sends batches: set one of them (jsonobject alone, or {batch}=false with any format)",
                format = PAYLOAD_FORMAT.env,
                batch = SEND_AS_BATCH.env
            )));
        }
        Some(FormatSetting::Jsonobject) => (false, PayloadFormat::Array),
        Some(FormatSetting::Array) => (as_batch.unwrap_or(true), PayloadFormat::Array),
        Some(FormatSetting::Jsonl) => (as_batch.unwrap_or(true), PayloadFormat::Jsonl),
        None if log_stream => (as_batch.unwrap_or(true), PayloadFormat::Jsonl),
        None => (as_batch.unwrap_or(true), PayloadFormat::Array),
    };
    let content_type = match content_type {
        None if log_stream => Some(HeaderValue::from_static("application/json")),
        given => given,
    };
    Ok(BodySettings {
        send_as_batch,
        format,
        content_type,
    })
}

/// When two or more required settings are missing, one error naming them all, so a first
/// setup is not a round of fixing one and meeting the next. (One missing setting gets its own,
/// more detailed message further on.)
fn all_required(s: &Settings, file: &FileSettings, env: Env) -> Result<()> {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    let secret_given = env(AUTH0_CLIENT_SECRET.env).is_some()
        || env(&AUTH0_CLIENT_SECRET.file_var()).is_some()
        || given(&file.owned(&AUTH0_CLIENT_SECRET))
        || file.file_of(&AUTH0_CLIENT_SECRET).is_some();
    let missing: Vec<String> = [
        (
            given(&s.domain) || given(&file.owned(&AUTH0_DOMAIN)),
            format!("{}, e.g. acme.eu.auth0.com", AUTH0_DOMAIN.label()),
        ),
        (
            given(&s.client_id) || given(&file.owned(&AUTH0_CLIENT_ID)),
            format!(
                "{}, the M2M application's client ID",
                AUTH0_CLIENT_ID.label()
            ),
        ),
        (
            secret_given,
            format!(
                "{}, or {} naming a file that holds it (never a flag)",
                AUTH0_CLIENT_SECRET.env,
                AUTH0_CLIENT_SECRET.file_var()
            ),
        ),
        (
            given(&s.webhook_url)
                || given(&file.owned(&WEBHOOK_URL))
                || env(&WEBHOOK_URL.file_var()).is_some()
                || file.file_of(&WEBHOOK_URL).is_some(),
            format!(
                "{}, e.g. https://hooks.example.com/auth0",
                WEBHOOK_URL.label()
            ),
        ),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
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

/// The files the secrets were read from, as `secret` in parse.rs chooses them (the value in the
/// environment first, then NAME_FILE, then the config file's keys), and the config file.
fn secret_files(s: &Settings, file: &FileSettings, env: Env) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if let Some(p) = &s.files.config {
        out.push(("--config file".to_string(), p.clone()));
    }
    let in_config = [
        (
            &AUTH0_CLIENT_SECRET,
            file.get(&AUTH0_CLIENT_SECRET).is_some(),
            &file.file_of(&AUTH0_CLIENT_SECRET),
        ),
        (
            &AUTHORIZATION,
            file.get(&AUTHORIZATION).is_some(),
            &file.file_of(&AUTHORIZATION),
        ),
        (
            &WEBHOOK_SECRET,
            file.get(&WEBHOOK_SECRET).is_some(),
            &file.file_of(&WEBHOOK_SECRET),
        ),
        (
            &SLACK_INCOMING_WEBHOOK_URL,
            file.get(&SLACK_INCOMING_WEBHOOK_URL).is_some(),
            &file.file_of(&SLACK_INCOMING_WEBHOOK_URL),
        ),
        (
            &HEALTHCHECK_URL,
            file.get(&HEALTHCHECK_URL).is_some(),
            &file.file_of(&HEALTHCHECK_URL),
        ),
        (
            &PII_HASH_KEY,
            file.get(&PII_HASH_KEY).is_some(),
            &file.file_of(&PII_HASH_KEY),
        ),
    ];
    for (setting, value_in_config, path_in_config) in in_config {
        if env(setting.env).is_some() {
            continue;
        }
        let path = env(&setting.file_var())
            .map(PathBuf::from)
            .or_else(|| path_in_config.clone().filter(|_| !value_in_config));
        if let Some(p) = path {
            out.push((setting.file_var(), p));
        }
    }
    out
}

/// HEALTHCHECK_URL (a secret: the URL is the credential, so it is checked without ever being
/// printed) and METRICS_FILE.
fn monitor_config(
    s: &Settings,
    file: &FileSettings,
    env: Env,
    allow_insecure: bool,
) -> Result<MonitorConfig> {
    let healthcheck = secret(
        env,
        HEALTHCHECK_URL.env,
        file.owned(&HEALTHCHECK_URL),
        file.file_of(&HEALTHCHECK_URL),
    )?;
    if let Some(url) = &healthcheck {
        parse_url(url.expose(), HEALTHCHECK_URL.env, allow_insecure)
            .map_err(|e| exit::settings(e.to_string().replace(url.expose(), "***")))?;
    }
    let metrics_file = s.metrics_file.clone().or(file.path(&METRICS_FILE));
    if let Some(p) = &metrics_file
        && (p.as_os_str().is_empty() || p.file_name().is_none())
    {
        return Err(exit::settings(format!(
            "{} '{}' must name a file, e.g. /var/lib/node_exporter/textfile/auth0-mgmt-webhooks.prom",
            METRICS_FILE.env,
            p.display()
        )));
    }
    Ok(MonitorConfig {
        healthcheck,
        metrics_file,
    })
}

/// Registers what is secret in a URL for `secret::scrub`: its password and query values, and
/// with `path_too` its path (a Slack webhook's path is its credential).
fn register_url_secrets(url: &Url, path_too: bool) {
    if let Some(p) = url.password() {
        crate::secret::register(p);
    }
    for (_, v) in url.query_pairs() {
        crate::secret::register(&v);
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
