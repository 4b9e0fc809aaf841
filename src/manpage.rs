//! `man [command]`: the manual pages, clap_mangen's sections (name, synopsis, options) and ours
//! after them: COMMANDS (only existing pages referenced), ENVIRONMENT (every variable the tool
//! reads), EXIT STATUS, FILES, EXAMPLES and SEE ALSO.

use crate::cli::PAGES;
use crate::exit;
use crate::settings::{
    self, CONFIG_FILE, DAILY_REPORT_HOUR, DAILY_REPORT_TIME, DEAD_LETTER_FILE, HOME, METRICS_FILE,
    START_FROM, STATE_FILE, XDG_STATE_HOME,
};
use anyhow::Result;
use clap::Command;

const NAME: &str = "auth0-mgmt-webhooks";

/// The page of the tool, or of one of [`PAGES`].
pub fn page(command: Option<&str>) -> Result<Vec<u8>> {
    let mut root = crate::cli::command();
    // Built, so that a command's page has its full name (`auth0-mgmt-webhooks run`) in the
    // synopsis, and the global flags (-v, -q) among its options.
    root.build();
    let sub = command.and_then(|sub| root.find_subcommand(sub));
    let cmd = sub.unwrap_or(&root);
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("{NAME} {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let mut roff = String::new();
    if command.is_none() {
        commands(&mut roff, cmd);
    }
    environment(&mut roff, command);
    roff += ".SH EXIT STATUS\n";
    for (code, name, meaning) in exit::TABLE {
        item(&mut roff, code, &format!("{name}: {meaning}."));
    }
    files(&mut roff);
    examples(&mut roff, command);
    see_also(&mut roff, command);
    out.extend_from_slice(roff.as_bytes());
    Ok(out)
}

/// Text for roff: backslashes and hyphens escaped, and a leading `.` or `'` made literal.
fn esc(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    match t.starts_with(['.', '\'']) {
        true => format!("\\&{t}"),
        false => t,
    }
}

/// A tagged paragraph: `tag` in bold, then `text`.
fn item(roff: &mut String, tag: &str, text: &str) {
    *roff += &format!(".TP\n\\fB{}\\fR\n{}\n", esc(tag), esc(text));
}

/// The commands, each pointing at its own page when it has one (clap_mangen's names them all).
fn commands(roff: &mut String, root: &Command) {
    *roff += ".SH COMMANDS\n";
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let own = PAGES.contains(&name);
        let see = own.then(|| format!(" See {NAME}-{name}(1)."));
        item(roff, name, &format!("{about}.{}", see.unwrap_or_default()));
    }
}

/// What a variable the tool reads means, from its declaration (a test makes it never `None`).
fn describe_variable(name: &str) -> Option<String> {
    if name == DAILY_REPORT_TIME {
        return Some(format!(
            "The extension's name for {DAILY_REPORT_HOUR} (9 or 09:00); setting both is an error."
        ));
    }
    let s = settings::every().find(|s| name == s.env || (s.from_file && name == s.file_var()))?;
    let ((short, _), env) = (s.help_text(), s.env);
    Some(match (name == env, s.flag) {
        (true, Some(flag)) => format!("--{flag}: {short}"),
        (true, None) => format!("{short} A secret: never a flag; see also {}.", s.file_var()),
        (false, None) => format!(
            "A file holding {env} (mode 0600, owned by the user the runs run as), instead of the value itself."
        ),
        (false, Some(_)) => format!(
            "A file holding {env}, for a value that is itself a credential (a token in a URL's path): then only scheme://host is ever shown."
        ),
    })
}

/// Every variable the tool reads; on `history`'s page, those it reads.
fn environment(roff: &mut String, command: Option<&str>) {
    *roff += ".SH ENVIRONMENT\n";
    let names = match command {
        Some("history") => vec![STATE_FILE.to_string(), CONFIG_FILE.to_string()],
        _ => crate::config::misspelt::known(),
    };
    let intro = "Every setting is a flag and an environment variable (and a key of the --config file, the variable's name in lower case). Precedence: flag, then environment, then file, then default. An empty value means unset. A variable that looks like one of these but is not (BATCHSIZE) gets a warning naming the nearest one.";
    *roff += &format!(".PP\n{}\n", esc(intro));
    for name in names {
        item(roff, &name, &describe_variable(&name).unwrap_or_default());
    }
    // The variables the default state file's path comes from.
    let label = STATE_FILE.label();
    let text = format!(
        "Without {label}, the state file is ${XDG_STATE_HOME}/auth0-mgmt-webhooks/state.json, else ~/.local/state/auth0-mgmt-webhooks/state.json."
    );
    item(roff, &format!("{XDG_STATE_HOME}, {HOME}"), &text);
}

#[rustfmt::skip]
fn files(roff: &mut String) {
    *roff += ".SH FILES\n";
    for (file, text) in [
        (STATE_FILE.to_string(), "Checkpoint, cached access token and the last 100 runs; mode 0600, one per tenant, replaced atomically."),
        (format!("{STATE_FILE}.lock"), "Locked by each run and by redeliver, so that only one runs at a time."),
        (DEAD_LETTER_FILE.to_string(), "Logs the webhook refused, one JSON line each; mode 0600."),
        (METRICS_FILE.to_string(), "Prometheus textfile-collector metrics, rewritten atomically after every run; mode 0644."),
        (CONFIG_FILE.to_string(), "The TOML settings file given by --config."),
    ] {
        item(roff, &file, text);
    }
}

#[rustfmt::skip]
fn examples(roff: &mut String, command: Option<&str>) {
    *roff += ".SH EXAMPLES\n";
    let backfill = format!("{START_FROM}=2026-11-01 auth0-mgmt-webhooks run --max-run-time 2h");
    for (cmd, line, text) in [
        ("check", "sudo -u svc auth0-mgmt-webhooks check --send-test", "Try the settings, the files and the webhook as the user the schedule runs as."),
        ("run", "auth0-mgmt-webhooks run --dry-run", "Print what would be sent, one JSON line an item; send and write nothing."),
        ("run", "auth0-mgmt-webhooks -q run --state /var/lib/auth0-mgmt-webhooks/acme.json", "One run as cron starts it, errors only."),
        ("run", &backfill, "A backfill from a date, in one long run."),
        ("redeliver", "auth0-mgmt-webhooks redeliver --dead-letter /var/lib/auth0-mgmt-webhooks/dead.jsonl", "Send the refused logs again once the receiver takes them."),
        ("history", "auth0-mgmt-webhooks history --state /var/lib/auth0-mgmt-webhooks/acme.json --limit 10", "The last ten runs."),
    ] {
        if command.is_none_or(|c| c == cmd) {
            *roff += &format!(".PP\n{}\n.RS 4\n.nf\n{}\n.fi\n.RE\n", esc(text), esc(line));
        }
    }
}

fn see_also(roff: &mut String, command: Option<&str>) {
    let main = command.map(|_| format!("{NAME}(1)"));
    let own = PAGES.iter().filter(|p| command != Some(**p));
    let own = own.map(|p| format!("{NAME}-{p}(1)"));
    let pages: Vec<String> = main.into_iter().chain(own).collect();
    let guide = "docs/deployment.md, for deployment examples (cron, systemd, Docker, Kubernetes)";
    *roff += &format!(".SH SEE ALSO\n{}; {guide}.\n", esc(&pages.join(", ")));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(command: Option<&str>) -> String {
        String::from_utf8(page(command).unwrap()).unwrap()
    }

    #[test]
    fn every_variable_the_tool_reads_is_described() {
        for name in crate::config::misspelt::known() {
            let d = describe_variable(&name);
            assert!(d.is_some_and(|d| !d.is_empty()), "{name} is not described");
        }
        let page = text(None);
        assert!(page.contains(".SH ENVIRONMENT"));
        assert!(page.contains("\\fBAUTH0_CLIENT_SECRET_FILE\\fR"), "{page}");
    }

    #[test]
    fn each_synopsis_names_the_command_as_typed_and_its_own_flags() {
        let line = |c: Option<&str>| {
            let page = text(c);
            let start = page.find(".SH SYNOPSIS\n").expect("a synopsis") + 13;
            page[start..]
                .lines()
                .next()
                .unwrap()
                .replace("\\fB", "")
                .replace("\\fR", "")
        };
        assert!(
            line(None).starts_with("auth0\\-mgmt\\-webhooks [\\-v|\\-\\-verbose]"),
            "{}",
            line(None)
        );
        let run = line(Some("run"));
        assert!(
            run.starts_with("auth0\\-mgmt\\-webhooks run [\\-\\-dry\\-run]"),
            "{run}"
        );
        assert!(run.contains("[\\-\\-batch\\-size]"), "{run}");
        assert!(line(Some("check")).contains("[\\-\\-send\\-test]"));
        let history = line(Some("history"));
        assert!(
            history.contains("[\\-\\-limit]") && history.contains("[\\-\\-state]"),
            "{history}"
        );
    }

    #[test]
    fn roff_special_characters_are_escaped() {
        assert_eq!(esc("--state a\\b"), "\\-\\-state a\\eb");
        assert_eq!(esc(".hidden"), "\\&.hidden");
    }
}
