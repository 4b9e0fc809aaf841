//! `redeliver`: the dead-letter file's logs sent again, each with the item bytes and the
//! `webhook-id` of the request that was refused, through the run's send path; then the file is
//! rewritten atomically with only what is left: records refused again (with their new answer),
//! records not attempted, other tenants' records, and lines that are not records, kept as they
//! were. Each record the receiver accepts is marked at once (see
//! [`dead_letter::mark_accepted`]): a redelivery killed before the rewrite sends none of them
//! again. The file may be shared (two tenants, a run appending meanwhile): it is read and
//! rewritten under its lock, and the rewrite applies this redelivery's outcomes to the file as
//! it is then, so a record appended while the logs were being sent is kept.

use crate::config::Config;
use crate::exit;
use crate::outcome::Outcome;
use crate::report::metrics;
use crate::report::{self, end_line, traffic};
use crate::say::{self, Counters, count};
use crate::settings::{DEAD_LETTER_FILE, METRICS_FILE};
use crate::signal;
use crate::sink::dead_letter::{self, Key, dead_letter_record, is_mine};
use crate::sink::encode::Matched;
use crate::sink::sign;
use crate::sink::webhook::{Direct, Sent};
use crate::state::{self, State};
use crate::stop::{Part, Stop, receive};
use anyhow::Result;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;

/// A record of the dead-letter file.
#[derive(Debug)]
struct Record {
    /// Its tenant (`None` in records older versions wrote) and log id.
    key: Key,
    webhook_id: String,
    /// The payload item, byte for byte as it was sent.
    item: Vec<u8>,
    /// This tenant's to send (see [`is_mine`]); other tenants' records are kept untouched.
    mine: bool,
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
    tenant: Option<String>,
    webhook_id: Option<String>,
    #[serde(borrow)]
    item: &'a RawValue,
}

/// A record of a log that was never sent (it could not be masked): it has no item.
#[derive(Deserialize, Debug)]
struct Unsent {
    log_id: String,
    refusal: String,
}

/// The file's records, and its lines that are not records to send (cut short by a crash, edited
/// by hand, or [`Unsent`]), kept as they are for a person: their numbers, and the unsent logs;
/// blank lines neither. A record without a `webhook_id` gets the one a run would have given its
/// request (`as_batch`: SEND_AS_BATCH). `me` is this tenant.
fn parse(text: &[u8], as_batch: bool, me: &str) -> (Vec<Record>, Vec<(usize, Option<Unsent>)>) {
    let (mut records, mut unreadable) = (Vec::new(), Vec::new());
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        match serde_json::from_slice::<Fields>(line) {
            _ if line.trim_ascii().is_empty() => {}
            Ok(f) => records.push(Record {
                webhook_id: f.webhook_id.unwrap_or_else(|| match as_batch {
                    true => sign::batch_id(std::iter::once(f.log_id.as_str())),
                    false => f.log_id.clone(),
                }),
                item: f.item.get().as_bytes().to_vec(),
                key: Key {
                    tenant: f.tenant,
                    log_id: f.log_id,
                },
                mine: false,
                fate: Fate::NotAttempted,
            }),
            Err(_) => unreadable.push((n + 1, serde_json::from_slice(line).ok())),
        }
    }
    let shared = (records.iter()).any(|r| r.key.tenant.as_deref().is_some_and(|t| t != me));
    for r in &mut records {
        r.mine = is_mine(r.key.tenant.as_deref(), me, shared);
    }
    (records, unreadable)
}

/// The file as it is now (`current`: runs may have appended since) without the records
/// `marked` or accepted now, with those refused again on their new line, every other line kept
/// (blank ones dropped). A record is found by its tenant and log id (once per tenant).
fn rewrite(current: &[u8], records: &[Record], marked: &HashSet<Key>) -> Vec<u8> {
    let mut refused = HashMap::new();
    let mut gone = marked.clone();
    for r in records {
        match &r.fate {
            Fate::Accepted => gone.insert(r.key.clone()),
            Fate::Refused(new) => refused.insert(&r.key, new.trim_ascii_end()).is_none(),
            Fate::NotAttempted => false,
        };
    }
    let mut out = Vec::new();
    for line in current
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
    {
        let line = match serde_json::from_slice::<Key>(line) {
            Ok(key) if gone.contains(&key) => continue,
            Ok(key) => refused.remove(&key).unwrap_or(line),
            Err(_) => line,
        };
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

/// One redelivery of DEAD_LETTER_FILE; its outcome: ok (0) none of this tenant's records is
/// left, dead-lettered (3) some are (or lines that are not records), failed (1), or
/// interrupted (128+N). METRICS_FILE's dead-letter gauge is updated after it.
pub fn redeliver(cfg: &Config, route: Option<&str>, dry_run: bool) -> Result<Outcome> {
    let route = cfg.route(route)?;
    let stop = Arc::new(Stop::new());
    let chan = channel();
    let signalled = chan.0.clone();
    let _watch = signal::watch(&stop, Arc::new(move |()| signalled.send(None).is_ok()));
    let Some(given) = route.dead_letter.as_deref() else {
        return Err(exit::settings(format!(
            "redeliver needs {}: the file the runs set refused logs aside in, e.g. /var/lib/auth0-mgmt-webhooks/dead-letter.jsonl",
            DEAD_LETTER_FILE.label()
        )));
    };
    // The run's lock keeps two redeliveries of one tenant apart. A dry run changes nothing,
    // so it needs none.
    let state_file = state::resolve(&cfg.state_file)?;
    let _lock = (!dry_run).then(|| state::lock(&state_file)).transpose()?;
    // A link is followed, so the rename replaces the file it points to, not the link.
    let path = state::resolve(given)?;
    let file = format!("{DEAD_LETTER_FILE} {}", path.display());
    match std::fs::metadata(&path) {
        Ok(m) if !m.is_file() => {
            return Err(exit::settings(format!(
                "{file}: {}, not a regular file; redeliver rewrites the file, so it must be one",
                crate::files::kind(&m)
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(exit::settings(format!(
                "{file}: no such file: nothing to redeliver (a run creates it when the webhook first refuses a log)"
            )));
        }
        // Any other trouble, reading it says.
        _ => {}
    }
    let me = cfg.tenant();
    let (text, marked) = locked(&path, !dry_run, |text, marked| Ok((text, marked)))?;
    let (mut records, unreadable) = parse(&text, route.webhook.send_as_batch, &me);
    records.retain(|r| !marked.contains(&r.key));
    for (number, unsent) in &unreadable {
        say::warn(match unsent {
            Some(Unsent { log_id, refusal }) => format!(
                "{file} line {number}: log {log_id} was never sent ({refusal}); it is kept for a person, who can fetch it from Auth0 by its id"
            ),
            None => {
                format!("{file} line {number} is not a dead-letter record; it is kept as it is")
            }
        });
    }
    let untagged = records.iter().filter(|r| r.key.tenant.is_none() && !r.mine);
    if let n @ 1.. = untagged.count() as u64 {
        say::warn(format_args!(
            "{file}: {} written by an older version name no tenant, and the file also holds other tenants' records, so they are kept, not sent; add \"tenant\":\"{me}\" to those of this tenant",
            count(n, "record", "records"),
        ));
    }
    let total = records.iter().filter(|r| r.mine).count() as u64;
    let (unreadable, others) = (unreadable.len() as u64, records.len() as u64 - total);
    let started = Instant::now();
    let logs = count(total, "dead-lettered log", "dead-lettered logs");
    let shown = path.display();

    if dry_run {
        // Each item that would be sent, one a line.
        let items = records.iter().filter(|r| r.mine);
        let items = items.flat_map(|r| r.item.iter().chain(b"\n"));
        say::out_bytes(&items.copied().collect::<Vec<u8>>())?;
        let notes = kept_notes(unreadable, others).map(|n| format!(", {n}"));
        let notes = notes.collect::<String>();
        let ok = Outcome::Ok { caught_up: true };
        let line = format!("dry run: would redeliver {logs} from {shown}{notes}, nothing sent");
        report::summary(line, ok);
        return Ok(ok);
    }

    stop.shorten(started + cfg.max_run_time);
    let http = crate::http::client(&route.http(&cfg.ca_cert))?;
    let counters = Arc::new(Counters::default());
    let (counted, stopped) = (Arc::clone(&counters), Arc::clone(&stop));
    let direct = Arc::new(Direct::new(&http, &route.webhook, counted, stopped));
    let mut error = send_all(&mut records, &direct, &chan, &stop, &counters, &me, &path);

    let changed = !marked.is_empty() || records.iter().any(|r| r.fate != Fate::NotAttempted);
    let delivered = Counters::get(&counters.delivered);
    let left = total + unreadable - delivered;
    if changed && let Err(e) = replace(&path, &records) {
        error = Some(format!(
            "{e:#}; the file was left as it was, and the next redeliver leaves out the logs the receiver accepted now"
        ));
    }

    let outcome = Outcome::decide(stop.cause(), error.is_some(), left > 0, true);
    if let Some(e) = &error {
        say::error(e);
    }
    let (requests, retries) = (&counters.requests, &counters.retries);
    let mut facts = traffic(Counters::get(requests), Counters::get(retries)).to_vec();
    let refused = Counters::get(&counters.dead_lettered);
    facts.extend((refused > 0).then(|| format!("{refused} refused again")));
    facts.extend(kept_notes(unreadable, others));
    let done = format!("redelivered {delivered} of {logs}");
    let tail = format!("{} left in {shown}", count(left, "line", "lines"));
    let line = end_line(outcome.status(), &done, &facts, started.elapsed(), &tail);
    report::summary(line, outcome);
    // The dead-letter gauge follows the file; the rest of the metrics are the last run's.
    if let Some(file) = cfg.monitor.metrics_file.as_deref() {
        let host = cfg.auth0.base_url.host_str().unwrap_or_default();
        let dead = cfg.dead_letters();
        match State::load(&state_file) {
            Ok(s) => metrics::write(Some(file), host, (&dead, &me), Some(&s), None),
            Err(e) => say::warn(format_args!("{METRICS_FILE} not updated: {e:#}")),
        }
    }
    Ok(outcome)
}

/// `then` given the file's bytes and the records an earlier redelivery killed before its
/// rewrite marked accepted, under the file's lock (if `lock`): a record being appended is whole.
fn locked<T>(
    path: &Path,
    lock: bool,
    then: impl FnOnce(Vec<u8>, HashSet<Key>) -> Result<T>,
) -> Result<T> {
    let named = &format!("{DEAD_LETTER_FILE} {}", path.display());
    let failed = |what: String| move |e| exit::settings(format!("{named}: {what} ({e})"));
    let beside = dead_letter::lock_path(path);
    let beside = format!("cannot lock {} beside it", beside.display());
    let _lock = (lock.then(|| dead_letter::lock(path)).transpose()).map_err(failed(beside))?;
    let text = std::fs::read(path).map_err(failed("cannot read it".into()))?;
    let marks = "cannot read the marks of accepted records beside it".to_string();
    then(text, dead_letter::accepted(path).map_err(failed(marks))?)
}

/// What the summary says was kept and not sent: lines that are not records, other tenants'
/// records.
fn kept_notes(unreadable: u64, others: u64) -> impl Iterator<Item = String> {
    let lines = count(unreadable, "unreadable line", "unreadable lines");
    let they = if unreadable == 1 { "it is" } else { "they are" };
    let kept = count(others, "other tenant's record", "other tenants' records");
    let others = (others > 0).then(|| format!("{kept} kept"));
    let unreadable = (unreadable > 0).then(|| format!("{lines} kept as {they}"));
    unreadable.into_iter().chain(others)
}

/// Sends the records in order, one request each, until the end, a failure (the endpoint, the
/// credentials, MAX_RUN_TIME) or a signal; the error that stopped it, if any.
fn send_all(
    records: &mut [Record],
    direct: &Arc<Direct>,
    (tell, told): &(Sender<Option<Sent>>, Receiver<Option<Sent>>),
    stop: &Stop,
    counters: &Counters,
    me: &str,
    path: &Path,
) -> Option<String> {
    for r in records.iter_mut().filter(|r| r.mine) {
        if stop.stopped(Part::Sending).is_some() {
            break;
        }
        let id = r.key.log_id.clone();
        let item = Matched {
            seq: Default::default(),
            log_id: id.clone(),
            json: r.item.clone(),
        };
        // The request on a thread of its own, so that a signal's grace can end the wait for
        // it. A panic is a failed request: the redelivery stops, saying so.
        let (direct, tell, webhook_id) = (Arc::clone(direct), tell.clone(), r.webhook_id.clone());
        std::thread::Builder::new()
            .name("redeliver".into())
            .spawn(move || {
                let send = || direct.send(&webhook_id, std::slice::from_ref(&item));
                let how = std::panic::catch_unwind(std::panic::AssertUnwindSafe(send));
                let _ = tell.send(Some(how.unwrap_or_else(|panic| {
                    let why = crate::stop::panicked(panic.as_ref());
                    Sent::Failed(format!("the redelivery thread panicked: {why}"))
                })));
            })
            .expect("starting the redelivery thread");
        // A signal (`Some(None)`) brings the end of its grace, where the wait ends: the record
        // given up then stays, not attempted, and the redelivery ends without an error (`?`).
        let sent = loop {
            if let Some(sent) = receive(told, stop.signal().and(stop.deadline()))? {
                break sent;
            }
        };
        match sent {
            Sent::Delivered { .. } => {
                say::verbose(format_args!("log {id} accepted"));
                Counters::add(&counters.delivered, 1);
                r.fate = Fate::Accepted;
                if let Err(e) = dead_letter::mark_accepted(path, &r.key) {
                    return Some(format!(
                        "redelivery stopped after log {id}: cannot mark it accepted beside the dead-letter file ({e}); the logs after it are kept"
                    ));
                }
            }
            Sent::Refused { status, detail } => {
                say::warn(format_args!(
                    "log {id} refused again ({detail}); kept in the dead-letter file"
                ));
                Counters::add(&counters.dead_lettered, 1);
                // Labelled with this tenant if it had none. Its item was read as JSON: this
                // cannot fail.
                let tenant = Some(r.key.tenant.as_deref().unwrap_or(me));
                let line = dead_letter_record(&id, tenant, &r.webhook_id, status, &detail, &r.item);
                r.fate = line.map_or(Fate::NotAttempted, Fate::Refused);
            }
            // After a signal, the signal is why.
            Sent::Failed(_) if stop.signal().is_some() => break,
            Sent::Failed(e) => {
                return Some(format!(
                    "redelivery stopped at log {id}: {e}; it and the logs after it are kept in the dead-letter file"
                ));
            }
        }
    }
    None
}

/// Rewrites the file under its lock with the outcomes applied to what it holds now, atomically
/// (a crash leaves the old file or the new one), mode 0600 as the run creates it.
fn replace(path: &Path, records: &[Record]) -> Result<()> {
    locked(path, true, |current, marked| {
        // Mode 0600: the logs can hold personal data.
        let text = rewrite(&current, records, &marked);
        crate::state::replace_file(path, &text, DEAD_LETTER_FILE.env, None)?;
        // Marks left behind would only remove again records of logs the receiver accepted.
        if let Err(e) = dead_letter::forget_accepted(path) {
            let p = path.display();
            say::warn(format_args!(
                "{DEAD_LETTER_FILE} {p}: cannot remove the marks of accepted records ({e})"
            ));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "https://a.example";

    fn record_line(log_id: &str, tenant: Option<&str>, item: &str) -> Vec<u8> {
        dead_letter_record(
            log_id,
            tenant,
            log_id,
            422,
            "webhook answered 422: no",
            item.as_bytes(),
        )
        .unwrap()
    }

    fn fate_of(records: &mut [Record], log_id: &str, fate: Fate) {
        for r in records {
            if r.key.log_id == log_id {
                r.fate = fate;
                return;
            }
        }
        panic!("no record {log_id}");
    }

    #[test]
    fn a_record_gives_back_its_item_byte_for_byte_and_its_webhook_id() {
        // Numbers and spacing a parse-and-print would change.
        let item = r#"{"log_id":"900a","n":12345678901234567890123,"x":1e3,"z":-0,"s":"a\nb"}"#;
        let line =
            dead_letter_record("900a", Some(ME), "batch_abc", 422, "no", item.as_bytes()).unwrap();
        let (records, unreadable) = parse(&line, true, ME);
        let ([r], []) = (records.as_slice(), unreadable.as_slice()) else {
            panic!("{records:?} {unreadable:?}")
        };
        assert_eq!(r.item, item.as_bytes());
        assert_eq!(r.webhook_id, "batch_abc");
        assert_eq!(r.key.log_id, "900a");
        assert!(r.mine);
    }

    #[test]
    fn a_record_without_webhook_id_gets_the_one_a_run_would_give() {
        let line = br#"{"log_id":"900a","item":{"log_id":"900a"}}"#;
        let id = |as_batch| parse(line, as_batch, ME).0[0].webhook_id.clone();
        assert_eq!(id(false), "900a");
        assert_eq!(id(true), sign::batch_id(["900a"].into_iter()));
    }

    #[test]
    fn a_record_is_mine_when_it_names_me_or_names_no_one_in_a_file_no_one_else_uses() {
        assert!(is_mine(Some(ME), ME, true));
        assert!(!is_mine(Some("https://b.example"), ME, false));
        assert!(is_mine(None, ME, false));
        assert!(!is_mine(None, ME, true));

        let mut text = record_line("1", None, "{}");
        text.extend(record_line("2", Some(ME), "{}"));
        let alone: Vec<bool> = parse(&text, false, ME).0.iter().map(|r| r.mine).collect();
        assert_eq!(alone, [true, true]);
        text.extend(record_line("3", Some("https://b.example"), "{}"));
        let shared: Vec<bool> = parse(&text, false, ME).0.iter().map(|r| r.mine).collect();
        assert_eq!(shared, [false, true, false]);
    }

    #[test]
    fn accepted_records_go_refused_ones_are_rewritten_and_the_rest_kept_verbatim() {
        let mut text = Vec::new();
        text.extend(record_line("1", Some(ME), r#"{"log_id":"1"}"#));
        text.extend(b"\n   \n");
        text.extend(record_line("2", Some(ME), r#"{"log_id":"2"}"#));
        text.extend(b"{\"log_id\":\"cut sh\n");
        let third = record_line("3", Some(ME), r#"{"log_id":"3"}"#);
        text.extend(&third);
        text.extend(b"not json at all");
        let (mut records, unreadable) = parse(&text, false, ME);
        assert_eq!(
            records.len() + unreadable.len(),
            5,
            "blank lines dropped: {records:?} {unreadable:?}"
        );
        let refused_again = dead_letter_record(
            "2",
            Some(ME),
            "2",
            400,
            "webhook answered 400: still",
            b"{}",
        )
        .unwrap();
        fate_of(&mut records, "1", Fate::Accepted);
        fate_of(&mut records, "2", Fate::Refused(refused_again.clone()));
        let out = rewrite(&text, &records, &HashSet::new());
        let mut expected = refused_again;
        expected.extend(b"{\"log_id\":\"cut sh\n");
        expected.extend(&third);
        expected.extend(b"not json at all\n");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        let numbers: Vec<usize> = unreadable.iter().map(|(number, _)| *number).collect();
        assert_eq!(numbers, [5, 7]);
    }

    #[test]
    fn records_appended_or_rewritten_by_others_meanwhile_are_kept() {
        let mine1 = record_line("1", Some(ME), "{}");
        let mine2 = record_line("2", Some(ME), "{}");
        let theirs = record_line("1", Some("https://b.example"), "{}");
        let read: Vec<u8> = [mine1.clone(), theirs.clone(), mine2.clone()].concat();
        let (mut records, _) = parse(&read, false, ME);
        fate_of(&mut records, "1", Fate::Accepted);
        fate_of(&mut records, "2", Fate::Accepted);
        // Meanwhile the other tenant's redelivery removed its record, and a run appended one.
        let appended = record_line("9", Some("https://b.example"), "{}");
        let now: Vec<u8> = [mine1, mine2, appended.clone()].concat();
        assert_eq!(rewrite(&now, &records, &HashSet::new()), appended);
    }

    #[test]
    fn records_marked_accepted_are_removed_whoever_sent_them() {
        let untagged = record_line("1", None, "{}");
        let mine = record_line("2", Some(ME), "{}");
        let theirs = record_line("2", Some("https://b.example"), "{}");
        let now: Vec<u8> = [untagged, mine, theirs.clone(), b"{\"cut".to_vec()].concat();
        let key = |tenant: Option<&str>, id: &str| Key {
            tenant: tenant.map(str::to_string),
            log_id: id.into(),
        };
        let marked = [key(None, "1"), key(Some(ME), "2")].into();
        let kept = [theirs, b"{\"cut\n".to_vec()].concat();
        assert_eq!(rewrite(&now, &[], &marked), kept);
    }

    #[test]
    fn the_file_is_replaced_whole_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dead.jsonl");
        let line = record_line("1", Some(ME), "{}");
        std::fs::write(&p, &line).unwrap();
        let (mut records, _) = parse(&line, false, ME);
        fate_of(&mut records, "1", Fate::Accepted);
        replace(&p, &records).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n == "dead.jsonl" || n == "dead.jsonl.lock"),
            "{names:?}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
