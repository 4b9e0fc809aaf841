//! SIGTERM and SIGINT (systemd, Kubernetes, Ctrl-C). The first asks the run to stop: no more
//! fetching, requests in flight get a short grace, the checkpoint is saved, the run recorded and
//! reported, and the exit code is 128 + the signal. A second one exits at once: the state file
//! is always whole (atomic saves) and never ahead of what was delivered.

use std::sync::Once;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// How long requests in flight may go on after the first signal (systemd waits 90 s and
/// Kubernetes 30 s before SIGKILL).
pub const GRACE: Duration = Duration::from_secs(10);

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();

/// Starts listening. Safe to call more than once (the demo and benchmark run several commands
/// in one process).
pub fn install() {
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) else {
            crate::say::warn("cannot listen for SIGTERM/SIGINT: a signal will end runs abruptly");
            return;
        };
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if RECEIVED.swap(sig, Ordering::SeqCst) != 0 {
                        crate::say::error(format_args!(
                            "second {}: exiting now (the state file is safe)",
                            name(sig)
                        ));
                        std::process::exit(128 + sig);
                    }
                    crate::say::warn(format_args!(
                        "{} received: stopping (requests in flight get {} s; send it again to exit at once)",
                        name(sig),
                        GRACE.as_secs()
                    ));
                }
            })
            .expect("starting the signal thread");
    });
}

/// The grace after the first signal, shared by `run` and `redeliver`: work in flight may go on
/// for [`GRACE`], then is given up.
#[derive(Debug, Default)]
pub struct Grace {
    ends: Option<Instant>,
}

impl Grace {
    /// Whether the grace is over. The first call after a signal starts it and hands its end
    /// to `shorten` (which cuts the run's deadline to it).
    pub fn over(&mut self, shorten: impl FnOnce(Instant)) -> bool {
        match self.ends {
            Some(end) => Instant::now() >= end,
            None if received().is_some() => {
                let end = Instant::now() + GRACE;
                self.ends = Some(end);
                shorten(end);
                false
            }
            None => false,
        }
    }
}

/// A file-size limit (`ulimit -f`, RLIMIT_FSIZE) kills a process that writes past it with
/// SIGXFSZ, mid-record and before any summary. Ignored, the write fails with EFBIG instead,
/// and the run takes its documented path for a write that fails: it stops, cuts a torn record
/// back, saves the state where it can, and reports.
pub fn ignore_file_size_limit() {
    #[cfg(unix)]
    // SAFETY: setting a standard signal's disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// The first signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGINT => "SIGINT",
        _ => "signal",
    }
}
