//! The ordered acknowledgement of logs (Vector's ordered finalizer is the model): every log of
//! the stream is pushed in id order, a matching one as pending; deliveries end in any order;
//! the checkpoint moves to the last log with nothing pending at or before it. The one decision
//! that makes delivery at-least-once. Pure, unit- and property-tested.

use std::collections::VecDeque;

/// What became of one matching log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The webhook answered 2xx for the request that carried it (or the dry run printed it).
    Delivered,
    /// Refused by the receiver and written to the dead-letter file.
    DeadLettered,
    /// Not delivered: failed, or never attempted. The checkpoint never passes it.
    Pending,
}

/// A ticket for a pending log, given back with its fate.
pub type Seq = u64;

#[derive(Debug)]
struct Slot {
    id: String,
    date: Option<String>,
    /// Skipped logs are handled at once; a matching log when its delivery ends well.
    handled: bool,
}

impl Slot {
    fn new(id: &str, date: Option<&str>, handled: bool) -> Slot {
        let (id, date) = (id.to_string(), date.map(str::to_string));
        Slot { id, date, handled }
    }
}

/// The logs not yet behind the checkpoint, oldest first. Skipped logs that follow a handled
/// one share its slot, so the queue holds about one slot per matching log in flight.
#[derive(Debug, Default)]
pub struct Acker {
    queue: VecDeque<Slot>,
    /// The ticket of `queue[0]`.
    front: Seq,
    /// The last log with nothing pending at or before it: where the next run starts after.
    pub(super) checkpoint: Option<String>,
    /// `date` of the newest log the checkpoint passed (that had one).
    pub(super) date: Option<String>,
}

impl Acker {
    pub fn new(checkpoint: Option<String>) -> Acker {
        Acker {
            checkpoint,
            ..Acker::default()
        }
    }

    /// A log that did not match: nothing to send.
    pub fn skip(&mut self, id: &str, date: Option<&str>) {
        let slot = Slot::new(id, date, true);
        match self.queue.back_mut() {
            None => self.pass(slot.id, slot.date),
            Some(last) if last.handled => *last = slot,
            Some(_) => self.queue.push_back(slot),
        }
    }

    /// A matching log: pending until [`Acker::ack`] says how its delivery ended.
    pub fn pending(&mut self, id: &str, date: Option<&str>) -> Seq {
        self.queue.push_back(Slot::new(id, date, false));
        self.front + self.queue.len() as Seq - 1
    }

    /// A delivery ended. `Pending` (it failed) changes nothing: that log holds the checkpoint
    /// back for the rest of the run.
    pub fn ack(&mut self, seq: Seq, fate: Fate) {
        let i = seq
            .checked_sub(self.front)
            .filter(|_| fate != Fate::Pending);
        if let Some(slot) = i.and_then(|i| self.queue.get_mut(i as usize)) {
            slot.handled = true;
        }
        while self.queue.front().is_some_and(|s| s.handled) {
            let slot = self.queue.pop_front().expect("front exists");
            self.front += 1;
            self.pass(slot.id, slot.date);
        }
    }

    /// Moves the checkpoint to `id` (`date`: its log's, if it had one).
    pub(super) fn pass(&mut self, id: String, date: Option<String>) {
        self.checkpoint = Some(id);
        self.date = date.or(self.date.take());
    }

    /// Whether nothing is pending or waiting behind a pending log.
    pub fn idle(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Matching logs whose delivery has not ended well, or that wait behind one that has not.
    fn waiting(a: &Acker) -> usize {
        a.queue.iter().filter(|s| !s.handled).count()
    }

    fn id(i: usize) -> String {
        format!("{i:04}")
    }

    #[test]
    fn skipped_logs_pass_at_once_when_nothing_is_pending() {
        let mut a = Acker::new(Some("0000".into()));
        a.skip("0001", Some("d1"));
        a.skip("0002", None);
        assert_eq!(a.checkpoint.as_deref(), Some("0002"));
        assert_eq!(a.date.as_deref(), Some("d1"));
    }

    #[test]
    fn stops_before_the_first_pending_log_whatever_order_acks_come_in() {
        let mut a = Acker::new(None);
        a.skip("0001", None);
        let s2 = a.pending("0002", None);
        a.skip("0003", None);
        let s4 = a.pending("0004", None);
        a.skip("0005", None);
        assert_eq!(a.checkpoint.as_deref(), Some("0001"));
        a.ack(s4, Fate::Delivered);
        assert_eq!(
            a.checkpoint.as_deref(),
            Some("0001"),
            "0002 is still pending"
        );
        a.ack(s2, Fate::DeadLettered);
        assert_eq!(a.checkpoint.as_deref(), Some("0005"));
        assert_eq!(waiting(&a), 0);
    }

    #[test]
    fn a_failed_delivery_holds_the_checkpoint() {
        let mut a = Acker::new(Some("0000".into()));
        let s1 = a.pending("0001", None);
        let s2 = a.pending("0002", None);
        a.ack(s2, Fate::Delivered);
        a.ack(s1, Fate::Pending);
        assert_eq!(a.checkpoint.as_deref(), Some("0000"));
        assert_eq!(waiting(&a), 1);
    }

    /// What became of one log of a stream, for the property tests here and in `ledger`.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(crate) enum Log {
        Skipped,
        Matched(Fate),
    }

    pub(crate) fn log() -> impl Strategy<Value = Log> {
        prop_oneof![
            Just(Log::Skipped),
            Just(Log::Matched(Fate::Delivered)),
            Just(Log::Matched(Fate::DeadLettered)),
            Just(Log::Matched(Fate::Pending)),
        ]
    }

    proptest! {
        /// The invariant the whole tool rests on: nothing pending is ever at or before the
        /// checkpoint, and nothing handled is left behind without need, whatever order the
        /// deliveries end in.
        #[test]
        fn never_passes_an_undelivered_log(
            logs in proptest::collection::vec(log(), 0..200),
            order in any::<u64>(),
        ) {
            let mut a = Acker::new(None);
            let mut tickets = Vec::new();
            for (i, l) in logs.iter().enumerate() {
                match l {
                    Log::Skipped => a.skip(&id(i), None),
                    Log::Matched(f) => tickets.push((a.pending(&id(i), None), *f)),
                }
            }
            fastrand::Rng::with_seed(order).shuffle(&mut tickets);
            for (seq, fate) in tickets {
                a.ack(seq, fate);
            }
            let handled = |l: &Log| !matches!(l, Log::Matched(Fate::Pending));
            let passed = match a.checkpoint.as_deref() {
                Some(c) => logs.iter().enumerate().position(|(i, _)| id(i) == c).unwrap() + 1,
                None => 0,
            };
            prop_assert!(logs[..passed].iter().all(handled));
            if passed < logs.len() {
                prop_assert!(!handled(&logs[passed]));
            }
        }
    }
}
