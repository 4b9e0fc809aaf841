//! Every setting, declared once: its variable (whose lower case is its `--config` file key), its
//! flag, its `--help` heading and text, the kind of value it takes with the range, and its
//! default. `cli` makes the flags from these declarations, `config` reads and checks the values
//! with the parser of each kind, and every message names a setting through its declaration, so
//! a variable's name is spelled here and nowhere else.
//!
//! A leaf: it imports nothing of the crate, so every stage can name the setting to fix.

/// What a setting's value is, and so which parser reads it from a flag, a variable or the file.
#[derive(Debug)]
pub enum Kind {
    /// Any text, checked where it is used (a domain, a URL, a list).
    Text,
    /// A file's path: any bytes the system allows.
    Path,
    /// A whole number from `min` to `max`; `why` says what the range is for, or is empty.
    Whole {
        min: u64,
        max: u64,
        why: &'static str,
    },
    /// A duration ("90s", "4m") from `min` to `max`.
    Duration {
        min: &'static str,
        max: &'static str,
    },
    /// true, false, yes, no, on, off, 1, 0.
    Bool,
    /// One of a few words; `config` names the enum that holds them.
    Choice,
    /// A share of the rate limit ("50%") or requests a second (4, 0.5).
    Rate,
    /// A secret: from the environment, `NAME_FILE` or the file, never a flag.
    Secret,
    /// Extra headers: `--header 'Name: value'` (repeatable), the variable as a JSON object, the
    /// file's `[webhook_headers]` table.
    Headers,
}

/// The `--help` headings, in the README table's order.
pub const AUTH0: &str = "Auth0";
pub const WEBHOOK: &str = "Webhook";
pub const DELIVERY: &str = "Delivery";
pub const REPORTS: &str = "Reports";
pub const STATE: &str = "State";

/// One setting.
#[derive(Debug)]
pub struct Setting {
    /// The environment variable; its lower case is the `--config` file key.
    pub env: &'static str,
    /// The long flag, without `--`; none for a secret.
    pub flag: Option<&'static str>,
    /// The flag's value as `--help` shows it: `N`, `URL`, ...
    pub value_name: &'static str,
    pub heading: &'static str,
    pub kind: Kind,
    /// Whether `NAME_FILE` (and the file key `name_file`) may name a file holding the value.
    pub from_file: bool,
    /// The default as `--help` and the README show it; a number or duration where it is one.
    pub default: Option<&'static str>,
    /// The doc comment: its first paragraph is the `-h` line, the whole is `--help`'s.
    pub help: &'static str,
}

impl Setting {
    const fn new(
        env: &'static str,
        heading: &'static str,
        flag: &'static str,
        value_name: &'static str,
        kind: Kind,
    ) -> Setting {
        Setting {
            env,
            flag: Some(flag),
            value_name,
            heading,
            kind,
            from_file: false,
            default: None,
            help: "",
        }
    }

    const fn duration(
        env: &'static str,
        heading: &'static str,
        flag: &'static str,
        min: &'static str,
        max: &'static str,
    ) -> Setting {
        Setting::new(env, heading, flag, "DURATION", Kind::Duration { min, max })
    }

    const fn whole(
        env: &'static str,
        heading: &'static str,
        flag: &'static str,
        value_name: &'static str,
        (min, max): (u64, u64),
    ) -> Setting {
        Setting::new(
            env,
            heading,
            flag,
            value_name,
            Kind::Whole { min, max, why: "" },
        )
    }

    /// What a whole number's range is for.
    const fn because(self, why: &'static str) -> Setting {
        match self.kind {
            Kind::Whole { min, max, .. } => Setting {
                kind: Kind::Whole { min, max, why },
                ..self
            },
            _ => panic!("only a whole number's range has a reason"),
        }
    }

    const fn boolean(env: &'static str, heading: &'static str, flag: &'static str) -> Setting {
        Setting::new(env, heading, flag, "BOOL", Kind::Bool)
    }

    const fn path(env: &'static str, heading: &'static str, flag: &'static str) -> Setting {
        Setting::new(env, heading, flag, "FILE", Kind::Path)
    }

    const fn secret(env: &'static str, heading: &'static str) -> Setting {
        Setting {
            env,
            flag: None,
            value_name: "",
            heading,
            kind: Kind::Secret,
            from_file: true,
            default: None,
            help: "",
        }
    }

    const fn or_its_file(self) -> Setting {
        Setting {
            from_file: true,
            ..self
        }
    }

    const fn default(self, default: &'static str) -> Setting {
        Setting {
            default: Some(default),
            ..self
        }
    }

    const fn help(self, help: &'static str) -> Setting {
        Setting { help, ..self }
    }

    /// Its flag without `--`.
    pub const fn long(&self) -> &'static str {
        match self.flag {
            Some(flag) => flag,
            None => panic!("a secret has no flag"),
        }
    }

    /// The setting as messages name it: `BATCH_SIZE (--batch-size)`.
    pub fn label(&self) -> String {
        match self.flag {
            Some(flag) => format!("{} (--{flag})", self.env),
            None => self.env.to_string(),
        }
    }

    /// The variable naming a file that holds the value: `NAME_FILE`.
    pub fn file_var(&self) -> String {
        format!("{}_FILE", self.env)
    }

    /// Its `--config` file key.
    pub fn key(&self) -> String {
        self.env.to_ascii_lowercase()
    }

    /// The range `--help` and the messages show: `1 to 100`.
    pub fn range(&self) -> Option<String> {
        match &self.kind {
            Kind::Whole { min, max, .. } => Some(format!("{min} to {max}")),
            Kind::Duration { min, max } => Some(format!("{min} to {max}")),
            _ => None,
        }
    }

    /// The doc comment as paragraphs of text: the `-h` line and the whole `--help` text.
    pub fn help_text(&self) -> (String, String) {
        let lines: Vec<&str> = self
            .help
            .lines()
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect();
        let paragraphs: Vec<String> = lines
            .split(|l| l.trim().is_empty())
            .filter(|p| !p.is_empty())
            .map(|p| p.join(" "))
            .collect();
        let short = paragraphs.first().cloned().unwrap_or_default();
        (short, paragraphs.join("\n\n"))
    }
}

/// The variable's name, so a message can say `"... after {MAX_RUN_TIME}, ..."` and name the
/// setting without spelling it.
impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.env)
    }
}

/// Declares each setting as a constant named as its variable, its doc comment its `--help`, and
/// lists them all in [`ALL`], so a new setting is one entry.
macro_rules! declare {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident = $ctor:ident($($arg:expr),* $(,)?)
            $(.$method:ident($($marg:expr)?))*;
    )*) => {
        $(
            $(#[doc = $doc])*
            pub const $name: Setting = Setting::$ctor(stringify!($name) $(, $arg)*)
                .help(concat!($($doc, "\n"),*)) $(.$method($($marg)?))*;
        )*
        /// Every setting the `--config` file may hold, in `--help`'s order.
        pub const ALL: &[&Setting] = &[$(&$name),*];
    };
}

declare! {
    /// Tenant domain, e.g. acme.eu.auth0.com. [required]
    ///
    /// A value with a scheme (http://127.0.0.1:8080) is used as the base URL as given.
    AUTH0_DOMAIN = new(AUTH0, "domain", "DOMAIN", Kind::Text);
    /// Token audience, when AUTH0_DOMAIN is a custom domain or a proxy.
    ///
    /// The Management API's audience stays the tenant's own domain: acme.eu.auth0.com (or the
    /// full https://acme.eu.auth0.com/api/v2/).
    AUTH0_AUDIENCE = new(AUTH0, "audience", "DOMAIN_OR_URL", Kind::Text)
        .default("https://{AUTH0_DOMAIN}/api/v2/");
    /// How long the tenant's plan keeps logs.
    ///
    /// Auth0 deletes older logs: Free 1d, Essentials 5d, Professional 10d, Enterprise 30d. Used
    /// to warn before the checkpoint falls behind it, and to name the logs lost when it did.
    AUTH0_LOG_RETENTION = duration(AUTH0, "log-retention", "1d", "90d").default("30d");
    /// Client ID of a machine-to-machine application granted read:logs. [required]
    AUTH0_CLIENT_ID = new(AUTH0, "client-id", "ID", Kind::Text);
    /// The M2M application's secret (required).
    AUTH0_CLIENT_SECRET = secret(AUTH0);
    /// Most of the tenant's Auth0 rate limit this tool may use: a share (50%) or requests a second (4).
    ///
    /// Auth0 gives each tenant one bucket of Management API requests, shared with every other
    /// client of the tenant (your backend, the Deploy CLI, Actions). 50% leaves half of it to
    /// them; 100% lets a backfill read as fast as the tenant allows.
    AUTH0_RATE_LIMIT = new(AUTH0, "auth0-rate-limit", "SHARE", Kind::Rate).default("50%");
    /// Only these Management API endpoints, e.g. "users, clients".
    ///
    /// Comma-separated. An entry may name a method: "DELETE users". `users` matches
    /// /api/v2/users and /api/v2/users/..., not /api/v2/users-by-email.
    AUTH0_API_ENDPOINTS = new(AUTH0, "endpoints", "LIST", Kind::Text).default("all");
    /// Log type codes or Log Streams categories to forward, comma-separated.
    ///
    /// Any Auth0 code: sapi, fapi, mgmt_api_read, s, f, ... and Log Streams' category names:
    /// management.success (sapi, mgmt_api_read), management.fail, auth.login.fail,
    /// user.notification, ... (`check` prints the codes). Types without details.request are
    /// best sent with --payload-shape log-stream.
    LOG_TYPES = new(AUTH0, "log-types", "LIST", Kind::Text).default("sapi,fapi");
    /// The most logs in one webhook request; batches fill across pages.
    BATCH_SIZE = whole(AUTH0, "batch-size", "N", (1, 100))
        .because("Auth0 returns at most 100 logs a request")
        .default("100");
    /// Where the logs are POSTed; https unless the host is loopback. [required]
    ///
    /// No user:password@ in it: credentials go in AUTHORIZATION. A URL that holds a token (in
    /// its path or query) goes in a file named by WEBHOOK_URL_FILE instead: then only
    /// scheme://host is ever shown.
    WEBHOOK_URL = new(WEBHOOK, "webhook-url", "URL", Kind::Text).or_its_file();
    /// The webhook's Authorization header, verbatim.
    AUTHORIZATION = secret(WEBHOOK);
    /// whsec_... key(s), space-separated, to sign requests (with
    /// SIGNATURE_SCHEME=x-hub-signature-256: any text of 16 characters or more).
    WEBHOOK_SECRET = secret(WEBHOOK);
    /// Body: array (a JSON array), jsonl (JSON lines) or jsonobject (one log per request).
    ///
    /// Auth0 Log Streams' names work too, in any case: JSONARRAY, JSONLINES, JSONOBJECT.
    /// jsonobject is SEND_AS_BATCH=false, and refused with SEND_AS_BATCH=true.
    PAYLOAD_FORMAT = new(WEBHOOK, "payload-format", "FORMAT", Kind::Choice)
        .default("array; jsonl with --payload-shape log-stream");
    /// Content-Type of every webhook request, any value, e.g. application/json.
    ///
    /// Receivers written for Auth0 Log Streams often expect application/json, also for JSON
    /// lines, and some answer 415 to anything else. With --payload-shape log-stream and no
    /// format, the default is JSON lines as application/json, as a Log Streams webhook sends.
    WEBHOOK_CONTENT_TYPE = new(WEBHOOK, "content-type", "TYPE", Kind::Text)
        .default("application/json; application/x-ndjson for jsonl");
    /// Each item: `extension` or `log-stream`.
    ///
    /// `extension`: {log_id, type, date, request, response}; `log-stream`: {log_id, data: the
    /// whole log}, as Auth0 Log Streams sends it.
    PAYLOAD_SHAPE = new(WEBHOOK, "payload-shape", "SHAPE", Kind::Choice).default("extension");
    /// How requests are signed with WEBHOOK_SECRET: standard-webhooks or x-hub-signature-256.
    ///
    /// standard-webhooks: webhook-signature, keys whsec_<base64>. x-hub-signature-256:
    /// X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>, as GitHub sends it; the key is
    /// WEBHOOK_SECRET as written, at least 16 characters. Both sign the body before gzip.
    SIGNATURE_SCHEME = new(WEBHOOK, "signature-scheme", "SCHEME", Kind::Choice)
        .default("standard-webhooks");
    /// Personal data to mask in every log: email, username, first_name, last_name, phone,
    /// address (Log Streams' names), or dotted paths.
    ///
    /// A name matches its keys anywhere in the log (username: user_name and username;
    /// first_name: also given_name; last_name: family_name; phone: phone_number); a dotted path
    /// such as details.request.body.password matches that one place. Everything else is sent
    /// as Auth0 wrote it, in both shapes, the dry run and the dead-letter file.
    PII_FIELDS = new(WEBHOOK, "pii-fields", "LIST", Kind::Text).default("none");
    /// How PII_FIELDS' values are hidden: mask ("***"), hash or drop.
    ///
    /// hash: the hex HMAC-SHA256 of the value keyed with PII_HASH_KEY (a secret, required), so
    /// the same value always gives the same token and nobody without the key can find a known
    /// address by hashing it. drop: the key and its value are removed.
    PII_METHOD = new(WEBHOOK, "pii-method", "METHOD", Kind::Choice).default("mask");
    /// The key of PII_METHOD=hash, 16 characters or more.
    PII_HASH_KEY = secret(WEBHOOK);
    /// Gzip request bodies (Content-Encoding: gzip).
    WEBHOOK_GZIP = boolean(WEBHOOK, "gzip").default("false");
    /// Extra header on every webhook request, 'Name: value'. Repeatable.
    ///
    /// In the environment: WEBHOOK_HEADERS='{"X-Env":"prod"}' (a JSON object).
    WEBHOOK_HEADERS = new(WEBHOOK, "header", "NAME: VALUE", Kind::Headers);
    /// Allow http:// webhook, Slack and healthcheck URLs to hosts other than loopback.
    ALLOW_INSECURE_HTTP = boolean(WEBHOOK, "allow-insecure-http").default("false");
    /// A PEM file of extra CA certificates to trust (a private CA).
    ///
    /// Certificates are always verified.
    CA_CERT = path(WEBHOOK, "ca-cert");
    /// true: one POST per batch (a JSON array); false: one POST per log.
    SEND_AS_BATCH = boolean(DELIVERY, "send-as-batch").default("true");
    /// Most webhook requests in flight at once.
    WEBHOOK_CONCURRENT_CALLS = whole(DELIVERY, "concurrency", "N", (1, 64)).default("5");
    /// Stop fetching and retrying after this long; the next run goes on.
    ///
    /// Keep fetching pages until caught up or this long has passed; no request outlives it.
    /// Keep it below the schedule's interval.
    MAX_RUN_TIME = duration(DELIVERY, "max-run-time", "1s", "24h").default("4m");
    /// Time allowed to connect to the webhook (and to Auth0).
    WEBHOOK_CONNECT_TIMEOUT = duration(DELIVERY, "connect-timeout", "100ms", "5m").default("5s");
    /// Time allowed for one whole webhook request, answer included.
    WEBHOOK_TIMEOUT = duration(DELIVERY, "timeout", "100ms", "10m").default("30s");
    /// Split a batch so that no request body exceeds this many bytes.
    ///
    /// Measured before gzip, which only shrinks it.
    WEBHOOK_MAX_BODY_BYTES = whole(DELIVERY, "max-body-bytes", "BYTES", (1, 1 << 30))
        .default("no limit");
    /// Append logs the webhook refuses to this file, go on, and exit 3.
    ///
    /// A refused batch (400, 413, 422, ...) is split until the refused logs are found; only
    /// those go here, one JSON line each. Answers about the endpoint or credentials (3xx, 401,
    /// 403, 404, ...) and refusals of everything stop the run instead. Without it a refusal
    /// stops the run before the refused log. Several tenants may share the file: each record
    /// names its tenant, and writers lock FILE.lock beside it.
    DEAD_LETTER_FILE = path(DELIVERY, "dead-letter");
    /// Where failures (and optionally successes) are reported.
    SLACK_INCOMING_WEBHOOK_URL = secret(REPORTS);
    /// Also report successful runs to Slack, not only failures.
    SLACK_SEND_SUCCESS = boolean(REPORTS, "slack-send-success").default("false");
    /// While runs keep failing, remind Slack at most this often.
    ///
    /// Slack hears of the first failed (or dead-lettered, or interrupted) run, then of the same
    /// trouble again only this long after, and of the recovery.
    SLACK_REMIND_EVERY = duration(REPORTS, "slack-remind-every", "10m", "7d").default("6h");
    /// Hour (UTC) after which the day's first run sends Slack a daily summary.
    ///
    /// The extension's DAILY_REPORT_TIME is read as this hour too (9 or 09:00).
    DAILY_REPORT_HOUR = whole(REPORTS, "daily-report-hour", "HOUR", (0, 23))
        .because("an hour of the day, UTC")
        .default("off");
    /// Cron monitor ping URL: <url>/start, <url>, <url>/<exit code>.
    HEALTHCHECK_URL = secret(REPORTS);
    /// After every run, write a Prometheus textfile-collector file here.
    ///
    /// Written atomically, e.g. /var/lib/node_exporter/textfile/auth0-mgmt-webhooks.prom.
    METRICS_FILE = path(REPORTS, "metrics-file").default("none");
    /// Start at a log id, a date, a UTC date-time or an age, once (for backfills).
    ///
    /// A log id: the logs after it. 2026-11-01, 2026-11-01T08:00:00Z, 7d, 12h: the logs Auth0
    /// stored at or after that moment. Applied only when it differs from the start-from
    /// recorded in the state, so it can stay set without rewinding every run. Without a
    /// checkpoint or this, the first run starts at the oldest log Auth0 keeps.
    START_FROM = new(STATE, "start-from", "WHERE", Kind::Text);
    /// State file: checkpoint, cached token, run history. One per tenant.
    STATE_FILE = path(STATE, "state")
        .default("$XDG_STATE_HOME/auth0-mgmt-webhooks/state.json");
}

/// Settings file (TOML).
///
/// Keys are the environment variable names in lower case. Flags and environment variables take
/// precedence over it. (Not a key of the file itself.)
pub const CONFIG_FILE: Setting = Setting::new("CONFIG_FILE", STATE, "config", "FILE", Kind::Path)
    .help(" Settings file (TOML).\n\n Keys are the environment variable names in lower case. Flags and environment variables\n take precedence over it.\n");

/// `run`'s end-of-run report: a line on stderr, or one JSON object on stdout. Not plain
/// `OUTPUT`: that name is too common in other software's environments. Not a key of the file:
/// it is about how this one call is read, not the tenant.
pub const AUTH0_MGMT_WEBHOOKS_OUTPUT: Setting = Setting::new(
    "AUTH0_MGMT_WEBHOOKS_OUTPUT",
    REPORTS,
    "output",
    "FORMAT",
    Kind::Choice,
)
.default("text")
.help(" How to report the end of the run: a line on stderr, or one JSON object on stdout.\n");

/// The extension's name for DAILY_REPORT_HOUR, read as it.
pub const DAILY_REPORT_TIME: &str = "DAILY_REPORT_TIME";

/// Where the state file goes by default: `$XDG_STATE_HOME`, else `$HOME/.local/state`.
pub const XDG_STATE_HOME: &str = "XDG_STATE_HOME";
pub const HOME: &str = "HOME";

/// In builds with debug assertions only (the tests' binary), a fault to inject: `cursor N`
/// panics the cursor of window N once it has sent a page on, `worker` every delivery thread.
/// Not a setting, and outside the tool's prefix so that no misspelling warning names it.
#[cfg(debug_assertions)]
pub const FAULT: &str = "INJECT_FAULT";

/// Panics when [`FAULT`] names `at`.
#[cfg(debug_assertions)]
pub fn fault(at: &str) {
    if std::env::var(FAULT).is_ok_and(|f| f == at) {
        panic!("a fault injected by {FAULT}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doc_comment_is_the_short_and_the_long_help() {
        let (short, long) = AUTH0_DOMAIN.help_text();
        assert_eq!(short, "Tenant domain, e.g. acme.eu.auth0.com. [required]");
        assert!(long.starts_with(&short));
        assert!(
            long.ends_with("is used as the base URL as given."),
            "{long}"
        );
        assert!(
            long.contains("[required]\n\nA value with a scheme"),
            "{long}"
        );
    }

    #[test]
    fn every_setting_has_help_and_a_flag_unless_secret() {
        for s in ALL
            .iter()
            .copied()
            .chain([&CONFIG_FILE, &AUTH0_MGMT_WEBHOOKS_OUTPUT])
        {
            assert!(!s.help_text().0.is_empty(), "{} has no help", s.env);
            assert_eq!(
                s.flag.is_none(),
                matches!(s.kind, Kind::Secret),
                "{}",
                s.env
            );
            assert_eq!(s.key(), s.env.to_ascii_lowercase());
        }
    }

    #[test]
    fn labels_name_the_variable_and_the_flag() {
        assert_eq!(BATCH_SIZE.label(), "BATCH_SIZE (--batch-size)");
        assert_eq!(AUTHORIZATION.label(), "AUTHORIZATION");
        assert_eq!(WEBHOOK_URL.file_var(), "WEBHOOK_URL_FILE");
        assert_eq!(BATCH_SIZE.range().as_deref(), Some("1 to 100"));
    }

    #[test]
    fn a_setting_shows_as_its_variable() {
        assert_eq!(MAX_RUN_TIME.to_string(), "MAX_RUN_TIME");
        assert_eq!(
            format!("after {MAX_RUN_TIME}, stop"),
            "after MAX_RUN_TIME, stop"
        );
        assert_eq!(format!("[{AUTHORIZATION:<15}]"), "[AUTHORIZATION  ]");
    }
}
