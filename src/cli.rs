//! The command line as clap sees it. Only `config` reads these structs; everything else uses the
//! validated [`crate::config::Config`]. Doc comments here are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "auth0-mgmt-webhooks",
    version,
    about = "Forward Auth0 Management API audit logs (sapi/fapi) to your webhook, one cron run at a time, without ever losing one.",
    after_help = SECRETS_HELP
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

pub const SECRETS_HELP: &str = "\
Secrets come from the environment (or the --config file), never from flags:
every user of the machine can read a command line. Each NAME may instead be
NAME_FILE, naming a file that holds the value.
  AUTH0_CLIENT_SECRET         the M2M application's secret (required)
  AUTHORIZATION               the webhook's Authorization header, verbatim
  WEBHOOK_SECRET              whsec_... key(s), space-separated, to sign requests
  SLACK_INCOMING_WEBHOOK_URL  where failures (and optionally successes) are reported

Exit codes:
  0   everything fetched and matched was delivered
  1   a fetch or delivery failed; the state was saved at the last safe point
  2   invalid usage, settings or state file; nothing sent, nothing written
  75  another run holds the state file's lock; nothing done";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass: read the checkpoint, fetch and filter logs, deliver them, save the new checkpoint.
    // The secrets have no flags, so `run --help` must name their variables itself.
    #[command(after_help = SECRETS_HELP)]
    Run(RunArgs),
    /// Validate the settings, get a token and read one page of logs; sends nothing to the webhook.
    #[command(after_help = SECRETS_HELP)]
    Check(Settings),
    /// Show the record of past runs kept in the state file.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub settings: Settings,

    /// Fetch and filter as usual, print each payload item as a JSON line on stdout, send nothing
    /// and leave the state file untouched.
    #[arg(long)]
    pub dry_run: bool,

    /// How to report the run when it ends: a line on stderr, or one JSON object on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "OUTPUT", ignore_case = true)]
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
pub struct StateArgs {
    /// Settings file (TOML; keys are the environment variable names in lower case). Flags and
    /// environment variables take precedence over it.
    #[arg(long, value_name = "FILE", env = "CONFIG_FILE", value_parser = path())]
    pub config: Option<PathBuf>,

    /// State file holding the checkpoint, cached token and run history. Use one per tenant.
    /// [default: $XDG_STATE_HOME/auth0-mgmt-webhooks/state.json]
    #[arg(long, value_name = "FILE", env = "STATE_FILE", value_parser = path())]
    pub state: Option<PathBuf>,
}

/// Every setting of `run` and `check`. Precedence: flag, then environment, then --config file,
/// then the default shown. Values are taken as text and checked by `config`, so that every
/// message names the environment variable as well as the flag, and every value is trimmed and
/// an empty one means unset, whatever its type.
#[derive(Debug, Args)]
pub struct Settings {
    #[command(flatten)]
    pub files: StateArgs,

    /// Tenant domain, e.g. acme.eu.auth0.com. A value with a scheme (http://127.0.0.1:8080) is
    /// used as the base URL as given. [required]
    #[arg(long, value_name = "DOMAIN", env = "AUTH0_DOMAIN")]
    pub domain: Option<String>,

    /// Client ID of a machine-to-machine application granted read:logs. [required]
    #[arg(long, value_name = "ID", env = "AUTH0_CLIENT_ID")]
    pub client_id: Option<String>,

    /// Where the logs are POSTed. Must be https unless the host is loopback. [required]
    #[arg(long, value_name = "URL", env = "WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Only these Management API endpoints, comma-separated: "users, clients". An entry may name
    /// a method: "DELETE users". `users` matches /api/v2/users and /api/v2/users/..., not
    /// /api/v2/users-by-email. [default: all]
    #[arg(long, value_name = "LIST", env = "AUTH0_API_ENDPOINTS")]
    pub endpoints: Option<String>,

    /// Logs per Auth0 request (1-100), and so the most logs in one webhook batch. [default: 100]
    #[arg(
        long,
        value_name = "N",
        env = "BATCH_SIZE",
        allow_negative_numbers = true
    )]
    pub batch_size: Option<String>,

    /// true: one POST per batch (a JSON array); false: one POST per log (a JSON object).
    /// [default: true]
    #[arg(long, value_name = "BOOL", env = "SEND_AS_BATCH", num_args = 0..=1, default_missing_value = "true")]
    pub send_as_batch: Option<String>,

    /// Most webhook requests in flight at once (1-64). [default: 5]
    #[arg(
        long,
        value_name = "N",
        env = "WEBHOOK_CONCURRENT_CALLS",
        allow_negative_numbers = true
    )]
    pub concurrency: Option<String>,

    /// Start after this log id. Applied only when it differs from the start-from recorded in the
    /// state, so it can stay set without rewinding every run. Use it for backfills.
    #[arg(long, value_name = "LOG_ID", env = "START_FROM")]
    pub start_from: Option<String>,

    /// Log type codes to forward, comma-separated (any Auth0 code: sapi, fapi, mgmt_api_read, s,
    /// f, ...). Types without details.request are best sent with --payload-shape log-stream.
    /// [default: sapi,fapi]
    #[arg(long, value_name = "LIST", env = "LOG_TYPES")]
    pub log_types: Option<String>,

    /// Keep fetching pages until caught up or this long has passed; retries stop then too, and
    /// the next run goes on. Keep it below the schedule's interval. 1s to 24h. [default: 4m]
    #[arg(long, value_name = "DURATION", env = "MAX_RUN_TIME")]
    pub max_run_time: Option<String>,

    /// Time allowed to connect to the webhook (and to Auth0). 100ms to 5m. [default: 5s]
    #[arg(long, value_name = "DURATION", env = "WEBHOOK_CONNECT_TIMEOUT")]
    pub connect_timeout: Option<String>,

    /// Time allowed for one whole webhook request, answer included. 100ms to 10m.
    /// [default: 30s]
    #[arg(long, value_name = "DURATION", env = "WEBHOOK_TIMEOUT")]
    pub timeout: Option<String>,

    /// Append logs the webhook permanently refuses (4xx other than 408/429) to this file as JSON
    /// lines, and go on. Without it a refusal stops the run before the refused log.
    #[arg(long, value_name = "FILE", env = "DEAD_LETTER_FILE", value_parser = path())]
    pub dead_letter: Option<PathBuf>,

    /// Body of a batch: `array` (a JSON array), or `jsonl` (JSON lines, application/x-ndjson).
    /// [default: array]
    #[arg(long, value_name = "FORMAT", env = "PAYLOAD_FORMAT")]
    pub payload_format: Option<String>,

    /// Each item: `extension` {log_id, type, date, request, response}, or `log-stream`
    /// {log_id, data: the whole log}, as Auth0 Log Streams sends it. [default: extension]
    #[arg(long, value_name = "SHAPE", env = "PAYLOAD_SHAPE")]
    pub payload_shape: Option<String>,

    /// Gzip request bodies (Content-Encoding: gzip). [default: false]
    #[arg(long, value_name = "BOOL", env = "WEBHOOK_GZIP", num_args = 0..=1, default_missing_value = "true")]
    pub gzip: Option<String>,

    /// Extra header on every webhook request, 'Name: value'. Repeatable. In the environment:
    /// WEBHOOK_HEADERS='{"X-Env":"prod"}' (a JSON object).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Extra headers as a JSON object, e.g. {"X-Env":"prod"}.
    #[arg(long, value_name = "JSON", env = "WEBHOOK_HEADERS", hide = true)]
    pub headers_json: Option<String>,

    /// Split a batch so that no request body exceeds this many bytes (measured before gzip,
    /// which only shrinks it). [default: no limit]
    #[arg(
        long,
        value_name = "BYTES",
        env = "WEBHOOK_MAX_BODY_BYTES",
        allow_negative_numbers = true
    )]
    pub max_body_bytes: Option<String>,

    /// Allow http:// webhook and Slack URLs to hosts other than loopback. [default: false]
    #[arg(long, value_name = "BOOL", env = "ALLOW_INSECURE_HTTP", num_args = 0..=1, default_missing_value = "true")]
    pub allow_insecure_http: Option<String>,

    /// A PEM file of extra CA certificates to trust (a private CA). Certificates are always
    /// verified.
    #[arg(long, value_name = "FILE", env = "CA_CERT", value_parser = path())]
    pub ca_cert: Option<PathBuf>,

    /// Also report successful runs to Slack, not only failures. [default: false]
    #[arg(long, value_name = "BOOL", env = "SLACK_SEND_SUCCESS", num_args = 0..=1, default_missing_value = "true")]
    pub slack_send_success: Option<String>,

    /// Hour (0-23, UTC) after which the first run of each day sends Slack a 24-hour summary.
    /// [default: off]
    #[arg(
        long,
        value_name = "HOUR",
        env = "DAILY_REPORT_HOUR",
        allow_negative_numbers = true
    )]
    pub daily_report_hour: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadFormat {
    Array,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadShape {
    Extension,
    LogStream,
}

/// A file setting. Unlike clap's own path parser it takes an empty value, which `config`
/// treats as unset, as it does for every setting.
fn path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// The command, with environment values hidden from `--help` at every level: help is often
/// pasted into tickets, and the environment is where the secrets live.
pub fn command() -> clap::Command {
    fn hide(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| a.hide_env_values(true))
            .mut_subcommands(hide)
    }
    hide(<Cli as clap::CommandFactory>::command())
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
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
