//! `SIGNATURE_SCHEME=x-hub-signature-256` as a GitHub-style receiver sees it: every request,
//! retries and gzip included, carries `X-Hub-Signature-256: sha256=<hex HMAC>` of the body it
//! reads, keyed with WEBHOOK_SECRET as written.

use crate::support::cli::{Setup, sapi_logs};
use crate::support::{Received, Reply};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Not a `whsec_` key: GitHub's secrets are any text.
const KEY: &str = "a GitHub-style secret, any text";

/// What a receiver computes: the hex HMAC of the body its HTTP stack hands it, compared in
/// constant time by the `hmac` crate.
fn verifies(key: &str, r: &Received) -> bool {
    let Some(hex) = r
        .header("x-hub-signature-256")
        .and_then(|h| h.strip_prefix("sha256="))
    else {
        return false;
    };
    let Some(sig) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(&r.body);
    mac.verify_slice(&sig).is_ok()
}

#[test]
fn x_hub_signature_verifies_each_request_against_its_raw_body() {
    for gzip in ["false", "true"] {
        let s = Setup::new(sapi_logs(1..=25));
        s.receiver.push_reply(Reply::status(503));
        let env = [
            ("WEBHOOK_SECRET", KEY),
            ("SIGNATURE_SCHEME", "x-hub-signature-256"),
            ("WEBHOOK_GZIP", gzip),
        ];
        s.run(&["--batch-size", "10"], &env).assert_code(0);

        let requests = s.receiver.requests();
        assert_eq!(requests.len(), 4, "3 batches and the retry of the 503");
        assert_eq!(s.receiver.unique_delivered().len(), 25);
        for r in &requests {
            assert!(
                verifies(KEY, r),
                "gzip={gzip}: {:?} does not verify {}",
                r.header("x-hub-signature-256"),
                r.body_text()
            );
            assert!(!verifies("another key of the same length!", r));
            assert!(r.header("webhook-signature").is_none(), "one scheme only");
            assert_eq!(r.header("content-encoding").is_some(), gzip == "true");
        }
    }
}

#[test]
fn check_send_test_names_the_signature_scheme_and_signs_the_test_item() {
    let s = Setup::new(sapi_logs(1..=2));
    let env = [
        ("WEBHOOK_SECRET", KEY),
        ("SIGNATURE_SCHEME", "x-hub-signature-256"),
    ];
    let out = s.exec("check", &["--send-test"], &env);
    out.assert_code(0);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("test item"))
        .unwrap();
    assert!(
        line.starts_with("ok ") && line.contains("X-Hub-Signature-256"),
        "{line}"
    );
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 1);
    assert!(verifies(KEY, &requests[0]));
    assert!(!out.all().contains(KEY), "the key is never shown");

    let out = s.exec("check", &["--send-test"], &[]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("test item"))
        .unwrap();
    assert!(line.contains("unsigned"), "{line}");
}

#[test]
fn a_short_key_for_x_hub_signature_is_exit_2_without_showing_it() {
    let s = Setup::new(sapi_logs(1..=2));
    let env = [
        ("WEBHOOK_SECRET", "short-key"),
        ("SIGNATURE_SCHEME", "x-hub-signature-256"),
    ];
    let out = s.run(&[], &env);
    out.assert_code(2);
    assert!(out.stderr.contains("WEBHOOK_SECRET") && out.stderr.contains("16 characters"));
    assert!(!out.all().contains("short-key"));
    assert_eq!(s.receiver.request_count(), 0);
}
