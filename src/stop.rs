//! The run's stop token and deadline, shared by every thread: the run fires a token when a
//! delivery fails for good, on a signal's end of grace, or when it stops fetching; MAX_RUN_TIME
//! (brought forward by a signal's grace) is the deadline; a wait wakes the moment its token
//! fires instead of polling for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The run's end, shared by every thread: MAX_RUN_TIME from the start, brought forward by a
/// signal to the end of its grace. No request is started or waited for past it.
#[derive(Debug)]
pub struct Deadline {
    base: Instant,
    /// Nanoseconds from `base`.
    nanos: AtomicU64,
}

impl Deadline {
    pub fn new(at: Instant) -> Deadline {
        let base = Instant::now();
        let nanos = at.saturating_duration_since(base).as_nanos();
        Deadline {
            base,
            nanos: AtomicU64::new(u64::try_from(nanos).unwrap_or(u64::MAX)),
        }
    }

    pub fn at(&self) -> Instant {
        let d = Duration::from_nanos(self.nanos.load(Ordering::Relaxed));
        self.base
            .checked_add(d)
            .unwrap_or(self.base + Duration::from_secs(86_400 * 365))
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at().saturating_duration_since(Instant::now())
    }

    /// Moves the end to `to` if that is earlier.
    pub fn shorten(&self, to: Instant) {
        let nanos = to.saturating_duration_since(self.base).as_nanos();
        self.nanos
            .fetch_min(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// A stop raised once, for good: waits on it wake when it is.
#[derive(Debug, Default)]
pub struct Stop {
    fired: Mutex<bool>,
    woken: Condvar,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Stops the run: every wait on the token returns.
    pub fn fire(&self) {
        *self.fired.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.woken.notify_all();
    }

    pub fn fired(&self) -> bool {
        *self.fired.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps `wait`, returning early (false) when the token fires.
    pub fn sleep(&self, wait: Duration) -> bool {
        let end = Instant::now() + wait;
        let mut fired = self.fired.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *fired {
                return false;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            fired = self
                .woken
                .wait_timeout(fired, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_only_moves_earlier() {
        let now = Instant::now();
        let d = Deadline::new(now + Duration::from_secs(60));
        d.shorten(now + Duration::from_secs(120));
        assert!(d.remaining() > Duration::from_secs(50));
        d.shorten(now);
        assert_eq!(d.remaining(), Duration::ZERO);
    }

    #[test]
    fn a_fired_token_ends_a_sleep_and_every_later_one() {
        let stop = std::sync::Arc::new(Stop::new());
        let sleeper = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || stop.sleep(Duration::from_secs(3600)))
        };
        stop.fire();
        assert!(!sleeper.join().unwrap(), "the sleep was not cut short");
        assert!(stop.fired());
        assert!(!stop.sleep(Duration::from_secs(3600)));
        assert!(Stop::new().sleep(Duration::ZERO));
    }
}
