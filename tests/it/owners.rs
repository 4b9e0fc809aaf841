//! A run by hand as root beside a service that runs as its own user: the files root rewrites or
//! creates keep the service user's ownership, a run as a third user is refused with the `chown`
//! that fixes it, and `check` as root advises in the right direction.
//!
//! These run the binary as `nobody` (the service user) and as root, so they need the test to
//! run as root (as CI does); run as anyone else they say so and pass.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::check::{NOBODY, as_nobody, chmod, is_root, root_owned_state_folder};
use crate::support::cli::{Ran, Setup, sapi_logs};

fn uid(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().uid()
}

/// A setup and, in it, a folder `state` that belongs to `nobody`, as systemd's
/// `StateDirectory=` gives the service user.
fn service_state_folder() -> (Setup, PathBuf) {
    let (s, dir) = root_owned_state_folder();
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    (s, dir)
}

fn as_root(s: &Setup, sub: &str, state: &Path, extra: &[&str]) -> Ran {
    let mut args = vec!["--state", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    Ran::of(
        &mut s
            .home
            .command(sub, &s.tenant.url(), &s.receiver.url(), &args),
    )
}

#[test]
fn a_run_by_hand_as_root_keeps_the_service_users_files_so_its_next_run_works() {
    if !is_root() {
        eprintln!("not run: needs root to run the binary as another user");
        return;
    }
    let (s, dir) = service_state_folder();
    let state = dir.join("acme.json");
    let lock = dir.join("acme.json.lock");
    let dead = dir.join("dead.jsonl");

    // The very first run is root's, by hand: what it creates is the service user's all the same.
    as_root(&s, "run", &state, &[]).assert_code(0);
    for file in [&state, &lock] {
        assert_eq!(
            uid(file),
            NOBODY,
            "{} after root's first run",
            file.display()
        );
    }
    as_nobody(&s, "run", &state, &[]).assert_code(0);

    // Root again, on the service's files: they stay the service's, mode 0600.
    s.tenant.push_logs(sapi_logs(900..=902));
    s.receiver.push_reply(crate::support::Reply::status(422));
    let one_by_one = [
        "--send-as-batch",
        "false",
        "--dead-letter",
        dead.to_str().unwrap(),
    ];
    as_root(&s, "run", &state, &one_by_one).assert_code(3);
    for file in [&state, &lock, &dead] {
        assert_eq!(uid(file), NOBODY, "{} after root's run", file.display());
    }
    assert_eq!(std::fs::metadata(&state).unwrap().mode() & 0o777, 0o600);

    // And the scheduled run goes on from root's checkpoint.
    s.tenant.push_logs(sapi_logs(903..=904));
    let before = s.receiver.request_count();
    as_nobody(&s, "run", &state, &one_by_one).assert_code(0);
    assert!(
        s.receiver.request_count() > before,
        "the service's run delivered"
    );
}

#[test]
fn a_run_as_another_user_than_the_state_files_owner_is_refused_with_exit_2_and_the_chown() {
    if !is_root() {
        eprintln!("not run: needs root to run the binary as another user");
        return;
    }
    let (s, dir) = service_state_folder();
    let state = dir.join("acme.json");
    as_root(&s, "run", &state, &[]).assert_code(0);
    // Root's state, readable by all, in the service's folder: without the refusal the service
    // user's run would take it over.
    std::os::unix::fs::chown(&state, Some(0), Some(0)).unwrap();
    chmod(&state, 0o644);
    let before = s.receiver.request_count();

    let ran = as_nobody(&s, "run", &state, &[]);
    ran.assert_code(2);
    let fix = format!(
        "sudo chown nobody {} {}",
        state.display(),
        dir.join("acme.json.lock").display()
    );
    assert!(
        ran.stderr.contains("owned by root (uid 0)") && ran.stderr.contains(&fix),
        "{}",
        ran.stderr
    );
    assert_eq!(uid(&state), 0, "the file was left as it was");
    assert_eq!(s.receiver.request_count(), before, "nothing was sent");
}

#[test]
fn check_as_root_points_at_the_service_user_never_at_root() {
    if !is_root() {
        eprintln!("not run: needs root to run the binary as another user");
        return;
    }
    let (s, dir) = service_state_folder();
    let state = dir.join("acme.json");
    as_nobody(&s, "run", &state, &[]).assert_code(0);

    // The service's own files: root's runs keep them so; check as the service user.
    let ran = as_root(&s, "check", &state, &[]);
    ran.assert_code(0);
    let warn = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("WARN STATE_FILE"))
        .unwrap_or_else(|| panic!("no word about the state file's owner:\n{}", ran.all()));
    assert!(
        warn.contains("sudo -u nobody auth0-mgmt-webhooks check"),
        "{warn}"
    );
    assert!(!ran.stdout.contains("chown root"), "{}", ran.stdout);

    // Root's state in the service's folder (left by an older version's run as root): give it
    // back to the folder's owner.
    let lock = dir.join("acme.json.lock");
    for file in [&state, &lock] {
        std::os::unix::fs::chown(file, Some(0), Some(0)).unwrap();
    }
    let ran = as_root(&s, "check", &state, &[]);
    let warn = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("WARN STATE_FILE"))
        .unwrap_or_else(|| panic!("no word about the state file's owner:\n{}", ran.all()));
    let fix = format!("sudo chown nobody {} {}", state.display(), lock.display());
    assert!(warn.contains(&fix), "{warn}");
}
