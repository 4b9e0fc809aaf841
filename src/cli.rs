//! The command line as clap sees it: the commands, and a flag for each setting made from its
//! declaration in `settings`. Only `config` reads these structs; everything else uses the
//! validated `Config`.

pub use crate::settings::Output;
use crate::settings::{
    self, AUTH0_MGMT_WEBHOOKS_OUTPUT as OUTPUT, AUTHORIZATION, CONFIG_FILE, DEAD_LETTER_FILE,
    Declared, Form, Name, STATE_FILE, WEBHOOK_HEADERS, WEBHOOK_URL,
};
use clap::builder::{OsStringValueParser, TypedValueParser};
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "auth0-mgmt-webhooks",
    version,
    about = "Forward Auth0 Management API audit logs (sapi/fapi) to your webhook, one cron run at a time, without ever losing one."
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

/// The secrets: the settings that have no flag.
fn secrets() -> impl Iterator<Item = &'static dyn Declared> {
    settings::ALL.iter().copied().filter(|s| s.flag.is_none())
}

/// The `--help` epilogue: each secret with its help, then the exit codes (`exit::TABLE`).
fn secrets_help() -> String {
    let mut text = String::from(
        "Secrets come from the environment (or the --config file), never from flags:\n\
         every user of the machine can read a command line. Each NAME may instead be\n\
         NAME_FILE, naming a file that holds the value.\n",
    );
    text.extend(secrets().map(|s| indented(s.env, 28, &s.help_text().1)));
    text += "\nExit codes:\n";
    for (code, name, meaning) in crate::exit::TABLE {
        text += &indented(code, 4, &format!("{name}: {meaning}"));
    }
    text
}

/// `tag` in a column `width` wide, then `text` wrapped at 78 columns under itself.
fn indented(tag: &str, width: usize, text: &str) -> String {
    let mut out = String::new();
    // At least one space after the tag.
    let mut line = format!("  {tag:<w$}", w = width.max(tag.len() + 1));
    for word in text.split_whitespace() {
        if line.len() + word.len() > 78 {
            out = out + line.trim_end() + "\n";
            line = " ".repeat(width + 2);
        }
        line = line + word + " ";
    }
    out + line.trim_end() + "\n"
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass: read the checkpoint, fetch and filter logs, deliver them, save the new checkpoint.
    Run(RunArgs),
    /// Validate the settings, try the files a run opens, get a token and read one page of logs;
    /// sends nothing to the webhook unless --send-test.
    Check(CheckArgs),
    #[command(about = redeliver_about(), long_about = redeliver_about() + "\n\nSame settings and same lock as `run`. Each log goes in a request of its own, with the same item and webhook-id as the request that was refused. Logs refused again stay in the file with the new answer. Only this tenant's records are sent; a file several tenants share keeps the others. Exit 0 when none of this tenant's is left, 3 when some are.")]
    Redeliver(RedeliverArgs),
    /// Show the record of past runs kept in the state file.
    History(HistoryArgs),
    /// Print a shell completion script on stdout (README: where to put it).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout: `man auth0-mgmt-webhooks` once installed.
    Man {
        /// A command's own page (auth0-mgmt-webhooks-run(1), ...) instead of the main one.
        #[arg(value_name = "COMMAND", value_parser = PAGES)]
        command: Option<String>,
    },
}

/// `redeliver`'s `-h` line.
fn redeliver_about() -> String {
    format!("Send the logs in {DEAD_LETTER_FILE} again; remove the accepted ones from it")
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also POST one test item to the webhook, with the real headers and signature.
    #[arg(long, long_help = format!(
        "Also POST one test item to the webhook, with the real headers and signature.\n\n\
         Its log_id starts with test_ and its type is auth0_mgmt_webhooks_test (\"test\": true): \
         a receiver can drop it. Shows what the receiver answers (a wrong {AUTHORIZATION} or \
         {WEBHOOK_URL}) before the first run does."
    ))]
    pub send_test: bool,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Args)]
pub struct RedeliverArgs {
    /// Print each item that would be sent as a JSON line on stdout; send nothing, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The route whose dead letters go back to its webhook (with [[route]] tables).
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Print each payload item as a JSON line on stdout; send nothing, write nothing.
    ///
    /// Fetches and filters as usual and leaves the state file untouched.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub settings: Settings,

    // Its help is the declaration's.
    #[arg(long = OUTPUT.flag, value_name = OUTPUT.value_name, env = OUTPUT.env, hide_env_values = true, help = OUTPUT.help_text().0, long_help = OUTPUT.help_text().1, value_enum, default_value_t = Output::Text, ignore_case = true, help_heading = OUTPUT.heading)]
    pub output: Output,
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

/// The command; every flag hides its variable's value (maybe a secret) from `--help`.
pub fn command() -> clap::Command {
    // The secrets have no flag, so the help of the commands that read them names them: `-h`
    // only by name, `--help` with their help.
    let names = Vec::from_iter(secrets().map(|s| s.env)).join(", ");
    let epilogue = format!(
        "Secrets ({names}) come only from the environment or NAME_FILE. Exit codes: see --help."
    );
    let secrets = |cmd: clap::Command| cmd.after_help(&epilogue).after_long_help(secrets_help());
    let cmd = secrets(<Cli as clap::CommandFactory>::command());
    let commands = ["run", "check", "redeliver"].into_iter();
    commands.fold(cmd, |cmd, name| cmd.mut_subcommand(name, secrets))
}

/// A setting's flag, from its declaration; the range and default end its first paragraph.
fn flag(s: &'static dyn Declared) -> Arg {
    let (short, long) = s.help_text();
    let range = s.range().map(|r| format!(" [range: {r}]"));
    let default = s.shown_default().map(|d| format!(" [default: {d}]"));
    let declared: String = range.into_iter().chain(default).collect();
    // The long help's first paragraph is the short help.
    let long = format!("{short}{declared}{}", &long[short.len()..]);
    let arg = Arg::new(s.env)
        .long(s.flag)
        .value_name(s.value_name)
        .env(s.env)
        .hide_env_values(true)
        .help_heading(s.heading)
        .help(format!("{short}{declared}"))
        .long_help(long);
    let arg = match s.form() {
        // Unlike clap's path parser it takes an empty value: unset, as for every setting.
        Form::Path => return arg.value_parser(OsStringValueParser::new().map(PathBuf::from)),
        Form::Bool => arg.num_args(0..=1).default_missing_value("true"),
        Form::Number => arg.allow_negative_numbers(true),
        _ if s.env == WEBHOOK_HEADERS.env => arg.env(None::<&str>).action(ArgAction::Append),
        _ => arg,
    };
    // Text; unlike clap's own parser, its error names the setting.
    arg.value_parser(OsStringValueParser::new().try_map(move |v| {
        v.into_string()
            .map_err(|_| format!("{} must be text (UTF-8)", s.label()))
    }))
}

/// Settings as given by flag or variable (the flag first), by variable name, for `config`.
#[derive(Clone, Default)]
pub struct Settings {
    given: BTreeMap<&'static str, Vec<OsString>>,
}

/// Names only: values may be secrets (a URL's token).
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.given.keys()).finish()
    }
}

impl Settings {
    /// None given.
    pub const fn none() -> Settings {
        Settings {
            given: BTreeMap::new(),
        }
    }

    /// The setting's value as given (UTF-8 unless a path).
    pub fn raw(&self, s: &Name) -> Option<&OsStr> {
        self.given.get(s.env)?.first().map(OsString::as_os_str)
    }

    /// Every value given to a repeatable flag (`--header`).
    pub fn all(&self, s: &Name) -> impl Iterator<Item = &str> {
        let values = self.given.get(s.env).into_iter().flatten();
        values.filter_map(|v| v.to_str())
    }

    /// A path setting as given, any bytes.
    pub fn path(&self, s: &Name) -> Option<PathBuf> {
        self.raw(s).map(PathBuf::from)
    }
}

/// clap's traits for a struct of settings: `$wrap` of [`Settings`], with the flags of `$settings`.
macro_rules! settings_args {
    ($ty:ty, $wrap:expr, $settings:expr) => {
        impl FromArgMatches for $ty {
            /// Those of the settings the command takes that are given.
            fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
                let raw = |s: &dyn Declared| Some((s.env, m.try_get_raw(s.env).ok()??));
                let given = settings::every().filter_map(raw);
                let given = given.map(|(env, v)| (env, v.map(OsStr::to_os_string).collect()));
                let given = given.collect();
                Ok($wrap(Settings { given }))
            }
            fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
                Self::from_arg_matches(m).map(|given| *self = given)
            }
        }
        impl Args for $ty {
            fn augment_args(cmd: clap::Command) -> clap::Command {
                $settings.into_iter().fold(cmd, |cmd, s| cmd.arg(flag(s)))
            }
            fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
                Self::augment_args(cmd)
            }
        }
    };
}

/// The settings `run`, `check` and `redeliver` take by flag or variable: every declared one.
fn every_setting() -> impl Iterator<Item = &'static dyn Declared> {
    // `--output` is `run`'s own field.
    settings::every().filter(|s| s.flag.is_some() && s.env != OUTPUT.env)
}

/// `history`'s settings: the --config file and the state file.
#[derive(Debug, Clone, Default)]
pub struct StateArgs(pub Settings);

settings_args!(Settings, std::convert::identity, every_setting());
settings_args!(StateArgs, StateArgs, [&CONFIG_FILE, &STATE_FILE]);

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
            if let Some(default) = s.shown_default() {
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
