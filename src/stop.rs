//! The run's stop token, shared by every thread: why the run stops ([`Cause`]: a signal, a
//! delivery that failed for good, the deadline, or reading that is over) and when it must end
//! (the deadline: MAX_RUN_TIME, brought forward by a signal to the end of its grace). A thread
//! that must wait for a time sleeps on the token ([`Stop::sleep_until`]), which a stop ends at
//! once. Threads tell the run what happened through its one channel ([`Tell`]); the run reads it
//! with a timeout at its deadline ([`receive`]), and a thread that panics tells that too
//! ([`panicked`]). A leaf: it imports nothing from the crate.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

/// Why a run stops, the least weighty first: a token keeps the weightiest cause it was fired
/// with, so a signal is never hidden by the failure it caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// Reading is over (all read, MAX_RUN_TIME near, a fetch failed): what was read is sent.
    Read,
    /// The deadline passed: nothing more is started or waited for.
    Deadline,
    /// A delivery failed for good: nothing more is started.
    Failed,
    /// SIGTERM or SIGINT: nothing more is started; what is under way has until its grace ends.
    Signal(i32),
}

/// Who waits, which decides what stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The source: stops for every cause.
    Reading,
    /// Deliveries, and reports sent while the run goes on: not stopped by [`Cause::Read`].
    Sending,
    /// The reports of the run's end (Slack, the end ping): stopped only by the deadline, so a
    /// failed or interrupted run still tells.
    Reporting,
}

/// A run's stop token and deadline. A route's token is a child of the run's: it stops for its
/// own failure alone, and for the run's every cause and deadline.
#[derive(Debug, Default)]
pub struct Stop {
    state: Mutex<State>,
    changed: Condvar,
    parent: Option<Arc<Stop>>,
    children: Mutex<Vec<Weak<Stop>>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    cause: Option<Cause>,
    deadline: Option<Instant>,
}

impl State {
    /// The weightiest cause that stops `part` (a passed deadline stops every part).
    fn stopping(&self, now: Instant, part: Part) -> Option<Cause> {
        let stops = |c: &Cause| match part {
            Part::Reading => true,
            Part::Sending => *c != Cause::Read,
            Part::Reporting => *c == Cause::Deadline,
        };
        let past = self.deadline.filter(|d| now >= *d).map(|_| Cause::Deadline);
        self.cause.filter(stops).max(past)
    }

    /// Both at once: the weightier cause and the earlier deadline.
    fn with(self, news: State) -> State {
        let deadline = self.deadline.into_iter().chain(news.deadline).min();
        State {
            cause: self.cause.max(news.cause),
            deadline,
        }
    }
}

impl Stop {
    /// A token with no deadline yet ([`Stop::shorten`] sets one).
    pub fn new() -> Stop {
        Stop::default()
    }

    /// A token whose deadline is `at`.
    pub fn until(at: Instant) -> Stop {
        let stop = Stop::new();
        stop.shorten(at);
        stop
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        held(&self.state)
    }

    /// A token that stops for its own cause or any of `parent`'s, by `parent`'s deadline.
    pub fn child(parent: &Arc<Stop>) -> Arc<Stop> {
        let child = Arc::new(Stop {
            parent: Some(Arc::clone(parent)),
            ..Stop::default()
        });
        held(&parent.children).push(Arc::downgrade(&child));
        child
    }

    /// The token's state with its parent's cause and deadline.
    fn seen(&self, own: &State) -> State {
        let parent = self.parent.as_ref().map(|p| p.seen(&p.lock()));
        own.with(parent.unwrap_or_default())
    }

    /// Adds to the state, and wakes every sleep on the token, and on its children, to see it.
    fn change(&self, cause: Option<Cause>, deadline: Option<Instant>) {
        let mut own = self.lock();
        *own = own.with(State { cause, deadline });
        // Released first: a child's sleep holds its own lock, then takes this one.
        drop(own);
        self.changed.notify_all();
        for child in held(&self.children).iter().filter_map(Weak::upgrade) {
            // Taken so that a child between its check and its wait cannot miss the news.
            let _held = child.lock();
            child.changed.notify_all();
        }
    }

    /// Fires the token for `cause` (kept if it weighs more than the one it has).
    pub fn fire(&self, cause: Cause) {
        self.change(Some(cause), None);
    }

    /// A signal: fires the token for it and brings the deadline forward to the end of `grace`,
    /// in one step, so no wait sees one without the other.
    pub fn interrupt(&self, signal: i32, grace: Duration) {
        self.change(Some(Cause::Signal(signal)), Some(Instant::now() + grace));
    }

    /// Moves the deadline to `to` if that is earlier (or sets it, if there was none).
    pub fn shorten(&self, to: Instant) {
        self.change(None, Some(to));
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.seen(&self.lock()).deadline
    }

    /// Time left until the deadline: zero once passed, `Duration::MAX` without one.
    pub fn remaining(&self) -> Duration {
        let left = |d: Instant| d.saturating_duration_since(Instant::now());
        self.deadline().map_or(Duration::MAX, left)
    }

    /// Why the token fired, counting a deadline that has passed; `None` while the run goes on.
    pub fn cause(&self) -> Option<Cause> {
        self.stopped(Part::Reading)
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
        self.seen(&self.lock()).stopping(Instant::now(), part)
    }

    /// Sleeps until `end`; `Err` with the cause as soon as one stops `part` (the token fires,
    /// or the deadline, wherever it has moved, passes first).
    pub fn sleep_until(&self, end: Instant, part: Part) -> Result<(), Cause> {
        let mut s = self.lock();
        loop {
            let (now, seen) = (Instant::now(), self.seen(&s));
            seen.stopping(now, part).map_or(Ok(()), Err)?;
            if now >= end {
                return Ok(());
            }
            // Before the deadline, or there would be a cause.
            let wake = seen.deadline.map_or(end, |d| d.min(end));
            let woken = self.changed.wait_timeout(s, wake - now);
            s = woken.unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

/// How a thread tells the run what happened, into the run's one channel; false when the run no
/// longer listens.
pub type Tell<T> = Arc<dyn Fn(T) -> bool + Send + Sync>;

/// The next message of a run's channel, waiting for it until `until` (`None`: as long as it
/// takes); `None` at `until`, or when no thread may send any more.
pub fn receive<M>(rx: &Receiver<M>, until: Option<Instant>) -> Option<M> {
    let left = |u: Instant| u.saturating_duration_since(Instant::now());
    // Without a time, `Duration::MAX` waits as long as it takes.
    rx.recv_timeout(until.map_or(Duration::MAX, left)).ok()
}

/// A lock that a thread panicked holding is used as it is: that must not stop the others.
pub fn held<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a thread that panicked said, for the message that names it.
pub fn panicked(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload.downcast_ref::<&str>().copied();
    (text.or(payload.downcast_ref::<String>().map(String::as_str)))
        .unwrap_or("no message")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_panic_is_told_with_its_message() {
        let caught = std::panic::catch_unwind(|| panic!("window {}", 2)).unwrap_err();
        assert_eq!(panicked(caught.as_ref()), "window 2");
        let caught = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panicked(caught.as_ref()), "plain");
    }

    #[test]
    fn a_message_is_received_until_a_time() {
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(1).unwrap();
        assert_eq!(receive(&rx, Some(Instant::now())), Some(1));
        assert_eq!(
            receive(&rx, Some(Instant::now())),
            None,
            "none came by then"
        );
        drop(tx);
        assert_eq!(receive::<i32>(&rx, None), None, "nobody may send any more");
    }

    #[test]
    fn a_route_token_fails_alone_and_stops_with_the_run() {
        let run = Arc::new(Stop::new());
        let (a, b) = (Stop::child(&run), Stop::child(&run));
        a.fire(Cause::Failed);
        assert_eq!(a.stopped(Part::Sending), Some(Cause::Failed));
        assert_eq!(b.stopped(Part::Sending), None, "a sibling goes on");
        assert_eq!(run.stopped(Part::Reading), None, "and so does the read");
        // A signal to the run ends a route's wait at once.
        let woke = while_waiting(
            &b,
            |b| b.sleep_until(Instant::now() + HOUR, Part::Sending),
            |_| {
                std::thread::sleep(Duration::from_millis(50));
                run.interrupt(15, Duration::from_secs(5));
            },
        );
        assert_eq!(woke, Err(Cause::Signal(15)));
        assert!(
            b.remaining() <= Duration::from_secs(5),
            "the run's deadline is the route's"
        );
    }
}
