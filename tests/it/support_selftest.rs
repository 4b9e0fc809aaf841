//! Checks that the fakes behave as the tests rely on: the tenant's paging, tokens, faults and
//! rate limit, and the receiver's scripted answers and records.

use crate::support::tenant::{base_date_ms, iso8601};
use std::collections::BTreeSet;
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{
    Behaviour, CLIENT_ID, FakeReceiver, FakeTenant, Fault, Reply, log, log_date, log_id,
    realistic_logs,
};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn get_token(client: &Client, tenant: &FakeTenant) -> String {
    let answer = tenant.request_token(client);
    assert_eq!(answer.status(), 200);
    let token: Value = serde_json::from_str(&answer.text().unwrap()).unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 86400);
    token["access_token"].as_str().unwrap().to_string()
}

fn get_logs(client: &Client, tenant: &FakeTenant, token: &str, query: &str) -> Response {
    client
        .get(format!("{}/api/v2/logs?{query}", tenant.url()))
        .bearer_auth(token)
        .send()
        .unwrap()
}

fn json_of(answer: Response) -> Value {
    serde_json::from_str(&answer.text().unwrap()).unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page.as_array()
        .unwrap()
        .iter()
        .map(|log| log["log_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn realistic_logs_are_well_formed_and_deterministic() {
    let logs = realistic_logs(2000, 42);
    assert_eq!(logs, realistic_logs(2000, 42));
    assert_ne!(logs, realistic_logs(2000, 43));
    for (i, log) in logs.iter().enumerate() {
        let id = log["log_id"].as_str().unwrap();
        assert_eq!(id.len(), 56);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(log["_id"], log["log_id"]);
        assert_eq!(id, log_id(i as u64 + 1));
        if i > 0 {
            assert!(logs[i - 1]["log_id"].as_str().unwrap() < id);
            assert!(logs[i - 1]["date"].as_str().unwrap() < log["date"].as_str().unwrap());
        }
        let kind = log["type"].as_str().unwrap();
        if matches!(kind, "sapi" | "fapi") {
            if let Some(details) = log.get("details") {
                let method = details["request"]["method"].as_str().unwrap();
                assert_eq!(method, method.to_ascii_lowercase());
                let status = details["response"]["statusCode"].as_u64().unwrap();
                if kind == "sapi" {
                    assert!((200..300).contains(&status));
                } else {
                    assert!((400..500).contains(&status));
                }
            } else {
                assert_eq!(kind, "sapi");
            }
        } else {
            assert!(log["details"].get("request").is_none());
        }
    }
    let count = |pred: &dyn Fn(&Value) -> bool| logs.iter().filter(|l| pred(l)).count();
    let sapi = count(&|l| l["type"] == "sapi");
    let fapi = count(&|l| l["type"] == "fapi");
    assert!((1050..1350).contains(&sapi), "sapi {sapi}");
    assert!((220..380).contains(&fapi), "fapi {fapi}");
    let no_api = count(&|l| {
        l["details"]["request"]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/v2/users"))
    });
    assert!(no_api > 20 && no_api < 150, "/v2 paths {no_api}");
    let no_details = count(&|l| l.get("details").is_none());
    assert!(no_details > 5 && no_details < 60, "no details {no_details}");
    assert_eq!(logs[0]["date"], iso8601(base_date_ms() + 3000 + 1761));

    let one = log(5, "sapi", "POST", "/api/v2/users");
    assert_eq!(one["log_id"], logs[4]["log_id"]);
    assert_eq!(one["details"]["request"]["method"], "post");
    assert_eq!(one["details"]["request"]["path"], "/api/v2/users");
    assert!(log_id(5) < log_id(6) && log_id(9) < log_id(10));
}

#[test]
fn checkpoint_paging_returns_every_log_once_in_order() {
    let logs = realistic_logs(237, 7);
    let tenant = FakeTenant::start(logs.clone());
    let client = client();
    let token = get_token(&client, &tenant);
    let mut from = log_id(0);
    let mut seen = Vec::new();
    loop {
        let answer = get_logs(&client, &tenant, &token, &format!("from={from}&take=100"));
        assert_eq!(answer.status(), 200);
        for header in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert!(answer.headers().contains_key(header), "{header}");
        }
        let link = answer
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_string());
        let page = json_of(answer);
        let page_ids = ids(&page);
        if page_ids.is_empty() {
            assert!(link.is_none());
            break;
        }
        let last = page_ids.last().unwrap().clone();
        assert!(link.unwrap().contains(&format!("from={last}&take=100>")));
        seen.extend(page_ids);
        from = last;
    }
    let expected: Vec<String> = logs
        .iter()
        .map(|l| l["log_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(tenant.token_requests(), 1);
    assert_eq!(tenant.log_requests().len(), 4);
    assert_eq!(tenant.logs_served(), 237);

    // Default take, take too large, logs added while running.
    let page = json_of(get_logs(
        &client,
        &tenant,
        &token,
        &format!("from={}", log_id(0)),
    ));
    assert_eq!(ids(&page).len(), 50);
    let answer = get_logs(&client, &tenant, &token, "from=0&take=101");
    assert_eq!(answer.status(), 400);
    tenant.push_logs(vec![log(300, "sapi", "delete", "/api/v2/users/auth0|1")]);
    let page = json_of(get_logs(&client, &tenant, &token, &format!("from={from}")));
    assert_eq!(ids(&page), vec![log_id(300)]);
}

#[test]
fn made_from_ids_are_refused_or_ignored_and_dates_are_searched() {
    use crate::support::tenant::MadeFrom;
    let tenant = FakeTenant::start(realistic_logs(30, 1));
    let client = client();
    let token = get_token(&client, &tenant);
    let made = format!("{}1", &log_id(10)[..55]);
    let query = |from: &str| format!("from={from}&take=3");
    tenant.made_from(MadeFrom::Refused);
    let refused = get_logs(&client, &tenant, &token, &query(&made));
    assert_eq!(refused.status(), 400);
    assert_eq!(json_of(refused)["message"], "invalid from");
    let real = json_of(get_logs(&client, &tenant, &token, &query(&log_id(10))));
    assert_eq!(ids(&real), (11..=13).map(log_id).collect::<Vec<_>>());
    tenant.made_from(MadeFrom::Ignored);
    let oldest = json_of(get_logs(&client, &tenant, &token, &query(&made)));
    assert_eq!(ids(&oldest), (1..=3).map(log_id).collect::<Vec<_>>());
    let q = format!(
        "q=date%3A%5B{}%20TO%20*%5D&sort=date%3A1&per_page=2",
        log_date(20)
    );
    let since = json_of(get_logs(&client, &tenant, &token, &q));
    assert_eq!(ids(&since), (20..=21).map(log_id).collect::<Vec<_>>());
}

#[test]
fn search_mode_first_page() {
    let logs = realistic_logs(30, 1);
    let tenant = FakeTenant::start(logs.clone());
    let client = client();
    let token = get_token(&client, &tenant);
    let oldest = json_of(get_logs(
        &client,
        &tenant,
        &token,
        "q=type%3Asapi%20OR%20type%3Afapi&sort=date%3A1&per_page=10&page=0",
    ));
    assert_eq!(ids(&oldest), (1..=10).map(log_id).collect::<Vec<_>>());
    assert_eq!(oldest[0], logs[0]);
    let newest = json_of(get_logs(&client, &tenant, &token, "per_page=5"));
    assert_eq!(
        ids(&newest),
        (26..=30).rev().map(log_id).collect::<Vec<_>>()
    );
    let second = json_of(get_logs(
        &client,
        &tenant,
        &token,
        "sort=date:1&per_page=10&page=1",
    ));
    assert_eq!(ids(&second), (11..=20).map(log_id).collect::<Vec<_>>());
    assert_eq!(
        get_logs(&client, &tenant, &token, "per_page=101").status(),
        400
    );
    assert_eq!(
        get_logs(&client, &tenant, &token, "per_page=100&page=10").status(),
        400
    );
    assert_eq!(
        tenant.log_requests()[0],
        "/api/v2/logs?q=type%3Asapi%20OR%20type%3Afapi&sort=date%3A1&per_page=10&page=0"
    );
}

#[test]
fn bad_credentials_and_expired_tokens_are_refused() {
    let tenant = FakeTenant::start(realistic_logs(3, 1));
    let client = client();
    let answer = get_logs(&client, &tenant, "nope", "from=0");
    assert_eq!(answer.status(), 401);
    assert!(answer.headers().contains_key("x-ratelimit-limit"));
    let missing = client
        .get(format!("{}/api/v2/logs", tenant.url()))
        .send()
        .unwrap();
    assert_eq!(missing.status(), 401);

    let wrong = client
        .post(format!("{}/oauth/token", tenant.url()))
        .header("content-type", "application/json")
        .body(
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                   "client_secret": "wrong", "audience": "x"})
            .to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(json_of(wrong)["error"], "access_denied");

    let token = get_token(&client, &tenant);
    assert_eq!(token, "tok-1");
    assert_eq!(get_logs(&client, &tenant, &token, "from=0").status(), 200);
    tenant.expire_tokens();
    assert_eq!(get_logs(&client, &tenant, &token, "from=0").status(), 401);
    let fresh = get_token(&client, &tenant);
    assert_eq!(fresh, "tok-2");
    assert_eq!(get_logs(&client, &tenant, &fresh, "from=0").status(), 200);
    assert_eq!(tenant.token_requests(), 3);
}

#[test]
fn scripted_faults_come_first_then_normal_answers() {
    let tenant = FakeTenant::start(realistic_logs(5, 1));
    let client = client();
    let token = get_token(&client, &tenant);
    tenant.push_fault(Fault::Status(503));
    tenant.push_fault(Fault::RateLimited {
        retry_after_secs: 2,
    });
    tenant.push_fault(Fault::Html);
    tenant.push_fault(Fault::BadJson);
    tenant.push_fault(Fault::Drop);

    let answer = get_logs(&client, &tenant, &token, "from=0");
    assert_eq!(answer.status(), 503);
    assert_eq!(json_of(answer)["statusCode"], 503);

    let answer = get_logs(&client, &tenant, &token, "from=0");
    assert_eq!(answer.status(), 429);
    assert_eq!(answer.headers()["retry-after"], "2");
    assert_eq!(answer.headers()["x-ratelimit-remaining"], "0");

    let answer = get_logs(&client, &tenant, &token, "from=0");
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let page = json_of(get_logs(&client, &tenant, &token, "from=0"));
    assert!(page[0].get("log_id").is_none() && page[0].get("_id").is_none());

    let dropped = client
        .get(format!("{}/api/v2/logs?from=0", tenant.url()))
        .bearer_auth(&token)
        .send();
    assert!(dropped.is_err());

    assert_eq!(tenant.pending_faults(), 0);
    let page = json_of(get_logs(&client, &tenant, &token, "from=0"));
    assert_eq!(ids(&page).len(), 5);

    tenant.fail_every_nth(2, 502);
    assert_eq!(get_logs(&client, &tenant, &token, "from=0").status(), 200);
    assert_eq!(get_logs(&client, &tenant, &token, "from=0").status(), 502);
    tenant.fail_every_nth(0, 502);
    assert_eq!(tenant.log_requests().len(), 8);
}

#[test]
fn rate_limit_bucket_and_latency() {
    let tenant = FakeTenant::start(realistic_logs(5, 1));
    let client = client();
    let token = get_token(&client, &tenant);
    // 3 requests, then one more every 200 ms.
    tenant.set_rate_limit(3, Duration::from_millis(600));
    let remaining: Vec<String> = (0..3)
        .map(|_| {
            let answer = get_logs(&client, &tenant, &token, "from=0");
            assert_eq!(answer.status(), 200);
            answer.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = get_logs(&client, &tenant, &token, "from=0");
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    thread::sleep(Duration::from_millis(250));
    assert_eq!(get_logs(&client, &tenant, &token, "from=0").status(), 200);
    tenant.clear_rate_limit();

    tenant.set_latency(Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(get_logs(&client, &tenant, &token, "from=0").status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn flaky_receiver_ratio_holds_and_only_2xx_count_as_delivered() {
    let receiver = FakeReceiver::start();
    receiver.set_behaviour(Behaviour::Flaky {
        fail_ratio: 0.3,
        status: 503,
        seed: 9,
        retry_after_every: Some(4),
    });
    let client = client();
    let mut accepted_ids = Vec::new();
    for i in 0..400u64 {
        let body = json!([
            log(i * 2, "sapi", "get", "/api/v2/users"),
            log(i * 2 + 1, "fapi", "get", "/api/v2/users")
        ]);
        let answer = client
            .post(receiver.url())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = answer.status().as_u16();
        assert!(matches!(status, 200 | 503 | 429), "{status}");
        if status == 429 {
            assert_eq!(answer.headers()["retry-after"], "1");
        }
        if status == 200 {
            accepted_ids.extend([log_id(i * 2), log_id(i * 2 + 1)]);
        }
    }
    let requests = receiver.requests();
    assert_eq!(requests.len(), 400);
    assert_eq!(receiver.request_count(), 400);
    let failed = requests.iter().filter(|r| !r.accepted()).count();
    let limited = requests.iter().filter(|r| r.status == 429).count();
    assert!((80..160).contains(&failed), "failed {failed}");
    assert_eq!(limited, failed / 4);
    assert_eq!(receiver.delivered_ids(), accepted_ids);
    assert_eq!(receiver.items().len(), accepted_ids.len());
    assert_eq!(
        receiver.unique_delivered(),
        accepted_ids.iter().cloned().collect::<BTreeSet<_>>()
    );
    // One connection, kept alive for all 400 requests.
    assert_eq!(receiver.server().connection_count(), 1);
}

#[test]
fn receiver_scripts_gzip_json_lines_and_chunked_bodies() {
    let receiver = FakeReceiver::start();
    receiver.push_reply(Reply::status(500));
    receiver.push_reply(Reply::Drop);
    let client = client();
    let post = |body: reqwest::blocking::Body, gzip: bool| {
        let mut request = client.post(format!("{}/any/path?x=1", receiver.base_url()));
        if gzip {
            request = request.header("content-encoding", "gzip");
        }
        request.body(body).send()
    };
    let lines = format!(
        "{}\n{}\n",
        log(1, "s", "", ""),
        log(2, "sapi", "patch", "/v2/users/auth0|ab")
    );
    assert_eq!(post(lines.clone().into(), false).unwrap().status(), 500);
    assert!(post(lines.clone().into(), false).is_err());
    assert_eq!(post(lines.clone().into(), false).unwrap().status(), 200);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json!({"log_id": log_id(3)}).to_string().as_bytes())
        .unwrap();
    assert_eq!(
        post(gz.finish().unwrap().into(), true).unwrap().status(),
        200
    );

    // Unknown length: reqwest sends it chunked.
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(
        json!([{"log_id": log_id(4)}]).to_string().into_bytes(),
    ));
    assert_eq!(post(chunked, false).unwrap().status(), 200);

    receiver.set_behaviour(Behaviour::Redirect("http://127.0.0.1:9/elsewhere".into()));
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = no_redirects
        .post(receiver.url())
        .body(json!({"log_id": log_id(5)}).to_string())
        .send()
        .unwrap();
    assert_eq!(answer.status(), 302);

    let requests = receiver.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 0, 200, 200, 200, 302]);
    assert_eq!(requests[0].target, "/any/path?x=1");
    assert_eq!(requests[3].header("Content-Encoding"), Some("gzip"));
    assert!(requests[3].wire_len != requests[3].body.len());
    assert_eq!(
        receiver.delivered_ids(),
        [log_id(1), log_id(2), log_id(3), log_id(4)]
    );
}

#[test]
fn receiver_counts_concurrent_requests() {
    let receiver = FakeReceiver::start();
    receiver.set_delay(Duration::from_millis(50));
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let url = receiver.url();
            thread::spawn(move || {
                let client = client();
                for j in 0..2 {
                    let body = json!({"log_id": log_id(i * 2 + j)}).to_string();
                    assert_eq!(client.post(&url).body(body).send().unwrap().status(), 200);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(receiver.max_in_flight() > 1, "{}", receiver.max_in_flight());
    assert_eq!(receiver.unique_delivered().len(), 16);
}

/// A failed assertion inside a fake's handler fails the test, even though the tool under test
/// only saw a 500 (which it may retry or set aside).
#[test]
#[should_panic(expected = "handler(s) of the test server")]
fn a_handler_that_panics_fails_the_test() {
    let server = crate::support::Server::start(|req: &crate::support::Request| {
        assert_eq!(
            req.path(),
            "/expected",
            "the fake was asked for another path"
        );
        crate::support::Reply::status(204)
    });
    let answer = client()
        .get(format!("{}/other", server.url()))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 500);
}

/// A lock a panicking handler poisoned fails whoever takes it next, the test included.
#[test]
#[should_panic(expected = "lock is poisoned")]
fn a_lock_poisoned_by_a_panicking_handler_fails_loudly() {
    let state = std::sync::Arc::new(std::sync::Mutex::new(0));
    let held = std::sync::Arc::clone(&state);
    let _ = std::thread::spawn(move || {
        let _guard = crate::support::http::lock(&held);
        panic!("a handler's assertion failed");
    })
    .join();
    *crate::support::http::lock(&state) += 1;
}
