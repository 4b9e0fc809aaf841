//! Who owns a file and who this process runs as: the owner a file keeps when root rewrites it,
//! the advice for a state file that belongs to another user, and for secret files other users
//! can read.

use std::fmt::Display;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A user: `alice (uid 1000)` or `uid 1000`; with `{:#}`, as `chown` takes it.
struct User(u32);

impl Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        match (name_in_passwd(&passwd, self.0), f.alternate()) {
            (name, true) => write!(f, "{}", name.unwrap_or_else(|| self.0.to_string())),
            (Some(name), false) => write!(f, "{name} (uid {})", self.0),
            (None, false) => write!(f, "uid {}", self.0),
        }
    }
}

/// The user this process runs as (its effective uid).
fn me() -> u32 {
    rustix::process::geteuid().as_raw()
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

/// The folder `path` is in: `.` for a bare file name.
pub fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// When `path` is another user's (and this is not root): whose, and the `chown` that fixes it.
pub fn foreign(path: &Path, also: &[&Path]) -> Option<String> {
    check_advice(path, also).and_then(|(fatal, advice)| fatal.then_some(advice))
}

/// What `check` says of a file that is not its user's (`also`: those with it), and if fatal.
pub fn check_advice(path: &Path, also: &[&Path]) -> Option<(bool, String)> {
    let file = std::fs::metadata(path).ok()?;
    let folder = std::fs::metadata(folder(path)).map_or(0, |m| m.uid());
    let mut files = path.display().to_string();
    for f in also.iter().filter(|f| f.exists()) {
        files = format!("{files} {}", f.display());
    }
    let me = me();
    advice(&path.display(), &files, file.uid(), folder, me).map(|words| (me != 0, words))
}

/// Whose a file the tool rewrites is, against who runs it; `files`: `p` and those with it.
fn advice(p: &dyn Display, files: &str, owner: u32, folder: u32, me: u32) -> Option<String> {
    let (owner, me, folder) = (User(owner), User(me), User(folder));
    Some(match (me.0, owner.0, folder.0) {
        (0, 0, 0) => return None,
        (0, 0, _) => format!(
            "{p} is owned by root, but its folder by {folder} (a run by hand as root?): if the schedule runs as {folder:#}, its runs fail on it; give it back: sudo chown {folder:#} {files}"
        ),
        (0, _, _) => format!(
            "{p} is owned by {owner}: runs as root write it back with that owner, but only a check as that user tries what its scheduled runs can do: sudo -u {owner:#} auth0-mgmt-webhooks check"
        ),
        (m, o, _) if o != m => format!(
            "{p} is owned by {owner}, but this runs as {me} (a run started by hand as another user, with sudo?); give it back: sudo chown {me:#} {files}"
        ),
        _ => return None,
    })
}

/// (uid, gid) a file root writes should get: the replaced file's, else its folder's; or none.
fn owner_to_keep(me: u32, replaced: Option<(u32, u32)>, folder: (u32, u32)) -> Option<(u32, u32)> {
    let want = replaced.unwrap_or(folder);
    (me == 0 && want.0 != 0).then_some(want)
}

/// Gives a new `file` the owner of the one it replaces, or of its folder, when this is root:
/// a run by hand as root leaves the files usable by the service user.
pub fn keep_owner(file: &File, replaced: Option<&Path>, folder: &Path) -> std::io::Result<()> {
    let ids = |m: std::fs::Metadata| (m.uid(), m.gid());
    let replaced = replaced.and_then(|p| std::fs::metadata(p).ok()).map(ids);
    if let Some((uid, gid)) = owner_to_keep(me(), replaced, std::fs::metadata(folder).map(ids)?) {
        std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// A file this process may not read: whose it is, who runs, and the `chown`/`chmod` to fix it.
pub fn cannot_read(path: &Path) -> String {
    read_advice(path, std::fs::metadata(path).ok().map(|m| m.uid()), me())
}

/// `owner`: none when a folder on the way hides the file.
fn read_advice(path: &Path, owner: Option<u32>, me: u32) -> String {
    let (p, me) = (path.display(), User(me));
    match owner.map(User) {
        None => format!(
            "permission denied: a folder on the way to it is closed to {me}, the user running the tool"
        ),
        Some(owner) if owner.0 == me.0 => format!(
            "permission denied: it is owned by {me}, who runs the tool, but its mode does not let its owner read it; chmod 600 {p}"
        ),
        Some(owner) => format!(
            "permission denied: it is owned by {owner}, but the tool runs as {me}; give it to that user: sudo chown {me:#} {p} && sudo chmod 600 {p}"
        ),
    }
}

/// When a file holding secrets can be read by other users, the warning to show.
pub fn exposed(what: &str, path: &Path) -> Option<String> {
    // Group or others may read it.
    let mode = std::fs::metadata(path).ok()?.mode() & 0o777;
    let p = path.display();
    (mode & 0o044 != 0)
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
        let p = "/var/lib/x/state.json";
        let a = advice(&p, p, 0, 0, 4_000_000).unwrap();
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
        let said = |owner, folder, me| advice(&"f", "f l", owner, folder, me);
        assert_eq!(said(svc, svc, svc), None);
        assert_eq!(said(0, 0, 0), None);
        for (owner, me) in [(0, svc), (svc, alice)] {
            let a = said(owner, svc, me).unwrap();
            assert!(a.contains("but this runs as") && a.ends_with("f l"), "{a}");
        }
        let a = said(svc, svc, 0).unwrap();
        assert!(
            a.contains(" write it back with that owner") && a.contains("sudo -u "),
            "{a}"
        );
        let a = said(0, svc, 0).unwrap();
        assert!(
            a.contains("owned by root, but its folder by") && a.ends_with("f l"),
            "{a}"
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
        let a = read_advice(p, Some(0), 4_000_000);
        assert!(
            a.contains("owned by root (uid 0)") && a.contains("runs as uid 4000000"),
            "{a}"
        );
        assert!(
            a.ends_with("sudo chown 4000000 /etc/a/secret && sudo chmod 600 /etc/a/secret"),
            "{a}"
        );
        let own = read_advice(p, Some(4_000_000), 4_000_000);
        assert!(own.ends_with("chmod 600 /etc/a/secret"), "{own}");
        let hidden = read_advice(p, None, 4_000_000);
        assert!(
            hidden.contains("a folder on the way to it is closed to uid 4000000"),
            "{hidden}"
        );
    }

    #[test]
    fn group_or_world_readable_modes_are_exposed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "s").unwrap();
        for (mode, said) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true)] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(exposed("X_FILE", &f).is_some(), said, "{mode:o}");
        }
        let w = exposed("X_FILE", &f).unwrap();
        assert!(
            w.ends_with(&format!("(mode 604): chmod 600 {}", f.display())),
            "{w}"
        );
    }
}
