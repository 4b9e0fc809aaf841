//! Corporate proxies as an operator sees them: with `HTTPS_PROXY` (credentials in its URL) every
//! https request goes through a CONNECT proxy that asks for them, loopback hosts included (only
//! `NO_PROXY` sends a host direct); the credentials never show, even with `-vv` or when the
//! proxy refuses them; `check` names the proxy in use.
//!
//! The receiver is behind HTTPS (a CONNECT tunnel carries TLS); the tenant is plain http, which
//! `HTTPS_PROXY` does not cover, so its requests go direct.

use crate::support::cli::{Home, Ran, sapi_logs};
use crate::support::proxy::ConnectProxy;
use crate::support::tls::{TestCa, TlsFront};
use crate::support::{FakeReceiver, FakeTenant, log_id};

const USER: &str = "svc-auth0";
const PASSWORD: &str = "proxy-Pass-5e1b";

struct Setup {
    tenant: FakeTenant,
    receiver: FakeReceiver,
    front: TlsFront,
    proxy: ConnectProxy,
    home: Home,
    ca: std::path::PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let ca = TestCa::new("proxy test CA");
        let receiver = FakeReceiver::start();
        let front = TlsFront::start(&ca.issue(&["localhost", "127.0.0.1"]), &receiver.base_url());
        let home = Home::new();
        let ca_file = home.join("ca.pem");
        ca.write_pem(&ca_file);
        Setup {
            tenant: FakeTenant::start(sapi_logs(1..=5)),
            receiver,
            front,
            proxy: ConnectProxy::start(USER, PASSWORD),
            home,
            ca: ca_file,
        }
    }

    /// `sub` with `-vv`, the receiver's CA, and these variables.
    fn exec(&self, sub: &str, extra: &[&str], env: &[(&str, &str)]) -> Ran {
        let hook = format!("{}/hook", self.front.url());
        let ca = self.ca.to_str().unwrap();
        let args = [&["-vv", "--ca-cert", ca, "--max-run-time", "5s"][..], extra].concat();
        let mut cmd = self.home.command(sub, &self.tenant.url(), &hook, &args);
        Ran::of(cmd.envs(env.iter().copied()))
    }

    fn receiver_target(&self) -> String {
        self.front.url().trim_start_matches("https://").to_string()
    }
}

/// Nothing of the credentials in the output: the password, `user:password`, or the header.
fn assert_no_credentials(out: &Ran) {
    use base64::Engine;
    let header = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for secret in [PASSWORD, header.as_str()] {
        assert!(
            !out.all().contains(secret),
            "{secret} shown:\n{}",
            out.all()
        );
    }
}

#[test]
fn https_requests_go_through_a_connect_proxy_that_asks_for_credentials() {
    let s = Setup::new();
    let proxy_url = s.proxy.url_with(USER, PASSWORD);
    let out = s.exec("run", &[], &[("HTTPS_PROXY", proxy_url.as_str())]);
    out.assert_code(0);
    assert_no_credentials(&out);
    assert_eq!(s.receiver.unique_delivered().len(), 5);
    assert_eq!(s.home.checkpoint(), Some(log_id(5)));
    let connects = s.proxy.connects();
    assert!(!connects.is_empty(), "the run did not use the proxy");
    assert!(
        connects
            .iter()
            .all(|c| c.authorized && c.target == s.receiver_target()),
        "only the receiver's host, with the credentials: {connects:?}"
    );
}

#[test]
fn credentials_the_proxy_refuses_stop_the_run_without_showing_them() {
    let s = Setup::new();
    const WRONG: &str = "wrong-Proxy-Pass-0d4c";
    let proxy_url = s.proxy.url_with(USER, WRONG);
    let out = s.exec("run", &[], &[("https_proxy", proxy_url.as_str())]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("proxy authorization required") && out.stderr.contains("HTTPS_PROXY"),
        "the message names the proxy's answer and the setting: {}",
        out.stderr
    );
    assert!(!out.all().contains(WRONG), "{}", out.all());
    assert_eq!(s.receiver.request_count(), 0);
    assert_eq!(s.home.checkpoint(), None, "nothing passed the checkpoint");
    assert!(
        s.proxy.connects().iter().all(|c| !c.authorized),
        "{:?}",
        s.proxy.connects()
    );
}

#[test]
fn no_proxy_sends_a_host_direct() {
    let s = Setup::new();
    let proxy_url = s.proxy.url_with(USER, PASSWORD);
    let env = [
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("NO_PROXY", "127.0.0.1"),
    ];
    s.exec("run", &[], &env).assert_code(0);
    assert_eq!(s.receiver.unique_delivered().len(), 5);
    assert_eq!(s.proxy.connects(), Vec::new());
}

#[test]
fn check_names_the_proxy_in_use_without_its_credentials() {
    let s = Setup::new();
    let proxy_url = s.proxy.url_with(USER, PASSWORD);
    let out = s.exec(
        "check",
        &["--send-test"],
        &[("HTTPS_PROXY", proxy_url.as_str())],
    );
    out.assert_code(0);
    assert_no_credentials(&out);
    let proxy_line = format!(
        "webhook requests go through the proxy http://{} (with a user name and password, not shown)",
        proxy_url.rsplit('@').next().unwrap()
    );
    assert!(out.stdout.contains(&proxy_line), "{}", out.stdout);
    assert!(
        out.stdout.contains("Auth0 requests go direct"),
        "http is not HTTPS_PROXY's: {}",
        out.stdout
    );
    assert_eq!(s.receiver.request_count(), 1, "the test item went through");
    assert!(s.proxy.connects().iter().all(|c| c.authorized));
}
