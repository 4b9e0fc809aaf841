//! The binary in the shell and the system: completion scripts, manual pages and `-h`/`--help`,
//! as a packager or an operator at a terminal gets them.

use crate::support::cli::{Home, Ran};

fn ran(args: &[&str]) -> Ran {
    let home = Home::new();
    Ran::of(home.bare().args(args))
}

#[test]
fn completions_are_printed_for_every_shell_and_know_the_settings() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = ran(&["completions", shell]);
        r.assert_code(0);
        assert!(r.stdout.contains("webhook-url"), "{shell}:\n{}", r.stdout);
        assert!(r.stdout.contains("history"), "{shell}:\n{}", r.stdout);
    }
    ran(&["completions", "tcsh"]).assert_code(2);
}

#[test]
fn man_prints_roff_pages_for_the_tool_and_each_command() {
    let r = ran(&["man"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(".TH auth0-mgmt-webhooks 1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("check"), "lists the commands");

    let r = ran(&["man", "run"]);
    r.assert_code(0);
    assert!(r.stdout.contains(".TH auth0-mgmt-webhooks-run 1"));
    assert!(r.stdout.contains(r"\-\-webhook\-url"), "{}", r.stdout);
    assert!(r.stdout.contains("WEBHOOK_URL"), "{}", r.stdout);
}

#[test]
fn short_help_groups_the_settings_under_headings_and_long_help_adds_the_details() {
    let short = ran(&["run", "-h"]);
    short.assert_code(0);
    let headings: Vec<&str> = short
        .stdout
        .lines()
        .filter(|l| l.ends_with(':') && !l.starts_with(' '))
        .collect();
    assert_eq!(
        headings,
        [
            "Options:",
            "Auth0:",
            "Webhook:",
            "Delivery:",
            "Reports:",
            "State:"
        ],
        "{}",
        short.stdout
    );
    let long = ran(&["run", "--help"]);
    long.assert_code(0);
    assert!(
        long.stdout.contains("users-by-email") && !short.stdout.contains("users-by-email"),
        "the details are in --help only"
    );
    assert!(long.stdout.contains("Exit codes:"));
    assert!(short.stdout.contains("see --help"));
}

/// What bash offers for the command line `words` (the last one being completed), with the
/// binary's own completion script loaded: the function `complete -p` names is called as bash
/// calls it on <TAB>, and COMPREPLY is read back.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let home = Home::new();
    let r = ran(&["completions", "bash"]);
    r.assert_code(0);
    let script = home.join("completion.bash");
    std::fs::write(&script, &r.stdout).unwrap();
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    let program = format!(
        r#"source "$1" || exit 9
COMP_WORDS=(auth0-mgmt-webhooks {words})
COMP_CWORD={cword}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
spec=$(complete -p auth0-mgmt-webhooks) || exit 8
f=${{spec#*-F }}
f=${{f%% *}}
"$f" auth0-mgmt-webhooks "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = quoted.join(" "),
        cword = words.len(),
    );
    let out = std::process::Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(program)
        .arg("bash")
        .arg(&script)
        .env_clear()
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_a_subcommands_flags_and_values_and_never_a_hidden_flag() {
    let offered = bash_completes(&["run", "--s"]);
    for flag in [
        "--start-from",
        "--state",
        "--send-as-batch",
        "--slack-send-success",
    ] {
        assert!(offered.iter().any(|o| o == flag), "{flag}: {offered:?}");
    }
    assert!(
        offered
            .iter()
            .all(|o| o.starts_with("--s") && o != "--send-test"),
        "only run's flags: {offered:?}"
    );
    assert_eq!(bash_completes(&["check", "--send-t"]), ["--send-test"]);
    assert_eq!(bash_completes(&["run", "--header"]), ["--header"]);
    assert_eq!(bash_completes(&["run", "--output", ""]), ["text", "json"]);
    let subcommands = bash_completes(&[""]);
    for sub in ["run", "check", "redeliver", "history", "completions", "man"] {
        assert!(
            subcommands.iter().any(|s| s == sub),
            "{sub}: {subcommands:?}"
        );
    }
}

/// Every manual page: the sections an operator looks for, only references to pages that
/// exist, and, where groff is installed (CI installs it), roff that renders without a warning.
#[test]
fn man_pages_have_their_sections_reference_only_existing_pages_and_render_cleanly() {
    let pages: Vec<(String, Vec<&str>)> = [
        ("auth0-mgmt-webhooks".to_string(), vec!["man"]),
        ("auth0-mgmt-webhooks-run".to_string(), vec!["man", "run"]),
        (
            "auth0-mgmt-webhooks-check".to_string(),
            vec!["man", "check"],
        ),
        (
            "auth0-mgmt-webhooks-redeliver".to_string(),
            vec!["man", "redeliver"],
        ),
        (
            "auth0-mgmt-webhooks-history".to_string(),
            vec!["man", "history"],
        ),
    ]
    .into();
    let groff = std::process::Command::new("groff")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !groff {
        eprintln!("groff is not installed: pages not rendered");
    }
    for (title, args) in &pages {
        let r = ran(args);
        r.assert_code(0);
        let roff = &r.stdout;
        assert!(roff.contains(&format!(".TH {title} 1")), "{title}");
        for section in [
            "NAME",
            "SYNOPSIS",
            "OPTIONS",
            "ENVIRONMENT",
            "EXIT STATUS",
            "FILES",
            "EXAMPLES",
            "SEE ALSO",
        ] {
            assert!(
                roff.contains(&format!(".SH {section}\n")),
                "{title} lacks {section}"
            );
        }
        // The synopsis names the command as typed: `auth0-mgmt-webhooks run`.
        let synopsis = roff.split(".SH SYNOPSIS\n").nth(1).unwrap();
        let typed = args[1..]
            .iter()
            .fold(r"auth0\-mgmt\-webhooks".to_string(), |s, a| {
                format!("{s} {a}")
            });
        assert!(synopsis.contains(&typed), "{title}: {synopsis}");
        // Every `name(1)` is one of these pages.
        for (at, _) in roff.match_indices("(1)") {
            let name: String = roff[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '\\')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<String>()
                .replace('\\', "");
            assert!(
                pages.iter().any(|(t, _)| *t == name),
                "{title} refers to {name}(1), which is no page"
            );
        }
        if groff {
            let page = Home::new();
            let file = page.join("page.1");
            std::fs::write(&file, roff).unwrap();
            let out = std::process::Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(out.status.success(), "{title}");
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                "",
                "{title}: groff warns"
            );
        }
    }
}
