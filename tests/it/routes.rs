//! Issue 26: one read of Auth0 fanned out to several routes, each with its own filter, format
//! and checkpoint.

use crate::support::cli::*;
use crate::support::http::{Reply, Server};
use crate::support::receiver::{Behaviour, FakeReceiver, item_log_id, parse_items};
use crate::support::tenant::{log_id, realistic_logs, stored_id};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The three routes of docs/routes.md's example: everything to the SIEM one by one, failed
/// logins to on-call, everything to an archive in gzipped batches.
fn three_routes(siem: &FakeReceiver, oncall: &FakeReceiver, archive: &FakeReceiver) -> String {
    format!(
        r#"
[[route]]
name = "siem"
webhook_url = "{}"
log_types = "sapi,fapi,s,f,seacft,mgmt_api_read"
payload_shape = "log-stream"
send_as_batch = false

[[route]]
name = "oncall"
webhook_url = "{}"
log_types = "f"

[[route]]
name = "archive"
webhook_url = "{}"
log_types = "sapi,fapi,s,f,seacft,mgmt_api_read"
batch_size = 50
webhook_gzip = true
"#,
        siem.url(),
        oncall.url(),
        archive.url()
    )
}

fn of_types(logs: &[Value], types: &[&str]) -> BTreeSet<String> {
    let kept = logs
        .iter()
        .filter(|l| types.contains(&l["type"].as_str().unwrap_or("")));
    ids(kept)
}

const ALL: [&str; 6] = ["sapi", "fapi", "s", "f", "seacft", "mgmt_api_read"];

struct Three {
    s: Setup,
    oncall: FakeReceiver,
    archive: FakeReceiver,
    config: std::path::PathBuf,
}

impl Three {
    fn new(logs: Vec<Value>) -> Three {
        let s = Setup::new(logs);
        let (oncall, archive) = (FakeReceiver::start(), FakeReceiver::start());
        let config = s.home.join("routes.toml");
        std::fs::write(&config, three_routes(&s.receiver, &oncall, &archive)).unwrap();
        Three {
            s,
            oncall,
            archive,
            config,
        }
    }

    fn run(&self, extra: &[&str]) -> Ran {
        let mut args = vec!["--config", self.config.to_str().unwrap()];
        args.extend(extra);
        self.s.run(&args, &[])
    }

    fn assert_no_repeats(&self) {
        for r in [&self.s.receiver, &self.oncall, &self.archive] {
            assert_eq!(
                r.delivered_ids().len(),
                r.unique_delivered().len(),
                "a log was sent twice"
            );
        }
    }
}

fn state(s: &Setup) -> Value {
    serde_json::from_str(&std::fs::read_to_string(s.state()).unwrap()).unwrap()
}

#[test]
fn three_routes_cost_one_read_and_each_receiver_gets_exactly_its_logs() {
    // Stored in the last minutes, where no window is cut: the read's requests are the same
    // whatever the timing.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut logs = realistic_logs(700, 26);
    for (i, l) in logs.iter_mut().enumerate() {
        l["log_id"] = stored_id(i as u64 + 1, now_ms - 300_000 + i as u64).into();
    }
    // One route alone, on a tenant of its own with the same logs: the read it costs.
    let alone = Setup::new(logs.clone());
    alone.run(&[], &[]).assert_code(0);
    let one_route = alone.tenant.log_requests().len();

    let t = Three::new(logs.clone());
    let out = t.run(&[]);
    out.assert_code(0);
    assert_eq!(
        t.s.tenant.log_requests().len(),
        one_route,
        "three routes read Auth0 more than one does: {:#?}\n{:#?}",
        alone.tenant.log_requests(),
        t.s.tenant.log_requests(),
    );
    assert_eq!(t.s.receiver.unique_delivered(), of_types(&logs, &ALL));
    assert_eq!(t.oncall.unique_delivered(), of_types(&logs, &["f"]));
    assert_eq!(t.archive.unique_delivered(), of_types(&logs, &ALL));
    t.assert_no_repeats();
    // Each route in its own form: one log a request, and gzipped batches of at most 50.
    let siem = t.s.receiver.requests();
    assert_eq!(siem.len(), of_types(&logs, &ALL).len());
    assert!(
        siem[0].items()[0]["data"].is_object(),
        "the siem route sends log-stream items"
    );
    let archive = t.archive.requests();
    assert!(
        archive
            .iter()
            .all(|r| r.header("content-encoding") == Some("gzip"))
    );
    assert!(archive.iter().all(|r| r.log_ids().len() <= 50));
    assert!(archive.len() < 700 / 40, "the archive gets batches");
    // The summary names each route; the state keeps each one's checkpoint.
    for name in ["siem", "oncall", "archive"] {
        assert!(
            out.stderr.contains(&format!("route {name}: ok, caught up")),
            "{}",
            out.stderr
        );
        let checkpoint = &state(&t.s)["routes"][name]["checkpoint"];
        assert_eq!(
            checkpoint.as_str(),
            Some(id_of(logs.last().unwrap()).as_str()),
            "{name}"
        );
    }
}

#[test]
fn a_route_that_fails_holds_back_no_other_and_gets_its_logs_alone_next_run() {
    let logs = realistic_logs(900, 27);
    let t = Three::new(logs.clone());
    // On-call refuses everything, and no dead-letter file takes the refusals.
    t.oncall.set_behaviour(Behaviour::Status(400));
    let first = t.run(&["--output", "json"]);
    first.assert_code(1);
    let summary: Value = serde_json::from_str(first.stdout.trim()).unwrap();
    let routes = summary["routes"].as_array().unwrap();
    let status = |name: &str| {
        let r = routes.iter().find(|r| r["route"] == name).unwrap();
        (
            r["status"].as_str().unwrap().to_string(),
            r["caught_up"].as_bool().unwrap(),
        )
    };
    assert_eq!(status("siem"), ("ok".into(), true));
    assert_eq!(status("oncall"), ("failed".into(), false));
    assert_eq!(status("archive"), ("ok".into(), true));
    assert!(first.stderr.contains("route oncall: "), "{}", first.stderr);
    assert_eq!(t.s.receiver.unique_delivered(), of_types(&logs, &ALL));
    assert_eq!(t.archive.unique_delivered(), of_types(&logs, &ALL));
    assert!(t.oncall.unique_delivered().is_empty());

    // Back up: the next run reads again from on-call's checkpoint and sends to it alone.
    let (siem_before, archive_before) = (t.s.receiver.request_count(), t.archive.request_count());
    t.oncall.set_behaviour(Behaviour::Accept);
    t.run(&[]).assert_code(0);
    assert_eq!(t.oncall.unique_delivered(), of_types(&logs, &["f"]));
    assert_eq!(
        t.s.receiver.request_count(),
        siem_before,
        "siem got repeats"
    );
    assert_eq!(
        t.archive.request_count(),
        archive_before,
        "archive got repeats"
    );
    t.assert_no_repeats();
}

#[test]
fn a_receiver_that_keeps_failing_is_left_behind_while_the_others_go_on() {
    let logs = realistic_logs(1_500, 28);
    let t = Three::new(logs.clone());
    t.oncall.set_behaviour(Behaviour::Status(503));
    let out = t.run(&["--max-run-time", "60s"]);
    out.assert_code(1);
    assert!(
        out.stderr
            .contains("route oncall: its webhook keeps failing"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("error: route oncall: webhook answered 503"),
        "{}",
        out.stderr
    );
    assert_eq!(t.s.receiver.unique_delivered(), of_types(&logs, &ALL));
    assert_eq!(t.archive.unique_delivered(), of_types(&logs, &ALL));

    t.oncall.set_behaviour(Behaviour::Accept);
    t.run(&[]).assert_code(0);
    assert_eq!(t.oncall.unique_delivered(), of_types(&logs, &["f"]));
    t.assert_no_repeats();
}

#[cfg(unix)]
#[test]
fn kill_9_and_sigterm_in_a_three_route_backfill_lose_nothing_for_any_route() {
    let logs = realistic_logs(4_000, 29);
    let t = Three::new(logs.clone());
    t.s.tenant.set_plan(16.0, 50);
    t.s.tenant.set_latency(Duration::from_millis(20));
    t.archive.set_delay(Duration::from_millis(40));
    let args = [
        "run",
        "--config",
        t.config.to_str().unwrap(),
        "--max-run-time",
        "300s",
    ];
    let every = of_types(&logs, &ALL);
    // kill -9, SIGTERM, kill -9: a stop at any moment, of either kind.
    for kill in 1..=3 {
        let target = every.len() * kill / 5;
        let mut child = start(
            t.s.command("run")
                .args(&args[1..])
                .env("AUTH0_RATE_LIMIT", "100%"),
        );
        let started = std::time::Instant::now();
        while t.s.receiver.unique_delivered().len() < target {
            if child.try_wait().unwrap().is_some() {
                panic!(
                    "stop {kill}: the run ended early: {}",
                    Ran::wait(child).all()
                );
            }
            let got = t.s.receiver.unique_delivered().len();
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "stop {kill}: {got} of {target}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        if kill == 2 {
            // SAFETY: kill(2) with a pid this test started and a valid signal number.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            assert_eq!(Ran::wait(child).code, 143, "SIGTERM ends the run with 143");
        } else {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        // Behind each route's checkpoint, nothing is missing from its receiver.
        let st = state(&t.s);
        for (name, r, types) in [
            ("siem", &t.s.receiver, &ALL[..]),
            ("oncall", &t.oncall, &["f"][..]),
            ("archive", &t.archive, &ALL[..]),
        ] {
            let Some(checkpoint) = st["routes"][name]["checkpoint"].as_str() else {
                continue;
            };
            let got = r.unique_delivered();
            for id in of_types(&logs, types)
                .iter()
                .filter(|id| id.as_str() <= checkpoint)
            {
                assert!(got.contains(id), "{name}: {id} is behind its checkpoint");
            }
        }
    }
    t.run(&[]).assert_code(0);
    assert_eq!(t.s.receiver.unique_delivered(), every, "siem lost a log");
    assert_eq!(
        t.oncall.unique_delivered(),
        of_types(&logs, &["f"]),
        "oncall lost a log"
    );
    assert_eq!(t.archive.unique_delivered(), every, "archive lost a log");
}

#[test]
fn a_state_file_from_before_routes_is_the_default_route_and_a_new_route_starts_where_it_is() {
    let logs = sapi_logs(1..=120);
    let s = Setup::new(logs[..100].to_vec());
    // As a version from before routes wrote it: no `routes`.
    let old = format!(
        r#"{{"checkpoint":"{}","start_from":null,"history":[],"totals":{{"logs_fetched":100,"logs_delivered":100,"logs_dead_lettered":0,"runs":{{"ok":1}}}}}}"#,
        log_id(100)
    );
    std::fs::write(s.state(), old).unwrap();
    s.run(&[], &[]).assert_code(0);
    assert_eq!(
        s.receiver.request_count(),
        0,
        "a log before the checkpoint was sent again"
    );

    // Routes added: `default` keeps its checkpoint, `extra` starts at it, not at the oldest log.
    let extra = FakeReceiver::start();
    let config = s.home.join("routes.toml");
    let routes = format!(
        "[[route]]\nname = \"default\"\n\n[[route]]\nname = \"extra\"\nwebhook_url = \"{}\"\n",
        extra.url()
    );
    std::fs::write(&config, routes).unwrap();
    s.tenant.push_logs(logs[100..].to_vec());
    let out = s.run(&["--config", config.to_str().unwrap()], &[]);
    out.assert_code(0);
    assert!(out.stderr.contains("route extra is new"), "{}", out.stderr);
    let new: BTreeSet<String> = ids(&logs[100..]);
    assert_eq!(s.receiver.unique_delivered(), new);
    assert_eq!(extra.unique_delivered(), new);
    assert_eq!(
        s.checkpoint(),
        Some(log_id(120)),
        "default's place is the top level"
    );
    assert_eq!(state(&s)["routes"]["extra"]["checkpoint"], log_id(120));

    // A route removed: its place is kept, with a warning, and holds back nothing.
    let out = s.run(&[], &[]);
    out.assert_code(0);
    assert!(
        out.stderr.contains("route \"extra\" is in"),
        "{}",
        out.stderr
    );
    assert_eq!(state(&s)["routes"]["extra"]["checkpoint"], log_id(120));
}

#[test]
fn check_send_test_tries_every_route_and_redeliver_takes_a_routes_dead_letters_back() {
    let t = Three::new(sapi_logs(1..=30));
    let out = t.s.exec(
        "check",
        &["--config", t.config.to_str().unwrap(), "--send-test"],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    for (name, r) in [
        ("siem", &t.s.receiver),
        ("oncall", &t.oncall),
        ("archive", &t.archive),
    ] {
        assert_eq!(r.request_count(), 1, "{name} got no test item");
        assert!(
            out.stdout.contains(&format!("route {name}: test item")),
            "{}",
            out.stdout
        );
    }

    // A second route whose receiver refuses logs 7 and 21, set aside in its own file.
    let refused: Arc<Mutex<BTreeSet<String>>> =
        Arc::new(Mutex::new([log_id(7), log_id(21)].into_iter().collect()));
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let (refusing, seen) = (Arc::clone(&refused), Arc::clone(&got));
    let picky = Server::start(move |req| {
        let ids: Vec<String> = parse_items(&req.body)
            .iter()
            .filter_map(item_log_id)
            .collect();
        if ids.iter().any(|id| refusing.lock().unwrap().contains(id)) {
            return Reply::text(422, "not this one");
        }
        seen.lock().unwrap().extend(ids);
        Reply::status(200)
    });
    let dead = t.s.home.join("picky.jsonl");
    let config = t.s.home.join("two.toml");
    let text = format!(
        "[[route]]\nname = \"siem\"\n\n[[route]]\nname = \"picky\"\nwebhook_url = \"{}/hook\"\ndead_letter_file = \"{}\"\n",
        picky.url(),
        dead.display()
    );
    std::fs::write(&config, text).unwrap();
    let args = ["--config", config.to_str().unwrap()];
    t.s.run(&args, &[]).assert_code(3);
    assert_eq!(got.lock().unwrap().len(), 28);

    let out = t.s.exec("redeliver", &args, &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("--route"), "{}", out.stderr);

    refused.lock().unwrap().clear();
    let before = t.s.receiver.request_count();
    let out =
        t.s.exec("redeliver", &[args[0], args[1], "--route", "picky"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let got = got.lock().unwrap().clone();
    assert!(
        got.contains(&log_id(7)) && got.contains(&log_id(21)),
        "{got:?}"
    );
    assert_eq!(
        t.s.receiver.request_count(),
        before,
        "another route's receiver got them"
    );
}

#[test]
fn a_dry_run_of_routes_says_whose_each_item_is_and_sends_nothing() {
    let logs = realistic_logs(300, 30);
    let t = Three::new(logs.clone());
    let out = t.run(&["--dry-run"]);
    out.assert_code(0);
    let mut got: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for line in out.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let item = &v["item"];
        let id = item["log_id"].as_str().unwrap().to_string();
        got.entry(v["route"].as_str().unwrap().to_string())
            .or_default()
            .insert(id);
    }
    assert_eq!(got["siem"], of_types(&logs, &ALL));
    assert_eq!(got["oncall"], of_types(&logs, &["f"]));
    assert_eq!(got["archive"], of_types(&logs, &ALL));
    assert_eq!(t.s.receiver.request_count() + t.oncall.request_count(), 0);
    assert!(!t.s.state().exists(), "a dry run writes no state");
}

#[test]
fn two_routes_alike_are_warned_of_and_a_route_table_mistake_names_its_line() {
    let s = Setup::new(sapi_logs(1..=5));
    let config = s.home.join("routes.toml");
    let twice = format!(
        "[[route]]\nname = \"a\"\n\n[[route]]\nname = \"b\"\nwebhook_url = \"{}\"\n",
        s.receiver.url()
    );
    std::fs::write(&config, twice).unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let out = s.run(&args, &[]);
    out.assert_code(0);
    assert!(
        out.stderr
            .contains("routes \"a\" and \"b\" send the same logs to the same webhook"),
        "{}",
        out.stderr
    );
    assert_eq!(
        s.receiver.delivered_ids().len(),
        10,
        "each route sent its own"
    );

    std::fs::write(&config, "[[route]]\nname = \"a\"\nlog_type = \"f\"\n").unwrap();
    let out = s.run(&args, &[]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("line 3") && out.stderr.contains("`log_types`"),
        "{}",
        out.stderr
    );
}
