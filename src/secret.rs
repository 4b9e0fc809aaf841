//! Secret values (credentials, header values, signing keys, Slack and ping URLs): a wrapper that
//! prints `***`, and a registry of every secret the process holds, so that text from a server
//! (which may echo what it was sent) is scrubbed ([`scrub`]) before it is printed or sent.

use serde::{Deserialize, Deserializer, Serialize};
use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::RwLock;

#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

/// Every secret value made in this process, longest first (replaced whole).
static KNOWN: RwLock<BTreeSet<(Reverse<usize>, String)>> = RwLock::new(BTreeSet::new());

/// Values shorter than this are not scrubbed: that would destroy messages.
const MIN_SCRUBBED_LEN: usize = 4;

/// Adds a value to what [`scrub`] removes.
pub fn register(value: &str) {
    let value = value.trim();
    if value.len() < MIN_SCRUBBED_LEN {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    known.insert((Reverse(value.len()), value.to_string()));
}

/// `text` with every registered secret replaced by `***`.
pub fn scrub(text: &str) -> String {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    let found = known.iter().filter(|(_, k)| text.contains(k));
    found.fold(text.to_string(), |out, (_, k)| out.replace(k, "***"))
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The only way to the value: call sites that need it are easy to find and review.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// A secret read back (a cached token in the state file) is registered like a new one.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn scrub_removes_every_secret_made_or_registered() {
        let _a = Secret::new("scrub-test-secret-1");
        register("scrub-test-header-2");
        let echoed = "401: you sent Bearer scrub-test-secret-1 and X-Key scrub-test-header-2";
        assert_eq!(scrub(echoed), "401: you sent Bearer *** and X-Key ***");
        let back: Secret = serde_json::from_str("\"scrub-test-from-state-3\"").unwrap();
        assert_eq!(scrub("tok scrub-test-from-state-3"), "tok ***");
        assert_eq!(back.expose(), "scrub-test-from-state-3");
    }

    #[test]
    fn a_secret_containing_another_is_replaced_whole() {
        register("scrub-nest");
        register("scrub-nest-longer-value");
        assert_eq!(scrub("x scrub-nest-longer-value y"), "x *** y");
    }
}
