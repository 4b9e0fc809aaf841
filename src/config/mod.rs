//! Settings: flags and environment (through clap), the optional TOML file, defaults, turned once
//! into a validated [`Config`]. Only this module reads clap's structs (the stages' few enums of
//! words derive its `ValueEnum`, so each word is spelt once); every message names the setting.

mod file;
mod given;
pub mod misspelt;
mod parse;
mod route;

use crate::cli::Settings;
use crate::exit;
use crate::http::ClientConfig;
pub use crate::report::monitor::MonitorConfig;
pub use crate::report::slack::SlackConfig;
use crate::secret::Secret;
use crate::settings::*;
pub use crate::sink::webhook::WebhookConfig;
pub use crate::source::auth0::Auth0Config;
use anyhow::Result;
pub use file::FileSettings;
use given::Given;
use parse::{parse_domain, parse_url};
use reqwest::Url;
pub use route::Route;
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
    let home = || env(HOME).map(|h| PathBuf::from(h).join(".local/state"));
    let Some(base) = env(XDG_STATE_HOME).map(PathBuf::from).or_else(home) else {
        let words = format!("{} is not set and neither is {HOME}", STATE_FILE.label());
        return Err(exit::settings(words));
    };
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
                "{AUTH0_CLIENT_SECRET} is required: set it, or {} to a file holding it (never a flag: command lines are visible to every user)",
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
        let mut routes = Vec::new();
        for (name, table) in &file.routes {
            // A route's secrets read from files, for `check`'s warnings about who may read them.
            let secrets = PER_ROUTE
                .iter()
                .filter(|s| s.form() == Form::Secret && table.get(s).is_none());
            secret_files.extend(secrets.filter_map(|s| {
                Some((
                    format!("{} of route {name:?}", s.file_var()),
                    table.file_of(s)?,
                ))
            }));
            let route = Some(table);
            let read = route::route(Given { route, ..g }, name, allow_insecure);
            routes.push(read.map_err(|e| exit::settings(format!("route {name:?}: {e:#}")))?);
        }
        if routes.is_empty() {
            let default = route::route(g, crate::state::DEFAULT_ROUTE, allow_insecure)?;
            routes.push(default);
        }
        let url_files = routes.iter().filter_map(|r| r.url_file.clone());
        secret_files.extend(url_files.map(|p| (WEBHOOK_URL.file_var(), p)));
        route::across(&routes)?;

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
        let named = self.named().then(|| format!("route {}: ", r.name));
        named.unwrap_or_default()
    }

    /// Whether the routes are the config file's tables, not the one `default` of the settings.
    pub fn named(&self) -> bool {
        !matches!(self.routes.as_slice(), [only] if only.name == crate::state::DEFAULT_ROUTE)
    }

    /// The route `redeliver --route` names; without one, the only route.
    pub fn route(&self, name: Option<&str>) -> Result<&Route> {
        let names: Vec<&str> = self.routes.iter().map(|r| r.name.as_str()).collect();
        let names = names.join(", ");
        match (name, self.routes.as_slice()) {
            (None, [only]) => Ok(only),
            (None, _) => Err(exit::settings(format!(
                "the config file has several routes: name one with --route ({names})"
            ))),
            (Some(name), routes) => routes.iter().find(|r| r.name == name).ok_or_else(|| {
                exit::settings(format!("--route {name}: no such route; routes are {names}"))
            }),
        }
    }

    /// Every route's DEAD_LETTER_FILE.
    pub fn dead_letters(&self) -> Vec<&std::path::Path> {
        let files = self.routes.iter().filter_map(|r| r.dead_letter.as_deref());
        files.collect()
    }

    /// The tenant as recorded in the state file, so one state file is never used for two tenants.
    pub fn tenant(&self) -> String {
        let url = self.auth0.base_url.as_str();
        url.trim_end_matches('/').to_string()
    }
}

/// A parser's words as a settings error naming the setting: `LOG_TYPES (--log-types): ...`.
fn invalid(s: &Name, words: impl std::fmt::Display) -> anyhow::Error {
    exit::settings(format!("{}: {words}", s.label()))
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
    let config = g
        .flags
        .path(&CONFIG_FILE)
        .map(|p| ("--config file".to_string(), p));
    let secrets = ALL
        .iter()
        .filter(|s| s.form() == Form::Secret && (g.env)(s.env).is_none());
    let read = secrets.filter_map(|s| {
        let path = (g.env)(&s.file_var()).map(PathBuf::from);
        let path = path.or_else(|| g.file.file_of(s).filter(|_| g.file.get(s).is_none()));
        Some((s.file_var(), path?))
    });
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
        // A server may echo the token alone ("unknown token ..."): long segments (12 characters
        // or more) are tokens, short ones (`bulk`, `tag`, `services`) are words messages need.
        let segments = url.path_segments().into_iter().flatten();
        segments
            .filter(|s| s.len() >= 12)
            .for_each(crate::secret::register);
    }
}

#[cfg(test)]
mod tests;
