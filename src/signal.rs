//! SIGTERM and SIGINT (systemd, Kubernetes, Ctrl-C). The first fires the stop token of each run
//! under way ([`watch`]) with a short grace and tells the run, which saves its checkpoint and
//! exits 128 + the signal. A second exits at once: the state file is always whole.

use crate::say;
use crate::stop::{Stop, Tell, held};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

/// How long what is under way may go on after the first signal (systemd waits 90 s and
/// Kubernetes 30 s before SIGKILL).
pub const GRACE: Duration = Duration::from_secs(10);

/// [`GRACE`], or in a debug build the seconds [`crate::settings::FAULT_GRACE`] gives.
fn grace() -> Duration {
    match std::env::var(crate::settings::FAULT_GRACE).map(|v| v.parse()) {
        Ok(Ok(secs)) if cfg!(debug_assertions) => Duration::from_secs(secs),
        _ => GRACE,
    }
}

static INSTALL: Once = Once::new();
static RUNS: Mutex<Runs> = Mutex::new(Runs {
    watched: Vec::new(),
    signal: None,
});

/// Starts listening; once in a process, however often called.
pub fn install() {
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) else {
            say::warn("cannot listen for SIGTERM/SIGINT: a signal will end runs abruptly");
            return;
        };
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    let name = name(sig);
                    if !held(&RUNS).first(sig) {
                        say::error(format!("second {name}: exiting now (the state file is safe)"));
                        std::process::exit(128 + sig);
                    }
                    say::warn(format!(
                        "{name} received: stopping (requests in flight get {} s; send it again to exit at once)",
                        grace().as_secs()
                    ));
                }
            })
            .expect("starting the signal thread");
    });
}

/// A run watched for signals (and for one that came while the settings were read); dropped at
/// its end, so a signal meant for one run never stops the next in the same process.
#[must_use = "the run is watched only while this lives"]
pub struct Watch(Arc<Stop>);

/// Watches `stop`'s run until the [`Watch`] is dropped: a signal fires it, then `tell`s the run.
pub fn watch(stop: &Arc<Stop>, tell: Tell<()>) -> Watch {
    held(&RUNS).watch(Arc::clone(stop), tell);
    Watch(Arc::clone(stop))
}

impl Drop for Watch {
    fn drop(&mut self) {
        held(&RUNS).unwatch(&self.0);
    }
}

/// The runs under way, and the signal that stops them (or the next to start, if none is): it
/// is forgotten once they have all ended.
#[derive(Default)]
struct Runs {
    watched: Vec<(Arc<Stop>, Tell<()>)>,
    signal: Option<i32>,
}

impl Runs {
    /// Whether `sig` is the first signal (the runs stop, with the grace), not one to exit on.
    fn first(&mut self, sig: i32) -> bool {
        if self.signal.replace(sig).is_some() {
            return false;
        }
        for (stop, tell) in &self.watched {
            stop.interrupt(sig, grace());
            tell(());
        }
        true
    }

    fn watch(&mut self, stop: Arc<Stop>, tell: Tell<()>) {
        // A signal while the settings were read is this run's: it stops at once.
        if let (Some(sig), true) = (self.signal, self.watched.is_empty()) {
            stop.interrupt(sig, grace());
        }
        self.watched.push((stop, tell));
    }

    fn unwatch(&mut self, stop: &Arc<Stop>) {
        self.watched.retain(|(w, _)| !Arc::ptr_eq(w, stop));
        if self.watched.is_empty() {
            self.signal = None;
        }
    }
}

/// A file-size limit (`ulimit -f`) kills a process that writes past it with SIGXFSZ, mid-record.
/// Caught, the write fails with EFBIG instead, and the run takes its path for a failed write.
pub fn ignore_file_size_limit() {
    let unread = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if signal_hook::flag::register(signal_hook::consts::SIGXFSZ, unread).is_err() {
        say::warn("cannot catch SIGXFSZ: a file-size limit ends the run abruptly");
    }
}

pub fn name(sig: i32) -> &'static str {
    signal_hook::low_level::signal_name(sig).unwrap_or("signal")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stop::Cause;
    use std::time::Instant;

    fn token() -> Arc<Stop> {
        Arc::new(Stop::until(Instant::now() + Duration::from_secs(3600)))
    }

    #[test]
    fn a_signal_fires_the_runs_under_way_with_its_grace_and_a_second_exits() {
        let mut runs = Runs::default();
        let (a, b) = (token(), token());
        runs.watch(Arc::clone(&a), Arc::new(|()| true));
        runs.watch(Arc::clone(&b), Arc::new(|()| true));
        assert!(runs.first(15));
        for stop in [&a, &b] {
            assert_eq!(stop.cause(), Some(Cause::Signal(15)));
            assert!(stop.remaining() <= GRACE);
        }
        assert!(!runs.first(2));
    }

    #[test]
    fn a_run_that_ended_takes_its_signal_with_it() {
        let mut runs = Runs::default();
        let first = token();
        runs.watch(Arc::clone(&first), Arc::new(|()| true));
        assert!(runs.first(15));
        runs.unwatch(&first);

        let next = token();
        runs.watch(Arc::clone(&next), Arc::new(|()| true));
        assert_eq!(next.cause(), None, "the next run in the process goes on");
        assert!(runs.first(2), "its first signal is a first");
        assert_eq!(next.cause(), Some(Cause::Signal(2)));
    }

    #[test]
    fn a_signal_before_the_run_starts_stops_it_at_once() {
        let mut runs = Runs::default();
        assert!(runs.first(15));
        let stop = token();
        runs.watch(Arc::clone(&stop), Arc::new(|()| true));
        assert_eq!(stop.cause(), Some(Cause::Signal(15)));
        assert!(!runs.first(15));

        let mut runs = Runs::default();
        assert!(runs.first(15));
        assert!(!runs.first(15));
    }
}
