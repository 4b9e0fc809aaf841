//! `redeliver`: the dead-letter file's logs sent again, each with the item bytes and the
//! `webhook-id` of the request that was refused, through the run's send path; then the file is
//! rewritten atomically with only what is left: records refused again (with their new answer),
//! records not attempted, and lines that are not records, kept as they were.

use crate::config::Config;
use crate::exit;
use crate::outcome::Outcome;
use crate::report::metrics::{self, Metrics};
use crate::report::{self, Counters, count, end_line, traffic};
use crate::signal;
use crate::sink::dead_letter::dead_letter_record;
use crate::sink::encode::Matched;
use crate::sink::pace::Deadline;
use crate::sink::sign;
use crate::sink::webhook::{Direct, Sent};
use crate::state::{self, State};
use anyhow::Result;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A line of the dead-letter file.
#[derive(Debug)]
enum Entry {
    Record(Record),
    /// Not a record (a line a crash cut short, a hand edit): kept as it is, for a person.
    Unreadable {
        number: usize,
        line: Vec<u8>,
    },
}

#[derive(Debug)]
struct Record {
    /// The line as read, without its newline: what is written back when it is not attempted.
    line: Vec<u8>,
    log_id: String,
    webhook_id: String,
    /// The payload item, byte for byte as it was sent.
    item: Vec<u8>,
    fate: Fate,
}

#[derive(Debug, PartialEq)]
enum Fate {
    NotAttempted,
    Accepted,
    /// Refused again: the record's new line (new status, refusal and time).
    Refused(Vec<u8>),
}

/// The fields redelivery needs; the others are rewritten when the log is refused again.
#[derive(Deserialize)]
struct Fields<'a> {
    log_id: String,
    #[serde(default)]
    webhook_id: Option<String>,
    #[serde(borrow)]
    item: &'a RawValue,
}

/// The file's lines; blank lines are dropped. `as_batch` gives a record without a
/// `webhook_id` the one a run would have given its request (SEND_AS_BATCH).
fn parse(text: &[u8], as_batch: bool) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let entry = match serde_json::from_slice::<Fields>(line) {
            Ok(f) => Entry::Record(Record {
                line: line.to_vec(),
                webhook_id: f.webhook_id.unwrap_or_else(|| match as_batch {
                    true => sign::batch_id(std::iter::once(f.log_id.as_str())),
                    false => f.log_id.clone(),
                }),
                item: f.item.get().as_bytes().to_vec(),
                log_id: f.log_id,
                fate: Fate::NotAttempted,
            }),
            Err(_) => Entry::Unreadable {
                number: n + 1,
                line: line.to_vec(),
            },
        };
        entries.push(entry);
    }
    entries
}

/// What the file holds after redelivery: every line but the accepted records, in order, each
/// ending with a newline.
fn remaining(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let line = match entry {
            Entry::Record(r) => match &r.fate {
                Fate::Accepted => continue,
                Fate::Refused(new) => new.strip_suffix(b"\n").unwrap_or(new),
                Fate::NotAttempted => &r.line,
            },
            Entry::Unreadable { line, .. } => line,
        };
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

fn records(entries: &[Entry]) -> impl Iterator<Item = &Record> {
    entries.iter().filter_map(|e| match e {
        Entry::Record(r) => Some(r),
        Entry::Unreadable { .. } => None,
    })
}

/// One redelivery of DEAD_LETTER_FILE; its outcome: ok (exit 0) the file ends empty,
/// dead-lettered (3) lines are left in it, failed (1) it stopped on a failure, interrupted
/// (128+N) by a signal. METRICS_FILE's dead-letter gauge is updated after it.
pub fn redeliver(cfg: &Config, dry_run: bool) -> Result<Outcome> {
    let Some(given) = cfg.dead_letter.as_deref() else {
        return Err(exit::settings(
            "redeliver needs DEAD_LETTER_FILE (--dead-letter): the file the runs set refused logs aside in, e.g. /var/lib/auth0-mgmt-webhooks/dead-letter.jsonl",
        ));
    };
    // The run's lock: a run appending to the file while it is rewritten would lose its record.
    // A dry run changes nothing, so it needs none.
    let state_file = state::resolve(&cfg.state_file)?;
    let _lock = match dry_run {
        true => None,
        false => Some(state::lock(&state_file)?),
    };
    // A link is followed, so the rename replaces the file it points to, not the link.
    let path = state::resolve(given)?;
    let text = read(&path)?;
    let mut entries = parse(&text, cfg.webhook.send_as_batch);
    for entry in &entries {
        if let Entry::Unreadable { number, .. } = entry {
            report::warn(format_args!(
                "DEAD_LETTER_FILE {} line {number} is not a dead-letter record; it is kept as it is",
                path.display()
            ));
        }
    }
    let total = records(&entries).count() as u64;
    let unreadable = entries.len() as u64 - total;
    let started = Instant::now();

    if dry_run {
        print_items(&entries)?;
        report::summary(
            format!(
                "dry run: would redeliver {} from {}{}, nothing sent",
                count(total, "dead-lettered log", "dead-lettered logs"),
                path.display(),
                kept_note(unreadable)
                    .map(|n| format!(", {n}"))
                    .unwrap_or_default(),
            ),
            Outcome::Ok { caught_up: true },
        );
        return Ok(Outcome::Ok { caught_up: true });
    }

    signal::install();
    let deadline = Arc::new(Deadline::new(started + cfg.max_run_time));
    let http = crate::http::client(cfg)?;
    let counters = Arc::new(Counters::default());
    let direct = Direct::new(
        &http,
        &cfg.webhook,
        Arc::clone(&counters),
        Arc::clone(&deadline),
    );
    let mut error = send_all(&mut entries, &direct, &deadline, &counters);

    let changed = records(&entries).any(|r| r.fate != Fate::NotAttempted);
    let mut left = entries.len() as u64 - Counters::get(&counters.delivered);
    if changed && let Err(e) = replace(&path, &remaining(&entries)) {
        left = entries.len() as u64;
        error = Some(format!(
            "{e:#}; the file was left as it was, so the logs the receiver accepted now are sent again by the next redeliver"
        ));
    }

    let outcome = Outcome::decide(signal::received(), error.is_some(), left > 0, true);
    if let Some(e) = &error {
        report::error(e);
    }
    let refused = Counters::get(&counters.dead_lettered);
    let mut facts = traffic(
        Counters::get(&counters.requests),
        Counters::get(&counters.retries),
    )
    .to_vec();
    if refused > 0 {
        facts.push(format!("{refused} refused again"));
    }
    facts.extend(kept_note(unreadable));
    report::summary(
        end_line(
            outcome.status(),
            &format!(
                "redelivered {} of {}",
                Counters::get(&counters.delivered),
                count(total, "dead-lettered log", "dead-lettered logs")
            ),
            &facts,
            started.elapsed(),
            &format!(
                "{} left in {}",
                count(left, "line", "lines"),
                path.display()
            ),
        ),
        outcome,
    );
    // The dead-letter gauge follows the file; the rest of the metrics are the last run's.
    if cfg.monitor.metrics_file.is_some() {
        match State::load(&state_file) {
            Ok(state) => metrics::write(
                cfg,
                &Metrics::of_state(&state, metrics::dead_letter_pending(cfg), SystemTime::now()),
            ),
            Err(e) => report::warn(format_args!("METRICS_FILE not updated: {e:#}")),
        }
    }
    Ok(outcome)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    let named =
        |what: String| exit::settings(format!("DEAD_LETTER_FILE {}: {what}", path.display()));
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(named(
                "not a regular file; redeliver rewrites the file, so it must be one".into(),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(named(
                "no such file: nothing to redeliver (a run creates it when the webhook first refuses a log)"
                    .into(),
            ));
        }
        Err(e) => return Err(named(format!("cannot read it ({e})"))),
    }
    std::fs::read(path).map_err(|e| named(format!("cannot read it ({e})")))
}

fn kept_note(unreadable: u64) -> Option<String> {
    (unreadable > 0).then(|| {
        format!(
            "{} kept as {}",
            count(unreadable, "unreadable line", "unreadable lines"),
            if unreadable == 1 { "it is" } else { "they are" }
        )
    })
}

/// `--dry-run`: each item that would be sent, one a line on stdout.
fn print_items(entries: &[Entry]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let written = records(entries)
        .try_for_each(|r| out.write_all(&r.item).and_then(|_| out.write_all(b"\n")))
        .and_then(|_| out.flush());
    match written {
        // The reader left (`| head`): nothing more is wanted.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Sends the records in the file's order, one request each, until the end, a failure (an
/// answer about the endpoint or the credentials, MAX_RUN_TIME) or a signal. The error that
/// stopped it, if any.
fn send_all(
    entries: &mut [Entry],
    direct: &Direct,
    deadline: &Deadline,
    counters: &Counters,
) -> Option<String> {
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| watch_signals(direct, deadline, &finished));
        let mut error = None;
        for entry in entries.iter_mut() {
            let Entry::Record(r) = entry else { continue };
            if signal::received().is_some() {
                break;
            }
            let item = Matched {
                seq: 0,
                log_id: r.log_id.clone(),
                json: r.item.clone(),
            };
            match direct.send(&r.webhook_id, std::slice::from_ref(&item)) {
                Sent::Delivered { .. } => {
                    report::verbose(format_args!("log {} accepted", r.log_id));
                    Counters::add(&counters.delivered, 1);
                    r.fate = Fate::Accepted;
                }
                Sent::Refused { status, detail } => {
                    report::warn(format_args!(
                        "log {} refused again ({detail}); kept in the dead-letter file",
                        r.log_id
                    ));
                    Counters::add(&counters.dead_lettered, 1);
                    // The item was read from the file as JSON: its record cannot fail.
                    if let Ok(line) =
                        dead_letter_record(&r.log_id, &r.webhook_id, status, &detail, &r.item)
                    {
                        r.fate = Fate::Refused(line);
                    }
                }
                Sent::Failed(e) => {
                    error = Some(format!(
                        "redelivery stopped at log {}: {e}; it and the logs after it are kept in the dead-letter file",
                        r.log_id
                    ));
                    break;
                }
            }
        }
        finished.store(true, Ordering::Relaxed);
        error
    })
}

/// After a signal, the request in flight gets the run's grace, then gives up.
fn watch_signals(direct: &Direct, deadline: &Deadline, finished: &AtomicBool) {
    let mut grace = signal::Grace::default();
    while !finished.load(Ordering::Relaxed) {
        if grace.over(|end| deadline.shorten(end)) {
            direct.stop();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Replaces the file atomically (temp file beside it, fsync, rename, fsync of the folder),
/// mode 0600 as the run creates it: a crash leaves the old file or the new one.
fn replace(path: &Path, content: &[u8]) -> Result<()> {
    // Mode 0600: the logs can hold personal data.
    crate::state::replace_file(path, content, "DEAD_LETTER_FILE", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_line(log_id: &str, webhook_id: &str, item: &str) -> Vec<u8> {
        dead_letter_record(
            log_id,
            webhook_id,
            422,
            "webhook answered 422: no",
            item.as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_record_gives_back_its_item_byte_for_byte_and_its_webhook_id() {
        // Numbers and spacing a parse-and-print would change.
        let item = r#"{"log_id":"900a","n":12345678901234567890123,"x":1e3,"z":-0,"s":"a\nb"}"#;
        let line = record_line("900a", "batch_abc", item);
        let entries = parse(&line, true);
        let [Entry::Record(r)] = entries.as_slice() else {
            panic!("{entries:?}")
        };
        assert_eq!(r.item, item.as_bytes());
        assert_eq!(r.webhook_id, "batch_abc");
        assert_eq!(r.log_id, "900a");
    }

    #[test]
    fn a_record_without_webhook_id_gets_the_one_a_run_would_give() {
        let line = br#"{"log_id":"900a","item":{"log_id":"900a"}}"#;
        let id = |as_batch| match &parse(line, as_batch)[0] {
            Entry::Record(r) => r.webhook_id.clone(),
            e => panic!("{e:?}"),
        };
        assert_eq!(id(false), "900a");
        assert_eq!(id(true), sign::batch_id(["900a"].into_iter()));
    }

    #[test]
    fn accepted_records_go_refused_ones_are_rewritten_and_the_rest_kept_verbatim() {
        let mut text = Vec::new();
        text.extend(record_line("1", "1", r#"{"log_id":"1"}"#));
        text.extend(b"\n   \n");
        text.extend(record_line("2", "2", r#"{"log_id":"2"}"#));
        text.extend(b"{\"log_id\":\"cut sh\n");
        text.extend(record_line("3", "3", r#"{"log_id":"3"}"#));
        text.extend(b"not json at all");
        let mut entries = parse(&text, false);
        assert_eq!(entries.len(), 5, "blank lines dropped: {entries:?}");
        let third = match &entries[3] {
            Entry::Record(r) => r.line.clone(),
            e => panic!("{e:?}"),
        };
        let refused_again =
            dead_letter_record("2", "2", 400, "webhook answered 400: still", b"{}").unwrap();
        for (entry, fate) in entries
            .iter_mut()
            .zip([Fate::Accepted, Fate::Refused(refused_again.clone())])
        {
            let Entry::Record(r) = entry else { panic!() };
            r.fate = fate;
        }
        let out = remaining(&entries);
        let mut expected = refused_again;
        expected.extend(b"{\"log_id\":\"cut sh\n");
        expected.extend(&third);
        expected.extend(b"\nnot json at all\n");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        let unreadable: Vec<usize> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Unreadable { number, .. } => Some(*number),
                _ => None,
            })
            .collect();
        assert_eq!(unreadable, [5, 7]);
    }

    #[test]
    fn the_file_is_replaced_whole_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dead.jsonl");
        std::fs::write(&p, "old\n").unwrap();
        replace(&p, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
