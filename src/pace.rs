//! How fast the worker pool sends: a shared "not before" time that a 429 or 503 pushes back for
//! every worker, and an in-flight limit that halves on throttling and grows back by one
//! (additive increase, multiplicative decrease), never above the configured concurrency.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What an attempt told us about the receiver's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Answered 2xx.
    Healthy,
    /// Answered 429 or 503: slow down.
    Throttled,
    /// Anything else: no news about load.
    Neutral,
}

/// AIMD: the next in-flight limit and success streak. Halve on throttling; after `limit`
/// healthy answers in a row, allow one more.
pub fn next_limit(limit: usize, streak: usize, max: usize, signal: Signal) -> (usize, usize) {
    match signal {
        Signal::Throttled => ((limit / 2).max(1), 0),
        Signal::Healthy if streak + 1 >= limit => ((limit + 1).min(max), 0),
        Signal::Healthy => (limit, streak + 1),
        Signal::Neutral => (limit, streak),
    }
}

pub struct Pace {
    max: usize,
    state: Mutex<PaceState>,
    changed: Condvar,
}

struct PaceState {
    limit: usize,
    streak: usize,
    in_flight: usize,
    not_before: Instant,
}

impl Pace {
    pub fn new(max: usize) -> Pace {
        Pace {
            max,
            state: Mutex::new(PaceState {
                limit: max,
                streak: 0,
                in_flight: 0,
                not_before: Instant::now(),
            }),
            changed: Condvar::new(),
        }
    }

    /// Waits for a free slot and for any shared pause to end. `None` when `stop` was raised.
    pub fn acquire<'a>(&'a self, stop: &AtomicBool) -> Option<Permit<'a>> {
        let mut s = self.state.lock().unwrap();
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let now = Instant::now();
            if s.in_flight < s.limit && now >= s.not_before {
                s.in_flight += 1;
                return Some(Permit {
                    pace: self,
                    done: false,
                });
            }
            // Wake at the pause's end, and now and then to notice `stop`.
            let wait = s
                .not_before
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(100));
            s = self.changed.wait_timeout(s, wait).unwrap().0;
        }
    }

    /// The in-flight limit now (for progress and tests).
    pub fn limit(&self) -> usize {
        self.state.lock().unwrap().limit
    }

    fn release(&self, signal: Signal, pause: Option<Duration>) {
        let mut s = self.state.lock().unwrap();
        s.in_flight -= 1;
        (s.limit, s.streak) = next_limit(s.limit, s.streak, self.max, signal);
        if let Some(p) = pause {
            s.not_before = s.not_before.max(Instant::now() + p);
        }
        drop(s);
        self.changed.notify_all();
    }
}

/// A slot in flight; give it back with what the attempt showed.
pub struct Permit<'a> {
    pace: &'a Pace,
    done: bool,
}

impl Permit<'_> {
    /// `pause`: hold every worker back this long (the receiver asked for it).
    pub fn release(mut self, signal: Signal, pause: Option<Duration>) {
        self.done = true;
        self.pace.release(signal, pause);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.pace.release(Signal::Neutral, None);
        }
    }
}

/// Sleeps `wait`, in slices, returning early (false) when `stop` is raised.
pub fn sleep(wait: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + wait;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn throttling_halves_and_health_grows_back_to_the_maximum_only() {
        assert_eq!(next_limit(8, 3, 8, Signal::Throttled), (4, 0));
        assert_eq!(next_limit(1, 0, 8, Signal::Throttled), (1, 0));
        let (mut limit, mut streak) = (2, 0);
        for _ in 0..100 {
            (limit, streak) = next_limit(limit, streak, 5, Signal::Healthy);
        }
        assert_eq!(limit, 5);
        assert_eq!(next_limit(3, 1, 5, Signal::Neutral), (3, 1));
    }

    #[test]
    fn never_more_in_flight_than_the_limit() {
        let pace = Arc::new(Pace::new(3));
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let (pace, now, peak, stop) =
                    (pace.clone(), now.clone(), peak.clone(), stop.clone());
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        let p = pace.acquire(&stop).unwrap();
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        now.fetch_sub(1, Ordering::SeqCst);
                        p.release(Signal::Healthy, None);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert!(peak.load(Ordering::SeqCst) <= 3);
    }

    #[test]
    fn a_pause_holds_back_the_next_acquire() {
        let pace = Pace::new(2);
        let stop = AtomicBool::new(false);
        pace.acquire(&stop)
            .unwrap()
            .release(Signal::Throttled, Some(Duration::from_millis(80)));
        let t = Instant::now();
        drop(pace.acquire(&stop).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(70));
        assert_eq!(pace.limit(), 1);
    }
}
