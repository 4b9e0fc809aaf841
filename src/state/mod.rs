//! The state file (checkpoint, start-from, cached token, run history): read strictly, written
//! atomically (temp file, fsync, rename, fsync of the folder), guarded by a lock file beside it.

pub mod checkpoint;
pub mod history;
pub mod ledger;

use crate::exit::Failure;
use crate::files::Unreadable;
use crate::outcome::{Outcome, Status};
use crate::owner::{self, folder};
use crate::secret::Secret;
use crate::settings::{START_FROM, STATE_FILE};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const HISTORY_LEN: usize = 100;

/// What to do with a state file that cannot be used.
fn afresh() -> String {
    format!(
        "it was left untouched. Fix it, or move it aside: the next run then starts afresh, from {START_FROM} if set (a log id such as the checkpoint in `history` or the file, a date, or an age like 1d), else from the oldest log Auth0 keeps"
    )
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// The id of the last log fully handled; the next run starts after it. `null`: first run.
    pub checkpoint: Option<String>,
    /// The windows past the checkpoint a stopped run read part of, and how far: the next run
    /// reads only what is left of each. None in an older file, or once caught up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<ledger::SavedWindow>,
    /// The START_FROM last applied, so a START_FROM left in the settings is applied once.
    pub start_from: Option<String>,
    /// The tenant this state belongs to; a state file is never used for another tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<CachedToken>,
    #[serde(default)]
    pub history: VecDeque<RunRecord>,
    /// The UTC day (YYYY-MM-DD) of the last daily Slack report sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_daily_report: Option<String>,
    /// What every run so far added up to: the metrics file's `_total` counters.
    #[serde(default)]
    pub totals: Totals,
    /// Where each route other than `default` is (`default`'s place is the fields above, so a
    /// state file from before routes is `default`'s).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, Place>,
    /// The trouble Slack was last told of and not yet of its end; `None` while runs go well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trouble: Option<Trouble>,
}

/// Where one route is in the log stream: its checkpoint, its windows past it, and the
/// START_FROM last applied to it.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Place {
    pub checkpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<ledger::SavedWindow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_from: Option<String>,
}

/// The route that the settings outside any `[[route]]` table make.
pub const DEFAULT_ROUTE: &str = "default";

/// Runs that keep ending the same way but ok: since when, how many, and when Slack last heard
/// of it, so that it hears of a change and not of every run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trouble {
    /// The runs' status (`failed`, `dead-lettered`, `interrupted`).
    pub status: Status,
    /// `started_at` of the first run of it.
    pub since: String,
    pub runs: u64,
    /// When the last message about it went out (RFC 3339).
    pub told_at: String,
}

/// Counts summed over every run this state has seen (Prometheus `_total` counters), and the end
/// of the last success, which the history may no longer hold after a long outage.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    pub logs_fetched: u64,
    pub logs_delivered: u64,
    pub logs_dead_lettered: u64,
    /// Runs by their status (`ok`, `dead-lettered`, `failed`, `interrupted`).
    pub runs: std::collections::BTreeMap<Status, u64>,
    /// `finished_at` of the last run that ended with exit 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CachedToken {
    pub access_token: Secret,
    /// Unix seconds.
    pub expires_at: u64,
    pub client_id: String,
}

/// One run, as `history` shows it and Slack's daily report sums it.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub started_at: String,
    pub finished_at: String,
    /// `status`, `caught_up` and `exit_code`; old records with only a `status` still load.
    #[serde(flatten)]
    pub outcome: Outcome,
    pub logs_fetched: u64,
    pub logs_matched: u64,
    pub logs_delivered: u64,
    #[serde(default)]
    pub logs_dead_lettered: u64,
    pub requests: u64,
    pub retries: u64,
    pub checkpoint: Option<String>,
    pub error: Option<String>,
    pub warning: Option<String>,
    /// `date` of the newest log the checkpoint moved past in this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_log_date: Option<String>,
    /// Each route's end, when the config file has `[[route]]` tables; the fields above add
    /// them up (the checkpoint is the oldest, the outcome the worst).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteRecord>,
}

/// How one route's part of a run ended.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteRecord {
    pub route: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub logs_matched: u64,
    pub logs_delivered: u64,
    pub logs_dead_lettered: u64,
    pub checkpoint: Option<String>,
    pub error: Option<String>,
}

impl State {
    /// A missing file is a first run. Anything unreadable is an error naming the file, and the
    /// file is left as it is for a person to look at.
    pub fn load(path: &Path) -> Result<State> {
        // Only a regular file is opened, so a FIFO cannot block the run.
        let reason = match crate::files::read_capped(path, STATE_CAP) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(state) => match state.unplaceable() {
                    None => return Ok(state),
                    Some(why) => format!("it holds {why}; {}", afresh()),
                },
                Err(e) => format!("not a valid state file ({e}); {}", afresh()),
            },
            Err(Unreadable::Io(std::io::ErrorKind::NotFound, _)) => return Ok(State::default()),
            Err(Unreadable::NotAFile(kind)) => format!(
                "{kind}, not a regular file; {STATE_FILE} must name a file (or a path where one can be created)"
            ),
            Err(Unreadable::TooLarge(size)) => format!(
                "{} is far more than a state file holds; is it the right file?",
                crate::files::size_words(size)
            ),
            Err(Unreadable::Io(_, e)) => {
                let advice = owner::foreign(path, &[&lock_path(path)]);
                let advice = advice.map(|a| format!("; {a}")).unwrap_or_default();
                format!("cannot read it: {e}{advice}")
            }
        };
        let path = path.to_path_buf();
        Err(Failure::BadState { path, reason }.into())
    }

    /// Why an id the state holds cannot be read from (a checkpoint's, or a saved window's):
    /// Auth0 would page from it in an order the tool cannot follow.
    fn unplaceable(&self) -> Option<String> {
        let places = self.places();
        let windows = places.iter().flat_map(|(_, p)| &p.windows);
        let windows = windows.flat_map(|w| [Some(&w.after), w.end.as_ref(), Some(&w.reached)]);
        let checkpoints = places.iter().map(|(_, p)| p.checkpoint.as_ref());
        let mut ids = checkpoints.chain(windows).flatten();
        ids.find_map(|id| crate::logid::placeable(id).err())
    }

    /// Where `route` is; a route the state has not seen yet has no checkpoint.
    pub fn place(&self, route: &str) -> Place {
        match route {
            DEFAULT_ROUTE => Place {
                checkpoint: self.checkpoint.clone(),
                windows: self.windows.clone(),
                start_from: self.start_from.clone(),
            },
            _ => self.routes.get(route).cloned().unwrap_or_default(),
        }
    }

    pub fn set_place(&mut self, route: &str, place: Place) {
        match route {
            DEFAULT_ROUTE => {
                self.checkpoint = place.checkpoint;
                self.windows = place.windows;
                self.start_from = place.start_from;
            }
            _ => drop(self.routes.insert(route.to_string(), place)),
        }
    }

    /// Every route the state has a place for: `default` when it has a checkpoint, then the rest.
    pub fn places(&self) -> Vec<(String, Place)> {
        let default = (self.checkpoint.is_some() || !self.windows.is_empty())
            .then(|| (DEFAULT_ROUTE.to_string(), self.place(DEFAULT_ROUTE)));
        let rest = self.routes.iter().map(|(n, p)| (n.clone(), p.clone()));
        default.into_iter().chain(rest).collect()
    }

    /// Replaces the file atomically: a crash at any moment leaves the old or the new state.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = folder(path);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating folder {}", dir.display()))?;
        let json = serde_json::to_vec_pretty(self).expect("state serializes");
        // Mode 0600: the state holds a bearer token.
        replace_file(path, &json, "state file", None)
    }

    /// Refuses (for `run` and `check` alike) a state recorded for another tenant: its checkpoint
    /// and token mean nothing there. A state that records no tenant yet is refused by no one.
    pub fn check_tenant(&self, tenant: &str, path: &Path) -> Result<(), Failure> {
        let (other, path) = (self.tenant.as_deref(), path.to_path_buf());
        other.filter(|other| *other != tenant).map_or(Ok(()), |other| {
            let reason = format!(
                "it belongs to tenant {other}, not {tenant}: give each tenant its own {STATE_FILE}"
            );
            Err(Failure::BadState { path, reason })
        })
    }

    pub fn record(&mut self, run: RunRecord) {
        let t = &mut self.totals;
        t.logs_fetched += run.logs_fetched;
        t.logs_delivered += run.logs_delivered;
        t.logs_dead_lettered += run.logs_dead_lettered;
        *t.runs.entry(run.outcome.status()).or_default() += 1;
        if run.outcome.is_success() {
            t.last_success_at = Some(run.finished_at.clone());
        }
        self.history.push_back(run);
        let over = self.history.len().saturating_sub(HISTORY_LEN);
        self.history.drain(..over);
    }
}

/// A state file with a hundred runs of history is tens of KiB: past this, it is not one.
const STATE_CAP: u64 = 16 * 1024 * 1024;

/// The state file's real path: a symbolic link is followed, so the lock and the atomic
/// replace act on the file it points to, whichever path a run was given.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(path);
        }
        let target = std::fs::read_link(&path)
            .with_context(|| format!("reading the link {}", path.display()))?;
        path = folder(&path).join(target);
    }
    anyhow::bail!(
        "state file {}: too many levels of symbolic links",
        path.display()
    )
}

/// Replaces `path` with `content` atomically (temp file beside it, mode 0600 or `mode`, fsync,
/// rename, fsync of the folder): a crash leaves the old file or the new one, never a mix.
pub fn replace_file(path: &Path, content: &[u8], what: &str, mode: Option<u32>) -> Result<()> {
    replace(path, content, mode).with_context(|| format!("saving {what} {}", path.display()))
}

fn replace(path: &Path, content: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = folder(path);
    // The temp name does not end in .prom or .json: collectors and people never read it.
    let mut tmp = tempfile::Builder::new()
        .prefix(".auth0-mgmt-webhooks-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let shown = tmp.path().display().to_string();
    tmp.write_all(content)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {shown}"))?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {shown}"))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    owner::keep_owner(tmp.as_file(), Some(path), dir)
        .with_context(|| format!("giving {shown} the owner of the file it replaces"))?;
    let renamed = tmp.persist(path).map_err(|e| e.error);
    renamed.context("renaming the temporary file over it")?;
    let synced = File::open(dir).and_then(|d| d.sync_all());
    synced.with_context(|| format!("syncing folder {}", dir.display()))
}

pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    state.with_file_name(name)
}

/// Refuses (exit 2, with the `chown` that fixes it) a run that is not root on a state or lock
/// file of another user: it would fail halfway, or take the file from the schedule's user.
pub fn refuse_foreign(state: &Path) -> Result<(), Failure> {
    let lock = lock_path(state);
    let advice = owner::foreign(state, &[&lock]).or_else(|| owner::foreign(&lock, &[state]));
    let path = state.to_path_buf();
    advice.map_or(Ok(()), |reason| Err(Failure::BadState { path, reason }))
}

/// Locks `STATE.lock`, not the state file: the state file's inode changes on every save. Held
/// for the whole run: dropping the file releases the lock (so does the process dying).
pub fn lock(state: &Path) -> Result<File> {
    let (path, dir) = (lock_path(state), folder(state));
    let (shown, state_shown) = (path.display().to_string(), state.display());
    std::fs::create_dir_all(dir).with_context(|| format!("creating folder {}", dir.display()))?;
    let mut open = OpenOptions::new();
    open.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let existed = path.exists();
    let file = open.open(&path).with_context(|| {
        let advice = owner::foreign(&path, &[state]).or_else(|| owner::foreign(dir, &[]));
        let advice = advice.map(|a| format!("; {a}")).unwrap_or_default();
        format!(
            "opening lock file {shown} beside {STATE_FILE} {state_shown} (its folder must be writable by the user running the tool; `check` tries this){advice}"
        )
    })?;
    if !existed {
        owner::keep_owner(&file, None, dir)
            .with_context(|| format!("giving {shown} the owner of its folder"))?;
    }
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Failure::Locked { path }.into()),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {shown}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit;

    #[test]
    fn missing_file_is_a_first_run_and_save_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.json");
        let mut s = State::load(&p).unwrap();
        assert_eq!(s, State::default());
        s.checkpoint = Some("900".into());
        s.save(&p).unwrap();
        assert_eq!(State::load(&p).unwrap(), s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn corrupt_file_is_a_usage_error_and_is_not_touched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        for bad in ["{not json", "[]", r#"{"checkpoint": 5}"#] {
            std::fs::write(&p, bad).unwrap();
            let e = State::load(&p).unwrap_err();
            assert_eq!(exit::code_for(&e), exit::USAGE);
            assert!(e.to_string().contains("state.json"), "{e}");
            assert_eq!(std::fs::read_to_string(&p).unwrap(), bad);
        }
    }

    #[test]
    fn a_state_of_another_tenant_is_refused_and_one_without_a_tenant_is_not() {
        let p = Path::new("/var/lib/x/state.json");
        let mut s = State::default();
        assert!(s.check_tenant("https://a.auth0.com", p).is_ok());
        s.tenant = Some("https://a.auth0.com".into());
        assert!(s.check_tenant("https://a.auth0.com", p).is_ok());
        let e: anyhow::Error = s.check_tenant("https://b.auth0.com", p).unwrap_err().into();
        assert_eq!(exit::code_for(&e), exit::USAGE);
        assert_eq!(
            e.to_string(),
            "state file /var/lib/x/state.json: it belongs to tenant https://a.auth0.com, not https://b.auth0.com: give each tenant its own STATE_FILE"
        );
    }

    /// A state file as earlier versions wrote it, statuses as words: read and written again,
    /// it is the same file.
    #[test]
    fn an_old_state_file_reads_and_writes_the_same_json() {
        let old = r#"{
  "checkpoint": "900",
  "start_from": null,
  "history": [
    {
      "started_at": "2026-11-26T10:00:00.000Z",
      "finished_at": "2026-11-26T10:00:02.000Z",
      "status": "dead-lettered",
      "caught_up": true,
      "exit_code": 3,
      "logs_fetched": 4,
      "logs_matched": 3,
      "logs_delivered": 2,
      "logs_dead_lettered": 1,
      "requests": 2,
      "retries": 0,
      "checkpoint": "900",
      "error": null,
      "warning": null
    }
  ],
  "totals": {
    "logs_fetched": 40,
    "logs_delivered": 30,
    "logs_dead_lettered": 1,
    "runs": {
      "dead-lettered": 1,
      "failed": 2,
      "interrupted": 1,
      "ok": 5
    },
    "last_success_at": "2026-11-26T09:55:02.000Z"
  },
  "trouble": {
    "status": "dead-lettered",
    "since": "2026-11-26T10:00:00.000Z",
    "runs": 1,
    "told_at": "2026-11-26T10:00:02.000Z"
  }
}"#;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, old).unwrap();
        let state = State::load(&p).unwrap();
        assert_eq!(state.totals.runs[&Status::Failed], 2);
        assert_eq!(state.trouble.as_ref().unwrap().status, Status::DeadLettered);
        state.save(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), old);
    }

    #[test]
    fn history_keeps_the_newest_hundred() {
        let mut s = State::default();
        for i in 0..150 {
            s.record(RunRecord {
                logs_fetched: i,
                ..Default::default()
            });
        }
        assert_eq!(s.history.len(), HISTORY_LEN);
        assert_eq!(s.history.front().unwrap().logs_fetched, 50);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_resolves_to_its_target_so_both_paths_share_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real/state.json");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real/state.json", &link).unwrap();
        assert_eq!(resolve(&link).unwrap(), dir.path().join("real/state.json"));
        let _held = lock(&resolve(&real).unwrap()).unwrap();
        let e = lock(&resolve(&link).unwrap()).err().unwrap();
        assert_eq!(exit::code_for(&e), exit::LOCKED);
    }

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let first = lock(&p).unwrap();
        let e = lock(&p).err().unwrap();
        assert_eq!(exit::code_for(&e), exit::LOCKED);
        drop(first);
        lock(&p).unwrap();
    }
}
