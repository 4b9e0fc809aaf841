//! The dead-letter file: the logs the receiver refuses, one JSON line each (`log_id`, `tenant`,
//! `webhook_id`, `refused_at`, `status`, `refusal`, and the `item` exactly as sent), each synced
//! before the checkpoint may pass its log; `redeliver` reads it back.
//!
//! Runs of several tenants and `redeliver` (which renames a rewrite over the file) may share it:
//! every access holds `<file>.lock`, and an append opens the file by its path under it, never
//! into a file a rename discarded. A log is in the file once per tenant. `redeliver` marks what
//! the receiver accepts in `<file>.accepted`, so a redelivery killed mid-way sends none again.

use crate::exit;
use crate::settings::DEAD_LETTER_FILE;
use crate::sink::encode::Matched;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// The dead-letter file as one run, of one tenant, appends to it.
pub struct DeadLetter {
    path: PathBuf,
    tenant: String,
    /// The tenant's log ids in the file, read on the first refusal.
    held: Mutex<Option<HashSet<String>>>,
}

/// Which record: its tenant (none in old records) and log id, as a mark of `redeliver` names it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub log_id: String,
}

/// The lock beside the file: `<file>.lock`.
pub use crate::state::lock_path;

/// Takes the file's lock, waiting for it, until the returned file is dropped.
pub fn lock(path: &Path) -> std::io::Result<File> {
    let file = open_kept(&lock_path(path))?;
    file.lock().map(|()| file)
}

/// Opens for appending, a new file mode 0600 (personal data) and owned as its folder is.
fn open_kept(path: &Path) -> std::io::Result<File> {
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true).read(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let existed = path.exists();
    let file = open.open(path)?;
    if !existed {
        crate::owner::keep_owner(&file, None, crate::owner::folder(path))?;
    }
    Ok(file)
}

/// Appends `line` on a line of its own, synced; a failed write is cut back, leaving no torn line.
fn append_line(mut file: &File, line: &[u8]) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    let mut last = [b'\n'];
    if len > 0 {
        std::os::unix::fs::FileExt::read_exact_at(file, &mut last, len - 1)?;
    }
    let line = [&b"\n"[..usize::from(last[0] != b'\n')], line].concat();
    let result = file.write_all(&line).and_then(|_| file.sync_data());
    if result.is_err() {
        let _ = file.set_len(len).and_then(|_| file.sync_data());
    }
    result
}

impl DeadLetter {
    /// Checks before anything is sent that the file (a link followed) and its lock can be
    /// opened, and tightens the file to mode 0600.
    pub fn open(path: &Path, tenant: &str) -> Result<DeadLetter> {
        let path = crate::state::resolve(path)?;
        let named =
            |what: String| exit::settings(format!("{DEAD_LETTER_FILE} {}: {what}", path.display()));
        if let Some(meta) = std::fs::metadata(&path).ok().filter(|m| !m.is_file()) {
            return Err(named(format!(
                "{}, not a regular file; it must be one (redeliver rewrites it, and it is locked beside it)",
                crate::files::kind(&meta)
            )));
        }
        let _lock = lock(&path).map_err(|e| {
            named(format!(
                "cannot open or lock {} beside it ({e}); its folder must be writable by the user running the tool",
                lock_path(&path).display()
            ))
        })?;
        let why = |e| format!("cannot open it or give it its folder's owner ({e})");
        let file = open_kept(&path).map_err(|e: std::io::Error| named(why(e)))?;
        (file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600)))
            .map_err(|e| named(format!("cannot restrict it to mode 0600 ({e})")))?;
        Ok(DeadLetter {
            path,
            tenant: tenant.to_string(),
            held: Mutex::default(),
        })
    }

    /// Appends one record under the lock, synced, unless the tenant's record of it is there.
    pub fn append(
        &self,
        item: &Matched,
        webhook_id: &str,
        status: u16,
        detail: &str,
    ) -> std::io::Result<()> {
        let (id, tenant) = (&item.log_id, Some(self.tenant.as_str()));
        let record = dead_letter_record(id, tenant, webhook_id, status, detail, &item.json)?;
        self.append_once(id, &record)
    }

    /// Sets aside a log PII_FIELDS cannot mask: `why` as its refusal and no `item`.
    pub fn append_unsendable(&self, log_id: &str, why: &str) -> std::io::Result<()> {
        let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let record = serde_json::json!(
            {"log_id": log_id, "tenant": self.tenant, "refused_at": now, "refusal": why}
        );
        self.append_once(log_id, format!("{record}\n").as_bytes())
    }

    fn append_once(&self, log_id: &str, record: &[u8]) -> std::io::Result<()> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let _lock = lock(&self.path)?;
        let file = open_kept(&self.path)?;
        let held = match &mut *held {
            Some(held) => held,
            None => held.insert(self.read_held(&file)?),
        };
        if !held.contains(log_id) {
            append_line(&file, record)?;
            held.insert(log_id.to_string());
        }
        Ok(())
    }

    fn read_held(&self, file: &File) -> std::io::Result<HashSet<String>> {
        let lines = std::io::BufReader::new(file).split(b'\n');
        let ids = lines.map(|line| match serde_json::from_slice::<Key>(&line?) {
            Ok(key) if key.tenant.as_ref() == Some(&self.tenant) => Ok(Some(key.log_id)),
            _ => Ok(None),
        });
        ids.filter_map(Result::transpose).collect()
    }
}

/// The file where `redeliver` marks the records the receiver accepted: `<file>.accepted`.
fn marks_path(path: &Path) -> PathBuf {
    lock_path(path).with_extension("accepted")
}

/// Marks a record the receiver accepted, under the lock, synced: no redelivery sends it again.
pub fn mark_accepted(path: &Path, key: &Key) -> std::io::Result<()> {
    let _lock = lock(path)?;
    let line = serde_json::to_string(key)? + "\n";
    append_line(&open_kept(&marks_path(path))?, line.as_bytes())
}

/// The records marked accepted and not yet removed from the file; a torn line marks nothing.
pub fn accepted(path: &Path) -> std::io::Result<HashSet<Key>> {
    let text = match std::fs::read(marks_path(path)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        read => read?,
    };
    let keys = text.split(|b| *b == b'\n').map(serde_json::from_slice);
    Ok(keys.filter_map(Result::ok).collect())
}

/// Forgets the marks, under the lock, once the file was rewritten without their records.
pub fn forget_accepted(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(marks_path(path)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What waits in the dead-letter file for tenant `me` (see [`is_mine`]), unreadable lines too;
/// `None` for what is not a regular file. Read a line at a time: the file may be large.
pub fn pending(path: &Path, me: &str) -> std::io::Result<Option<u64>> {
    let open = |meta: std::fs::Metadata| meta.is_file().then(|| crate::files::open_no_block(path));
    let opened = std::fs::metadata(path).and_then(|meta| open(meta).transpose());
    let file = match opened {
        // The path may have been swapped for something else since it was looked at.
        Ok(Some(file)) if file.metadata()?.is_file() => file,
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(0)),
        Err(e) => return Err(e),
    };
    #[derive(serde::Deserialize)]
    struct Head {
        tenant: Option<String>,
    }
    // The unreadable lines count with this tenant's records.
    let (mut mine, mut untagged, mut shared) = (0, 0, false);
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line?;
        match serde_json::from_slice::<Head>(&line) {
            _ if line.trim_ascii().is_empty() => {}
            Ok(Head { tenant: Some(t) }) if t != me => shared = true,
            Ok(Head { tenant: None }) => untagged += 1,
            Ok(_) | Err(_) => mine += 1,
        }
    }
    // Records naming no tenant are this one's only in a file no other tenant uses (`is_mine`).
    Ok(Some(if shared { mine } else { mine + untagged }))
}

/// Whether a record is tenant `me`'s to redeliver: one naming no tenant (an old one) only while
/// no record names another, so no tenant's logs go to another tenant's webhook.
pub fn is_mine(tenant: Option<&str>, me: &str, file_is_shared: bool) -> bool {
    tenant.map_or(!file_is_shared, |t| t == me)
}

/// One line of the dead-letter file, the `item` the raw JSON sent; fails when it is not JSON.
pub fn dead_letter_record(
    log_id: &str,
    tenant: Option<&str>,
    webhook_id: &str,
    status: u16,
    refusal: &str,
    item: &[u8],
) -> std::io::Result<Vec<u8>> {
    let item: &RawValue = serde_json::from_slice(item)?;
    let mut line = serde_json::to_vec(&Record {
        log_id,
        tenant,
        webhook_id,
        refused_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        status,
        refusal,
        item,
    })?;
    line.push(b'\n');
    Ok(line)
}

#[derive(Serialize)]
struct Record<'a> {
    log_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    webhook_id: &'a str,
    refused_at: String,
    status: u16,
    refusal: &'a str,
    item: &'a RawValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_json_line_holding_the_item_byte_for_byte() {
        let item = br#"{"log_id":"9","n":12345678901234567890123,"x":1e3,"s":"a\"}"}"#;
        let line =
            dead_letter_record("9", Some("t.example"), "w", 422, "said \"no\"}", item).unwrap();
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            (v["log_id"].as_str(), v["status"].as_u64()),
            (Some("9"), Some(422))
        );
        assert_eq!(v["tenant"], "t.example");
        assert_eq!(v["refusal"], "said \"no\"}");
        let text = String::from_utf8(line).unwrap();
        let raw = std::str::from_utf8(item).unwrap();
        assert!(text.ends_with(&format!(",\"item\":{raw}}}\n")), "{text}");
        assert!(dead_letter_record("9", None, "w", 422, "x", b"{cut").is_err());
        let untenanted = dead_letter_record("9", None, "w", 422, "x", b"{}").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&untenanted).unwrap();
        assert!(v.get("tenant").is_none(), "{v}");
    }

    #[test]
    fn pending_counts_this_tenants_records_and_the_unreadable_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dead.jsonl");
        let me = "https://a.example";
        assert_eq!(pending(&p, me).unwrap(), Some(0), "no file yet");
        std::fs::write(&p, "{\"a\":1}\n\n  \n{\"cut\":").unwrap();
        assert_eq!(
            pending(&p, me).unwrap(),
            Some(2),
            "a record naming no tenant, in a file no other tenant uses, and a torn line"
        );
        std::fs::write(
            &p,
            format!(
                "{{\"tenant\":\"{me}\"}}\n{{\"tenant\":\"https://b.example\"}}\n{{\"a\":1}}\n{{\"cut\":"
            ),
        )
        .unwrap();
        assert_eq!(
            pending(&p, me).unwrap(),
            Some(2),
            "in a shared file, another tenant's record and one naming none are not this one's"
        );
        assert_eq!(
            pending(dir.path(), me).unwrap(),
            None,
            "a folder is not counted"
        );
    }

    fn item(id: &str) -> Matched {
        Matched {
            seq: Default::default(),
            log_id: id.into(),
            json: format!(r#"{{"log_id":"{id}"}}"#).into_bytes(),
        }
    }

    #[test]
    fn an_append_after_the_file_was_replaced_lands_in_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dead.jsonl");
        let dl = DeadLetter::open(&p, "https://a.example").unwrap();
        dl.append(&item("1"), "1", 422, "no").unwrap();
        // What redeliver does: a new file renamed over the old one.
        crate::state::replace_file(&p, b"kept\n", "DEAD_LETTER_FILE", None).unwrap();
        dl.append(&item("2"), "2", 422, "no").unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "kept");
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["log_id"], "2");
        assert_eq!(v["tenant"], "https://a.example");
    }

    fn log_ids(p: &Path) -> Vec<(String, String)> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Key>(l).unwrap())
            .map(|k| (k.tenant.unwrap(), k.log_id))
            .collect()
    }

    #[test]
    fn a_log_is_set_aside_once_per_tenant_whoever_wrote_the_file_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dead.jsonl");
        let (a, b) = ("https://a.example", "https://b.example");
        let one = |t: &str, id: &str| (t.to_string(), id.to_string());
        let run_a = DeadLetter::open(&p, a).unwrap();
        run_a.append(&item("1"), "1", 422, "no").unwrap();
        run_a.append(&item("1"), "1", 422, "no").unwrap();
        DeadLetter::open(&p, b)
            .unwrap()
            .append(&item("1"), "1", 422, "no")
            .unwrap();
        // A killed run's next run sends log 1 again: the file has it already.
        let next_a = DeadLetter::open(&p, a).unwrap();
        next_a.append(&item("1"), "1", 500, "again").unwrap();
        assert_eq!(log_ids(&p), [one(a, "1"), one(b, "1")]);
        // What another tenant appended meanwhile is read too, and is not this tenant's.
        DeadLetter::open(&p, b)
            .unwrap()
            .append(&item("2"), "2", 422, "no")
            .unwrap();
        run_a.append(&item("2"), "2", 422, "no").unwrap();
        run_a.append(&item("2"), "2", 422, "no").unwrap();
        assert_eq!(log_ids(&p)[2..], [one(b, "2"), one(a, "2")]);
        // A's redelivery took log 1 out, the receiver having accepted it: the next run that
        // sends it and has it refused sets it aside again.
        let text = std::fs::read_to_string(&p).unwrap();
        let kept = text.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n";
        crate::state::replace_file(&p, kept.as_bytes(), "DEAD_LETTER_FILE", None).unwrap();
        let third_a = DeadLetter::open(&p, a).unwrap();
        third_a.append(&item("1"), "1", 422, "no").unwrap();
        third_a.append(&item("2"), "2", 422, "no").unwrap();
        assert_eq!(
            log_ids(&p),
            [one(b, "1"), one(b, "2"), one(a, "2"), one(a, "1")]
        );
    }

    #[test]
    fn marks_are_read_back_whole_until_they_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dead.jsonl");
        let me = "https://a.example";
        std::fs::write(p.with_extension("jsonl.accepted"), "{\"tenant\":\"cut").unwrap();
        let key = |id: &str| Key {
            tenant: Some(me.into()),
            log_id: id.into(),
        };
        mark_accepted(&p, &key("1")).unwrap();
        mark_accepted(&p, &key("3")).unwrap();
        assert_eq!(accepted(&p).unwrap(), [key("1"), key("3")].into());
        forget_accepted(&p).unwrap();
        forget_accepted(&p).unwrap();
        assert!(accepted(&p).unwrap().is_empty());
    }

    #[test]
    fn a_device_is_refused_naming_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let e = DeadLetter::open(dir.path(), "t").err().unwrap();
        assert_eq!(exit::code_for(&e), exit::USAGE);
        assert!(
            e.to_string().contains("a folder, not a regular file"),
            "{e}"
        );
    }
}
