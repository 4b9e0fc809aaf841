//! Errors that point at the fix, as a user meets them on the command line: a `history` of a
//! state file that is not there, several missing settings at once, a mistake in the TOML file,
//! an `OUTPUT` variable that belongs to other software, and misspelt variables.

use crate::support::cli::{Home, Ran, Setup};
use crate::support::realistic_logs;
use serde_json::Value;

#[test]
fn history_of_a_missing_state_file_says_so_with_the_path_and_exits_1() {
    let home = Home::new();
    let missing = home.join("nowhere.json");
    let ran = Ran::of(home.bare().arg("history").arg("--state").arg(&missing));
    ran.assert_code(1);
    assert_eq!(ran.stdout, "", "no empty table");
    assert!(
        ran.stderr
            .contains(&format!("no state file at {}", missing.display())),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("STATE_FILE"), "{}", ran.stderr);
}

#[test]
fn history_json_keeps_fields_the_record_has() {
    let home = Home::new();
    let state = home.state();
    std::fs::write(
        &state,
        r#"{"checkpoint": null, "start_from": null, "history": [{"started_at": "2026-11-26T07:00:00.000Z",
            "finished_at": "2026-11-26T07:00:01.000Z", "status": "ok", "logs_fetched": 5, "logs_matched": 5,
            "logs_delivered": 3, "logs_dead_lettered": 2, "requests": 5, "retries": 0,
            "checkpoint": "900", "error": null, "warning": null}]}"#,
    )
    .unwrap();
    let ran = Ran::of(home.bare().arg("history").arg("--state").arg(&state));
    ran.assert_code(0);
    let lines: Vec<Vec<&str>> = ran
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!((lines[0][6], lines[1][6]), ("DEAD", "2"), "{}", ran.stdout);

    let ran = Ran::of(
        home.bare()
            .arg("history")
            .arg("--json")
            .arg("--state")
            .arg(&state),
    );
    let runs: Vec<Value> = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(runs[0]["logs_dead_lettered"], 2);
}

#[test]
fn every_missing_required_setting_is_reported_in_one_error() {
    let home = Home::new();
    let ran = Ran::of(home.bare().arg("run"));
    ran.assert_code(2);
    for name in [
        "AUTH0_DOMAIN",
        "AUTH0_CLIENT_ID",
        "AUTH0_CLIENT_SECRET",
        "WEBHOOK_URL",
    ] {
        assert!(ran.stderr.contains(name), "{name}: {}", ran.stderr);
    }
}

#[test]
fn a_toml_mistake_names_the_key_line_and_column_and_a_typo_gets_did_you_mean() {
    let s = Setup::new(realistic_logs(5, 31));
    let config = s.home.join("settings.toml");
    std::fs::write(&config, "batch_size = 50\nmax_run_time = 60\n").unwrap();
    let ran = s.exec("check", &["--config", config.to_str().unwrap()], &[]);
    ran.assert_code(2);
    assert!(
        ran.stderr
            .contains("line 2, column 16, key `max_run_time`: invalid type: integer `60`"),
        "{}",
        ran.stderr
    );

    std::fs::write(&config, "batch_size = 50\nwebhook_timout = \"10s\"\n").unwrap();
    let ran = s.exec("check", &["--config", config.to_str().unwrap()], &[]);
    ran.assert_code(2);
    assert!(
        ran.stderr.contains(
            "line 2, column 1: unknown key `webhook_timout`; did you mean `webhook_timeout`?"
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn output_is_chosen_by_the_prefixed_variable_and_plain_output_is_ignored() {
    let s = Setup::new(realistic_logs(5, 32));
    let ran = s.run(&[], &[("OUTPUT", "/tmp/out.txt")]);
    ran.assert_code(0);
    assert_eq!(ran.stdout, "");

    let ran = s.run(&[], &[("AUTH0_MGMT_WEBHOOKS_OUTPUT", "json")]);
    ran.assert_code(0);
    let summary: Value = serde_json::from_str(ran.stdout.trim()).unwrap();
    assert_eq!(summary["status"], "ok");
}

#[test]
fn an_endpoint_that_names_no_collection_is_pointed_out_by_run_and_check() {
    let s = Setup::new(realistic_logs(20, 33));
    let hint =
        "`user` is no Management API endpoint, so no log will match it; did you mean `users`?";

    let ran = s.run(&["--endpoints", "user, clients"], &[]);
    ran.assert_code(0);
    assert!(
        ran.stderr
            .contains(&format!("warning: AUTH0_API_ENDPOINTS: {hint}")),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("`clients`"), "{}", ran.stderr);

    let ran = s.exec("check", &["--endpoints", "user"], &[]);
    ran.assert_code(0);
    assert!(
        ran.stdout
            .contains(&format!("WARN AUTH0_API_ENDPOINTS: {hint}")),
        "{}",
        ran.stdout
    );
}

/// A misspelt variable is not ignored in silence: `run` and `check` name it and the variable it
/// likely meant, and a variable of other software under a shared prefix gets no word.
#[test]
fn misspelt_variables_are_named_with_the_nearest_one_by_run_and_check() {
    let s = Setup::new(realistic_logs(10, 41)).with_settings_in_env();
    let env = [
        ("WEBHOOK_CONCURENT_CALLS", "2"),
        ("BATCHSIZE", "5"),
        ("AUTH0_ALLOW_DELETE", "false"),
    ];
    let concurrent = "WEBHOOK_CONCURENT_CALLS is set but is not a variable of auth0-mgmt-webhooks, so it is ignored; did you mean WEBHOOK_CONCURRENT_CALLS?";
    let batch = "BATCHSIZE is set but is not a variable of auth0-mgmt-webhooks, so it is ignored; did you mean BATCH_SIZE?";

    let ran = s.run(&[], &env);
    ran.assert_code(0);
    for w in [concurrent, batch] {
        assert!(
            ran.stderr.contains(&format!("warning: {w}")),
            "{}",
            ran.stderr
        );
    }
    assert!(!ran.stderr.contains("AUTH0_ALLOW_DELETE"), "{}", ran.stderr);

    let ran = s.exec("check", &[], &env);
    ran.assert_code(0);
    for w in [concurrent, batch] {
        assert!(ran.stdout.contains(&format!("WARN {w}")), "{}", ran.stdout);
    }
    assert!(!ran.all().contains("AUTH0_ALLOW_DELETE"), "{}", ran.all());

    // A required setting misspelt: the error says it is missing, the warning says where it is.
    let mut cmd = s.command("run");
    cmd.env_remove("AUTH0_DOMAIN")
        .env("AUTH0_DOMIAN", s.tenant.url());
    let ran = Ran::of(&mut cmd);
    ran.assert_code(2);
    assert!(
        ran.stderr.contains("AUTH0_DOMIAN is set but")
            && ran.stderr.contains("did you mean AUTH0_DOMAIN?"),
        "{}",
        ran.stderr
    );
}
