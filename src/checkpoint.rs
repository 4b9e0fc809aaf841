//! How far the checkpoint may move after a page: the one decision that makes delivery
//! at-least-once. A pure function, unit- and property-tested.

/// What became of one fetched log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Did not match the filters: nothing to send, safe to pass.
    Skipped,
    /// The webhook answered 2xx for the request that carried it.
    Delivered,
    /// Permanently refused and written to the dead-letter file.
    DeadLettered,
    /// Matched but not (yet) delivered: failed, or never attempted.
    Pending,
}

impl Fate {
    pub fn is_handled(self) -> bool {
        self != Fate::Pending
    }
}

/// The new checkpoint after a page whose logs (in Auth0's order) met these fates: the id of the
/// last log of the longest run of handled logs from the page's start. `None` when the first log
/// is still pending: the checkpoint stays where it was.
pub fn advance<'a>(page: impl IntoIterator<Item = (&'a str, Fate)>) -> Option<&'a str> {
    page.into_iter()
        .take_while(|(_, fate)| fate.is_handled())
        .last()
        .map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:04}")).collect()
    }

    #[test]
    fn all_handled_moves_to_the_last_log() {
        let ids = ids(3);
        let page = ids.iter().map(|i| i.as_str()).zip([
            Fate::Skipped,
            Fate::Delivered,
            Fate::DeadLettered,
        ]);
        assert_eq!(advance(page), Some("0002"));
    }

    #[test]
    fn stops_before_the_first_pending_log() {
        let ids = ids(4);
        let page = ids.iter().map(|i| i.as_str()).zip([
            Fate::Delivered,
            Fate::Pending,
            Fate::Delivered,
            Fate::Skipped,
        ]);
        assert_eq!(advance(page), Some("0000"));
    }

    #[test]
    fn pending_first_log_keeps_the_old_checkpoint() {
        assert_eq!(
            advance([("a", Fate::Pending), ("b", Fate::Delivered)]),
            None
        );
        assert_eq!(advance(std::iter::empty()), None);
    }

    fn fate() -> impl Strategy<Value = Fate> {
        prop_oneof![
            Just(Fate::Skipped),
            Just(Fate::Delivered),
            Just(Fate::DeadLettered),
            Just(Fate::Pending)
        ]
    }

    proptest! {
        /// The invariant the whole tool rests on: nothing pending is ever at or before the
        /// checkpoint, and nothing handled is left behind without need.
        #[test]
        fn never_passes_an_undelivered_log(fates in proptest::collection::vec(fate(), 0..200)) {
            let ids = ids(fates.len());
            let got = advance(ids.iter().map(|i| i.as_str()).zip(fates.iter().copied()));
            let passed = match got {
                Some(id) => ids.iter().position(|i| i == id).unwrap() + 1,
                None => 0,
            };
            prop_assert!(fates[..passed].iter().all(|f| f.is_handled()));
            if passed < fates.len() {
                prop_assert_eq!(fates[passed], Fate::Pending);
            }
        }
    }
}
