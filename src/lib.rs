//! auth0-mgmt-webhooks: forwards Auth0 Management API audit logs to a webhook, one cron run at
//! a time, without ever moving its checkpoint past a log it did not deliver.
//!
//! The pipeline, a folder or file a stage, the data flowing one way:
//! `config` (settings, checked once) -> `source` (Auth0's logs as one ordered stream) ->
//! `filter` (types, endpoints -> payload items) -> `sink` (the webhook: batches, signatures,
//! pacing; or stdout for a dry run) -> `state` (the ordered acker's checkpoint, the lock, the
//! history) -> `report` (the summary, Slack, monitors). `run` ties them together; `check` and
//! `redeliver` are the other commands; `outcome` (how a run ended), `retry`, `http`, `secret`,
//! `signal` and `exit` serve them all; `main.rs` only maps the result to an exit code.

pub mod check;
pub mod cli;
pub mod config;
pub mod exit;
pub mod filter;
pub mod http;
pub mod outcome;
pub mod redeliver;
pub mod report;
pub mod retry;
pub mod run;
pub mod secret;
pub mod signal;
pub mod sink;
pub mod source;
pub mod state;

use anyhow::Result;
use clap::FromArgMatches;
use cli::{Cli, Command};
use outcome::Outcome;
use std::ffi::OsString;

/// Parses the arguments, runs the command and returns the exit code. The binary's `main` is
/// this; the demo and benchmark call it too, so they run exactly what users run.
///
/// With `run --output json`, stdout gets one JSON object whatever the exit: the run's summary,
/// or, when the run ends before it has one (bad settings, the lock held, a state file it
/// cannot use), `{"status", "exit_code", "error"}`.
pub fn main_with_args(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
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
            if wants_json(&args, &|name| std::env::var(name).ok()) {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or_default();
                print_failure(Outcome::Invalid, first.trim_start_matches("error: "));
            }
            return exit::USAGE;
        }
    };
    report::set_level(cli.verbose, cli.quiet);
    let json = matches!(&cli.command, Command::Run(a) if a.output == cli::Output::Json);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            let message = format!("{e:#}");
            let outcome = Outcome::of_error(&e);
            // Finding the lock held is how overlapping schedules work: a warning, quiet
            // under -q.
            match outcome {
                Outcome::Locked => report::warn(&message),
                _ => report::error(&message),
            }
            if json && !report::json_summary_printed() {
                print_failure(outcome, &message);
            }
            outcome.exit_code()
        }
    }
}

fn print_failure(outcome: Outcome, error: &str) {
    println!("{}", report::failure_json(outcome, error));
}

/// Whether arguments clap refused asked for `run --output json` (or `OUTPUT=json`): their
/// caller parses stdout, so it gets a JSON object even then.
fn wants_json(args: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> bool {
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().trim().to_string())
        .collect();
    if !args.iter().any(|a| a == "run") {
        return false;
    }
    let flag = args.iter().enumerate().rev().find_map(|(i, a)| {
        if let Some(v) = a.strip_prefix("--output=") {
            Some(v.to_string())
        } else if a == "--output" {
            args.get(i + 1).cloned()
        } else {
            None
        }
    });
    flag.or_else(|| env("OUTPUT"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("json"))
}

fn dispatch(command: Command) -> Result<u8> {
    match command {
        Command::Run(args) => {
            let cfg = config::Config::new(&args.settings, &config::process_env)?;
            for w in filter::unknown_endpoints(&cfg.filter.endpoints) {
                report::warn(w);
            }
            run::run(&cfg, args.dry_run, args.output).map(Outcome::exit_code)
        }
        Command::Check(args) => {
            let cfg = config::Config::new(&args.settings, &config::process_env)?;
            check::check(&cfg, args.send_test)
        }
        Command::Redeliver(args) => {
            let cfg = config::Config::new(&args.settings, &config::process_env)?;
            redeliver::redeliver(&cfg, args.dry_run).map(Outcome::exit_code)
        }
        Command::History(args) => {
            let file = config::load_file(args.state.config.as_deref())?;
            let path = config::state_path(&args.state, &file, &config::process_env)?;
            state::history::show(&path, args.json, args.limit)?;
            Ok(exit::OK)
        }
        Command::Completions(args) => {
            let mut cmd = cli::command();
            let name = cmd.get_name().to_string();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, name, &mut script);
            print_bytes(&script)?;
            Ok(exit::OK)
        }
        Command::Man(args) => {
            let cmd = cli::command();
            let page = match &args.command {
                Some(sub) => {
                    // clap takes a page's name as a &'static str: one per command `man` accepts.
                    let name = match sub.as_str() {
                        "run" => "auth0-mgmt-webhooks-run",
                        "check" => "auth0-mgmt-webhooks-check",
                        "redeliver" => "auth0-mgmt-webhooks-redeliver",
                        _ => "auth0-mgmt-webhooks-history",
                    };
                    cmd.find_subcommand(sub)
                        .expect("clap checked the name")
                        .clone()
                        .name(name)
                        .version(env!("CARGO_PKG_VERSION"))
                }
                None => cmd,
            };
            let mut roff = Vec::new();
            clap_mangen::Man::new(page).render(&mut roff)?;
            print_bytes(&roff)?;
            Ok(exit::OK)
        }
    }
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
fn print_bytes(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn refused_arguments_still_get_json_when_run_asked_for_it() {
        let none = |_: &str| None;
        let env_json = |n: &str| (n == "OUTPUT").then(|| " JSON ".to_string());
        assert!(wants_json(
            &args(&["x", "run", "--output", "json", "--bogus"]),
            &none
        ));
        assert!(wants_json(&args(&["x", "run", "--output=json"]), &none));
        assert!(wants_json(&args(&["x", "run", "--batch-size"]), &env_json));
        assert!(!wants_json(
            &args(&["x", "run", "--output", "text"]),
            &env_json
        ));
        assert!(!wants_json(
            &args(&["x", "check", "--output", "json"]),
            &none
        ));
        assert!(!wants_json(&args(&["x", "run"]), &none));
    }
}
