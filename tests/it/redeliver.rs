//! `redeliver` and `check --send-test` as an operator and a receiver see them: logs a run set
//! aside reach the receiver again with the same webhook-id and body once it takes them, the
//! dead-letter file keeps exactly what is still refused (and lines it cannot read), a dry run
//! changes nothing, an answer about the credentials loses nothing, and the run's lock keeps a
//! redelivery and a run apart. `check --send-test` sends one marked, signed item.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::cli::{GUARD, Ran, Setup, sapi_logs, start};
use crate::support::receiver::{item_log_id, parse_items};
use crate::support::{Reply, Request, Server, log_id};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use standardwebhooks::Webhook;

const KEY: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// A receiver that refuses every request carrying one of the `refused` log ids (422, or the
/// answer set in `refusal`), answers everything with `all` when set, and records every
/// request with its status. While `hold` is set it keeps its answers back, and it keeps back
/// the answer to a request carrying a `stalled` log id while that id is there.
struct Picky {
    server: Server,
    state: Arc<Answers>,
}

#[derive(Default)]
struct Answers {
    refused: Mutex<BTreeSet<String>>,
    refusal: Mutex<(u16, String)>,
    all: Mutex<Option<u16>>,
    hold: AtomicBool,
    stalled: Mutex<BTreeSet<String>>,
    got: Mutex<Vec<(Request, u16)>>,
}

impl Answers {
    fn answer(&self, req: &Request) -> Reply {
        let ids = log_ids(&req.body);
        let reply = match *self.all.lock().unwrap() {
            Some(status) => Reply::text(status, "not for you"),
            None if ids
                .iter()
                .any(|id| self.refused.lock().unwrap().contains(id)) =>
            {
                let (status, text) = self.refusal.lock().unwrap().clone();
                Reply::text(status, &text)
            }
            None => Reply::status(200),
        };
        self.got
            .lock()
            .unwrap()
            .push((req.clone(), reply.status_code()));
        let stalled = || {
            ids.iter()
                .any(|id| self.stalled.lock().unwrap().contains(id))
        };
        while self.hold.load(Ordering::SeqCst) || stalled() {
            std::thread::sleep(Duration::from_millis(10));
        }
        reply
    }
}

impl std::ops::Deref for Picky {
    type Target = Answers;
    fn deref(&self) -> &Answers {
        &self.state
    }
}

impl Picky {
    fn refusing(ids: &[String]) -> Picky {
        let state = Arc::new(Answers {
            refused: Mutex::new(ids.iter().cloned().collect()),
            refusal: Mutex::new((422, "we do not take this log".into())),
            ..Default::default()
        });
        let answers = Arc::clone(&state);
        Picky {
            server: Server::start(move |req| answers.answer(req)),
            state,
        }
    }

    fn url(&self) -> String {
        format!("{}/hook", self.server.url())
    }

    fn fix(&self) {
        self.refused.lock().unwrap().clear();
        self.got.lock().unwrap().clear();
    }

    fn got(&self) -> Vec<(Request, u16)> {
        self.got.lock().unwrap().clone()
    }
}

fn log_ids(body: &[u8]) -> Vec<String> {
    parse_items(body).iter().filter_map(item_log_id).collect()
}

/// `sub` against the tenant and `hook`, with DEAD_LETTER_FILE `dead` and the signing key.
fn exec(s: &Setup, hook: &Picky, sub: &str, args: &[&str], dead: &Path) -> Ran {
    Ran::of(&mut command(s, hook, sub, args, dead))
}

fn command(
    s: &Setup,
    hook: &Picky,
    sub: &str,
    args: &[&str],
    dead: &Path,
) -> std::process::Command {
    let mut cmd = s.home.command(sub, &s.tenant.url(), &hook.url(), args);
    cmd.env("DEAD_LETTER_FILE", dead)
        .env("WEBHOOK_SECRET", KEY)
        .env("AUTHORIZATION", "Bearer receiver-token");
    cmd
}

fn verifies(req: &Request) -> bool {
    let mut headers = HeaderMap::new();
    for (k, v) in &req.headers {
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    Webhook::new(KEY)
        .unwrap()
        .verify(&req.body, &headers)
        .is_ok()
}

fn records(dead: &Path) -> Vec<Value> {
    std::fs::read_to_string(dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Logs 1 to 30, of which 7 and 19 are refused: a run sets those two aside and exits 3.
fn dead_lettered(args: &[&str]) -> (Setup, Picky, std::path::PathBuf) {
    let s = Setup::new(sapi_logs(1..=30));
    let hook = Picky::refusing(&[log_id(7), log_id(19)]);
    let dead = s.home.join("dead.jsonl");
    exec(&s, &hook, "run", args, &dead).assert_code(3);
    let lettered: Vec<Value> = records(&dead).iter().map(|r| r["log_id"].clone()).collect();
    assert_eq!(lettered, [log_id(7), log_id(19)]);
    (s, hook, dead)
}

const MODES: [&[&str]; 2] = [&[], &["--send-as-batch", "false", "--concurrency", "1"]];

#[test]
fn redeliver_sends_refused_logs_with_their_webhook_id_and_body_and_empties_the_file() {
    for args in MODES {
        let (s, hook, dead) = dead_lettered(args);
        // What the receiver was sent when it refused each log on its own.
        let refused: BTreeMap<String, (String, Vec<u8>)> = hook
            .got()
            .into_iter()
            .filter(|(req, status)| *status == 422 && log_ids(&req.body).len() == 1)
            .map(|(req, _)| {
                let id = req.header("webhook-id").unwrap().to_string();
                (log_ids(&req.body)[0].clone(), (id, req.body))
            })
            .collect();
        assert_eq!(refused.len(), 2, "{args:?}");
        hook.fix();

        let out = exec(&s, &hook, "redeliver", args, &dead);

        out.assert_code(0);
        let got = hook.got();
        assert_eq!(got.len(), 2, "{args:?}: one request a log");
        for (req, status) in &got {
            assert_eq!(*status, 200);
            let ids = log_ids(&req.body);
            let (id, body) = &refused[&ids[0]];
            assert_eq!(req.header("webhook-id"), Some(id.as_str()), "{args:?}");
            assert_eq!(
                &req.body, body,
                "{args:?}: the same bytes as the refused request"
            );
            assert!(verifies(req), "{args:?}: signed as a run signs");
            assert_eq!(req.header("authorization"), Some("Bearer receiver-token"));
        }
        assert_eq!(std::fs::read_to_string(&dead).unwrap(), "", "{args:?}");
        assert!(
            out.stderr
                .contains("ok: redelivered 2 of 2 dead-lettered logs"),
            "{}",
            out.stderr
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dead).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Nothing is left to send.
        exec(&s, &hook, "redeliver", args, &dead).assert_code(0);
        assert_eq!(hook.got().len(), 2);
    }
}

#[test]
fn a_log_refused_again_stays_in_the_file_with_its_new_answer_and_exit_3() {
    let (s, hook, dead) = dead_lettered(&[]);
    let before = records(&dead);
    hook.fix();
    hook.refused.lock().unwrap().insert(log_id(19));
    *hook.refusal.lock().unwrap() = (400, "field tenant_name still unknown".into());

    let out = exec(&s, &hook, "redeliver", &[], &dead);

    out.assert_code(3);
    let after = records(&dead);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["log_id"], log_id(19));
    assert_eq!(after[0]["status"], 400);
    let refusal = after[0]["refusal"].as_str().unwrap();
    assert!(
        refusal.contains("400") && refusal.contains("still unknown"),
        "{refusal}"
    );
    assert_eq!(after[0]["item"], before[1]["item"]);
    assert_eq!(after[0]["webhook_id"], before[1]["webhook_id"]);
    let accepted: Vec<String> = hook
        .got()
        .iter()
        .filter(|(_, status)| *status == 200)
        .flat_map(|(req, _)| log_ids(&req.body))
        .collect();
    assert_eq!(accepted, [log_id(7)]);
    assert!(out.stderr.contains("1 refused again"), "{}", out.stderr);
    assert!(out.stderr.contains("1 line left in"), "{}", out.stderr);
}

#[test]
fn lines_that_are_not_records_are_kept_verbatim_and_named() {
    let (s, hook, dead) = dead_lettered(&[]);
    let text = std::fs::read_to_string(&dead).unwrap();
    let first = text.lines().next().unwrap();
    // A hand edit, a whole record, and a line a crash cut short (no newline).
    std::fs::write(
        &dead,
        format!("not a record\n{first}\n{{\"log_id\":\"cut sh"),
    )
    .unwrap();
    hook.fix();

    let out = exec(&s, &hook, "redeliver", &[], &dead);

    out.assert_code(3);
    assert_eq!(
        std::fs::read_to_string(&dead).unwrap(),
        "not a record\n{\"log_id\":\"cut sh\n"
    );
    assert_eq!(hook.got().len(), 1);
    assert_eq!(log_ids(&hook.got()[0].0.body), [log_id(7)]);
    for line in ["line 1 ", "line 3 "] {
        assert!(out.stderr.contains(line), "{line}: {}", out.stderr);
    }
    assert!(
        out.stderr.contains("2 unreadable lines kept"),
        "{}",
        out.stderr
    );
}

#[test]
fn dry_run_prints_the_items_and_changes_nothing() {
    let (s, hook, dead) = dead_lettered(&[]);
    let before = std::fs::read(&dead).unwrap();
    hook.fix();

    let out = exec(&s, &hook, "redeliver", &["--dry-run"], &dead);

    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let text = String::from_utf8(before.clone()).unwrap();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    for (line, record) in lines.iter().zip(text.lines()) {
        assert!(
            record.ends_with(&format!(",\"item\":{line}}}")),
            "printed as stored: {line}"
        );
    }
    assert!(hook.got().is_empty(), "nothing sent");
    assert_eq!(std::fs::read(&dead).unwrap(), before);
}

#[test]
fn an_answer_about_the_credentials_stops_redelivery_and_loses_nothing() {
    let (s, hook, dead) = dead_lettered(&[]);
    let before = std::fs::read(&dead).unwrap();
    hook.fix();
    *hook.all.lock().unwrap() = Some(401);

    let out = exec(&s, &hook, "redeliver", &[], &dead);

    out.assert_code(1);
    assert!(out.stderr.contains("AUTHORIZATION"), "{}", out.stderr);
    assert_eq!(hook.got().len(), 1, "stopped at the first answer");
    assert_eq!(std::fs::read(&dead).unwrap(), before);
}

#[test]
fn redeliver_or_run_beside_a_redelivery_exits_75_and_it_finishes() {
    let (s, hook, dead) = dead_lettered(&[]);
    hook.fix();
    hook.hold.store(true, Ordering::SeqCst);
    let first = start(&mut command(&s, &hook, "redeliver", &[], &dead));
    let since = Instant::now();
    // The first request reached the receiver: the redelivery holds the lock.
    while hook.got().is_empty() {
        assert!(since.elapsed() < GUARD, "the redelivery sent nothing");
        std::thread::sleep(Duration::from_millis(20));
    }

    for sub in ["redeliver", "run"] {
        let out = exec(&s, &hook, sub, &[], &dead);
        out.assert_code(75);
        assert!(out.stderr.contains("lock"), "{sub}: {}", out.stderr);
    }
    assert_eq!(hook.got().len(), 1, "the second ones sent nothing");

    hook.hold.store(false, Ordering::SeqCst);
    Ran::wait(first).assert_code(0);
    assert_eq!(std::fs::read_to_string(&dead).unwrap(), "");
}

#[cfg(unix)]
#[test]
fn sigterm_while_the_receiver_hangs_ends_redelivery_at_the_end_of_the_grace_and_keeps_the_file() {
    let (s, hook, dead) = dead_lettered(&[]);
    let before = std::fs::read(&dead).unwrap();
    hook.fix();
    hook.hold.store(true, Ordering::SeqCst);
    // Neither the request's timeout nor MAX_RUN_TIME would end the wait: only the grace does.
    let args = ["--timeout", "10m", "--max-run-time", "1h"];
    // The grace the redelivery waits out: 2 s, not 10 s, in a debug build.
    let child = start(command(&s, &hook, "redeliver", &args, &dead).env("INJECT_GRACE", "2"));
    wait_for_a_request(&hook);
    // SAFETY: kill(2) with a pid this test started and a valid signal number.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = Ran::wait(child);
    hook.hold.store(false, Ordering::SeqCst);

    out.assert_code(143);
    assert_eq!(hook.got().len(), 1, "nothing was sent after the signal");
    assert_eq!(
        std::fs::read(&dead).unwrap(),
        before,
        "the log whose answer never came is kept"
    );
}

#[test]
fn redeliver_without_a_dead_letter_file_is_a_usage_error() {
    let s = Setup::new(sapi_logs(1..=3));
    let out = s.exec("redeliver", &[], &[]);
    out.assert_code(2);
    assert!(out.stderr.contains("DEAD_LETTER_FILE"), "{}", out.stderr);

    let missing = s.home.join("never-written.jsonl");
    let out = s.exec(
        "redeliver",
        &["--dead-letter", missing.to_str().unwrap()],
        &[],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("DEAD_LETTER_FILE") && out.stderr.contains("never-written.jsonl"),
        "{}",
        out.stderr
    );
    assert_eq!(s.receiver.request_count(), 0);
    assert!(!missing.exists());
}

// ---------------------------------------------------------------------------------------------
// check --send-test
// ---------------------------------------------------------------------------------------------

#[test]
fn check_send_test_posts_one_marked_signed_item() {
    let s = Setup::new(sapi_logs(1..=3));
    let hook = Picky::refusing(&[]);
    let dead = s.home.join("dead.jsonl");

    let out = exec(&s, &hook, "check", &["--send-test"], &dead);

    out.assert_code(0);
    let got = hook.got();
    assert_eq!(got.len(), 1);
    let req = &got[0].0;
    assert!(verifies(req), "signed as a run signs");
    assert_eq!(req.header("authorization"), Some("Bearer receiver-token"));
    let id = req.header("webhook-id").unwrap();
    assert!(id.starts_with("test_"), "{id}");
    let items = parse_items(&req.body);
    assert_eq!(items.len(), 1, "{}", req.body_text());
    assert_eq!(items[0]["log_id"], id);
    assert_eq!(items[0]["type"], "auth0_mgmt_webhooks_test");
    assert_eq!(items[0]["test"], true);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("test item"))
        .unwrap();
    assert!(line.starts_with("ok ") && line.contains("200"), "{line}");

    // Without the flag, check sends nothing.
    exec(&s, &hook, "check", &[], &dead).assert_code(0);
    assert_eq!(hook.got().len(), 1);
}

#[test]
fn check_send_test_reports_a_wrong_url_or_credentials_with_the_fix() {
    for (status, fix) in [(401, "AUTHORIZATION"), (404, "WEBHOOK_URL")] {
        let s = Setup::new(sapi_logs(1..=3));
        let hook = Picky::refusing(&[]);
        *hook.all.lock().unwrap() = Some(status);
        let dead = s.home.join("dead.jsonl");

        let out = exec(&s, &hook, "check", &["--send-test"], &dead);

        out.assert_code(1);
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains("test item"))
            .unwrap();
        assert!(line.starts_with("FAIL"), "{line}");
        assert!(line.contains(&status.to_string()), "{line}");
        assert!(line.contains("not for you"), "the answer's start: {line}");
        assert!(line.contains(fix), "{line}");
        assert!(!line.contains("receiver-token"), "{line}");
    }
}

// ---------------------------------------------------------------------------------------------
// One dead-letter file shared by two tenants (each with its own STATE_FILE)
// ---------------------------------------------------------------------------------------------

/// Waits until `hook` has been sent something: the command talking to it is past reading or
/// opening the dead-letter file.
fn wait_for_a_request(hook: &Picky) {
    let since = Instant::now();
    while hook.got().is_empty() {
        assert!(since.elapsed() < GUARD, "nothing was sent");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The log ids of the requests `hook` accepted.
fn accepted_ids(hook: &Picky) -> BTreeSet<String> {
    hook.got()
        .iter()
        .filter(|(_, status)| *status == 200)
        .flat_map(|(req, _)| log_ids(&req.body))
        .collect()
}

/// The log ids of the records in `dead` that name `tenant`.
fn lettered_for(dead: &Path, tenant: &str) -> BTreeSet<String> {
    records(dead)
        .iter()
        .filter(|r| r["tenant"] == tenant)
        .map(|r| r["log_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_tenants_sharing_a_dead_letter_file_lose_nothing_when_runs_and_redeliveries_race() {
    // Tenant A has set logs 7 and 19 aside; tenant B uses the same file with its own state.
    let (a, hook_a, dead) = dead_lettered(&[]);
    let b = Setup::new(sapi_logs(1..=30));
    let hook_b = Picky::refusing(&[log_id(5), log_id(12)]);
    let tenant_b = b.tenant.url();
    hook_a.fix();

    // 1. A's redelivery reads the file, and while its first request waits, B's run appends.
    hook_a.hold.store(true, Ordering::SeqCst);
    let redelivery = start(&mut command(&a, &hook_a, "redeliver", &[], &dead));
    wait_for_a_request(&hook_a);
    exec(&b, &hook_b, "run", &[], &dead).assert_code(3);
    hook_a.hold.store(false, Ordering::SeqCst);
    Ran::wait(redelivery).assert_code(0);
    assert_eq!(
        lettered_for(&dead, &tenant_b),
        [log_id(5), log_id(12)].into(),
        "B's records, appended while A redelivered, are still there"
    );

    // 2. B's run opens the file, A's redelivery replaces it, then B's run appends.
    a.tenant.push_logs(sapi_logs(31..=40));
    hook_a.refused.lock().unwrap().insert(log_id(33));
    exec(&a, &hook_a, "run", &[], &dead).assert_code(3);
    hook_a.fix();
    b.tenant.push_logs(sapi_logs(31..=40));
    hook_b.refused.lock().unwrap().insert(log_id(35));
    let mut delivered_b = accepted_ids(&hook_b);
    hook_b.got.lock().unwrap().clear();
    hook_b.hold.store(true, Ordering::SeqCst);
    let run = start(&mut command(&b, &hook_b, "run", &[], &dead));
    wait_for_a_request(&hook_b);
    exec(&a, &hook_a, "redeliver", &[], &dead).assert_code(0);
    hook_b.hold.store(false, Ordering::SeqCst);
    Ran::wait(run).assert_code(3);

    // Every log of B's behind its checkpoint reached B's receiver or is in the file as B's.
    assert_eq!(b.checkpoint(), Some(log_id(40)));
    let lettered = lettered_for(&dead, &tenant_b);
    assert_eq!(lettered, [log_id(5), log_id(12), log_id(35)].into());
    delivered_b.extend(accepted_ids(&hook_b));
    for n in 1..=40 {
        let id = log_id(n);
        assert!(
            delivered_b.contains(&id) || lettered.contains(&id),
            "log {n} is behind B's checkpoint but neither delivered nor in the file"
        );
    }
    hook_b.got.lock().unwrap().clear();
    // A's redeliveries sent only A's records; B's sends only B's, and keeps nothing of A's.
    assert_eq!(
        accepted_ids(&hook_a),
        [log_id(33)].into(),
        "A's second redelivery"
    );
    hook_b.fix();
    exec(&b, &hook_b, "redeliver", &[], &dead).assert_code(0);
    assert_eq!(accepted_ids(&hook_b), lettered);
    assert_eq!(std::fs::read_to_string(&dead).unwrap(), "");
}

#[test]
fn records_without_a_tenant_are_redelivered_only_from_a_file_no_other_tenant_uses() {
    let (s, hook, dead) = dead_lettered(&[]);
    // As an older version wrote them: no tenant.
    let untagged: String = records(&dead)
        .into_iter()
        .map(|mut r| {
            r.as_object_mut().unwrap().remove("tenant");
            format!("{r}\n")
        })
        .collect();
    std::fs::write(&dead, &untagged).unwrap();
    hook.fix();
    hook.refused.lock().unwrap().insert(log_id(19));
    let other = r#"{"log_id":"1","tenant":"https://other.example","webhook_id":"1","item":{}}"#;

    // Shared with another tenant: kept and named, nothing sent.
    std::fs::write(&dead, format!("{untagged}{other}\n")).unwrap();
    let out = exec(&s, &hook, "redeliver", &[], &dead);
    out.assert_code(0);
    assert!(hook.got().is_empty());
    assert!(out.stderr.contains("name no tenant"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(&dead).unwrap(),
        format!("{untagged}{other}\n")
    );

    // Used by this tenant alone: sent, and one refused again is now labelled with the tenant.
    std::fs::write(&dead, &untagged).unwrap();
    exec(&s, &hook, "redeliver", &[], &dead).assert_code(3);
    assert_eq!(accepted_ids(&hook), [log_id(7)].into());
    assert_eq!(lettered_for(&dead, &s.tenant.url()), [log_id(19)].into());
}

#[test]
fn check_and_the_pending_gauge_count_only_this_tenants_records_in_a_shared_file() {
    let (s, hook, dead) = dead_lettered(&[]);
    let other = r#"{"log_id":"1","tenant":"https://other.example","webhook_id":"1","item":{}}"#;
    let mut text = std::fs::read_to_string(&dead).unwrap();
    text.push_str(other);
    text.push('\n');
    std::fs::write(&dead, &text).unwrap();

    let check = exec(&s, &hook, "check", &[], &dead);
    assert!(
        check
            .stdout
            .contains("2 logs waiting in DEAD_LETTER_FILE: run redeliver"),
        "{}",
        check.all()
    );

    hook.fix();
    let prom = s.home.join("auth0.prom");
    let mut cmd = command(&s, &hook, "redeliver", &[], &dead);
    cmd.env("METRICS_FILE", &prom);
    Ran::of(&mut cmd).assert_code(0);
    assert_eq!(
        std::fs::read_to_string(&dead).unwrap(),
        format!("{other}\n")
    );
    let metrics = std::fs::read_to_string(&prom).unwrap();
    let pending: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("auth0_mgmt_webhooks_dead_letter_pending{"))
        .collect();
    assert_eq!(pending.len(), 1, "{metrics}");
    assert!(
        pending[0].ends_with(" 0"),
        "the other tenant's record is not this one's to redeliver: {metrics}"
    );
}

// ---------------------------------------------------------------------------------------------
// Kills (issue 27): a log is set aside once per tenant; an accepted record is not sent again
// ---------------------------------------------------------------------------------------------

/// Waits until `hook` has been sent log `id`.
fn wait_for_log(hook: &Picky, id: &str) {
    let since = Instant::now();
    while !hook.got().iter().any(|(req, _)| log_ids(&req.body) == [id]) {
        assert!(since.elapsed() < GUARD, "log {id} was not sent");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// kill -9, as a crash or an OOM killer does.
fn kill(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn runs_killed_while_the_receiver_refuses_leave_each_log_once_in_the_dead_letter_file() {
    let s = Setup::new(sapi_logs(1..=10));
    let hook = Picky::refusing(&[log_id(3), log_id(6)]);
    let dead = s.home.join("dead.jsonl");
    let args = ["--send-as-batch", "false", "--concurrency", "2"];
    // Log 1 waits for its answer while the other worker sets 3 and 6 aside: the checkpoint
    // cannot pass them, so each run after a kill sends them again and has them refused again.
    hook.stalled.lock().unwrap().insert(log_id(1));
    for _ in 0..3 {
        hook.got.lock().unwrap().clear();
        let run = start(&mut command(&s, &hook, "run", &args, &dead));
        wait_for_log(&hook, &log_id(10));
        kill(run);
        assert!(
            !s.state().exists() || s.checkpoint().is_none(),
            "no checkpoint"
        );
    }
    hook.stalled.lock().unwrap().clear();
    exec(&s, &hook, "run", &args, &dead).assert_code(3);

    assert_eq!(s.checkpoint(), Some(log_id(10)));
    let lettered: Vec<Value> = records(&dead).iter().map(|r| r["log_id"].clone()).collect();
    assert_eq!(lettered, [log_id(3), log_id(6)], "each refused log once");
    hook.fix();
    exec(&s, &hook, "redeliver", &args, &dead).assert_code(0);
    assert_eq!(accepted_ids(&hook), [log_id(3), log_id(6)].into());
    assert_eq!(hook.got().len(), 2, "one request a log");
}

#[test]
fn redeliver_killed_and_run_again_sends_no_record_the_receiver_accepted() {
    let s = Setup::new(sapi_logs(1..=20));
    let odd: Vec<String> = (1..=20).step_by(2).map(log_id).collect();
    let hook = Picky::refusing(&odd);
    let dead = s.home.join("dead.jsonl");
    let args = ["--send-as-batch", "false", "--concurrency", "1"];
    exec(&s, &hook, "run", &args, &dead).assert_code(3);
    assert_eq!(records(&dead).len(), 10);
    hook.fix();

    // The fifth record's answer never comes: the redelivery is killed waiting for it.
    hook.stalled.lock().unwrap().insert(log_id(9));
    let redelivery = start(&mut command(&s, &hook, "redeliver", &args, &dead));
    wait_for_log(&hook, &log_id(9));
    kill(redelivery);
    let answered: BTreeSet<String> = accepted_ids(&hook)
        .into_iter()
        .filter(|id| *id != log_id(9))
        .collect();
    assert_eq!(answered, odd[..4].iter().cloned().collect());
    hook.stalled.lock().unwrap().clear();
    hook.got.lock().unwrap().clear();

    exec(&s, &hook, "redeliver", &args, &dead).assert_code(0);
    assert_eq!(
        hook.got().len(),
        6,
        "only the record whose answer never came and those after it"
    );
    assert_eq!(accepted_ids(&hook), odd[4..].iter().cloned().collect());
    assert_eq!(std::fs::read_to_string(&dead).unwrap(), "");
    exec(&s, &hook, "redeliver", &args, &dead).assert_code(0);
    assert_eq!(hook.got().len(), 6, "nothing is left to send");
}

#[test]
fn a_killed_redelivery_beside_another_tenants_sends_no_accepted_record_again() {
    let (a, hook_a, dead) = dead_lettered(&[]);
    let b = Setup::new(sapi_logs(1..=30));
    let hook_b = Picky::refusing(&[log_id(5), log_id(12)]);
    exec(&b, &hook_b, "run", &[], &dead).assert_code(3);
    hook_a.fix();
    hook_b.fix();

    // A's redelivery has log 7 accepted and is killed waiting for 19's answer; meanwhile B's
    // redelivery rewrites the shared file.
    hook_a.stalled.lock().unwrap().insert(log_id(19));
    let redelivery = start(&mut command(&a, &hook_a, "redeliver", &[], &dead));
    wait_for_log(&hook_a, &log_id(19));
    exec(&b, &hook_b, "redeliver", &[], &dead).assert_code(0);
    kill(redelivery);
    hook_a.stalled.lock().unwrap().clear();
    exec(&a, &hook_a, "redeliver", &[], &dead).assert_code(0);

    let accepted = |hook: &Picky| -> Vec<String> {
        let got = hook.got().into_iter().filter(|(_, status)| *status == 200);
        got.flat_map(|(req, _)| log_ids(&req.body)).collect()
    };
    // 19 twice: its answer never reached the killed redelivery.
    assert_eq!(accepted(&hook_a), [log_id(7), log_id(19), log_id(19)]);
    assert_eq!(accepted(&hook_b), [log_id(5), log_id(12)]);
    assert_eq!(std::fs::read_to_string(&dead).unwrap(), "");
}
