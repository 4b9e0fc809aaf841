//! The command line as clap sees it. Only `config` reads these structs; everything else uses the
//! validated `Config`. Doc comments here are the `--help` text.

use crate::filter::PayloadShape;
use crate::filter::pii::PiiMethod;
use crate::sink::sign::SignatureScheme;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "auth0-mgmt-webhooks",
    version,
    about = "Forward Auth0 Management API audit logs (sapi/fapi) to your webhook, one cron run at a time, without ever losing one.",
    after_help = SECRETS_SHORT, after_long_help = SECRETS_HELP
)]
pub struct Cli {
    /// More output on stderr: -v each request, -vv everything.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands with a manual page of their own (`man COMMAND`).
pub const PAGES: [&str; 4] = ["run", "check", "redeliver", "history"];

/// The `-h` epilogue: where the long one is.
pub const SECRETS_SHORT: &str = "Secrets (AUTH0_CLIENT_SECRET, AUTHORIZATION, WEBHOOK_SECRET, SLACK_INCOMING_WEBHOOK_URL, HEALTHCHECK_URL, PII_HASH_KEY) come only from the environment or NAME_FILE. Exit codes: see --help.";

pub const SECRETS_HELP: &str = "\
Secrets come from the environment (or the --config file), never from flags:
every user of the machine can read a command line. Each NAME may instead be
NAME_FILE, naming a file that holds the value.
  AUTH0_CLIENT_SECRET         the M2M application's secret (required)
  AUTHORIZATION               the webhook's Authorization header, verbatim
  WEBHOOK_SECRET              whsec_... key(s), space-separated, to sign requests
                              (with SIGNATURE_SCHEME=x-hub-signature-256: any text
                              of 16 characters or more)
  SLACK_INCOMING_WEBHOOK_URL  where failures (and optionally successes) are reported
  HEALTHCHECK_URL             cron monitor ping URL: <url>/start, <url>, <url>/<exit code>
  PII_HASH_KEY                the key of PII_METHOD=hash, 16 characters or more

Exit codes:
  0   ok: everything fetched and matched was delivered; caught up, or not
      when MAX_RUN_TIME ended a backlog (the next run goes on)
  1   failed: a fetch or delivery failed; the state was saved at the last
      safe point
  2   invalid: usage, settings or state file; nothing sent, nothing written
  3   dead-lettered: logs are in DEAD_LETTER_FILE (set aside by this run, or
      refused again by redeliver): look at them; `redeliver` them once the
      receiver takes them
  75  locked: another run holds the state file's lock; nothing done (normal
      when a run outlasts the schedule's interval)
  130 143  interrupted: stopped by SIGINT / SIGTERM; the checkpoint was saved";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass: read the checkpoint, fetch and filter logs, deliver them, save the new checkpoint.
    // The secrets have no flags, so `run --help` must name their variables itself.
    #[command(after_help = SECRETS_SHORT, after_long_help = SECRETS_HELP)]
    Run(RunArgs),
    /// Validate the settings, try the files a run opens, get a token and read one page of logs;
    /// sends nothing to the webhook unless --send-test.
    #[command(after_help = SECRETS_SHORT, after_long_help = SECRETS_HELP)]
    Check(CheckArgs),
    /// Send the logs in DEAD_LETTER_FILE again; remove the accepted ones from it.
    ///
    /// Same settings and same lock as `run`. Each log goes in a request of its own, with the
    /// same item and webhook-id as the request that was refused. Logs refused again stay in
    /// the file with the new answer. Only this tenant's records are sent; a file several tenants
    /// share keeps the others. Exit 0 when none of this tenant's is left, 3 when some are.
    #[command(after_help = SECRETS_SHORT, after_long_help = SECRETS_HELP)]
    Redeliver(RedeliverArgs),
    /// Show the record of past runs kept in the state file.
    History(HistoryArgs),
    /// Print a shell completion script on stdout (README: where to put it).
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout: `man auth0-mgmt-webhooks` once installed.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also POST one test item to the webhook, with the real headers and signature.
    ///
    /// Its log_id starts with test_ and its type is auth0_mgmt_webhooks_test ("test": true):
    /// a receiver can drop it. Shows what the receiver answers (a wrong AUTHORIZATION or
    /// WEBHOOK_URL) before the first run does.
    #[arg(long)]
    pub send_test: bool,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Args)]
pub struct RedeliverArgs {
    /// Print each item that would be sent as a JSON line on stdout; send nothing, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command's own page (auth0-mgmt-webhooks-run(1), ...) instead of the main one.
    #[arg(value_name = "COMMAND", value_parser = PAGES)]
    pub command: Option<String>,
}

// Doc comments: the first paragraph is the `-h` line, the rest is added by `--help`.
// Headings group the settings as the README's table does: Auth0, webhook, delivery, reports,
// state.

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Print each payload item as a JSON line on stdout; send nothing, write nothing.
    ///
    /// Fetches and filters as usual and leaves the state file untouched.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub settings: Settings,

    /// How to report the end of the run: a line on stderr, or one JSON object on stdout.
    // Not plain OUTPUT: that name is too common in other software's environments.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "AUTH0_MGMT_WEBHOOKS_OUTPUT", ignore_case = true, help_heading = "Reports")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub state: StateArgs,

    /// Print the records as a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Show only the newest N runs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "State")]
pub struct StateArgs {
    /// Settings file (TOML).
    ///
    /// Keys are the environment variable names in lower case. Flags and environment variables
    /// take precedence over it.
    #[arg(long = settings::CONFIG_FILE.long(), value_name = "FILE", env = settings::CONFIG_FILE.env, value_parser = path())]
    pub config: Option<PathBuf>,

    /// State file: checkpoint, cached token, run history. One per tenant.
    #[arg(long = settings::STATE_FILE.long(), value_name = "FILE", env = settings::STATE_FILE.env, value_parser = path())]
    pub state: Option<PathBuf>,
}

/// Every setting of `run` and `check`. Precedence: flag, then environment, then --config file,
/// then the default shown.
#[derive(Debug, Args)]
pub struct Settings {
    /// Tenant domain, e.g. acme.eu.auth0.com. [required]
    ///
    /// A value with a scheme (http://127.0.0.1:8080) is used as the base URL as given.
    #[arg(
        long = settings::AUTH0_DOMAIN.long(),
        value_name = "DOMAIN",
        env = settings::AUTH0_DOMAIN.env,
        help_heading = "Auth0"
    )]
    pub domain: Option<String>,

    /// Token audience, when AUTH0_DOMAIN is a custom domain or a proxy.
    ///
    /// The Management API's audience stays the tenant's own domain: acme.eu.auth0.com (or the
    /// full https://acme.eu.auth0.com/api/v2/).
    #[arg(
        long = settings::AUTH0_AUDIENCE.long(),
        value_name = "DOMAIN_OR_URL",
        env = settings::AUTH0_AUDIENCE.env,
        help_heading = "Auth0"
    )]
    pub audience: Option<String>,

    /// How long the tenant's plan keeps logs.
    ///
    /// Auth0 deletes older logs: Free 1d, Essentials 5d, Professional 10d, Enterprise 30d. Used
    /// to warn before the checkpoint falls behind it, and to name the logs lost when it did.
    #[arg(
        long = settings::AUTH0_LOG_RETENTION.long(),
        value_name = "DURATION",
        env = settings::AUTH0_LOG_RETENTION.env,
        help_heading = "Auth0"
    )]
    pub log_retention: Option<String>,

    /// Client ID of a machine-to-machine application granted read:logs. [required]
    #[arg(
        long = settings::AUTH0_CLIENT_ID.long(),
        value_name = "ID",
        env = settings::AUTH0_CLIENT_ID.env,
        help_heading = "Auth0"
    )]
    pub client_id: Option<String>,

    /// Most of the tenant's Auth0 rate limit this tool may use: a share (50%) or requests a second (4).
    ///
    /// Auth0 gives each tenant one bucket of Management API requests, shared with every other
    /// client of the tenant (your backend, the Deploy CLI, Actions). 50% leaves half of it to
    /// them; 100% lets a backfill read as fast as the tenant allows.
    #[arg(
        long = settings::AUTH0_RATE_LIMIT.long(),
        value_name = "SHARE",
        env = settings::AUTH0_RATE_LIMIT.env,
        help_heading = "Auth0"
    )]
    pub auth0_rate_limit: Option<String>,

    /// Only these Management API endpoints, e.g. "users, clients".
    ///
    /// Comma-separated. An entry may name a method: "DELETE users". `users` matches
    /// /api/v2/users and /api/v2/users/..., not /api/v2/users-by-email.
    #[arg(
        long = settings::AUTH0_API_ENDPOINTS.long(),
        value_name = "LIST",
        env = settings::AUTH0_API_ENDPOINTS.env,
        help_heading = "Auth0"
    )]
    pub endpoints: Option<String>,

    /// Log type codes or Log Streams categories to forward, comma-separated.
    ///
    /// Any Auth0 code: sapi, fapi, mgmt_api_read, s, f, ... and Log Streams' category names:
    /// management.success (sapi, mgmt_api_read), management.fail, auth.login.fail,
    /// user.notification, ... (`check` prints the codes). Types without details.request are
    /// best sent with --payload-shape log-stream.
    #[arg(long = settings::LOG_TYPES.long(), value_name = "LIST", env = settings::LOG_TYPES.env, help_heading = "Auth0")]
    pub log_types: Option<String>,

    /// The most logs in one webhook request; batches fill across pages.
    #[arg(
        long = settings::BATCH_SIZE.long(),
        value_name = "N",
        env = settings::BATCH_SIZE.env,
        help_heading = "Auth0",
        allow_negative_numbers = true
    )]
    pub batch_size: Option<String>,

    /// Where the logs are POSTed; https unless the host is loopback. [required]
    ///
    /// No user:password@ in it: credentials go in AUTHORIZATION. A URL that holds a token (in
    /// its path or query) goes in a file named by WEBHOOK_URL_FILE instead: then only
    /// scheme://host is ever shown.
    #[arg(
        long = settings::WEBHOOK_URL.long(),
        value_name = "URL",
        env = settings::WEBHOOK_URL.env,
        help_heading = "Webhook"
    )]
    pub webhook_url: Option<String>,

    /// Body: array (a JSON array), jsonl (JSON lines) or jsonobject (one log per request).
    ///
    /// Auth0 Log Streams' names work too, in any case: JSONARRAY, JSONLINES, JSONOBJECT.
    /// jsonobject is SEND_AS_BATCH=false, and refused with SEND_AS_BATCH=true.
    #[arg(
        long = settings::PAYLOAD_FORMAT.long(),
        value_name = "FORMAT",
        env = settings::PAYLOAD_FORMAT.env,
        ignore_case = true,
        help_heading = "Webhook"
    )]
    pub payload_format: Option<String>,

    /// Content-Type of every webhook request, any value, e.g. application/json.
    ///
    /// Receivers written for Auth0 Log Streams often expect application/json, also for JSON
    /// lines, and some answer 415 to anything else. With --payload-shape log-stream and no
    /// format, the default is JSON lines as application/json, as a Log Streams webhook sends.
    #[arg(
        long = settings::WEBHOOK_CONTENT_TYPE.long(),
        value_name = "TYPE",
        env = settings::WEBHOOK_CONTENT_TYPE.env,
        help_heading = "Webhook"
    )]
    pub content_type: Option<String>,

    /// Each item: `extension` or `log-stream`.
    ///
    /// `extension`: {log_id, type, date, request, response}; `log-stream`: {log_id, data: the
    /// whole log}, as Auth0 Log Streams sends it.
    #[arg(
        long = settings::PAYLOAD_SHAPE.long(),
        value_name = "SHAPE",
        env = settings::PAYLOAD_SHAPE.env,
        help_heading = "Webhook"
    )]
    pub payload_shape: Option<String>,

    /// How requests are signed with WEBHOOK_SECRET: standard-webhooks or x-hub-signature-256.
    ///
    /// standard-webhooks: webhook-signature, keys whsec_<base64>. x-hub-signature-256:
    /// X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>, as GitHub sends it; the key is
    /// WEBHOOK_SECRET as written, at least 16 characters. Both sign the body before gzip.
    #[arg(
        long = settings::SIGNATURE_SCHEME.long(),
        value_name = "SCHEME",
        env = settings::SIGNATURE_SCHEME.env,
        help_heading = "Webhook"
    )]
    pub signature_scheme: Option<String>,

    /// Personal data to mask in every log: email, username, first_name, last_name, phone,
    /// address (Log Streams' names), or dotted paths.
    ///
    /// A name matches its keys anywhere in the log (username: user_name and username;
    /// first_name: also given_name; last_name: family_name; phone: phone_number); a dotted path
    /// such as details.request.body.password matches that one place. Everything else is sent
    /// as Auth0 wrote it, in both shapes, the dry run and the dead-letter file.
    #[arg(
        long = settings::PII_FIELDS.long(),
        value_name = "LIST",
        env = settings::PII_FIELDS.env,
        help_heading = "Webhook"
    )]
    pub pii_fields: Option<String>,

    /// How PII_FIELDS' values are hidden: mask ("***"), hash or drop.
    ///
    /// hash: the hex HMAC-SHA256 of the value keyed with PII_HASH_KEY (a secret, required), so
    /// the same value always gives the same token and nobody without the key can find a known
    /// address by hashing it. drop: the key and its value are removed.
    #[arg(
        long = settings::PII_METHOD.long(),
        value_name = "METHOD",
        env = settings::PII_METHOD.env,
        help_heading = "Webhook"
    )]
    pub pii_method: Option<String>,

    /// Gzip request bodies (Content-Encoding: gzip).
    #[arg(long = settings::WEBHOOK_GZIP.long(), value_name = "BOOL", env = settings::WEBHOOK_GZIP.env, num_args = 0..=1, default_missing_value = "true", help_heading = "Webhook")]
    pub gzip: Option<String>,

    /// Extra header on every webhook request, 'Name: value'. Repeatable.
    ///
    /// In the environment: WEBHOOK_HEADERS='{"X-Env":"prod"}' (a JSON object).
    #[arg(long = settings::WEBHOOK_HEADERS.long(), value_name = "NAME: VALUE", help_heading = "Webhook")]
    pub headers: Vec<String>,

    /// Extra headers as a JSON object, e.g. {"X-Env":"prod"}.
    #[arg(long, value_name = "JSON", env = settings::WEBHOOK_HEADERS.env, hide = true)]
    pub headers_json: Option<String>,

    /// Allow http:// webhook, Slack and healthcheck URLs to hosts other than loopback.
    #[arg(long = settings::ALLOW_INSECURE_HTTP.long(), value_name = "BOOL", env = settings::ALLOW_INSECURE_HTTP.env, num_args = 0..=1, default_missing_value = "true", help_heading = "Webhook")]
    pub allow_insecure_http: Option<String>,

    /// A PEM file of extra CA certificates to trust (a private CA).
    ///
    /// Certificates are always verified.
    #[arg(long = settings::CA_CERT.long(), value_name = "FILE", env = settings::CA_CERT.env, help_heading = "Webhook", value_parser = path())]
    pub ca_cert: Option<PathBuf>,

    /// true: one POST per batch (a JSON array); false: one POST per log.
    #[arg(long = settings::SEND_AS_BATCH.long(), value_name = "BOOL", env = settings::SEND_AS_BATCH.env, num_args = 0..=1, default_missing_value = "true", help_heading = "Delivery")]
    pub send_as_batch: Option<String>,

    /// Most webhook requests in flight at once.
    #[arg(
        long = settings::WEBHOOK_CONCURRENT_CALLS.long(),
        value_name = "N",
        env = settings::WEBHOOK_CONCURRENT_CALLS.env,
        help_heading = "Delivery",
        allow_negative_numbers = true
    )]
    pub concurrency: Option<String>,

    /// Stop fetching and retrying after this long; the next run goes on.
    ///
    /// Keep fetching pages until caught up or this long has passed; no request outlives it.
    /// Keep it below the schedule's interval.
    #[arg(
        long = settings::MAX_RUN_TIME.long(),
        value_name = "DURATION",
        env = settings::MAX_RUN_TIME.env,
        help_heading = "Delivery"
    )]
    pub max_run_time: Option<String>,

    /// Time allowed to connect to the webhook (and to Auth0).
    #[arg(
        long = settings::WEBHOOK_CONNECT_TIMEOUT.long(),
        value_name = "DURATION",
        env = settings::WEBHOOK_CONNECT_TIMEOUT.env,
        help_heading = "Delivery"
    )]
    pub connect_timeout: Option<String>,

    /// Time allowed for one whole webhook request, answer included.
    #[arg(
        long = settings::WEBHOOK_TIMEOUT.long(),
        value_name = "DURATION",
        env = settings::WEBHOOK_TIMEOUT.env,
        help_heading = "Delivery"
    )]
    pub timeout: Option<String>,

    /// Split a batch so that no request body exceeds this many bytes.
    ///
    /// Measured before gzip, which only shrinks it.
    #[arg(
        long = settings::WEBHOOK_MAX_BODY_BYTES.long(),
        value_name = "BYTES",
        env = settings::WEBHOOK_MAX_BODY_BYTES.env,
        help_heading = "Delivery",
        allow_negative_numbers = true
    )]
    pub max_body_bytes: Option<String>,

    /// Append logs the webhook refuses to this file, go on, and exit 3.
    ///
    /// A refused batch (400, 413, 422, ...) is split until the refused logs are found; only
    /// those go here, one JSON line each. Answers about the endpoint or credentials (3xx, 401,
    /// 403, 404, ...) and refusals of everything stop the run instead. Without it a refusal
    /// stops the run before the refused log. Several tenants may share the file: each record
    /// names its tenant, and writers lock FILE.lock beside it.
    #[arg(
        long = settings::DEAD_LETTER_FILE.long(),
        value_name = "FILE",
        env = settings::DEAD_LETTER_FILE.env,
        help_heading = "Delivery",
        value_parser = path()
    )]
    pub dead_letter: Option<PathBuf>,

    /// Also report successful runs to Slack, not only failures.
    #[arg(long = settings::SLACK_SEND_SUCCESS.long(), value_name = "BOOL", env = settings::SLACK_SEND_SUCCESS.env, num_args = 0..=1, default_missing_value = "true", help_heading = "Reports")]
    pub slack_send_success: Option<String>,

    /// While runs keep failing, remind Slack at most this often.
    ///
    /// Slack hears of the first failed (or dead-lettered, or interrupted) run, then of the same
    /// trouble again only this long after, and of the recovery.
    #[arg(
        long = settings::SLACK_REMIND_EVERY.long(),
        value_name = "DURATION",
        env = settings::SLACK_REMIND_EVERY.env,
        help_heading = "Reports"
    )]
    pub slack_remind_every: Option<String>,

    /// Hour (UTC) after which the day's first run sends Slack a daily summary.
    ///
    /// The extension's DAILY_REPORT_TIME is read as this hour too (9 or 09:00).
    #[arg(
        long = settings::DAILY_REPORT_HOUR.long(),
        value_name = "HOUR",
        env = settings::DAILY_REPORT_HOUR.env,
        help_heading = "Reports",
        allow_negative_numbers = true
    )]
    pub daily_report_hour: Option<String>,

    /// After every run, write a Prometheus textfile-collector file here.
    ///
    /// Written atomically, e.g. /var/lib/node_exporter/textfile/auth0-mgmt-webhooks.prom.
    #[arg(
        long = settings::METRICS_FILE.long(),
        value_name = "FILE",
        env = settings::METRICS_FILE.env,
        help_heading = "Reports",
        value_parser = path()
    )]
    pub metrics_file: Option<PathBuf>,

    /// Start at a log id, a date, a UTC date-time or an age, once (for backfills).
    ///
    /// A log id: the logs after it. 2026-11-01, 2026-11-01T08:00:00Z, 7d, 12h: the logs Auth0
    /// stored at or after that moment. Applied only when it differs from the start-from
    /// recorded in the state, so it can stay set without rewinding every run. Without a
    /// checkpoint or this, the first run starts at the oldest log Auth0 keeps.
    #[arg(long = settings::START_FROM.long(), value_name = "WHERE", env = settings::START_FROM.env, help_heading = "State")]
    pub start_from: Option<String>,

    #[command(flatten)]
    pub files: StateArgs,
}

/// PAYLOAD_FORMAT as the user wrote it: ours, or an Auth0 Log Streams "content format".
/// `Config` turns it into [`PayloadFormat`](crate::sink::encode::PayloadFormat) and SEND_AS_BATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormatSetting {
    #[value(alias = "jsonarray")]
    #[serde(alias = "jsonarray", alias = "JSONARRAY")]
    Array,
    #[value(alias = "jsonlines")]
    #[serde(alias = "jsonlines", alias = "JSONLINES")]
    Jsonl,
    /// One log per request: SEND_AS_BATCH=false.
    #[serde(alias = "JSONOBJECT")]
    Jsonobject,
}

/// Each setting declared once: its variable (whose lower case is its `--config` file key), its
/// flag, the kind of value it takes with the range, and its default. `--help`'s defaults, the
/// file's keys, the parsers and the messages all come from here.
pub mod settings {
    use super::{FormatSetting, PayloadShape, PiiMethod, SignatureScheme};
    use clap::ValueEnum;
    use clap::builder::PossibleValue;

    /// What a setting's value is, and so which parser reads it from a flag, a variable or the file.
    pub enum Kind {
        /// Any text, checked where it is used (a domain, a URL, a list, a path).
        Text,
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
        /// One of a few words: a `ValueEnum`'s.
        Choice(fn() -> Vec<PossibleValue>),
        /// A share of the rate limit ("50%") or requests a second (4, 0.5).
        Rate,
        /// A secret: from the environment, `NAME_FILE` or the file, never a flag.
        Secret,
        /// The file's `[webhook_headers]` table of names and values.
        Headers,
    }

    /// One setting.
    pub struct Setting {
        /// The environment variable; its lower case is the `--config` file key.
        pub env: &'static str,
        /// The long flag, without `--`.
        pub flag: Option<&'static str>,
        pub kind: Kind,
        /// Whether `NAME_FILE` (and the file key `name_file`) may name a file holding the value.
        pub from_file: bool,
        /// The default as `--help` and the README show it; a number or duration where it is one.
        pub default: Option<&'static str>,
    }

    impl Setting {
        const fn new(env: &'static str, flag: &'static str, kind: Kind) -> Setting {
            Setting {
                env,
                flag: Some(flag),
                kind,
                from_file: false,
                default: None,
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

        /// Its flag without `--`, for clap.
        pub const fn long(&self) -> &'static str {
            match self.flag {
                Some(flag) => flag,
                None => panic!("a secret has no flag"),
            }
        }

        const fn secret(env: &'static str) -> Setting {
            Setting {
                env,
                flag: None,
                kind: Kind::Secret,
                from_file: true,
                default: None,
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
    }

    /// Declares each setting as a constant named as its variable and lists them all in [`ALL`],
    /// so a new setting is one entry: `NAME = new("flag", kind).default("...");`.
    macro_rules! declare {
        ($(
            $name:ident = $ctor:ident($($arg:expr),* $(,)?)
                $(.$method:ident($($marg:expr)?))*;
        )*) => {
            $(
                pub const $name: Setting =
                    Setting::$ctor(stringify!($name) $(, $arg)*) $(.$method($($marg)?))*;
            )*
            /// Every setting the `--config` file may hold.
            pub const ALL: &[&Setting] = &[$(&$name),*];
        };
    }

    const fn choice<T: ValueEnum>() -> Kind {
        Kind::Choice(possible::<T>)
    }

    fn possible<T: ValueEnum>() -> Vec<PossibleValue> {
        T::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .collect()
    }

    declare! {
        AUTH0_DOMAIN = new("domain", Kind::Text);
        AUTH0_AUDIENCE = new("audience", Kind::Text).default("https://{AUTH0_DOMAIN}/api/v2/");
        AUTH0_LOG_RETENTION = new("log-retention", Kind::Duration { min: "1d", max: "90d" })
            .default("30d");
        AUTH0_CLIENT_ID = new("client-id", Kind::Text);
        AUTH0_CLIENT_SECRET = secret();
        AUTH0_RATE_LIMIT = new("auth0-rate-limit", Kind::Rate).default("50%");
        AUTH0_API_ENDPOINTS = new("endpoints", Kind::Text).default("all");
        LOG_TYPES = new("log-types", Kind::Text).default("sapi,fapi");
        BATCH_SIZE = new(
            "batch-size",
            Kind::Whole {
                min: 1,
                max: 100,
                why: "Auth0 returns at most 100 logs a request",
            },
        )
        .default("100");
        WEBHOOK_URL = new("webhook-url", Kind::Text).or_its_file();
        AUTHORIZATION = secret();
        WEBHOOK_SECRET = secret();
        PAYLOAD_FORMAT = new("payload-format", choice::<FormatSetting>())
            .default("array; jsonl with --payload-shape log-stream");
        WEBHOOK_CONTENT_TYPE = new("content-type", Kind::Text)
            .default("application/json; application/x-ndjson for jsonl");
        PAYLOAD_SHAPE = new("payload-shape", choice::<PayloadShape>()).default("extension");
        SIGNATURE_SCHEME = new("signature-scheme", choice::<SignatureScheme>())
            .default("standard-webhooks");
        PII_FIELDS = new("pii-fields", Kind::Text).default("none");
        PII_METHOD = new("pii-method", choice::<PiiMethod>()).default("mask");
        PII_HASH_KEY = secret();
        WEBHOOK_GZIP = new("gzip", Kind::Bool).default("false");
        WEBHOOK_HEADERS = new("header", Kind::Headers);
        ALLOW_INSECURE_HTTP = new("allow-insecure-http", Kind::Bool).default("false");
        CA_CERT = new("ca-cert", Kind::Text);
        SEND_AS_BATCH = new("send-as-batch", Kind::Bool).default("true");
        WEBHOOK_CONCURRENT_CALLS = new("concurrency", Kind::Whole { min: 1, max: 64, why: "" })
            .default("5");
        MAX_RUN_TIME = new("max-run-time", Kind::Duration { min: "1s", max: "24h" })
            .default("4m");
        WEBHOOK_CONNECT_TIMEOUT = new(
            "connect-timeout",
            Kind::Duration {
                min: "100ms",
                max: "5m",
            },
        )
        .default("5s");
        WEBHOOK_TIMEOUT = new("timeout", Kind::Duration { min: "100ms", max: "10m" })
            .default("30s");
        WEBHOOK_MAX_BODY_BYTES = new(
            "max-body-bytes",
            Kind::Whole {
                min: 1,
                max: 1 << 30,
                why: "",
            },
        )
        .default("no limit");
        DEAD_LETTER_FILE = new("dead-letter", Kind::Text);
        SLACK_INCOMING_WEBHOOK_URL = secret();
        SLACK_SEND_SUCCESS = new("slack-send-success", Kind::Bool).default("false");
        SLACK_REMIND_EVERY = new("slack-remind-every", Kind::Duration { min: "10m", max: "7d" })
            .default("6h");
        DAILY_REPORT_HOUR = new(
            "daily-report-hour",
            Kind::Whole {
                min: 0,
                max: 23,
                why: "an hour of the day, UTC",
            },
        )
        .default("off");
        HEALTHCHECK_URL = secret();
        METRICS_FILE = new("metrics-file", Kind::Text).default("none");
        START_FROM = new("start-from", Kind::Text);
        STATE_FILE = new("state", Kind::Text)
            .default("$XDG_STATE_HOME/auth0-mgmt-webhooks/state.json");
    }

    /// The `--config` file itself: not a key of it.
    pub const CONFIG_FILE: Setting = Setting::new("CONFIG_FILE", "config", Kind::Text);
    /// The extension's name for DAILY_REPORT_HOUR, read as it.
    pub const DAILY_REPORT_TIME: &str = "DAILY_REPORT_TIME";
}

/// A file setting. Unlike clap's own path parser it takes an empty value, which `config`
/// treats as unset, as it does for every setting.
fn path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// The command, with environment values hidden from `--help` at every level: help is often
/// pasted into tickets, and the environment is where the secrets live.
/// Each setting's `--help` ends its first paragraph with its declared range and default.
pub fn command() -> clap::Command {
    fn hide(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| with_declared(a.hide_env_values(true)))
            .mut_subcommands(hide)
    }
    hide(<Cli as clap::CommandFactory>::command())
}

/// `arg`'s help with ` [range: ...]` and ` [default: ...]` from its setting's declaration.
fn with_declared(arg: clap::Arg) -> clap::Arg {
    let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
    let Some(setting) = settings::ALL.iter().find(|s| Some(s.env) == env.as_deref()) else {
        return arg;
    };
    let range = match &setting.kind {
        settings::Kind::Whole { min, max, .. } => Some(format!("{min} to {max}")),
        settings::Kind::Duration { min, max } => Some(format!("{min} to {max}")),
        _ => None,
    };
    let default = [
        range.map(|r| format!("[range: {r}]")),
        setting.default.map(|d| format!("[default: {d}]")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    if default.is_empty() {
        return arg;
    }
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    let long = arg.get_long_help().map(|h| h.to_string());
    let arg = arg.help(format!("{help} {default}"));
    match long {
        Some(long) => {
            let (first, rest) = long.split_once("\n\n").unwrap_or((&long, ""));
            let sep = if rest.is_empty() { "" } else { "\n\n" };
            arg.long_help(format!("{first} {default}{sep}{rest}"))
        }
        None => arg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_never_shows_environment_values() {
        let mut cmd = command();
        let run = cmd.find_subcommand_mut("run").unwrap();
        assert!(
            run.get_arguments()
                .filter(|a| a.get_env().is_some())
                .all(|a| a.is_hide_env_values_set())
        );
    }

    #[test]
    fn run_and_check_help_name_the_secret_variables() {
        let mut cmd = command();
        for name in ["run", "check"] {
            let help = cmd
                .find_subcommand_mut(name)
                .unwrap()
                .render_long_help()
                .to_string();
            for var in ["AUTH0_CLIENT_SECRET", "AUTHORIZATION", "WEBHOOK_SECRET"] {
                assert!(help.contains(var), "{name} --help lacks {var}");
            }
        }
    }

    #[test]
    fn every_setting_of_run_is_under_a_heading() {
        let mut cmd = command();
        let run = cmd.find_subcommand_mut("run").unwrap();
        let headings = ["Auth0", "Webhook", "Delivery", "Reports", "State"];
        for arg in run.get_arguments().filter(|a| !a.is_hide_set()) {
            let name = arg.get_id().as_str();
            if ["dry_run", "verbose", "quiet", "help"].contains(&name) {
                continue;
            }
            let heading = arg.get_help_heading();
            assert!(
                heading.is_some_and(|h| headings.contains(&h)),
                "--{name} is under {heading:?}"
            );
        }
    }

    #[test]
    fn short_help_is_shorter_and_long_help_keeps_the_details() {
        let mut cmd = command();
        let run = cmd.find_subcommand_mut("run").unwrap();
        let short = run.render_help().to_string();
        let long = run.render_long_help().to_string();
        assert!(short.lines().count() * 2 < long.lines().count());
        assert!(!short.contains("Exit codes:\n") && long.contains("Exit codes:\n"));
        assert!(long.contains("users-by-email") && !short.contains("users-by-email"));
    }

    /// README's settings table, as (flag, environment variable, default, meaning) of each row.
    fn readme_settings() -> Vec<(Option<String>, String, String, String)> {
        let readme = include_str!("../README.md");
        let start = readme.find("## Settings").expect("a Settings section");
        let ticked = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        readme[start..]
            .lines()
            .skip_while(|l| !l.starts_with("| flag"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|row| {
                let cells: Vec<&str> = row.split(" | ").collect();
                let flag = ticked(cells[0])
                    .first()
                    .and_then(|f| f.split_whitespace().next().map(str::to_string));
                let env = ticked(cells[1]).first().cloned().unwrap_or_default();
                let meaning = cells.get(3).copied().unwrap_or_default().to_string();
                (flag, env, cells[2].replace('`', ""), meaning)
            })
            .collect()
    }

    /// The README's settings table and `run --help` are the same settings: each flag with its
    /// environment variable, and the default and range `--help` shows are the README's.
    #[test]
    fn readme_settings_table_matches_run_help() {
        let rows = readme_settings();
        let mut cmd = command();
        let run = cmd.find_subcommand_mut("run").unwrap();
        let mut seen = Vec::new();
        for arg in run.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if arg.is_hide_set() || ["dry-run", "help", "verbose", "quiet"].contains(&long) {
                continue;
            }
            let flag = format!("--{long}");
            let row = rows
                .iter()
                .find(|r| r.0.as_deref() == Some(flag.as_str()))
                .unwrap_or_else(|| panic!("{flag} is not in README's settings table"));
            if let Some(env) = arg.get_env() {
                assert_eq!(row.1, env.to_string_lossy(), "{flag}'s variable");
            }
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            if let Some((_, rest)) = help.split_once("[range: ") {
                let range = rest.split(']').next().unwrap_or_default();
                assert!(
                    row.3.contains(range),
                    "{flag}: --help's range '{range}' is not in README's '{}'",
                    row.3
                );
            }
            let default = match help.split_once("[default: ") {
                Some((_, rest)) => rest.split(']').next().unwrap_or_default().to_string(),
                None => arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(","),
            };
            let default = default.split(';').next().unwrap_or_default().trim();
            if !default.is_empty() {
                assert!(
                    row.2.contains(default),
                    "{flag}: --help's default '{default}' is not README's '{}'",
                    row.2
                );
            }
            seen.push(flag);
        }
        for (flag, env, _, _) in &rows {
            if let Some(flag) = flag {
                assert!(
                    seen.contains(flag),
                    "README lists {flag} ({env}), run does not take it"
                );
            }
        }
    }

    /// A setting declared once is a flag of `run` with its variable, and `--help` shows the
    /// declared default.
    #[test]
    fn every_declared_setting_is_a_flag_with_its_variable_and_default() {
        let mut cmd = command();
        let run = cmd.find_subcommand_mut("run").unwrap();
        for s in settings::ALL {
            let Some(flag) = s.flag else { continue };
            let arg = run
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("{} has no --{flag}", s.env));
            // --header's variable is the JSON object of the hidden --headers-json.
            if s.env != settings::WEBHOOK_HEADERS.env {
                assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(s.env));
            }
            if let Some(default) = s.default {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(
                    help.contains(&format!("[default: {default}]")),
                    "--{flag}: {help}"
                );
            }
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
