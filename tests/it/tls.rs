//! TLS as an operator sees it: certificates are always verified, chain and host name alike, and
//! `--ca-cert FILE` (`CA_CERT`) adds a private CA for a webhook or an Auth0 domain behind one.
//!
//! The receiver and the tenant are the usual plain fakes behind an HTTPS front
//! (`crate::support::tls::TlsFront`) presenting certificates made for each test by a fresh CA.

use crate::support::cli::{Home, Ran, sapi_logs};
use crate::support::tls::{ServerCert, TestCa, TlsFront};
use crate::support::{FakeReceiver, FakeTenant, log_id};
use std::path::{Path, PathBuf};

/// The names a certificate needs for `https://127.0.0.1:PORT` (and `https://localhost:PORT`).
const LOOPBACK_NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// A plain tenant and receiver, the receiver behind HTTPS, and a folder for the state and the
/// CA file.
struct Setup {
    tenant: FakeTenant,
    receiver: FakeReceiver,
    front: TlsFront,
    home: Home,
}

impl Setup {
    /// The receiver presents `cert`.
    fn new(cert: &ServerCert) -> Setup {
        let receiver = FakeReceiver::start();
        let front = TlsFront::start(cert, &receiver.base_url());
        Setup {
            tenant: FakeTenant::start(sapi_logs(1..=6)),
            receiver,
            front,
            home: Home::new(),
        }
    }

    fn hook(&self) -> String {
        format!("{}/hook", self.front.url())
    }

    fn ca_file(&self, ca: &TestCa) -> PathBuf {
        let path = self.home.join("ca.pem");
        ca.write_pem(&path);
        path
    }

    /// The checkpoint in the state file, if the file exists and has one.
    fn checkpoint(&self) -> Option<String> {
        if !self.home.state().exists() {
            return None;
        }
        self.home.checkpoint()
    }

    /// `run` against the tenant with this webhook, plus `extra` arguments and environment.
    fn run_with(&self, domain: &str, hook: &str, extra: &[&str], env: &[(&str, &str)]) -> Ran {
        // A run that cannot deliver gives up within this, so failing runs end quickly.
        let args = [&["--max-run-time", "3s"], extra].concat();
        let mut cmd = self.home.command("run", domain, hook, &args);
        Ran::of(cmd.envs(env.iter().copied()))
    }

    /// `run` with MAX_RUN_TIME left at its default (minutes): a run that retried a refused
    /// certificate would make this slow, but the tests below tell it by the connections tried.
    fn run_default_time(&self, domain: &str, hook: &str) -> Ran {
        Ran::of(&mut self.home.command("run", domain, hook, &[]))
    }

    fn run(&self, extra: &[&str]) -> Ran {
        self.run_with(&self.tenant.url(), &self.hook(), extra, &[])
    }

    /// What a run refused because of the receiver's certificate leaves behind: exit 1, a message
    /// naming the certificate problem, a TLS connection attempted but no request made, and no
    /// checkpoint past the undelivered logs.
    fn assert_refused(&self, out: &Ran, problem: &str) {
        assert_eq!(out.code, 1, "exit code; stderr:\n{}", out.stderr);
        let stderr = out.stderr.to_lowercase();
        assert!(
            stderr.contains("certificate") && stderr.contains(&problem.to_lowercase()),
            "the message should name the certificate problem ({problem}):\n{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("--ca-cert"),
            "the message should point to --ca-cert:\n{}",
            out.stderr
        );
        assert!(
            self.front.connection_count() >= 1,
            "the run never tried the webhook:\n{}",
            out.stderr
        );
        assert_eq!(self.front.sessions(), 0, "a TLS session was established");
        assert_eq!(self.receiver.request_count(), 0);
        assert_eq!(
            self.checkpoint(),
            None,
            "the checkpoint moved past undelivered logs"
        );
    }

    fn assert_all_delivered(&self, out: &Ran) {
        assert_eq!(out.code, 0, "exit code; stderr:\n{}", out.stderr);
        let want: Vec<String> = (1..=6).map(log_id).collect();
        assert_eq!(
            self.receiver
                .unique_delivered()
                .into_iter()
                .collect::<Vec<_>>(),
            want
        );
        assert_eq!(self.checkpoint(), Some(log_id(6)));
    }
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Certificates a run refuses, with or without `--ca-cert` naming a trusted CA, and the
/// problem its message names.
#[test]
fn certificates_no_trusted_ca_vouches_for_are_refused() {
    let trusted = TestCa::new("Trusted Test CA");
    let other = TestCa::new("Other Test CA");
    let cases: [(&str, ServerCert, bool, &str); 4] = [
        (
            "a private CA, not given",
            trusted.issue(LOOPBACK_NAMES),
            false,
            // Neither the system roots nor the bundled ones know this CA.
            "UnknownIssuer",
        ),
        (
            "the trusted CA, for another host name",
            trusted.issue(&["other.example"]),
            true,
            "not valid for name \"127.0.0.1\"",
        ),
        (
            "self-signed",
            ServerCert::self_signed(LOOPBACK_NAMES),
            true,
            "UnknownIssuer",
        ),
        (
            "another CA than the trusted one",
            other.issue(LOOPBACK_NAMES),
            true,
            "UnknownIssuer",
        ),
    ];
    for (case, cert, with_ca_cert, problem) in cases {
        let setup = Setup::new(&cert);
        let ca_file = setup.ca_file(&trusted);
        let args: &[&str] = if with_ca_cert {
            &["--ca-cert", path_arg(&ca_file)]
        } else {
            &[]
        };

        let out = setup.run(args);

        eprintln!("case: {case}"); // shown if the case fails
        setup.assert_refused(&out, problem);
    }
}

#[test]
fn ca_cert_flag_makes_a_private_ca_trusted() {
    let ca = TestCa::new("Private Test CA");
    let setup = Setup::new(&ca.issue(LOOPBACK_NAMES));
    let ca_file = setup.ca_file(&ca);

    let out = setup.run(&["--ca-cert", path_arg(&ca_file)]);

    setup.assert_all_delivered(&out);
}

#[test]
fn ca_cert_from_the_environment_makes_a_private_ca_trusted() {
    let ca = TestCa::new("Private Test CA");
    let setup = Setup::new(&ca.issue(LOOPBACK_NAMES));
    let ca_file = setup.ca_file(&ca);

    let out = setup.run_with(
        &setup.tenant.url(),
        &setup.hook(),
        &[],
        &[("CA_CERT", path_arg(&ca_file))],
    );

    setup.assert_all_delivered(&out);
}

#[test]
fn auth0_domain_behind_a_private_ca_works_with_ca_cert() {
    let ca = TestCa::new("Private Test CA");
    let setup = Setup::new(&ca.issue(LOOPBACK_NAMES));
    let auth0 = TlsFront::start(&ca.issue(LOOPBACK_NAMES), &setup.tenant.url());
    let ca_file = setup.ca_file(&ca);

    let out = setup.run_with(
        &auth0.url(),
        &setup.hook(),
        &["--ca-cert", path_arg(&ca_file)],
        &[],
    );

    setup.assert_all_delivered(&out);
    // The token and the pages of logs came over HTTPS: the run knew no other way to the tenant.
    assert!(auth0.sessions() >= 1);
    assert!(setup.tenant.token_requests() >= 1);
}

#[test]
fn auth0_domain_behind_a_private_ca_is_refused_without_ca_cert() {
    let ca = TestCa::new("Private Test CA");
    let setup = Setup::new(&ca.issue(LOOPBACK_NAMES));
    let auth0 = TlsFront::start(&ca.issue(LOOPBACK_NAMES), &setup.tenant.url());

    let out = setup.run_with(&auth0.url(), &setup.hook(), &[], &[]);

    assert_ne!(out.code, 0, "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("certificate") && out.stderr.contains("UnknownIssuer"),
        "{}",
        out.stderr
    );
    assert!(auth0.connection_count() >= 1);
    assert_eq!(auth0.sessions(), 0);
    assert_eq!(setup.tenant.token_requests(), 0);
    assert_eq!(setup.receiver.request_count(), 0);
    assert_eq!(setup.checkpoint(), None);
}

#[test]
fn untrusted_webhook_certificate_fails_the_run_at_once_naming_ca_cert() {
    let ca = TestCa::new("Private Test CA");
    let setup = Setup::new(&ca.issue(LOOPBACK_NAMES));

    let out = setup.run_default_time(&setup.tenant.url(), &setup.hook());

    setup.assert_refused(&out, "UnknownIssuer");
    assert!(
        out.stderr.contains("CA_CERT") && out.stderr.contains("not retried"),
        "the message should say it is not retried and name CA_CERT:\n{}",
        out.stderr
    );
    // One handshake, refused: no retry.
    assert_eq!(setup.front.connection_count(), 1, "{}", out.stderr);
}

#[test]
fn webhook_certificate_for_another_host_fails_the_run_at_once_naming_webhook_url() {
    let ca = TestCa::new("Private Test CA");
    let setup = Setup::new(&ca.issue(&["other.example"]));
    let ca_file = setup.ca_file(&ca);

    let mut cmd = setup.home.command(
        "run",
        &setup.tenant.url(),
        &setup.hook(),
        &["--ca-cert", path_arg(&ca_file)],
    );
    let out = Ran::of(&mut cmd);

    setup.assert_refused(&out, "not valid for name");
    assert!(
        out.stderr.contains("WEBHOOK_URL") && out.stderr.contains("not retried"),
        "the message should say it is not retried and name WEBHOOK_URL:\n{}",
        out.stderr
    );
    assert_eq!(setup.front.connection_count(), 1, "{}", out.stderr);
}

#[test]
fn untrusted_auth0_certificate_fails_the_run_at_once_naming_ca_cert_and_auth0_domain() {
    let ca = TestCa::new("Private Test CA");
    let setup = Setup::new(&ca.issue(LOOPBACK_NAMES));
    let auth0 = TlsFront::start(&ca.issue(LOOPBACK_NAMES), &setup.tenant.url());

    let out = setup.run_default_time(&auth0.url(), &setup.hook());

    assert_eq!(out.code, 1, "exit code; stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains("UnknownIssuer")
            && out.stderr.contains("CA_CERT")
            && out.stderr.contains("AUTH0_DOMAIN")
            && out.stderr.contains("not retried"),
        "the message should name the problem, CA_CERT and AUTH0_DOMAIN:\n{}",
        out.stderr
    );
    // One handshake, refused: no retry, and nothing reached the tenant or the receiver.
    assert_eq!(auth0.connection_count(), 1, "{}", out.stderr);
    assert_eq!(auth0.sessions(), 0);
    assert_eq!(setup.tenant.token_requests(), 0);
    assert_eq!(setup.receiver.request_count(), 0);
    assert_eq!(setup.checkpoint(), None);
}

#[test]
fn a_slack_certificate_no_ca_vouches_for_is_tried_once_and_named() {
    let ca = TestCa::new("Private Test CA");
    let setup = Setup::new(&ca.issue(LOOPBACK_NAMES));
    let ca_file = setup.ca_file(&ca);
    let slack_backend = FakeReceiver::start();
    let slack = TlsFront::start(
        &ServerCert::self_signed(LOOPBACK_NAMES),
        &slack_backend.base_url(),
    );
    let slack_url = format!("{}/services/T0/B0/X", slack.url());

    let out = setup.run_with(
        &setup.tenant.url(),
        &setup.hook(),
        &["--ca-cert", path_arg(&ca_file)],
        &[
            ("SLACK_INCOMING_WEBHOOK_URL", &slack_url),
            ("SLACK_SEND_SUCCESS", "true"),
        ],
    );

    setup.assert_all_delivered(&out);
    assert_eq!(slack.connection_count(), 1, "no wait changes a certificate");
    assert_eq!(slack.sessions(), 0);
    assert!(
        out.stderr.contains("could not send the Slack report")
            && out.stderr.contains("SLACK_INCOMING_WEBHOOK_URL")
            && out.stderr.contains("not retried"),
        "{}",
        out.stderr
    );
}
