//! `check`: the settings, the credentials, the webhook host, and every file a run opens (the
//! state's folder, the state and lock files, the dead-letter and metrics files), tried before
//! the first run with nothing left behind; nothing is sent to the webhook but, with
//! `--send-test`, one marked test item.

use crate::config::{Config, Route};
use crate::exit;
use crate::filter::PayloadShape;
use crate::owner::{self, folder};
use crate::report;
use crate::say;
use crate::settings::{
    AUTH0_RATE_LIMIT, DEAD_LETTER_FILE, HEALTHCHECK_URL, LOG_TYPES, METRICS_FILE, START_FROM,
    STATE_FILE, WEBHOOK_SECRET,
};
use crate::sink::encode::Matched;
use crate::sink::webhook::{Direct, Sent};
use crate::source::auth0::{self, Auth0, CredentialsRefused, Cursor, Page};
use crate::source::pacer::{Share, figure};
use crate::state::{self, CachedToken, State};
use crate::stop::Stop;
use anyhow::{Context, Result};
use reqwest::blocking::Client;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `type` of the item `check --send-test` sends (docs/receivers.md: how receivers drop it).
pub const TEST_TYPE: &str = "auth0_mgmt_webhooks_test";

/// The lines `check` prints: `ok`, `WARN` and `FAIL`; with `-q` only the failures.
#[derive(Default)]
struct Checklist {
    failed: bool,
}

impl Checklist {
    fn ok(&mut self, what: impl AsRef<str>) {
        if say::enabled(say::NORMAL) {
            say::out_line(&format!("ok   {}", what.as_ref()));
        }
    }

    fn warn(&mut self, what: impl AsRef<str>) {
        if say::enabled(say::NORMAL) {
            say::out_line(&format!("WARN {}", what.as_ref()));
        }
    }

    fn fail(&mut self, what: impl AsRef<str>) {
        self.failed = true;
        say::out_line(&format!("FAIL {}", what.as_ref()));
    }

    /// Whose `path` is, when that matters ([`owner::check_advice`]); whether it said anything.
    fn owner(&mut self, what: &str, path: &Path, also: &[&Path]) -> bool {
        let advice = owner::check_advice(path, also);
        match &advice {
            Some((true, a)) => self.fail(format!("{what} {a}")),
            Some((false, a)) => self.warn(format!("{what} {a}")),
            None => {}
        }
        advice.is_some()
    }
}

pub fn check(cfg: &Config, send_test: bool) -> Result<u8> {
    let mut c = Checklist::default();
    let state = cfg.state_file.display();
    c.ok(format!("settings valid; state file {state}"));
    let mut warnings = crate::config::misspelt::in_process();
    for r in &cfg.routes {
        let codes = Vec::from_iter(r.filter.log_types.iter().cloned()).join(", ");
        let of = cfg.of(r);
        c.ok(format!("{of}{LOG_TYPES} forwards the log types {codes}"));
        if let Some(pii) = &r.filter.pii {
            c.ok(format!("{of}{}", pii.describe()));
        }
        let unknown = crate::filter::unknown_endpoints(&r.filter.endpoints);
        warnings.extend(unknown.into_iter().map(|w| format!("{of}{w}")));
    }
    let secret = &cfg.secret_files;
    let exposed = secret.iter().filter_map(|(w, p)| owner::exposed(w, p));
    warnings.into_iter().chain(exposed).for_each(|w| c.warn(w));
    files(cfg, &mut c);

    // The state as `run` reads it: the file a link points to, refused for another tenant.
    let state_file = state::resolve(&cfg.state_file).unwrap_or_else(|_| cfg.state_file.clone());
    let loaded = State::load(&state_file)
        .and_then(|s| Ok(s.check_tenant(&cfg.tenant(), &state_file).map(|()| s)?));
    let cached_token = loaded.as_ref().ok().and_then(|s| s.token.clone());
    match loaded {
        Ok(state) => {
            for r in &cfg.routes {
                let place = state.place(&r.name);
                let next = match (&place.checkpoint, &r.start_from) {
                    (_, Some(sf)) if place.start_from.as_deref() != Some(sf.raw.as_str()) => {
                        let (raw, at) = (&sf.raw, &sf.checkpoint);
                        format!("the next run starts after {START_FROM} {raw} (checkpoint {at})")
                    }
                    (Some(c), _) => format!("checkpoint {c}"),
                    (None, _) => {
                        "no checkpoint yet: the first run starts at the oldest log Auth0 keeps"
                            .into()
                    }
                };
                c.ok(cfg.of(r) + &next);
            }
        }
        Err(e) => c.fail(format!("{e:#}")),
    }

    let http = crate::http::client(&cfg.http)?;
    let auth0 = Auth0::new(http.clone(), cfg.auth0.clone(), None);
    match newest(&auth0, 60).with_context(|| format!("reading logs from {}", cfg.auth0.base_url)) {
        Ok(page) => {
            let (url, aud) = (&cfg.auth0.base_url, &cfg.auth0.audience);
            let aud = (url.join("api/v2/").ok().as_ref() != Some(aud))
                .then(|| format!(" (token audience {aud})"));
            let aud = aud.unwrap_or_default();
            c.ok(format!("token obtained{aud} and logs readable at {url}"));
            c.ok(match page.logs.first().and_then(|l| l.date()) {
                Some(d) => format!("newest log is from {d}{}", age(d, SystemTime::now())),
                None => "the tenant has no logs yet".into(),
            });
            let budget = auth0.pacer().budget();
            match budget.fallback() {
                Some(fallback) => c.warn(fallback),
                None => c.ok(budget_line(budget.reported())),
            }
        }
        Err(e) => {
            let refused = e.chain().any(|c| c.is::<CredentialsRefused>());
            let keeps = refused.then(|| cached_token_works(cfg, &http, cached_token));
            c.fail(format!("{e:#}{}", keeps.flatten().unwrap_or_default()));
        }
    }

    let sent = (!send_test).then_some(" (nothing was sent to it)");
    let sent = sent.unwrap_or_default();
    for r in &cfg.routes {
        let url = &r.webhook.url;
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
        let port = url.port_or_known_default().unwrap_or(443);
        let of = cfg.of(r);
        match (host, port).to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(_)) => c.ok(format!("{of}webhook host {host} resolves{sent}")),
            _ => c.fail(format!("{of}webhook host {host} does not resolve")),
        }
    }
    proxies(cfg, &mut c);
    if send_test {
        for r in &cfg.routes {
            let http = crate::http::client(&r.http(&cfg.ca_cert))?;
            self::send_test(r, &cfg.of(r), &http, &mut c);
        }
    }
    if let Some(s) = &cfg.slack {
        let success = if s.send_success { " and success" } else { "" };
        c.ok(format!("Slack reports on failure{success}"));
    }
    if cfg.monitor.healthcheck.is_some() {
        c.ok(format!("{HEALTHCHECK_URL} set: each run pings /start, then its end (/<exit code> unless 0) (check pings nothing)"));
    }
    say::debug(format_args!("{cfg:?}"));
    Ok(if c.failed { exit::FAILED } else { exit::OK })
}

/// The newest log, read as a run reads a page.
fn newest(auth0: &Auth0, secs: u64) -> Result<Page> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    auth0.page(&Cursor::Newest, 1, deadline, &Stop::until(deadline))
}

/// What Auth0 reports of the tenant's rate limit, and the share of it a run takes.
fn budget_line((bucket, share): (Option<(f64, f64)>, Share)) -> String {
    let Some((size, rate)) = bucket else {
        return format!(
            "Auth0 reported no rate limit (x-ratelimit-* headers); {AUTH0_RATE_LIMIT} {share} applies once it does"
        );
    };
    let rate = figure(rate);
    let rate = match crate::source::pacer::plan_rate(size) {
        Some(_) => format!(", refilled at {rate} requests/s"),
        None => format!(
            ", a size no published plan has: taken as refilled at {rate} requests/s, in 6 s, as slowly as any published plan refills"
        ),
    };
    format!(
        "Auth0's rate limit for the tenant: a bucket of {size} requests{rate}; {AUTH0_RATE_LIMIT} {share}: runs use at most that, the rest is left to the tenant's other clients"
    )
}

/// Which proxy Auth0 and webhook requests go through (credentials not shown), if one is set.
fn proxies(cfg: &Config, c: &mut Checklist) {
    let env = crate::config::process_env;
    let set = crate::proxy::settings(&env);
    if set[..3].iter().all(String::is_empty) {
        return;
    }
    let hooks = (cfg.routes.iter()).map(|r| (cfg.of(r) + "webhook", &r.webhook.url));
    let auth0 = std::iter::once(("Auth0".into(), &cfg.auth0.base_url));
    for (what, url) in auth0.chain(hooks) {
        let scheme = url.scheme();
        c.ok(match crate::proxy::proxy_for(url, &env) {
            Some(proxy) => format!("{what} requests go through the proxy {proxy}"),
            None => format!(
                "{what} requests go direct (NO_PROXY names the host, or no proxy is set for {scheme})",
            ),
        });
    }
}

/// When the credentials are refused but the cached token still reads logs: until when runs work.
fn cached_token_works(cfg: &Config, http: &Client, token: Option<CachedToken>) -> Option<String> {
    let token = token?;
    let now_secs = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let until = auth0::usable_until(&token, &cfg.auth0.client_id).filter(|u| *u > now_secs)?;
    let auth0 = Auth0::new(http.clone(), cfg.auth0.clone(), Some(token));
    newest(&auth0, 30).ok()?;
    Some(keeps_working_words(until, now_secs))
}

fn keeps_working_words(until: u64, now: u64) -> String {
    let at = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(until));
    let left = report::duration_words(Duration::from_secs(until.saturating_sub(now)));
    format!(
        "; runs keep working until {at} (in {left}) on the access token cached in {STATE_FILE}, then fail like this: fix the credentials before then"
    )
}

/// `--send-test`: one test item, sent once with a run's headers and signature.
fn send_test(route: &Route, of: &str, http: &Client, c: &mut Checklist) {
    let item = test_item(route.webhook.shape, SystemTime::now());
    let stop = Arc::new(Stop::until(Instant::now() + route.webhook.timeout));
    let direct = Direct::new(http, &route.webhook, Arc::default(), stop);
    let (url, id) = (route.webhook.shown_url(), &item.log_id);
    let unsigned = format!("unsigned (no {WEBHOOK_SECRET})");
    let signed = (route.webhook.signing.as_ref()).map_or(unsigned, |s| s.describe().to_string());
    match direct.send_once(id, std::slice::from_ref(&item)) {
        Sent::Delivered { status } => c.ok(format!(
            "{of}test item {id} POSTed to {url}, {signed}: the webhook answered {status}"
        )),
        Sent::Refused { detail, .. } => c.fail(format!(
            "{of}test item {id} POSTed to {url} was refused: {detail}. The credentials were taken, but the receiver refuses the item: a receiver that checks items should drop those of type {TEST_TYPE} (docs/receivers.md, The test item)"
        )),
        Sent::Failed(e) => c.fail(format!("{of}test item {id} POSTed to {url}: {e}")),
    }
}

/// The item `check --send-test` sends: `log_id` `test_<unix seconds>`, `type` [`TEST_TYPE`],
/// and `"test": true` at its top, so a receiver can tell it from a log and drop it.
pub fn test_item(shape: PayloadShape, now: SystemTime) -> Matched {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let log_id = format!("test_{secs}");
    let log = serde_json::json!({
        "log_id": log_id,
        "date": humantime::format_rfc3339_millis(now).to_string(),
        "type": TEST_TYPE,
        "description": "a test from `auth0-mgmt-webhooks check --send-test`, not an Auth0 log: drop it",
        "test": true,
    });
    let raw = serde_json::value::RawValue::from_string(log.to_string()).expect("valid JSON");
    let log = crate::log::Log::parse(raw).expect("the test log has an id");
    let json = crate::filter::item_json(&log, shape, true, None).expect("nothing to mask");
    Matched {
        seq: Default::default(),
        log_id,
        json,
    }
}

/// What `run` does to the file system, tried, leaving nothing behind.
fn files(cfg: &Config, c: &mut Checklist) {
    let state_file = &cfg.state_file;
    let lock = state::lock_path(state_file);
    let dir = folder(state_file);
    let (d, l, label) = (dir.display(), lock.display(), STATE_FILE.label());
    match can_create_in(dir) {
        Ok(None) => c.ok(format!(
            "{STATE_FILE}'s folder {d} is writable (state and lock files)"
        )),
        Ok(Some(up)) => c.ok(format!(
            "{STATE_FILE}'s folder {d} does not exist yet; the first run creates it in {}",
            up.display()
        )),
        Err(e) => {
            let advice = owner::foreign(dir, &[]).map(|a| format!("; {a}"));
            let advice = advice.unwrap_or_default();
            c.fail(format!(
                "cannot create files in {STATE_FILE}'s folder {d} ({e}): each run saves the state by writing a new file there and renaming it, and locks {l}; make the folder writable by the user running the tool, or choose another {label}{advice}"
            ));
        }
    }
    c.owner(STATE_FILE.env, state_file, &[&lock]);
    if lock.exists() {
        match std::fs::OpenOptions::new().write(true).open(&lock) {
            Ok(_) => _ = c.owner("lock file", &lock, &[state_file]),
            Err(e) => {
                let fix = owner::foreign(&lock, &[state_file]);
                let fix = fix.unwrap_or("make it writable by the user running the tool".into());
                c.fail(format!("cannot open lock file {l} ({e}); {fix}"));
            }
        }
    }

    // No two routes share a dead-letter file (`Config::new` refuses it).
    for p in cfg.dead_letters() {
        let shown = p.display();
        match dead_letter(p) {
            Ok(()) if c.owner(DEAD_LETTER_FILE.env, p, &[]) => {}
            Ok(()) => c.ok(format!("{DEAD_LETTER_FILE} {shown} can be appended to")),
            Err(e) => c.fail(format!(
                "{DEAD_LETTER_FILE} {shown}: cannot open it for appending ({e}); the run would stop before sending anything"
            )),
        }
        // Runs go on after setting logs aside: without this, they stay out of sight.
        if let Ok(Some(n @ 1..)) = crate::sink::dead_letter::pending(p, &cfg.tenant()) {
            let n = say::count(n, "log", "logs");
            c.warn(format!(
                "{n} waiting in {DEAD_LETTER_FILE}: run redeliver once the receiver takes them (their refusals are in {shown})"
            ));
        }
    }

    if let Some(p) = &cfg.monitor.metrics_file {
        let (shown, d) = (p.display(), folder(p).display());
        match try_create_in(folder(p)) {
            Ok(()) => c.ok(format!("{METRICS_FILE} {shown} can be written")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => c.fail(format!(
                "{METRICS_FILE} {shown}: the folder {d} does not exist (node_exporter's --collector.textfile.directory)"
            )),
            Err(e) => c.fail(format!(
                "{METRICS_FILE} {shown}: cannot create files in {d} ({e}), so the metrics would never be written"
            )),
        }
        if p.extension().is_none_or(|e| e != "prom") {
            c.warn(format!(
                "{METRICS_FILE} {shown}: node_exporter's textfile collector reads only files ending in .prom"
            ));
        }
    }
}

/// [`try_create_in`] `dir`, or `Some` nearest folder above it that exists (where a run makes it).
fn can_create_in(dir: &Path) -> std::io::Result<Option<&Path>> {
    let at = dir.ancestors().find(|a| a.exists());
    let at = at.unwrap_or(Path::new("."));
    try_create_in(at)?;
    Ok((at != dir).then_some(at))
}

/// Creates a file in `dir` that has no name, so none is left behind.
fn try_create_in(dir: &Path) -> std::io::Result<()> {
    // The error without the random name of tempfile's fallback, which means nothing.
    tempfile::tempfile_in(dir).map(drop).map_err(|e| {
        e.raw_os_error()
            .map_or(e, std::io::Error::from_raw_os_error)
    })
}

/// Opens the dead-letter file and its lock as the run does; one made here is removed again.
fn dead_letter(path: &Path) -> std::io::Result<()> {
    if let Some(meta) = std::fs::metadata(path).ok().filter(|m| !m.is_file()) {
        let kind = crate::files::kind(&meta);
        return Err(std::io::Error::other(format!("{kind}, not a regular file")));
    }
    let lock = crate::sink::dead_letter::lock_path(path);
    let mut open = std::fs::OpenOptions::new();
    open.append(true).create(true);
    for file in [path, lock.as_path()] {
        let existed = file.exists();
        open.open(file)?;
        if !existed {
            std::fs::remove_file(file)?;
        }
    }
    Ok(())
}

/// How long ago a log's date was, to the minute: a quiet tenant shows hours or days.
fn age(date: &str, now: SystemTime) -> String {
    let ago = report::age(date, now).map(|d| format!(" ({} ago)", report::duration_words(d)));
    ago.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_state_folder_is_tried_where_the_run_would_create_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(can_create_in(dir.path()).unwrap(), None);
        let deep = dir.path().join("a/b");
        assert_eq!(can_create_in(&deep).unwrap(), Some(dir.path()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_dead_letter_file_that_did_not_exist_still_does_not_and_one_that_did_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dead.jsonl");
        dead_letter(&p).unwrap();
        assert!(!p.exists());
        std::fs::write(&p, "{}\n").unwrap();
        dead_letter(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{}\n");
        assert!(dead_letter(&dir.path().join("no/dead.jsonl")).is_err());
    }

    #[test]
    fn the_test_item_is_marked_in_either_shape() {
        let now = UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        for shape in [PayloadShape::Extension, PayloadShape::LogStream] {
            let item = test_item(shape, now);
            assert_eq!(item.log_id, "test_1764000000");
            let v: serde_json::Value = serde_json::from_slice(&item.json).unwrap();
            assert_eq!(v["log_id"], "test_1764000000");
            assert_eq!(v["test"], true);
            let kind = match shape {
                PayloadShape::Extension => &v["type"],
                PayloadShape::LogStream => &v["data"]["type"],
            };
            assert_eq!(kind, TEST_TYPE);
        }
    }

    #[test]
    fn the_cached_token_is_said_to_last_until_its_renewal() {
        let now = 1_764_000_000;
        assert_eq!(
            keeps_working_words(now + 5 * 3600 + 120, now),
            "; runs keep working until 2025-11-24T21:02:00Z (in 5 hours 2 minutes) on the access token cached in STATE_FILE, then fail like this: fix the credentials before then"
        );
    }

    #[test]
    fn age_is_shown_to_the_minute() {
        let now = humantime::parse_rfc3339("2026-11-26T10:00:00Z").unwrap();
        assert_eq!(
            age("2026-11-26T09:59:30.000Z", now),
            " (less than a minute ago)"
        );
        assert_eq!(
            age("2026-11-24T07:29:10.500Z", now),
            " (2 days 2 hours ago)"
        );
        assert_eq!(age("2026-11-27T00:00:00.000Z", now), "");
        assert_eq!(age("not a date", now), "");
    }
}
