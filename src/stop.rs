//! The run's stop token, shared by every thread: why the run stops ([`Cause`]: a signal, a
//! delivery that failed for good, the deadline, or reading that is over) and when it must end
//! (the deadline: MAX_RUN_TIME, brought forward by a signal to the end of its grace). Waits on
//! the token are timed to the deadline and wake the moment it fires or the deadline moves;
//! waits on another condition variable register a waker; the run's own loop also wakes on news
//! (a page read, a request answered). A leaf: it imports nothing from the crate.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Why a run stops, the least weighty first: a token keeps the weightiest cause it was fired
/// with, so a signal is never hidden by the failure it caused, nor the end of reading by
/// anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// Reading is over (all read, MAX_RUN_TIME near, a fetch failed, a dry run's reader left):
    /// only the source stops; what was read is still delivered.
    Read,
    /// The deadline passed: nothing more is started or waited for.
    Deadline,
    /// A delivery failed for good: nothing more is started, as the checkpoint cannot pass the
    /// failed log anyway.
    Failed,
    /// SIGTERM or SIGINT (its number): nothing more is started, and what is under way has
    /// until the deadline, which the signal brought forward to the end of its grace.
    Signal(i32),
}

/// Who waits, which decides what stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The source: stops for every cause.
    Reading,
    /// Deliveries, and reports sent while the run goes on: go on after [`Cause::Read`], to
    /// deliver what was read.
    Sending,
    /// The reports of the run's end (Slack, the end ping): stopped only by the deadline, so a
    /// run that failed or was interrupted still tells, within its time.
    Reporting,
}

impl Cause {
    /// Whether this cause stops `part`.
    pub fn stops(self, part: Part) -> bool {
        match part {
            Part::Reading => true,
            Part::Sending => self != Cause::Read,
            Part::Reporting => self == Cause::Deadline,
        }
    }
}

/// Called when the token fires or its deadline moves.
type Waker = Box<dyn Fn() + Send + Sync>;

/// A run's stop token and deadline.
pub struct Stop {
    state: Mutex<State>,
    changed: Condvar,
    wakers: Mutex<Vec<Waker>>,
}

struct State {
    cause: Option<Cause>,
    deadline: Option<Instant>,
    /// Moves on every fire, every move of the deadline and every nudge: a waiter that saw one
    /// value wakes when it changes.
    news: u64,
}

impl State {
    /// The cause, counting a deadline that has passed.
    fn cause(&self, now: Instant) -> Option<Cause> {
        self.cause.max(self.past(now))
    }

    /// The weightiest cause that stops `part` (a passed deadline stops every part).
    fn stopping(&self, now: Instant, part: Part) -> Option<Cause> {
        self.cause.filter(|c| c.stops(part)).max(self.past(now))
    }

    fn past(&self, now: Instant) -> Option<Cause> {
        self.deadline
            .is_some_and(|d| now >= d)
            .then_some(Cause::Deadline)
    }
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Stop")
            .field("cause", &s.cause)
            .field("deadline", &s.deadline)
            .finish_non_exhaustive()
    }
}

impl Default for Stop {
    fn default() -> Stop {
        Stop::new()
    }
}

impl Stop {
    /// A token with no deadline yet ([`Stop::shorten`] sets one).
    pub fn new() -> Stop {
        Stop {
            state: Mutex::new(State {
                cause: None,
                deadline: None,
                news: 0,
            }),
            changed: Condvar::new(),
            wakers: Mutex::new(Vec::new()),
        }
    }

    /// A token whose deadline is `at`.
    pub fn until(at: Instant) -> Stop {
        let stop = Stop::new();
        stop.lock().deadline = Some(at);
        stop
    }

    // A thread that panicked holding the lock must not stop the others: the state is plain
    // values, used as they are.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state under the lock; when it changed, wakes every wait on the token and
    /// calls the wakers.
    fn change(&self, f: impl FnOnce(&mut State) -> bool) {
        if self.tell(f) {
            for wake in self
                .wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
            {
                wake();
            }
        }
    }

    /// Changes the state under the lock; when it changed, wakes every wait on the token.
    /// Whether it changed.
    fn tell(&self, f: impl FnOnce(&mut State) -> bool) -> bool {
        let mut s = self.lock();
        if !f(&mut s) {
            return false;
        }
        s.news = s.news.wrapping_add(1);
        drop(s);
        self.changed.notify_all();
        true
    }

    /// Fires the token for `cause` (kept if it weighs more than the one it has).
    pub fn fire(&self, cause: Cause) {
        self.change(|s| {
            let was = s.cause;
            s.cause = s.cause.max(Some(cause));
            s.cause != was
        });
    }

    /// A signal: fires the token for it and brings the deadline forward to the end of `grace`,
    /// in one step, so no wait sees one without the other.
    pub fn interrupt(&self, signal: i32, grace: Duration) {
        let end = Instant::now() + grace;
        self.change(|s| {
            s.cause = s.cause.max(Some(Cause::Signal(signal)));
            s.deadline = Some(s.deadline.map_or(end, |d| d.min(end)));
            true
        });
    }

    /// Moves the deadline to `to` if that is earlier (or sets it, if there was none).
    pub fn shorten(&self, to: Instant) {
        self.change(|s| {
            let earlier = s.deadline.is_none_or(|d| to < d);
            if earlier {
                s.deadline = Some(to);
            }
            earlier
        });
    }

    /// The deadline, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.lock().deadline
    }

    /// Time left until the deadline: zero once passed, `Duration::MAX` without one.
    pub fn remaining(&self) -> Duration {
        match self.deadline() {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::MAX,
        }
    }

    /// Why the token fired, counting a deadline that has passed; `None` while the run goes on.
    pub fn cause(&self) -> Option<Cause> {
        self.lock().cause(Instant::now())
    }

    /// The signal that stopped the run, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.cause() {
            Some(Cause::Signal(sig)) => Some(sig),
            _ => None,
        }
    }

    /// The cause, when it stops `part`.
    pub fn stopped(&self, part: Part) -> Option<Cause> {
        self.lock().stopping(Instant::now(), part)
    }

    /// Sleeps until `end`; `Err` with the cause as soon as one stops `part` (the token fires,
    /// or the deadline, wherever it has moved, passes first).
    pub fn sleep_until(&self, end: Instant, part: Part) -> Result<(), Cause> {
        let mut s = self.lock();
        loop {
            let now = Instant::now();
            if let Some(cause) = s.stopping(now, part) {
                return Err(cause);
            }
            if now >= end {
                return Ok(());
            }
            // Before the deadline, or there would be a cause.
            let wake = s.deadline.map_or(end, |d| d.min(end));
            s = self
                .changed
                .wait_timeout(s, wake - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// A mark of what the token has seen, for [`Stop::await_news`]: taken before looking for
    /// work, so news that comes after the look is not missed.
    pub fn news(&self) -> u64 {
        self.lock().news
    }

    /// Tells the run's loop that something it waits for may have come (a page, an answer).
    pub fn nudge(&self) {
        self.tell(|_| true);
    }

    /// Waits until there is news after `seen` (a nudge, a fire, a move of the deadline), or
    /// `until`.
    pub fn await_news(&self, seen: u64, until: Option<Instant>) {
        let mut s = self.lock();
        while s.news == seen {
            s = match until {
                None => self.changed.wait(s).unwrap_or_else(PoisonError::into_inner),
                Some(until) => {
                    let now = Instant::now();
                    if now >= until {
                        return;
                    }
                    self.changed
                        .wait_timeout(s, until - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Calls `wake` whenever the token fires or its deadline moves: a wait on
    /// another condition variable (the rate budget, the pool's slots) wakes to look at the
    /// token. `wake` must not use the token's wakers itself.
    pub fn on_change(&self, wake: impl Fn() + Send + Sync + 'static) {
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(wake));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const HOUR: Duration = Duration::from_secs(3600);

    /// Runs `wait` on another thread, then `then` here; what the wait returned.
    fn while_waiting<T: Send + 'static>(
        stop: &Arc<Stop>,
        wait: impl FnOnce(&Stop) -> T + Send + 'static,
        then: impl FnOnce(&Stop),
    ) -> T {
        let waiter = {
            let stop = Arc::clone(stop);
            std::thread::spawn(move || wait(&stop))
        };
        then(stop);
        waiter.join().unwrap()
    }

    #[test]
    fn a_deadline_only_moves_earlier() {
        let now = Instant::now();
        let stop = Stop::new();
        assert_eq!(stop.remaining(), Duration::MAX);
        stop.shorten(now + Duration::from_secs(60));
        stop.shorten(now + Duration::from_secs(120));
        assert!(stop.remaining() > Duration::from_secs(50));
        assert_eq!(stop.cause(), None);
        stop.shorten(now);
        assert_eq!(stop.remaining(), Duration::ZERO);
        assert_eq!(stop.cause(), Some(Cause::Deadline));
    }

    #[test]
    fn the_weightiest_cause_is_kept() {
        let stop = Stop::until(Instant::now() + HOUR);
        stop.fire(Cause::Read);
        assert_eq!(stop.cause(), Some(Cause::Read));
        stop.fire(Cause::Failed);
        stop.fire(Cause::Read);
        assert_eq!(stop.cause(), Some(Cause::Failed));
        assert_eq!(stop.signal(), None);
        stop.interrupt(15, Duration::from_secs(10));
        stop.fire(Cause::Failed);
        assert_eq!(stop.cause(), Some(Cause::Signal(15)));
        assert_eq!(stop.signal(), Some(15));
        assert!(stop.remaining() <= Duration::from_secs(10), "the grace");
    }

    #[test]
    fn the_end_of_reading_stops_only_the_reading() {
        let stop = Stop::until(Instant::now() + HOUR);
        stop.fire(Cause::Read);
        assert_eq!(stop.stopped(Part::Reading), Some(Cause::Read));
        assert_eq!(stop.stopped(Part::Sending), None);
        assert_eq!(stop.sleep_until(Instant::now(), Part::Sending), Ok(()));
        assert_eq!(
            stop.sleep_until(Instant::now() + HOUR, Part::Reading),
            Err(Cause::Read)
        );
        stop.fire(Cause::Failed);
        assert_eq!(stop.stopped(Part::Sending), Some(Cause::Failed));
        assert_eq!(
            stop.stopped(Part::Reporting),
            None,
            "a failed run still tells"
        );
        stop.shorten(Instant::now());
        assert_eq!(stop.stopped(Part::Reporting), Some(Cause::Deadline));
        assert_eq!(stop.cause(), Some(Cause::Failed), "the run failed");
    }

    #[test]
    fn a_fire_ends_a_sleep_with_its_cause_and_every_later_one() {
        let stop = Arc::new(Stop::new());
        let slept = while_waiting(
            &stop,
            |s| s.sleep_until(Instant::now() + HOUR, Part::Sending),
            |s| s.fire(Cause::Failed),
        );
        assert_eq!(slept, Err(Cause::Failed));
        assert_eq!(
            stop.sleep_until(Instant::now() + HOUR, Part::Sending),
            Err(Cause::Failed)
        );
        assert_eq!(
            Stop::new().sleep_until(Instant::now(), Part::Sending),
            Ok(())
        );
    }

    #[test]
    fn a_signal_wakes_a_sleep_at_once_and_a_moved_deadline_wakes_one_timed_to_it() {
        let stop = Arc::new(Stop::until(Instant::now() + HOUR));
        let slept = while_waiting(
            &stop,
            |s| s.sleep_until(Instant::now() + 2 * HOUR, Part::Reading),
            |s| s.interrupt(2, Duration::from_secs(10)),
        );
        assert_eq!(slept, Err(Cause::Signal(2)));

        let stop = Arc::new(Stop::until(Instant::now() + HOUR));
        let slept = while_waiting(
            &stop,
            |s| s.sleep_until(Instant::now() + 2 * HOUR, Part::Sending),
            |s| s.shorten(Instant::now()),
        );
        assert_eq!(slept, Err(Cause::Deadline));
    }

    #[test]
    fn news_wakes_the_loop_and_so_does_a_fire() {
        let stop = Arc::new(Stop::new());
        let seen = stop.news();
        while_waiting(&stop, move |s| s.await_news(seen, None), Stop::nudge);
        let seen = stop.news();
        while_waiting(
            &stop,
            move |s| s.await_news(seen, None),
            |s| s.interrupt(15, Duration::ZERO),
        );
        // News that came before the wait is not waited for.
        let seen = stop.news();
        stop.nudge();
        stop.await_news(seen, None);
        // Without news, a wait with an end returns at it.
        stop.await_news(stop.news(), Some(Instant::now()));
    }

    #[test]
    fn wakers_hear_every_change() {
        let stop = Stop::new();
        let heard = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&heard);
        stop.on_change(move || {
            count.fetch_add(1, Ordering::SeqCst);
        });
        stop.fire(Cause::Read);
        stop.fire(Cause::Read);
        stop.shorten(Instant::now() + HOUR);
        stop.interrupt(15, Duration::from_secs(10));
        stop.nudge();
        assert_eq!(
            heard.load(Ordering::SeqCst),
            3,
            "a fire that changes nothing, or news, wakes no waker"
        );
    }
}
