//! Each setting declared once: its variable (whose lower case is its `--config` file key), its
//! flag and the kind of value it takes, with the range. Parsing, the file's keys and the
//! messages all come from here.

use super::parse;
use crate::cli::{FormatSetting, PayloadShape, PiiMethod, SignatureScheme};

/// What a setting's value is, and so which parser reads it from a flag, a variable or the file.
pub(super) enum Kind {
    /// Any text, checked where it is used (a domain, a URL, a list, a path).
    Text,
    /// A whole number from `min` to `max`; `why` says what the range is for, or is empty.
    Whole {
        min: u64,
        max: u64,
        why: &'static str,
    },
    /// A duration ("90s", "4m") from `min` to `max`, `default` when unset.
    Duration {
        min: &'static str,
        max: &'static str,
        default: &'static str,
    },
    /// true, false, yes, no, on, off, 1, 0.
    Bool,
    /// One of a few words: the check and the words, from clap's `ValueEnum`.
    Choice(fn(&str) -> Result<(), String>, fn() -> String),
    /// A share of the rate limit ("50%") or requests a second (4, 0.5).
    Rate,
    /// A secret: from the environment, `NAME_FILE` or the file, never a flag.
    Secret,
    /// The file's `[webhook_headers]` table of names and values.
    Headers,
}

/// One setting.
pub(super) struct Setting {
    /// The environment variable; its lower case is the `--config` file key.
    pub env: &'static str,
    /// The long flag, without `--`.
    pub flag: Option<&'static str>,
    pub kind: Kind,
    /// Whether `NAME_FILE` (and the file key `name_file`) may name a file holding the value.
    pub from_file: bool,
}

impl Setting {
    const fn new(env: &'static str, flag: &'static str, kind: Kind) -> Setting {
        Setting {
            env,
            flag: Some(flag),
            kind,
            from_file: false,
        }
    }

    const fn secret(env: &'static str) -> Setting {
        Setting {
            env,
            flag: None,
            kind: Kind::Secret,
            from_file: true,
        }
    }

    /// The setting as messages name it: `BATCH_SIZE (--batch-size)`.
    pub fn label(&self) -> String {
        match self.flag {
            Some(flag) => format!("{} (--{flag})", self.env),
            None => self.env.to_string(),
        }
    }

    /// Its `--config` file key.
    pub fn key(&self) -> String {
        self.env.to_ascii_lowercase()
    }

    /// What a good value is, in words, for the file's messages.
    pub fn expected(&self) -> String {
        match &self.kind {
            Kind::Text | Kind::Secret => "text".to_string(),
            Kind::Whole { min, max, .. } => format!("a whole number from {min} to {max}"),
            Kind::Duration { min, max, .. } => format!("a duration from {min} to {max}"),
            Kind::Bool => "true or false".to_string(),
            Kind::Choice(_, words) => words(),
            Kind::Rate => "a share such as \"50%\" or requests a second such as 4".to_string(),
            Kind::Headers => "a table of header names and values".to_string(),
        }
    }

    /// Checks a value given as text with the parser of its kind; the error is in words, without
    /// the setting's name.
    pub fn check(&self, raw: &str) -> Result<(), String> {
        match &self.kind {
            Kind::Text | Kind::Secret | Kind::Headers => Ok(()),
            Kind::Whole { min, max, why } => parse::whole(raw, *min..=*max, why).map(drop),
            Kind::Duration { min, max, default } => {
                parse::duration_in(raw, (min, max), default).map(drop)
            }
            Kind::Bool => parse::boolean_word(raw).map(drop),
            Kind::Choice(check, _) => check(raw),
            Kind::Rate => crate::source::pacer::Share::parse(raw).map(drop),
        }
    }
}

const fn choice<T: clap::ValueEnum>() -> Kind {
    Kind::Choice(check_choice::<T>, parse::choice_words::<T>)
}

fn check_choice<T: clap::ValueEnum>(raw: &str) -> Result<(), String> {
    parse::choice_word::<T>(raw).map(drop)
}

pub(super) const AUTH0_DOMAIN: Setting = Setting::new("AUTH0_DOMAIN", "domain", Kind::Text);
pub(super) const AUTH0_AUDIENCE: Setting = Setting::new("AUTH0_AUDIENCE", "audience", Kind::Text);
pub(super) const AUTH0_LOG_RETENTION: Setting = Setting::new(
    "AUTH0_LOG_RETENTION",
    "log-retention",
    Kind::Duration {
        min: "1d",
        max: "90d",
        default: "30d",
    },
);
pub(super) const AUTH0_CLIENT_ID: Setting =
    Setting::new("AUTH0_CLIENT_ID", "client-id", Kind::Text);
pub(super) const AUTH0_CLIENT_SECRET: Setting = Setting::secret("AUTH0_CLIENT_SECRET");
pub(super) const AUTH0_RATE_LIMIT: Setting =
    Setting::new("AUTH0_RATE_LIMIT", "auth0-rate-limit", Kind::Rate);
pub(super) const AUTH0_API_ENDPOINTS: Setting =
    Setting::new("AUTH0_API_ENDPOINTS", "endpoints", Kind::Text);
pub(super) const LOG_TYPES: Setting = Setting::new("LOG_TYPES", "log-types", Kind::Text);
pub(super) const BATCH_SIZE: Setting = Setting::new(
    "BATCH_SIZE",
    "batch-size",
    Kind::Whole {
        min: 1,
        max: 100,
        why: "Auth0 returns at most 100 logs a request",
    },
);
pub(super) const WEBHOOK_URL: Setting = Setting {
    from_file: true,
    ..Setting::new("WEBHOOK_URL", "webhook-url", Kind::Text)
};
pub(super) const AUTHORIZATION: Setting = Setting::secret("AUTHORIZATION");
pub(super) const WEBHOOK_SECRET: Setting = Setting::secret("WEBHOOK_SECRET");
pub(super) const PAYLOAD_FORMAT: Setting = Setting::new(
    "PAYLOAD_FORMAT",
    "payload-format",
    choice::<FormatSetting>(),
);
pub(super) const WEBHOOK_CONTENT_TYPE: Setting =
    Setting::new("WEBHOOK_CONTENT_TYPE", "content-type", Kind::Text);
pub(super) const PAYLOAD_SHAPE: Setting =
    Setting::new("PAYLOAD_SHAPE", "payload-shape", choice::<PayloadShape>());
pub(super) const SIGNATURE_SCHEME: Setting = Setting::new(
    "SIGNATURE_SCHEME",
    "signature-scheme",
    choice::<SignatureScheme>(),
);
pub(super) const PII_FIELDS: Setting = Setting::new("PII_FIELDS", "pii-fields", Kind::Text);
pub(super) const PII_METHOD: Setting =
    Setting::new("PII_METHOD", "pii-method", choice::<PiiMethod>());
pub(super) const PII_HASH_KEY: Setting = Setting::secret("PII_HASH_KEY");
pub(super) const WEBHOOK_GZIP: Setting = Setting::new("WEBHOOK_GZIP", "gzip", Kind::Bool);
pub(super) const WEBHOOK_HEADERS: Setting =
    Setting::new("WEBHOOK_HEADERS", "header", Kind::Headers);
pub(super) const ALLOW_INSECURE_HTTP: Setting =
    Setting::new("ALLOW_INSECURE_HTTP", "allow-insecure-http", Kind::Bool);
pub(super) const CA_CERT: Setting = Setting::new("CA_CERT", "ca-cert", Kind::Text);
pub(super) const SEND_AS_BATCH: Setting =
    Setting::new("SEND_AS_BATCH", "send-as-batch", Kind::Bool);
pub(super) const WEBHOOK_CONCURRENT_CALLS: Setting = Setting::new(
    "WEBHOOK_CONCURRENT_CALLS",
    "concurrency",
    Kind::Whole {
        min: 1,
        max: 64,
        why: "",
    },
);
pub(super) const MAX_RUN_TIME: Setting = Setting::new(
    "MAX_RUN_TIME",
    "max-run-time",
    Kind::Duration {
        min: "1s",
        max: "24h",
        default: "4m",
    },
);
pub(super) const WEBHOOK_CONNECT_TIMEOUT: Setting = Setting::new(
    "WEBHOOK_CONNECT_TIMEOUT",
    "connect-timeout",
    Kind::Duration {
        min: "100ms",
        max: "5m",
        default: "5s",
    },
);
pub(super) const WEBHOOK_TIMEOUT: Setting = Setting::new(
    "WEBHOOK_TIMEOUT",
    "timeout",
    Kind::Duration {
        min: "100ms",
        max: "10m",
        default: "30s",
    },
);
pub(super) const WEBHOOK_MAX_BODY_BYTES: Setting = Setting::new(
    "WEBHOOK_MAX_BODY_BYTES",
    "max-body-bytes",
    Kind::Whole {
        min: 1,
        max: 1 << 30,
        why: "",
    },
);
pub(super) const DEAD_LETTER_FILE: Setting =
    Setting::new("DEAD_LETTER_FILE", "dead-letter", Kind::Text);
pub(super) const SLACK_INCOMING_WEBHOOK_URL: Setting =
    Setting::secret("SLACK_INCOMING_WEBHOOK_URL");
pub(super) const SLACK_SEND_SUCCESS: Setting =
    Setting::new("SLACK_SEND_SUCCESS", "slack-send-success", Kind::Bool);
pub(super) const SLACK_REMIND_EVERY: Setting = Setting::new(
    "SLACK_REMIND_EVERY",
    "slack-remind-every",
    Kind::Duration {
        min: "10m",
        max: "7d",
        default: "6h",
    },
);
pub(super) const DAILY_REPORT_HOUR: Setting = Setting::new(
    "DAILY_REPORT_HOUR",
    "daily-report-hour",
    Kind::Whole {
        min: 0,
        max: 23,
        why: "an hour of the day, UTC",
    },
);
pub(super) const HEALTHCHECK_URL: Setting = Setting::secret("HEALTHCHECK_URL");
pub(super) const METRICS_FILE: Setting = Setting::new("METRICS_FILE", "metrics-file", Kind::Text);
pub(super) const START_FROM: Setting = Setting::new("START_FROM", "start-from", Kind::Text);
pub(super) const STATE_FILE: Setting = Setting::new("STATE_FILE", "state", Kind::Text);

/// Every setting the `--config` file may hold.
pub(super) const ALL: &[&Setting] = &[
    &AUTH0_DOMAIN,
    &AUTH0_AUDIENCE,
    &AUTH0_LOG_RETENTION,
    &AUTH0_CLIENT_ID,
    &AUTH0_CLIENT_SECRET,
    &AUTH0_RATE_LIMIT,
    &AUTH0_API_ENDPOINTS,
    &LOG_TYPES,
    &BATCH_SIZE,
    &WEBHOOK_URL,
    &AUTHORIZATION,
    &WEBHOOK_SECRET,
    &PAYLOAD_FORMAT,
    &WEBHOOK_CONTENT_TYPE,
    &PAYLOAD_SHAPE,
    &SIGNATURE_SCHEME,
    &PII_FIELDS,
    &PII_METHOD,
    &PII_HASH_KEY,
    &WEBHOOK_GZIP,
    &WEBHOOK_HEADERS,
    &ALLOW_INSECURE_HTTP,
    &CA_CERT,
    &SEND_AS_BATCH,
    &WEBHOOK_CONCURRENT_CALLS,
    &MAX_RUN_TIME,
    &WEBHOOK_CONNECT_TIMEOUT,
    &WEBHOOK_TIMEOUT,
    &WEBHOOK_MAX_BODY_BYTES,
    &DEAD_LETTER_FILE,
    &SLACK_INCOMING_WEBHOOK_URL,
    &SLACK_SEND_SUCCESS,
    &SLACK_REMIND_EVERY,
    &DAILY_REPORT_HOUR,
    &HEALTHCHECK_URL,
    &METRICS_FILE,
    &START_FROM,
    &STATE_FILE,
];
