//! PII_FIELDS as a receiver and an operator see it: realistic audit logs with e-mail addresses
//! in `user_name`, `details.request.auth.user.email`, request bodies and nested response
//! bodies arrive with every one of them masked (or hashed), and every other byte as Auth0
//! wrote it, in both shapes, in the dry run and in the dead-letter file.

use crate::support::cli::{Ran, Setup};
use crate::support::tenant::{log_date, log_id, with_roomy_rate_headers};
use crate::support::{Reply, Request, Server, realistic_logs};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// An admin creating a user: numbers no float keeps, the admin's address in two places, the
/// new user's in the request body and twice in the response, a phone number deep inside.
fn created_user(counter: u64) -> String {
    format!(
        concat!(
            r#"{{"date":"{date}","type":"sapi","description":"Create a User","#,
            r#""client_id":"mN2bV5cX8zL1kJ4hG7fD0sA3pO6iU9yT","client_name":"Deploy CLI","#,
            r#""ip":"203.0.113.7","user_agent":"node-auth0/4.14.0","user_id":"google-oauth2|1046","#,
            r#""user_name":"ada@example.com","details":{{"request":{{"method":"post","#,
            r#""path":"/api/v2/users","query":{{}},"body":{{"email":"new.user@example.org","#,
            r#""password":"[REDACTED]","user_metadata":{{"score":12345678901234567890123,"#,
            r#""ratio":1e3,"neg":-0,"frac":0.1000}}}},"channel":"https://manage.auth0.com/","#,
            r#""ip":"203.0.113.7","auth":{{"user":{{"user_id":"google-oauth2|1046","#,
            r#""name":"Ada Admin","email":"ada@example.com"}},"strategy":"jwt","#,
            r#""credentials":{{"jti":"0615b65ee0b5b29f","scopes":["create:users"]}}}}}},"#,
            r#""response":{{"statusCode":201,"body":{{"user_id":"auth0|new","#,
            r#""email":"new.user@example.org","identities":[{{"connection":"db","#,
            r#""profileData":{{"email":"new.user@example.org","phone_number":"+4712345678"}}}}]}}}}}},"#,
            r#""log_id":"{id}"}}"#
        ),
        date = log_date(counter),
        id = log_id(counter),
    )
}

/// `created_user` as masking `email`, `username` and `phone` must leave it: the same text with
/// those values, and only those, replaced by `with(value)`.
fn created_user_masked(counter: u64, with: &dyn Fn(&str) -> String) -> String {
    let mut text = created_user(counter);
    for (key, value) in [
        ("user_name", "ada@example.com"),
        ("email", "new.user@example.org"),
        ("email", "ada@example.com"),
        ("phone_number", "+4712345678"),
    ] {
        text = text.replace(
            &format!(r#""{key}":"{value}""#),
            &format!(r#""{key}":"{}""#, with(value)),
        );
    }
    text
}

/// Every non-null value of these keys, anywhere, replaced by `"***"`: what masking does to a
/// parsed log (an independent reading of it, for the fixture's realistic logs).
fn mask_value(v: &Value, keys: &[&str]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match keys.contains(&k.as_str()) && !v.is_null() {
                    true => (k.clone(), Value::from("***")),
                    false => (k.clone(), mask_value(v, keys)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| mask_value(v, keys)).collect()),
        other => other.clone(),
    }
}

const MASKED_KEYS: &[&str] = &["email", "user_name", "username", "phone", "phone_number"];
const FIELDS: &str = "email, username, phone";

/// The page: two hand-written logs and realistic ones, as raw text (the shared fake tenant
/// builds its answers from parsed values, which would lose the numbers under test).
fn page() -> (String, Vec<Value>) {
    let realistic = realistic_logs(40, 20);
    let mut items: Vec<String> = realistic
        .iter()
        .map(|l| serde_json::to_string(l).unwrap())
        .collect();
    items.push(created_user(1001));
    items.push(created_user(1002));
    (format!("[{}]", items.join(",")), realistic)
}

fn raw_tenant(page: String) -> Server {
    Server::start(move |req: &Request| match req.path() {
        "/oauth/token" => Reply::json(
            200,
            &serde_json::json!({"access_token": "pii-token", "token_type": "Bearer", "expires_in": 86400}),
        ),
        _ if req.query("from").is_some_and(|f| f.starts_with("9002000")) => {
            with_roomy_rate_headers(Reply::body(200, "application/json", page.as_str()))
        }
        _ => with_roomy_rate_headers(Reply::body(200, "application/json", "[]")),
    })
}

fn run(s: &Setup, tenant: &Server, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut cmd = s
        .home
        .command("run", &tenant.url(), &s.receiver.url(), args);
    cmd.env("LOG_TYPES", "sapi,fapi,s,f,seacft,mgmt_api_read");
    cmd.envs(env.iter().copied());
    Ran::of(&mut cmd)
}

/// What arrived, as one text, and as items.
fn received(s: &Setup) -> (String, Vec<Value>) {
    let requests = s.receiver.requests();
    let text = requests
        .iter()
        .map(|r| r.body_text())
        .collect::<Vec<_>>()
        .join("\n");
    (text, requests.iter().flat_map(|r| r.items()).collect())
}

#[test]
fn masked_logs_keep_every_other_byte_in_both_shapes_and_the_dry_run() {
    let (page, realistic) = page();
    let star = |_: &str| "***".to_string();
    for shape in ["log-stream", "extension"] {
        let tenant = raw_tenant(page.clone());
        let s = Setup::new(Vec::new());
        let env = [("PII_FIELDS", FIELDS), ("PAYLOAD_SHAPE", shape)];
        // The dry run (which writes no checkpoint) prints what the run below sends.
        let dry = run(&s, &tenant, &["--dry-run"], &env);
        dry.assert_code(0);
        let printed: Vec<Value> = dry
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        run(&s, &tenant, &[], &env).assert_code(0);
        let (text, items) = received(&s);
        assert_eq!(
            items.len(),
            realistic.len() + 2,
            "{shape}: every log arrived"
        );
        // A SAML user id carries an address, but `user_id` is none of the fields asked for.
        let rest = text.replace("samlp|corp|carol@example.com", "");
        assert!(
            !rest.contains("@example"),
            "{shape}: an address got through: {text}"
        );
        assert!(!text.contains("+4712345678"), "{shape}");

        for counter in [1001, 1002] {
            let masked = created_user_masked(counter, &star);
            let part = match shape {
                // The whole log, byte for byte but the masked values.
                "log-stream" => masked.clone(),
                // request and response, byte for byte: numbers as written.
                _ => {
                    let start = masked.find(r#"{"method""#).unwrap();
                    let end = masked.find(r#","response""#).unwrap();
                    masked[start..end].to_string()
                }
            };
            assert!(
                text.contains(&part),
                "{shape}: log {counter} changed:\n{part}\nin\n{text}"
            );
        }
        for log in &realistic {
            let id = log["log_id"].as_str().unwrap();
            let item = items
                .iter()
                .find(|i| i["log_id"] == id || i["data"]["log_id"] == id)
                .unwrap();
            let expected = mask_value(log, MASKED_KEYS);
            match shape {
                "log-stream" => assert_eq!(item["data"], expected, "{id}"),
                _ => {
                    assert_eq!(item["request"], expected["details"]["request"], "{id}");
                    assert_eq!(item["response"], expected["details"]["response"], "{id}");
                }
            }
        }

        assert_eq!(
            printed, items,
            "{shape}: the dry run prints the masked items"
        );
    }
}

#[test]
fn hashed_values_are_the_keyed_hmac_of_each_address_the_same_for_the_same_one() {
    const KEY: &str = "pii-hash-key-for-the-test-7d1e";
    let hmac = |value: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(value.as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        hex
    };
    let page = format!("[{},{}]", created_user(1001), created_user(1002));
    let tenant = raw_tenant(page);
    let s = Setup::new(Vec::new());
    let env = [
        ("PII_FIELDS", FIELDS),
        ("PII_METHOD", "hash"),
        ("PII_HASH_KEY", KEY),
        ("PAYLOAD_SHAPE", "log-stream"),
    ];
    let out = run(&s, &tenant, &["-vv"], &env);
    out.assert_code(0);
    assert!(!out.all().contains(KEY), "the key is never shown");
    let mut check = s
        .home
        .command("check", &tenant.url(), &s.receiver.url(), &["-vv"]);
    let check = Ran::of(check.envs(env.iter().copied()));
    check.assert_code(0);
    assert!(
        check.stdout.contains(
            "PII_FIELDS: the keys email, phone, phone_number, user_name, username anywhere hashed"
        ),
        "{}",
        check.stdout
    );
    assert!(!check.all().contains(KEY), "the key is never shown");
    let (text, _) = received(&s);
    for counter in [1001, 1002] {
        let expected = created_user_masked(counter, &|v| hmac(v));
        assert!(text.contains(&expected), "{expected}\nin\n{text}");
    }
    assert!(!text.contains("@example"));
}

#[test]
fn the_dead_letter_file_holds_the_masked_item() {
    let tenant = raw_tenant(format!("[{},{}]", created_user(1001), created_user(1002)));
    let s = Setup::new(Vec::new());
    // The first log is refused; the second accepted.
    s.receiver.push_reply(Reply::text(422, "no"));
    let dead = s.home.join("dead.jsonl");
    let env = [
        ("PII_FIELDS", FIELDS),
        ("PAYLOAD_SHAPE", "log-stream"),
        ("SEND_AS_BATCH", "false"),
        ("WEBHOOK_CONCURRENT_CALLS", "1"),
        ("DEAD_LETTER_FILE", dead.to_str().unwrap()),
    ];
    run(&s, &tenant, &[], &env).assert_code(3);
    let file = std::fs::read_to_string(&dead).unwrap();
    let masked = created_user_masked(1001, &|_| "***".to_string());
    assert!(file.contains(&masked), "{file}");
    assert!(!file.contains("@example"), "{file}");
}

/// An admin's call whose request body nests `depth` levels deep (objects in arrays), an
/// address at the bottom: about 60 KB at 30,000 levels.
fn deep_log(counter: u64, depth: usize) -> String {
    let (open, close) = (r#"{"a":["#.repeat(depth / 2), "]}".repeat(depth / 2));
    format!(
        r#"{{"date":"{}","type":"sapi","details":{{"request":{{"method":"post","path":"/api/v2/users","body":{open}{{"email":"deep@example.com"}}{close}}},"response":{{"statusCode":201}}}},"log_id":"{}"}}"#,
        log_date(counter),
        log_id(counter)
    )
}

fn deep_page() -> String {
    format!(
        "[{},{},{}]",
        created_user(1001),
        deep_log(1002, 30_000),
        created_user(1003)
    )
}

#[test]
fn a_log_too_deep_to_mask_is_dead_lettered_saying_why_and_the_next_is_delivered() {
    for shape in ["log-stream", "extension"] {
        let tenant = raw_tenant(deep_page());
        let s = Setup::new(Vec::new());
        let dead = s.home.join("dead.jsonl");
        let env = [
            ("PII_FIELDS", FIELDS),
            ("PAYLOAD_SHAPE", shape),
            ("DEAD_LETTER_FILE", dead.to_str().unwrap()),
        ];
        // The dry run shows the others, and says why not that one.
        let dry = run(&s, &tenant, &["--dry-run"], &env);
        dry.assert_code(0);
        assert_eq!(dry.stdout.lines().count(), 2, "{shape}");
        assert!(!dry.stdout.contains("@example") && dry.stderr.contains("cannot be masked"));

        let out = run(&s, &tenant, &[], &env);
        out.assert_code(3);
        assert!(
            out.stderr.contains(&log_id(1002)) && out.stderr.contains("cannot be masked"),
            "{shape}: {}",
            out.stderr
        );
        let got = s.receiver.unique_delivered();
        assert_eq!(got, [log_id(1001), log_id(1003)].into(), "{shape}");
        let (text, _) = received(&s);
        assert!(!text.contains("@example"), "{shape}: {text}");
        assert_eq!(s.checkpoint(), Some(log_id(1003)), "{shape}");

        let file = std::fs::read_to_string(&dead).unwrap();
        let records: Vec<Value> = file
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 1, "{shape}: {file}");
        assert_eq!(records[0]["log_id"], log_id(1002));
        let why = records[0]["refusal"].as_str().unwrap();
        assert!(
            why.contains("deeper than") && why.contains("PII_FIELDS"),
            "{why}"
        );
        assert!(
            records[0].get("item").is_none() && !file.contains("@example"),
            "{file}"
        );

        // The next run goes on after it.
        let again = run(&s, &tenant, &[], &env);
        again.assert_code(0);
        assert_eq!(s.checkpoint(), Some(log_id(1003)), "{shape}");

        // `redeliver` has nothing it may send: the record is kept for a person.
        let before = s.receiver.request_count();
        let mut cmd = s
            .home
            .command("redeliver", &tenant.url(), &s.receiver.url(), &[]);
        let re = Ran::of(cmd.envs(env.iter().copied()));
        assert_eq!(s.receiver.request_count(), before, "{shape}: {}", re.all());
        assert_eq!(std::fs::read_to_string(&dead).unwrap(), file, "{shape}");
        assert!(
            re.stderr
                .contains(&format!("log {} was never sent", log_id(1002)))
                && re.stderr.contains("kept for a person")
                && !re.stderr.contains("not a dead-letter record"),
            "{shape}: {}",
            re.stderr
        );
    }
}

#[test]
fn without_a_dead_letter_file_a_log_too_deep_to_mask_stops_the_run_before_it_unsent() {
    let tenant = raw_tenant(deep_page());
    let s = Setup::new(Vec::new());
    let env = [("PII_FIELDS", FIELDS), ("SEND_AS_BATCH", "false")];
    let out = run(&s, &tenant, &[], &env);
    out.assert_code(1);
    assert!(
        out.stderr.contains("cannot be masked") && out.stderr.contains("DEAD_LETTER_FILE"),
        "{}",
        out.stderr
    );
    assert!(!s.receiver.unique_delivered().contains(&log_id(1002)));
    assert!(!received(&s).0.contains("@example"));
    assert_eq!(s.checkpoint(), Some(log_id(1001)));
}

#[test]
fn without_pii_fields_a_log_30000_levels_deep_is_delivered_as_it_is() {
    let tenant = raw_tenant(deep_page());
    let s = Setup::new(Vec::new());
    let out = run(&s, &tenant, &[], &[("SEND_AS_BATCH", "false")]);
    out.assert_code(0);
    let deep = deep_log(1002, 30_000);
    let (text, _) = received(&s);
    assert!(
        text.contains(
            &deep[deep.find(r#"{"method""#).unwrap()..deep.find(r#","response""#).unwrap()]
        )
    );
    assert_eq!(s.checkpoint(), Some(log_id(1003)));
}
