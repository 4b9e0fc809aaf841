//! Who owns a file and who this process runs as: the advice for a state file that a manual
//! `sudo ... run` left owned by root, and for secret files other users can read.

use std::path::Path;

/// A user as a person reads it: `alice (uid 1000)`, or `uid 1000` when it has no name.
pub fn describe(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// The name a `chown` takes: the user's name, or the number.
pub fn chown_name(uid: u32) -> String {
    user_name(uid).unwrap_or_else(|| uid.to_string())
}

/// The user this process runs as (its effective uid).
#[cfg(unix)]
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(unix)]
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    name_in_passwd(&passwd, uid)
}

#[cfg(not(unix))]
fn user_name(_uid: u32) -> Option<String> {
    None
}

/// The name of `uid` in the text of /etc/passwd (`name:x:uid:gid:...`).
fn name_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// When `path` exists and belongs to another user than this process, what to tell the user:
/// whose it is and the `chown` that fixes it (for `also` too, e.g. the lock file beside it).
#[cfg(unix)]
pub fn foreign(path: &Path, also: &[&Path]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(path).ok()?.uid();
    let me = current_uid();
    (owner != me).then(|| advice(path, owner, me, also))
}

#[cfg(not(unix))]
pub fn foreign(_path: &Path, _also: &[&Path]) -> Option<String> {
    None
}

fn advice(path: &Path, owner: u32, me: u32, also: &[&Path]) -> String {
    let mut files = vec![path.display().to_string()];
    files.extend(
        also.iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string()),
    );
    format!(
        "{} is owned by {}, but this runs as {} (a run started by hand as another user, with sudo?); give it back: sudo chown {} {}",
        path.display(),
        describe(owner),
        describe(me),
        chown_name(me),
        files.join(" ")
    )
}

/// A file this process may not read (a secret file, the config file): whose it is, who runs,
/// and the `chown`/`chmod` that lets the user running the tool read it.
#[cfg(unix)]
pub fn cannot_read(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(meta) => read_advice(path, meta.uid(), current_uid()),
        Err(_) => format!(
            "permission denied: a folder on the way to it is closed to {}, the user running the tool",
            describe(current_uid())
        ),
    }
}

#[cfg(not(unix))]
pub fn cannot_read(_path: &Path) -> String {
    "permission denied".to_string()
}

fn read_advice(path: &Path, owner: u32, me: u32) -> String {
    let p = path.display();
    if owner == me {
        return format!(
            "permission denied: it is owned by {}, who runs the tool, but its mode does not let its owner read it; chmod 600 {p}",
            describe(me)
        );
    }
    format!(
        "permission denied: it is owned by {}, but the tool runs as {}; give it to that user: sudo chown {} {p} && sudo chmod 600 {p}",
        describe(owner),
        describe(me),
        chown_name(me)
    )
}

/// Unix permission bits that let users other than the owner read a file (group or others).
pub fn readable_by_others(mode: u32) -> bool {
    mode & 0o044 != 0
}

/// When a file holding secrets can be read by other users, the warning to show.
#[cfg(unix)]
pub fn exposed(what: &str, path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    readable_by_others(mode).then(|| {
        format!(
            "{what} {} can be read by other users (mode {mode:03o}): chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
pub fn exposed(_what: &str, _path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_passwd_and_numbers_stand_in_for_unknown_users() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\nsvc:x:998:998::/:/sbin/nologin\n";
        assert_eq!(name_in_passwd(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_in_passwd(passwd, 998).as_deref(), Some("svc"));
        assert_eq!(name_in_passwd(passwd, 5), None);
    }

    #[test]
    fn advice_says_whose_and_the_chown_that_fixes_it() {
        let a = advice(Path::new("/var/lib/x/state.json"), 0, 4_000_000, &[]);
        assert!(a.contains("owned by root (uid 0)"), "{a}");
        assert!(a.contains("runs as uid 4000000"), "{a}");
        assert!(
            a.ends_with("sudo chown 4000000 /var/lib/x/state.json"),
            "{a}"
        );
    }

    #[test]
    fn an_unreadable_file_names_its_owner_the_user_running_and_the_fix() {
        let p = Path::new("/etc/a/secret");
        let a = read_advice(p, 0, 4_000_000);
        assert!(
            a.contains("owned by root (uid 0)") && a.contains("runs as uid 4000000"),
            "{a}"
        );
        assert!(
            a.ends_with("sudo chown 4000000 /etc/a/secret && sudo chmod 600 /etc/a/secret"),
            "{a}"
        );
        let own = read_advice(p, 4_000_000, 4_000_000);
        assert!(own.ends_with("chmod 600 /etc/a/secret"), "{own}");
    }

    #[test]
    fn group_or_world_readable_modes_are_exposed() {
        assert!(!readable_by_others(0o600));
        assert!(!readable_by_others(0o400));
        assert!(readable_by_others(0o640));
        assert!(readable_by_others(0o604));
        assert!(readable_by_others(0o644));
    }
}
