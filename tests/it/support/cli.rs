//! Running the real binary from an integration test: a private folder that is the run's HOME and
//! holds its state file, a clean environment, the standard settings pointing at the fakes, and
//! how the run ended. Also the sets of log ids that tests compare deliveries against.
//!
//! Cargo tells only integration tests where the binary is (`CARGO_BIN_EXE_<name>`). The
//! examples include `support` too, but they run the library in-process and never this module,
//! so it reads that variable with `option_env!`: it compiles everywhere, and [`bin`] panics at
//! once if anything but an integration test calls it.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::{CLIENT_ID, CLIENT_SECRET, FakeReceiver, FakeTenant, log};

const BIN: Option<&str> = option_env!("CARGO_BIN_EXE_auth0-mgmt-webhooks");

/// No run comes near this; it only keeps a hung run from hanging the suite.
pub const GUARD: Duration = Duration::from_secs(120);

/// `MAX_RUN_TIME` of every run: one that cannot finish fails in seconds, not the default four
/// minutes. It is set in the environment so that a test's `--max-run-time` replaces it.
const SAFETY_NET: &str = "30s";

/// Where the binary is, for a test that runs it through a shell line or a unit file as written.
pub fn bin_path() -> &'static str {
    // Cargo sets CARGO_BIN_EXE_* for integration tests alone.
    BIN.expect("only an integration test can run the binary")
}

/// The binary with an empty environment, so the machine's settings never leak into a test.
pub fn bin() -> Command {
    let mut cmd = Command::new(bin_path());
    cmd.env_clear();
    cmd
}

/// Starts `cmd` as cron would: no stdin, no terminal (stdout and stderr are pipes).
pub fn start(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary")
}

/// How a run ended.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Runs `cmd` to its end.
    pub fn of(cmd: &mut Command) -> Ran {
        Ran::wait(start(cmd))
    }

    /// Waits for a started run, reading its output as it comes so that a full pipe never blocks
    /// it; kills it and fails the test after [`GUARD`].
    pub fn wait(mut child: Child) -> Ran {
        fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
            thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        }
        let stdout = drain(child.stdout.take().expect("stdout is piped"));
        let stderr = drain(child.stderr.take().expect("stderr is piped"));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the run") {
                break status;
            }
            if started.elapsed() > GUARD {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = stderr.join().unwrap();
                panic!("the run did not end within {GUARD:?}; stderr:\n{stderr}");
            }
            thread::sleep(Duration::from_millis(10));
        };
        let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        let code = status.code().unwrap_or_else(|| {
            panic!("the run was ended by a signal ({status}); stderr:\n{stderr}")
        });
        Ran {
            code,
            stdout,
            stderr,
        }
    }

    /// stdout, then stderr.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code, and that nothing panicked (a panic in a worker thread need not
    /// change the code). Shows stdout and stderr when it fails.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Ran {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "the run panicked:\n{}",
            self.stderr
        );
        self
    }
}

/// A private temporary folder: the HOME of each run, and where its state file lives.
pub struct Home {
    dir: TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// A file in this folder (not created).
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The state file every run here uses.
    pub fn state(&self) -> PathBuf {
        self.join("state.json")
    }

    /// The state file's checkpoint, `None` while it is null; panics if the file is missing or
    /// not JSON.
    pub fn checkpoint(&self) -> Option<String> {
        let path = self.state();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading state file {}: {e}", path.display()));
        let state: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("state file is not valid JSON ({e}):\n{text}"));
        state["checkpoint"].as_str().map(str::to_string)
    }

    /// The binary with nothing but HOME in its environment.
    pub fn bare(&self) -> Command {
        let mut cmd = bin();
        cmd.env("HOME", self.dir.path());
        cmd
    }

    /// `auth0-mgmt-webhooks <sub>` with the secret (secrets have no flags) and the
    /// [`SAFETY_NET`] in its environment, and no other setting.
    fn base(&self, sub: &str) -> Command {
        let mut cmd = self.bare();
        cmd.env("AUTH0_CLIENT_SECRET", CLIENT_SECRET)
            .env("MAX_RUN_TIME", SAFETY_NET)
            .arg(sub);
        cmd
    }

    /// `auth0-mgmt-webhooks <sub>` against `domain` and `webhook`: the standard settings as
    /// flags (`--domain`, `--client-id`, `--webhook-url`, `--state`), then `extra`. A standard
    /// flag that `extra` also gives is left out, since clap refuses a flag twice.
    pub fn command(&self, sub: &str, domain: &str, webhook: &str, extra: &[&str]) -> Command {
        let mut cmd = self.base(sub);
        let state = self.state();
        let standard: [(&str, &OsStr); 4] = [
            ("--domain", domain.as_ref()),
            ("--client-id", CLIENT_ID.as_ref()),
            ("--webhook-url", webhook.as_ref()),
            ("--state", state.as_ref()),
        ];
        for (flag, value) in standard {
            if !extra.contains(&flag) {
                cmd.arg(flag).arg(value);
            }
        }
        cmd.args(extra);
        cmd
    }

    /// `auth0-mgmt-webhooks run` against `domain` and `webhook` with `extra`, to its end.
    pub fn run(&self, domain: &str, webhook: &str, extra: &[&str]) -> Ran {
        Ran::of(&mut self.command("run", domain, webhook, extra))
    }
}

/// How the standard settings reach the binary.
#[derive(Clone, Copy)]
enum Via {
    Flags,
    /// The environment, as a cron job or a systemd unit sets them.
    Env,
}

/// A fake tenant, a fake receiver and a [`Home`]: what most tests run the binary against.
pub struct Setup {
    pub tenant: FakeTenant,
    pub receiver: FakeReceiver,
    pub home: Home,
    via: Via,
}

impl Setup {
    /// A tenant holding `logs`, a receiver that accepts everything; settings given as flags.
    pub fn new(logs: Vec<Value>) -> Setup {
        Setup {
            tenant: FakeTenant::start(logs),
            receiver: FakeReceiver::start(),
            home: Home::new(),
            via: Via::Flags,
        }
    }

    /// Gives the standard settings as environment variables (`AUTH0_DOMAIN`, `AUTH0_CLIENT_ID`,
    /// `WEBHOOK_URL`, `STATE_FILE`) instead, so that a test may remove one.
    pub fn with_settings_in_env(self) -> Setup {
        Setup {
            via: Via::Env,
            ..self
        }
    }

    pub fn state(&self) -> PathBuf {
        self.home.state()
    }

    pub fn checkpoint(&self) -> Option<String> {
        self.home.checkpoint()
    }

    /// `auth0-mgmt-webhooks <sub>` against the tenant and the receiver, for a test to add to.
    pub fn command(&self, sub: &str) -> Command {
        self.command_with(sub, &[])
    }

    fn command_with(&self, sub: &str, args: &[&str]) -> Command {
        let (domain, webhook) = (self.tenant.url(), self.receiver.url());
        match self.via {
            Via::Flags => self.home.command(sub, &domain, &webhook, args),
            Via::Env => {
                let mut cmd = self.home.base(sub);
                cmd.env("AUTH0_DOMAIN", domain)
                    .env("AUTH0_CLIENT_ID", CLIENT_ID)
                    .env("WEBHOOK_URL", webhook)
                    .env("STATE_FILE", self.state())
                    .args(args);
                cmd
            }
        }
    }

    /// `sub` (run, check) with these extra arguments and environment variables, to its end. A
    /// variable in `env` replaces a standard one, and a later one an earlier.
    pub fn exec(&self, sub: &str, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let mut cmd = self.command_with(sub, args);
        cmd.envs(env.iter().copied());
        Ran::of(&mut cmd)
    }

    /// `run` with these extra arguments and environment variables, to its end.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        self.exec("run", args, env)
    }
}

// ---------------------------------------------------------------------------------------------
// Sets of logs and of their ids
// ---------------------------------------------------------------------------------------------

pub fn id_of(log: &Value) -> String {
    log["log_id"].as_str().expect("a log id").to_string()
}

/// Whether the default settings forward this log: types sapi and fapi.
pub fn is_api_call(log: &Value) -> bool {
    matches!(log["type"].as_str(), Some("sapi" | "fapi"))
}

/// The ids of the logs the default settings forward, in the tenant's order.
pub fn api_call_ids(logs: &[Value]) -> Vec<String> {
    logs.iter().filter(|l| is_api_call(l)).map(id_of).collect()
}

/// The ids of the logs the default settings forward.
pub fn matching(logs: &[Value]) -> BTreeSet<String> {
    ids(logs.iter().filter(|l| is_api_call(l)))
}

pub fn ids<'a>(logs: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    logs.into_iter().map(id_of).collect()
}

/// Logs with these counters, all `sapi`, so the default settings forward every one.
pub fn sapi_logs(counters: RangeInclusive<u64>) -> Vec<Value> {
    counters
        .map(|n| log(n, "sapi", "PATCH", "/api/v2/users/auth0|1"))
        .collect()
}
