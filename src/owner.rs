//! Who owns a file and who this process runs as: the owner a file keeps when root rewrites it,
//! the advice for a state file that belongs to another user, and for secret files other users
//! can read.

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
    rustix::process::geteuid().as_raw()
}

/// The name of `uid` in /etc/passwd (none where there is no such file).
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    name_in_passwd(&passwd, uid)
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

/// When `path` exists and belongs to another user than this process (not root), what to tell
/// the user: whose it is and the `chown` that fixes it (for `also` too, e.g. the lock file
/// beside it). Root can use any file, and its runs keep a file's owner: see [`judge`].
pub fn foreign(path: &Path, also: &[&Path]) -> Option<String> {
    match judge(path) {
        Verdict::NotMine { owner, me } => Some(advice(path, owner, me, also)),
        _ => None,
    }
}

fn advice(path: &Path, owner: u32, me: u32, also: &[&Path]) -> String {
    format!(
        "{} is owned by {}, but this runs as {} (a run started by hand as another user, with sudo?); give it back: sudo chown {} {}",
        path.display(),
        describe(owner),
        describe(me),
        chown_name(me),
        with_existing(path, also)
    )
}

/// `path` and those of `also` that exist, as a `chown` takes them.
fn with_existing(path: &Path, also: &[&Path]) -> String {
    let mut files = vec![path.display().to_string()];
    files.extend(
        also.iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string()),
    );
    files.join(" ")
}

/// Whose a file the tool rewrites is, against who runs it. Only a user's own files are safe to
/// rewrite: a file is replaced by a new one (temp file and rename), which belongs to whoever
/// wrote it, so a run by hand as root used to leave the state root's and break every scheduled
/// run after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The running user's own file (or root's, in root's folder).
    Fine,
    /// Another user's file, and this is not root: the run would fail on it or take it over.
    NotMine { owner: u32, me: u32 },
    /// Root on another user's file: root's runs write it back with that owner
    /// ([`owner_to_keep`]), but only a run as that user tries what the schedule does.
    RootOnOthers { owner: u32 },
    /// Root's file in another user's folder: what a run by hand as root left behind before
    /// runs kept owners. The schedule, as the folder's owner, cannot read it.
    LeftByRoot { folder_owner: u32 },
}

/// The decision behind [`Verdict`], from the file's owner, its folder's owner and the user
/// running.
pub fn verdict(file_owner: u32, folder_owner: u32, me: u32) -> Verdict {
    if me != 0 {
        return match file_owner == me {
            true => Verdict::Fine,
            false => Verdict::NotMine {
                owner: file_owner,
                me,
            },
        };
    }
    match (file_owner, folder_owner) {
        (0, 0) => Verdict::Fine,
        (0, folder_owner) => Verdict::LeftByRoot { folder_owner },
        (owner, _) => Verdict::RootOnOthers { owner },
    }
}

/// [`verdict`] for a file on disk; `Fine` when it does not exist.
#[cfg(unix)]
pub fn judge(path: &Path) -> Verdict {
    use std::os::unix::fs::MetadataExt;
    let Ok(file) = std::fs::metadata(path) else {
        return Verdict::Fine;
    };
    let folder = folder_of(path);
    let folder_owner = std::fs::metadata(folder).map_or(0, |m| m.uid());
    verdict(file.uid(), folder_owner, current_uid())
}

#[cfg(not(unix))]
pub fn judge(_path: &Path) -> Verdict {
    Verdict::Fine
}

/// What `check` says about a file that is not [`Verdict::Fine`]; `None` for one that is.
/// `also`: the files that go with it (the lock beside the state).
pub fn check_advice(path: &Path, also: &[&Path]) -> Option<(Verdict, String)> {
    let verdict = judge(path);
    let text = match verdict {
        Verdict::Fine => return None,
        Verdict::NotMine { owner, me } => advice(path, owner, me, also),
        Verdict::RootOnOthers { owner } => format!(
            "{} is owned by {}: runs as root write it back with that owner, but only a check as that user tries what its scheduled runs can do: sudo -u {} auth0-mgmt-webhooks check",
            path.display(),
            describe(owner),
            chown_name(owner)
        ),
        Verdict::LeftByRoot { folder_owner } => format!(
            "{} is owned by root, but its folder by {} (a run by hand as root?): if the schedule runs as {}, its runs fail on it; give it back: sudo chown {} {}",
            path.display(),
            describe(folder_owner),
            chown_name(folder_owner),
            chown_name(folder_owner),
            with_existing(path, also)
        ),
    };
    Some((verdict, text))
}

/// Owner and group (uid, gid) a file written by root should get: those of the file it
/// replaces, else, for a new file, those of its folder; `None` to leave it root's (another
/// user cannot give a file away, and root's own files and folders stay root's).
pub fn owner_to_keep(
    me: u32,
    replaced: Option<(u32, u32)>,
    folder: (u32, u32),
) -> Option<(u32, u32)> {
    if me != 0 {
        return None;
    }
    let want = replaced.unwrap_or(folder);
    (want.0 != 0).then_some(want)
}

/// Gives `file` (just created at `path`, not yet renamed over `replaced`) the owner the file it
/// replaces had, or its folder's, when this runs as root: a run by hand as root then leaves
/// the state, the lock and the dead-letter file usable by the service user.
#[cfg(unix)]
pub fn keep_owner(
    file: &std::fs::File,
    replaced: Option<&Path>,
    folder: &Path,
) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let ids = |m: std::fs::Metadata| (m.uid(), m.gid());
    let me = current_uid();
    if me != 0 {
        return Ok(());
    }
    let replaced = replaced.and_then(|p| std::fs::metadata(p).ok()).map(ids);
    let folder = std::fs::metadata(folder).map(ids)?;
    match owner_to_keep(me, replaced, folder) {
        Some((uid, gid)) => std::os::unix::fs::fchown(file, Some(uid), Some(gid)),
        None => Ok(()),
    }
}

#[cfg(not(unix))]
pub fn keep_owner(
    _file: &std::fs::File,
    _replaced: Option<&Path>,
    _folder: &Path,
) -> std::io::Result<()> {
    Ok(())
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
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
    fn root_keeps_the_owner_of_what_it_rewrites_and_others_are_told_whose_it_is() {
        let (svc, alice) = (998, 1000);
        assert_eq!(verdict(svc, svc, svc), Verdict::Fine);
        assert_eq!(verdict(0, 0, 0), Verdict::Fine);
        assert_eq!(verdict(0, svc, svc), Verdict::NotMine { owner: 0, me: svc });
        assert_eq!(
            verdict(svc, svc, alice),
            Verdict::NotMine {
                owner: svc,
                me: alice
            }
        );
        assert_eq!(verdict(svc, svc, 0), Verdict::RootOnOthers { owner: svc });
        assert_eq!(
            verdict(0, svc, 0),
            Verdict::LeftByRoot { folder_owner: svc }
        );

        assert_eq!(owner_to_keep(0, Some((svc, 5)), (0, 0)), Some((svc, 5)));
        assert_eq!(owner_to_keep(0, None, (svc, 7)), Some((svc, 7)));
        assert_eq!(owner_to_keep(0, Some((0, 0)), (svc, 7)), None);
        assert_eq!(owner_to_keep(0, None, (0, 0)), None);
        assert_eq!(owner_to_keep(alice, Some((svc, 5)), (svc, 5)), None);
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
