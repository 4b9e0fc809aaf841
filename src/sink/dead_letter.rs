//! The dead-letter file: where logs the receiver refuses are set aside, one whole JSON line
//! each (`log_id`, `webhook_id`, `refused_at`, `status`, `refusal`, and the `item` exactly as
//! it was sent), each synced before the checkpoint may pass its log. `redeliver` reads it back.

use crate::exit;
use crate::sink::encode::Matched;
use anyhow::Result;
use serde::Serialize;
use serde_json::value::RawValue;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::SystemTime;

/// The dead-letter file: one whole JSON line a refused log, synced before the checkpoint may
/// pass it.
pub struct DeadLetter {
    file: File,
    /// The file does not end with a newline (a crash or a full disk cut a line short): the next
    /// record starts on a line of its own.
    needs_newline: bool,
}

impl DeadLetter {
    /// Appends, mode 0600 (logs can hold personal data), and tightened if it was wider.
    pub fn open(path: &Path) -> Result<DeadLetter> {
        let cannot = |what: &str, e: std::io::Error| {
            exit::settings(format!(
                "DEAD_LETTER_FILE {}: cannot {what} it ({e})",
                path.display()
            ))
        };
        let mut open = std::fs::OpenOptions::new();
        open.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut file = open.open(path).map_err(|e| cannot("open", e))?;
        let meta = file.metadata().map_err(|e| cannot("read", e))?;
        // Only a regular file is tightened (never a device such as /dev/stdout).
        #[cfg(unix)]
        if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| cannot("restrict to mode 0600", e))?;
        }
        let len = meta.len();
        let mut last = [b'\n'];
        if meta.is_file() && len > 0 {
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(|e| cannot("read", e))?;
        }
        Ok(DeadLetter {
            file,
            needs_newline: last[0] != b'\n',
        })
    }

    pub fn append(
        &mut self,
        item: &Matched,
        webhook_id: &str,
        status: u16,
        detail: &str,
    ) -> std::io::Result<()> {
        let mut line = Vec::new();
        if self.needs_newline {
            line.push(b'\n');
        }
        line.extend(dead_letter_record(
            &item.log_id,
            webhook_id,
            status,
            detail,
            &item.json,
        )?);
        // One write, then synced: the record is whole on disk before the checkpoint passes it.
        let result = self
            .file
            .write_all(&line)
            .and_then(|_| self.file.sync_data());
        self.needs_newline = result.is_err();
        result
    }
}

/// The lines waiting in the dead-letter file (blank lines aside): what `redeliver` would
/// send, or keep for a person. A missing file holds none; what is not a regular file (a
/// device such as /dev/null) is not counted. Read in chunks: the file may be large.
pub fn pending(path: &Path) -> std::io::Result<Option<u64>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(0)),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let (mut lines, mut in_line) = (0, false);
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for b in &buf[..n] {
            match b {
                b'\n' => {
                    lines += u64::from(in_line);
                    in_line = false;
                }
                b if !b.is_ascii_whitespace() => in_line = true,
                _ => {}
            }
        }
    }
    Ok(Some(lines + u64::from(in_line)))
}

/// One line of the dead-letter file, newline included: `log_id`, `webhook_id`, `refused_at`
/// (now), `status`, `refusal`, and the `item` as raw JSON, exactly as it was serialized for
/// sending, so a redelivery sends the same bytes. Fails only when `item` is not JSON.
pub fn dead_letter_record(
    log_id: &str,
    webhook_id: &str,
    status: u16,
    refusal: &str,
    item: &[u8],
) -> std::io::Result<Vec<u8>> {
    let item: &RawValue = serde_json::from_slice(item)?;
    let mut line = serde_json::to_vec(&Record {
        log_id,
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
        let line = dead_letter_record("9", "w", 422, "said \"no\"}", item).unwrap();
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            (v["log_id"].as_str(), v["status"].as_u64()),
            (Some("9"), Some(422))
        );
        assert_eq!(v["refusal"], "said \"no\"}");
        let text = String::from_utf8(line).unwrap();
        let raw = std::str::from_utf8(item).unwrap();
        assert!(text.ends_with(&format!(",\"item\":{raw}}}\n")), "{text}");
        assert!(dead_letter_record("9", "w", 422, "x", b"{cut").is_err());
    }

    #[test]
    fn pending_counts_the_lines_that_are_not_blank() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dead.jsonl");
        assert_eq!(pending(&p).unwrap(), Some(0), "no file yet");
        std::fs::write(&p, "{\"a\":1}\n\n  \n{\"cut\":").unwrap();
        assert_eq!(pending(&p).unwrap(), Some(2));
        assert_eq!(
            pending(dir.path()).unwrap(),
            None,
            "a folder is not counted"
        );
    }
}
