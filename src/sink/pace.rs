//! How fast the worker pool sends: a shared pause (`Retry-After` on a 429 or 503), and an
//! in-flight limit that halves on throttling and grows back by one (AIMD).

use crate::stop::{Part, Stop};
// A thread that panicked holding the lock must not stop the others: the state is used as it is.
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What an answer told of the receiver's load: 2xx healthy, 429 or 503 throttled, else no news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Healthy,
    Throttled,
    Neutral,
}

/// The in-flight limit and what it has seen since it last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aimd {
    pub limit: usize,
    /// Healthy answers since the limit last grew.
    pub healthy: usize,
    /// Answers since the limit was last cut.
    pub since_cut: usize,
}

impl Aimd {
    pub fn new(max: usize) -> Aimd {
        Aimd {
            limit: max,
            healthy: 0,
            since_cut: max,
        }
    }

    /// The next state after one answer: a cut halves the limit at most once per `limit` answers
    /// (those to requests sent before it say nothing), `limit` healthy ones add one, up to `max`.
    pub fn next(self, max: usize, signal: Signal) -> Aimd {
        let since_cut = self.since_cut + 1;
        match signal {
            Signal::Throttled if self.since_cut >= self.limit => Aimd {
                limit: (self.limit / 2).max(1),
                healthy: 0,
                since_cut: 0,
            },
            Signal::Healthy if self.healthy + 1 >= self.limit => Aimd {
                limit: (self.limit + 1).min(max),
                healthy: 0,
                since_cut,
            },
            Signal::Healthy => Aimd {
                healthy: self.healthy + 1,
                since_cut,
                ..self
            },
            Signal::Throttled | Signal::Neutral => Aimd { since_cut, ..self },
        }
    }
}

pub struct Pace {
    max: usize,
    state: Mutex<PaceState>,
    changed: Condvar,
}

struct PaceState {
    aimd: Aimd,
    in_flight: usize,
    not_before: Instant,
}

impl Pace {
    pub fn new(max: usize) -> Pace {
        Pace {
            max,
            state: Mutex::new(PaceState {
                aimd: Aimd::new(max),
                in_flight: 0,
                not_before: Instant::now(),
            }),
            changed: Condvar::new(),
        }
    }

    /// Waits for a free slot and any shared pause; `None` when the run stops sending.
    pub fn acquire<'a>(&'a self, stop: &Stop) -> Option<Permit<'a>> {
        let mut s = self.lock();
        loop {
            if stop.stopped(Part::Sending).is_some() {
                return None;
            }
            let now = Instant::now();
            if now < s.not_before {
                // A pause the receiver asked for: slept on the token, which a stop ends.
                let end = s.not_before;
                drop(s);
                stop.sleep_until(end, Part::Sending).ok()?;
                s = self.lock();
                continue;
            }
            if s.in_flight < s.aimd.limit {
                s.in_flight += 1;
                return Some(Permit(self, Signal::Neutral, None));
            }
            // A release wakes us: the requests in flight end by the deadline, and after a stop
            // the next release finds it.
            let wait = stop.remaining().max(Duration::from_millis(1));
            let woken = self.changed.wait_timeout(s, wait);
            s = woken.unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PaceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A slot in flight; give it back with what the attempt showed (dropped: no news about load).
pub struct Permit<'a>(&'a Pace, Signal, Option<Duration>);

impl Permit<'_> {
    /// `pause`: hold every worker back this long (the receiver said so with `Retry-After`).
    pub fn release(mut self, signal: Signal, pause: Option<Duration>) {
        (self.1, self.2) = (signal, pause);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight -= 1;
        s.aimd = s.aimd.next(self.0.max, self.1);
        if let Some(p) = self.2 {
            s.not_before = s.not_before.max(Instant::now() + p);
        }
        drop(s);
        self.0.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Pace {
        fn limit(&self) -> usize {
            self.lock().aimd.limit
        }
    }
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn run(max: usize, signals: &[Signal]) -> Aimd {
        signals.iter().fold(Aimd::new(max), |a, s| a.next(max, *s))
    }

    #[test]
    fn throttling_halves_once_per_window() {
        use Signal::*;
        assert_eq!(run(8, &[Throttled]).limit, 4);
        // The next four answers (the window of the new limit) cannot cut again...
        assert_eq!(run(8, &[Throttled; 5]).limit, 4);
        // ...the one after them can.
        assert_eq!(run(8, &[Throttled; 6]).limit, 2);
        assert_eq!(run(1, &[Throttled, Throttled, Throttled]).limit, 1);
    }

    #[test]
    fn health_grows_the_limit_back_to_the_maximum_only() {
        let mut signals = vec![Signal::Throttled];
        signals.extend(std::iter::repeat_n(Signal::Healthy, 100));
        assert_eq!(run(5, &signals).limit, 5);
        assert_eq!(
            run(5, &[Signal::Throttled, Signal::Neutral, Signal::Neutral]).limit,
            2
        );
    }

    #[test]
    fn random_failures_do_not_drive_the_limit_to_one() {
        // 30% of answers throttled, at random: the limit must stay useful.
        let mut rng = fastrand::Rng::with_seed(7);
        let mut a = Aimd::new(8);
        let mut total = 0;
        for _ in 0..10_000 {
            let s = if rng.f64() < 0.3 {
                Signal::Throttled
            } else {
                Signal::Healthy
            };
            a = a.next(8, s);
            total += a.limit;
        }
        assert!(total / 10_000 >= 2, "mean limit {}", total / 10_000);
    }

    #[test]
    fn never_more_in_flight_than_the_limit() {
        let pace = Arc::new(Pace::new(3));
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(Stop::new());
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
    fn a_worker_waiting_for_a_slot_gives_up_when_the_run_stops_or_its_deadline_passes() {
        let pace = Arc::new(Pace::new(1));
        let stop = Arc::new(Stop::new());
        let held = pace.acquire(&stop).unwrap();
        let waiter = {
            let (pace, stop) = (Arc::clone(&pace), Arc::clone(&stop));
            std::thread::spawn(move || pace.acquire(&stop).is_none())
        };
        stop.interrupt(15, Duration::from_secs(3600));
        drop(held);
        assert!(waiter.join().unwrap(), "a slot was taken after the signal");

        // A pause the receiver asked for ends at a stop.
        let pace = Arc::new(Pace::new(1));
        let stop = Arc::new(Stop::new());
        pace.acquire(&stop)
            .unwrap()
            .release(Signal::Throttled, Some(Duration::from_secs(3600)));
        let waiter = {
            let (pace, stop) = (Arc::clone(&pace), Arc::clone(&stop));
            std::thread::spawn(move || pace.acquire(&stop).is_none())
        };
        stop.interrupt(15, Duration::from_secs(3600));
        assert!(waiter.join().unwrap(), "the pause went on after the signal");

        // No fire: the deadline alone ends the wait.
        let pace = Pace::new(1);
        let stop = Stop::until(Instant::now() + Duration::from_millis(20));
        let _held = pace.acquire(&stop).unwrap();
        assert!(pace.acquire(&stop).is_none());
    }

    #[test]
    fn a_pause_holds_back_the_next_acquire() {
        let pace = Pace::new(2);
        let stop = Stop::new();
        pace.acquire(&stop)
            .unwrap()
            .release(Signal::Throttled, Some(Duration::from_millis(80)));
        let t = Instant::now();
        drop(pace.acquire(&stop).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(70));
        assert_eq!(pace.limit(), 1);
    }
}
