//! `check` tries what `run` would hit on the file system, as the user cron runs it as: a state
//! folder it cannot write, a state file a manual `sudo run` left owned by root, secret files
//! other users can read, a dead-letter file; and `check -q` prints only failures.
//!
//! The tests about another user's files run the binary as `nobody` (uid 65534), which needs
//! the test itself to run as root (as CI does); run as anyone else they say so and pass.

use std::path::Path;
use std::process::Command;

use crate::support::cli::{Ran, Setup};
use crate::support::realistic_logs;

pub(crate) const NOBODY: u32 = 65534;

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `sub` against the fakes with the state file at `state`, run as `nobody`.
pub(crate) fn as_nobody(s: &Setup, sub: &str, state: &Path, extra: &[&str]) -> Ran {
    use std::os::unix::process::CommandExt;
    let mut args = vec!["--state", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut cmd: Command = s
        .home
        .command(sub, &s.tenant.url(), &s.receiver.url(), &args);
    cmd.uid(NOBODY).gid(NOBODY);
    Ran::of(&mut cmd)
}

pub(crate) fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A setup whose folder `nobody` may enter (temporary folders are 0700), and in it a folder
/// `state` owned by root, 0755.
pub(crate) fn root_owned_state_folder() -> (Setup, std::path::PathBuf) {
    let s = Setup::new(realistic_logs(10, 21));
    chmod(&s.home.join(""), 0o755);
    let dir = s.home.join("state");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o755);
    (s, dir)
}

#[test]
fn check_fails_when_the_service_user_cannot_write_the_state_folder_and_run_names_state_file() {
    if !is_root() {
        eprintln!("not run: needs root to run the binary as another user");
        return;
    }
    let (s, dir) = root_owned_state_folder();
    let state = dir.join("acme.json");

    let ran = as_nobody(&s, "check", &state, &[]);
    ran.assert_code(1);
    let fail = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains("STATE_FILE's folder"))
        .unwrap_or_else(|| panic!("no failure about the state folder:\n{}", ran.all()));
    assert!(fail.contains(dir.to_str().unwrap()), "{fail}");
    assert!(fail.contains("Permission denied"), "{fail}");
    assert!(fail.contains("owned by root (uid 0)"), "{fail}");

    let ran = as_nobody(&s, "run", &state, &[]);
    ran.assert_code(1);
    assert!(
        ran.stderr.contains("STATE_FILE") && ran.stderr.contains("acme.json.lock"),
        "run's error names the setting: {}",
        ran.stderr
    );
    assert_eq!(s.receiver.request_count(), 0);
}

#[test]
fn a_state_file_left_owned_by_root_is_named_with_its_owner_and_the_chown_in_check_and_run() {
    if !is_root() {
        eprintln!("not run: needs root to run the binary as another user");
        return;
    }
    let (s, dir) = root_owned_state_folder();
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    let state = dir.join("acme.json");
    std::fs::write(&state, r#"{"checkpoint": null, "start_from": null}"#).unwrap();
    chmod(&state, 0o600);
    let fix = format!("sudo chown nobody {}", state.display());

    let ran = as_nobody(&s, "check", &state, &[]);
    ran.assert_code(1);
    let fail = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL STATE_FILE"))
        .unwrap_or_else(|| panic!("no failure about the state file:\n{}", ran.all()));
    assert!(
        fail.contains("owned by root (uid 0)") && fail.contains("runs as nobody (uid 65534)"),
        "{fail}"
    );
    assert!(fail.contains(&fix), "{fail}");

    let ran = as_nobody(&s, "run", &state, &[]);
    ran.assert_code(2);
    assert!(
        ran.stderr.contains("owned by root") && ran.stderr.contains(&fix),
        "{}",
        ran.stderr
    );
    assert_eq!(s.receiver.request_count(), 0);
}

#[test]
fn check_warns_about_secret_and_config_files_other_users_can_read() {
    let s = Setup::new(realistic_logs(10, 22));
    let secret = s.home.join("client-secret");
    std::fs::write(&secret, crate::support::CLIENT_SECRET).unwrap();
    chmod(&secret, 0o644);
    let config = s.home.join("settings.toml");
    std::fs::write(&config, "batch_size = 50\n").unwrap();
    chmod(&config, 0o640);
    let private = s.home.join("authorization");
    std::fs::write(&private, "Bearer x").unwrap();
    chmod(&private, 0o600);

    let mut cmd = s.command("check");
    cmd.env_remove("AUTH0_CLIENT_SECRET")
        .env("AUTH0_CLIENT_SECRET_FILE", &secret)
        .env("AUTHORIZATION_FILE", &private)
        .arg("--config")
        .arg(&config);
    let ran = Ran::of(&mut cmd);
    ran.assert_code(0);
    let warnings: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.starts_with("WARN"))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", ran.stdout);
    for (what, path, mode) in [
        ("AUTH0_CLIENT_SECRET_FILE", &secret, "644"),
        ("--config file", &config, "640"),
    ] {
        let p = path.display();
        assert!(
            warnings.iter().any(|w| w.contains(&format!(
                "{what} {p} can be read by other users (mode {mode}): chmod 600 {p}"
            ))),
            "{warnings:#?}"
        );
    }
}

#[test]
fn check_quiet_prints_nothing_when_all_is_well_and_only_the_failures_otherwise() {
    let s = Setup::new(realistic_logs(10, 23));
    let ran = s.exec("check", &["-q"], &[]);
    ran.assert_code(0);
    assert_eq!(ran.stdout, "", "{}", ran.all());

    let ran = s.exec(
        "check",
        &["-q", "--dead-letter", "/nonexistent-folder/dead.jsonl"],
        &[("AUTH0_CLIENT_SECRET", "not-the-secret")],
    );
    ran.assert_code(1);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", ran.stdout);
    assert!(lines.iter().all(|l| l.starts_with("FAIL ")), "{lines:#?}");
    assert!(lines[0].contains("DEAD_LETTER_FILE"), "{lines:#?}");
    assert!(lines[1].contains("credentials"), "{lines:#?}");
}

#[test]
fn check_opens_the_dead_letter_file_and_leaves_no_new_file_behind() {
    let s = Setup::new(realistic_logs(10, 24));
    let dead = s.home.join("dead.jsonl");
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(s.home.join(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    let ran = s.exec("check", &["--dead-letter", dead.to_str().unwrap()], &[]);
    ran.assert_code(0);
    assert!(
        ran.stdout.contains(&format!(
            "ok   DEAD_LETTER_FILE {} can be appended to",
            dead.display()
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("STATE_FILE's folder") && ran.stdout.contains("is writable"),
        "{}",
        ran.stdout
    );
    assert_eq!(listing(), before, "check left files behind");
}

/// Behind a custom domain or a proxy, the token's audience stays the tenant's own domain.
#[test]

fn a_custom_domain_gets_its_token_with_the_tenants_own_audience() {
    let s = Setup::new(realistic_logs(5, 25));
    let ran = s.exec("check", &["--audience", "acme.eu.auth0.com"], &[]);
    ran.assert_code(0);
    assert!(
        ran.stdout
            .contains("token audience https://acme.eu.auth0.com/api/v2/"),
        "{}",
        ran.stdout
    );
    let bodies = s.tenant.token_request_bodies();
    assert_eq!(
        bodies[0]["audience"], "https://acme.eu.auth0.com/api/v2/",
        "{bodies:#?}"
    );

    let ran = s.exec("check", &[], &[]);
    ran.assert_code(0);
    let bodies = s.tenant.token_request_bodies();
    assert_eq!(
        bodies.last().unwrap()["audience"],
        format!("{}/api/v2/", s.tenant.url()),
        "the default is unchanged"
    );
}

/// `check` reads the state as `run` does: a state file of another tenant, which `run` refuses,
/// is a failure of `check` too, with the same words.
#[test]
fn check_fails_on_another_tenants_state_file_as_run_refuses_it() {
    let s = Setup::new(realistic_logs(10, 26));
    s.run(&[], &[]).assert_code(0);
    let other = crate::support::FakeTenant::start(realistic_logs(10, 27));
    let against_other =
        |sub: &str| Ran::of(&mut s.home.command(sub, &other.url(), &s.receiver.url(), &[]));

    let ran = against_other("check");
    ran.assert_code(1);
    let fail = ran
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("FAIL "))
        .unwrap_or_else(|| panic!("check found nothing wrong:\n{}", ran.all()));
    assert!(
        fail.contains(&format!("belongs to tenant {}", s.tenant.url())),
        "{fail}"
    );

    let served = other.logs_served();
    let ran = against_other("run");
    ran.assert_code(2);
    assert!(
        ran.stderr.contains(&format!("error: {fail}")),
        "run refuses it with check's words ({fail}):\n{}",
        ran.stderr
    );
    assert_eq!(other.logs_served(), served, "run read no page");
}

/// A secret rotated in Auth0 but not here: runs go on with the token they cached until it is
/// due for renewal, and `check` says until when; once that token is refused too, it does not.
#[test]
fn refused_credentials_with_a_working_cached_token_say_until_when_runs_keep_working() {
    let s = Setup::new(realistic_logs(10, 28));
    s.run(&[], &[]).assert_code(0);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.state()).unwrap()).unwrap();
    let expires_at = state["token"]["expires_at"]
        .as_u64()
        .expect("a cached token");
    let renewal = std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires_at - 600);
    let until = format!(
        "runs keep working until {}",
        humantime::format_rfc3339_seconds(renewal)
    );
    let rotated = [("AUTH0_CLIENT_SECRET", "rotated-in-auth0")];

    let ran = s.exec("check", &[], &rotated);
    ran.assert_code(1);
    let fail = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains("refused the credentials"))
        .unwrap_or_else(|| panic!("no failure about the credentials:\n{}", ran.all()));
    assert!(fail.contains(&until), "{fail}");
    // And indeed: a run with the rotated secret still delivers, on the cached token.
    s.tenant
        .push_logs(crate::support::cli::sapi_logs(500..=501));
    s.run(&[], &rotated).assert_code(0);

    s.tenant.expire_tokens();
    let ran = s.exec("check", &[], &rotated);
    ran.assert_code(1);
    assert!(
        ran.stdout.contains("refused the credentials"),
        "{}",
        ran.all()
    );
    assert!(!ran.stdout.contains("keep working"), "{}", ran.stdout);
}
