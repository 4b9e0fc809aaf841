//! Who owns a file and who this process runs as: the owner a file keeps when root rewrites it,
//! the advice for a state file that belongs to another user, and for secret files other users
//! can read.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A user as a person reads it: `alice (uid 1000)`, or `uid 1000` when it has no name.
fn describe(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// The name a `chown` takes: the user's name, or the number.
fn chown_name(uid: u32) -> String {
    user_name(uid).unwrap_or_else(|| uid.to_string())
}

/// The user this process runs as (its effective uid).
fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn user_name(uid: u32) -> Option<String> {
    name_in_passwd(&std::fs::read_to_string("/etc/passwd").ok()?, uid)
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

/// Whose a file the tool rewrites is, against who runs it. Only a user's own files are safe to
/// rewrite: a file is replaced by a new one (temp file and rename), which belongs to whoever
/// wrote it, so a run by hand as root used to leave the state root's and break every scheduled
/// run after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The running user's own file (or root's, in root's folder).
    Fine,
    /// Another user's file, and this is not root: the run would fail on it or take it over.
    NotMine { owner: u32, me: u32 },
    /// Root on another user's file: root's runs keep its owner ([`owner_to_keep`]), but only
    /// a run as that user tries what the schedule does.
    RootOnOthers { owner: u32 },
    /// Root's file in another user's folder, left by a run by hand as root before runs kept
    /// owners: the schedule, as the folder's owner, cannot read it.
    LeftByRoot { folder_owner: u32 },
}

fn verdict(file_owner: u32, folder_owner: u32, me: u32) -> Verdict {
    match (me, file_owner, folder_owner) {
        (0, 0, 0) => Verdict::Fine,
        (0, 0, folder_owner) => Verdict::LeftByRoot { folder_owner },
        (0, owner, _) => Verdict::RootOnOthers { owner },
        (me, owner, _) if owner != me => Verdict::NotMine { owner, me },
        _ => Verdict::Fine,
    }
}

/// When `path` belongs to another user than this process (not root), whose it is and the
/// `chown` that fixes it (for `also` too, e.g. the lock file beside it).
pub fn foreign(path: &Path, also: &[&Path]) -> Option<String> {
    check_advice(path, also).and_then(|(fatal, advice)| fatal.then_some(advice))
}

/// What `check` says about a file that is not its user's own, and whether a run fails on it;
/// `None` for one that is fine or does not exist. `also`: the files that go with it.
pub fn check_advice(path: &Path, also: &[&Path]) -> Option<(bool, String)> {
    let file = std::fs::metadata(path).ok()?;
    let folder_owner = std::fs::metadata(crate::files::folder(path)).map_or(0, |m| m.uid());
    let verdict = verdict(file.uid(), folder_owner, me());
    Some((
        matches!(verdict, Verdict::NotMine { .. }),
        words(path, verdict, also)?,
    ))
}

fn words(path: &Path, verdict: Verdict, also: &[&Path]) -> Option<String> {
    let p = path.display();
    let existing = also.iter().filter(|f| f.exists());
    let files: Vec<_> = std::iter::once(&path)
        .chain(existing)
        .map(|f| f.display().to_string())
        .collect();
    let files = files.join(" ");
    Some(match verdict {
        Verdict::Fine => return None,
        Verdict::NotMine { owner, me } => format!(
            "{p} is owned by {}, but this runs as {} (a run started by hand as another user, with sudo?); give it back: sudo chown {} {files}",
            describe(owner),
            describe(me),
            chown_name(me),
        ),
        Verdict::RootOnOthers { owner } => format!(
            "{p} is owned by {}: runs as root write it back with that owner, but only a check as that user tries what its scheduled runs can do: sudo -u {} auth0-mgmt-webhooks check",
            describe(owner),
            chown_name(owner)
        ),
        Verdict::LeftByRoot { folder_owner: f } => format!(
            "{p} is owned by root, but its folder by {} (a run by hand as root?): if the schedule runs as {}, its runs fail on it; give it back: sudo chown {} {files}",
            describe(f),
            chown_name(f),
            chown_name(f),
        ),
    })
}

/// Owner and group (uid, gid) a file written by root should get: those of the file it
/// replaces, else, for a new file, those of its folder; `None` to leave it root's (another
/// user cannot give a file away, and root's own files and folders stay root's).
fn owner_to_keep(me: u32, replaced: Option<(u32, u32)>, folder: (u32, u32)) -> Option<(u32, u32)> {
    let want = replaced.unwrap_or(folder);
    (me == 0 && want.0 != 0).then_some(want)
}

/// Gives `file` (just created at `path`, not yet renamed over `replaced`) the owner the file it
/// replaces had, or its folder's, when this runs as root: a run by hand as root then leaves
/// the state, the lock and the dead-letter file usable by the service user.
pub fn keep_owner(
    file: &std::fs::File,
    replaced: Option<&Path>,
    folder: &Path,
) -> std::io::Result<()> {
    let ids = |m: std::fs::Metadata| (m.uid(), m.gid());
    if me() != 0 {
        return Ok(());
    }
    let replaced = replaced.and_then(|p| std::fs::metadata(p).ok()).map(ids);
    match owner_to_keep(0, replaced, std::fs::metadata(folder).map(ids)?) {
        Some((uid, gid)) => std::os::unix::fs::fchown(file, Some(uid), Some(gid)),
        None => Ok(()),
    }
}

/// A file this process may not read (a secret file, the config file): whose it is, who runs,
/// and the `chown`/`chmod` that lets the user running the tool read it.
pub fn cannot_read(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(meta) => read_advice(path, meta.uid(), me()),
        Err(_) => format!(
            "permission denied: a folder on the way to it is closed to {}, the user running the tool",
            describe(me())
        ),
    }
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
fn readable_by_others(mode: u32) -> bool {
    mode & 0o044 != 0
}

/// When a file holding secrets can be read by other users, the warning to show.
pub fn exposed(what: &str, path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.mode() & 0o777;
    let p = path.display();
    readable_by_others(mode)
        .then(|| format!("{what} {p} can be read by other users (mode {mode:03o}): chmod 600 {p}"))
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
        let not_mine = Verdict::NotMine {
            owner: 0,
            me: 4_000_000,
        };
        let a = words(Path::new("/var/lib/x/state.json"), not_mine, &[]).unwrap();
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
