//! auth0-mgmt-webhooks: forwards Auth0 Management API audit logs to a webhook, one cron run at
//! a time, without ever moving its checkpoint past a log it did not deliver.
//!
//! The pipeline, a module a stage: `config` -> `source` -> `filter` -> `sink` -> `state` ->
//! `report`; `run`, `check` and `redeliver` are the commands. Imports only go down; the map of
//! the floors is in docs/development.md.

pub mod check;
pub mod cli;
pub mod completions;
pub mod config;
pub mod exit;
pub mod files;
pub mod filter;
pub mod http;
pub mod lane;
pub mod log;
pub mod logid;
pub mod manpage;
pub mod outcome;
pub mod owner;
pub mod proxy;
pub mod redact;
pub mod redeliver;
pub mod report;
pub mod retry;
pub mod run;
pub mod say;
pub mod secret;
pub mod settings;
pub mod signal;
pub mod sink;
pub mod source;
pub mod state;
pub mod stop;
pub mod suggest;

use anyhow::Result;
use clap::FromArgMatches;
use cli::{Cli, Command};
use outcome::Outcome;
use std::ffi::OsString;

/// Parses the arguments, runs the command and returns the exit code (the binary, the demo and
/// the benchmark all call this). With `run --output json`, stdout gets one JSON object whatever
/// the exit: the summary, or `{"status", "exit_code", "error"}`.
pub fn main_with_args(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
    signal::ignore_file_size_limit();
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let parsed = cli::command()
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return exit::OK;
            }
            if wants_json(&args) {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or_default();
                let error = first.trim_start_matches("error: ");
                say::out_line(&report::failure_json(Outcome::Invalid, error));
            }
            return exit::USAGE;
        }
    };
    say::set_level(cli.verbose, cli.quiet);
    let json = matches!(&cli.command, Command::Run(a) if a.output == cli::Output::Json);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            let message = format!("{e:#}");
            let outcome = Outcome::of_error(&e);
            // Overlapping schedules find the lock held: a warning, quiet under -q.
            match outcome {
                Outcome::Locked => say::warn(&message),
                _ => say::error(&message),
            }
            if json && !report::json_summary_printed() {
                say::out_line(&report::failure_json(outcome, &message));
            }
            outcome.exit_code()
        }
    }
}

/// Whether arguments clap refused asked for `run --output json`: their caller parses stdout.
fn wants_json(args: &[OsString]) -> bool {
    let cmd = cli::command().ignore_errors(true);
    let m = cmd.try_get_matches_from(args).ok();
    let run = m.and_then(|m| m.subcommand_matches("run").cloned());
    let output = run.and_then(|run| run.try_get_one::<cli::Output>("output").ok()?.copied());
    output == Some(cli::Output::Json)
}

fn dispatch(command: Command) -> Result<u8> {
    match command {
        Command::Run(args) => {
            // First of all: a signal from here on must end the run the graceful way.
            signal::install();
            let cfg = settings_checked(&args.settings, true)?;
            for r in &cfg.routes {
                for w in filter::unknown_endpoints(&r.filter.endpoints) {
                    say::warn(format_args!("{}{w}", cfg.of(r)));
                }
            }
            run::run(&cfg, args.dry_run, args.output).map(Outcome::exit_code)
        }
        Command::Check(args) => {
            // With valid settings, `check` shows them among its lines.
            check::check(&settings_checked(&args.settings, false)?, args.send_test)
        }
        Command::Redeliver(args) => {
            signal::install();
            let cfg = settings_checked(&args.settings, true)?;
            redeliver::redeliver(&cfg, args.route.as_deref(), args.dry_run).map(Outcome::exit_code)
        }
        Command::History(args) => {
            let flags = &args.state.0;
            let file = config::load_file(flags.path(&settings::CONFIG_FILE).as_deref())?;
            let path = config::state_path(flags, &file, &config::process_env)?;
            print_bytes(state::history::show(&path, args.json, args.limit)?.as_bytes())
        }
        Command::Completions { shell } => print_bytes(&completions::script(&cli::command(), shell)),
        Command::Man { command } => print_bytes(&manpage::page(command.as_deref())?),
    }
}

/// The checked settings, warning of misspelt variables (unless `always`, only when wrong).
fn settings_checked(settings: &cli::Settings, always: bool) -> Result<config::Config> {
    let cfg = config::Config::new(settings, &config::process_env);
    if always || cfg.is_err() {
        config::misspelt::in_process()
            .into_iter()
            .for_each(say::warn);
    }
    cfg
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
fn print_bytes(bytes: &[u8]) -> Result<u8> {
    say::out_bytes(bytes).map_err(|e| anyhow::anyhow!("writing to stdout: {e}"))?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn refused_arguments_still_get_json_when_run_asked_for_it() {
        let json = |list: &[&str]| wants_json(&args(list));
        assert!(json(&["x", "run", "--output", "json", "--bogus"]));
        assert!(json(&["x", "run", "--output=JSON", "--batch-size"]));
        assert!(json(&[
            "x",
            "-v",
            "run",
            "--output",
            "json",
            "--batch-size",
            "1",
            "--bogus"
        ]));
        assert!(!json(&["x", "run", "--output", "text", "--bogus"]));
        assert!(!json(&["x", "check", "--output", "json"]));
        assert!(!json(&["x", "history", "--bogus"]));
    }
}
