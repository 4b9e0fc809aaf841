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
