//! Personal data in logs (PII_FIELDS, PII_METHOD): which values are personal, and the log's
//! text with those values masked, hashed or dropped and every other byte as Auth0 wrote it.
//!
//! The log is never parsed into a tree and printed again (that would change numbers such as
//! `1e3` or `12345678901234567890123`): a small scanner walks the JSON text, which serde has
//! already validated, notes where the personal values lie, and splices only those.

use crate::secret::Secret;
use crate::settings::{PII_FIELDS, PII_HASH_KEY};
use hmac::{Hmac, Mac};
use serde::de::IgnoredAny;
use sha2::Sha256;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Range;

/// Log Streams' `pii_config` field names, and the keys each one means in Auth0's logs.
pub const FIELDS: &[(&str, &[&str])] = &[
    ("email", &["email"]),
    ("username", &["username", "user_name"]),
    ("first_name", &["first_name", "given_name"]),
    ("last_name", &["last_name", "family_name"]),
    ("phone", &["phone", "phone_number"]),
    ("address", &["address"]),
];

/// What a personal value becomes (`Debug` shows no key: [`Secret`] prints `***`).
#[derive(Clone, Debug)]
pub enum Method {
    /// The string `"***"`, whatever the value was.
    Mask,
    /// The hex HMAC-SHA256 of the value under this key (keyed, so known addresses can't be hashed).
    Hash(Secret),
    /// The key and its value are removed.
    Drop,
}

/// The masking PII_FIELDS and PII_METHOD ask for.
#[derive(Debug, Clone)]
pub struct Pii {
    /// Keys masked wherever they are.
    keys: Vec<String>,
    /// Places masked, as the keys from the log's top; arrays on the way are passed through.
    paths: Vec<Vec<String>>,
    /// `"key"` for each key and path end: a log with none of them (nor an escape) is not scanned.
    needles: BTreeSet<String>,
    method: Method,
}

impl Pii {
    /// PII_FIELDS: Log Streams' names and dotted paths, comma-separated.
    pub fn parse(list: &str, method: Method) -> Result<Pii, String> {
        let (mut keys, mut paths) = (Vec::new(), Vec::new());
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let lower = entry.to_ascii_lowercase();
            if entry.contains('.') {
                let path: Vec<String> = entry.split('.').map(str::to_string).collect();
                if path.iter().any(String::is_empty) {
                    return Err(format!(
                        "'{entry}' is not a dotted path; write the keys from the log's top, e.g. details.request.body.password"
                    ));
                }
                paths.push(path);
            } else if let Some((_, names)) = FIELDS.iter().find(|(n, _)| *n == lower) {
                keys.extend(names.iter().map(|k| k.to_string()));
            } else {
                let known: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                let hint = crate::suggest::did_you_mean(&lower, &known).map(|h| h + " ");
                let hint = hint.unwrap_or_default();
                return Err(format!(
                    "`{entry}` is not one of Log Streams' fields ({}); {hint}for one place in the log give a dotted path, e.g. details.request.body.password",
                    known.join(", ")
                ));
            }
        }
        if keys.is_empty() && paths.is_empty() {
            return Err("names no field; e.g. email,username".to_string());
        }
        keys.sort();
        keys.dedup();
        Ok(Pii {
            needles: (keys.iter().chain(paths.iter().filter_map(|p| p.last())))
                .map(|k| format!("\"{k}\""))
                .collect(),
            keys,
            paths,
            method,
        })
    }

    /// The part of a log at `at` (the keys from the top) masked as in the whole log; `Err` when
    /// it nests deeper than [`MAX_DEPTH`].
    pub fn apply_at<'a>(&self, json: &'a str, at: &[&'a str]) -> Result<Cow<'a, str>, String> {
        // The part itself may be what is hidden (PII_FIELDS=details.request).
        if self.hits(at) && json.trim() != "null" {
            return Ok(Cow::Owned(self.replacement(json.trim())));
        }
        // Most logs cost a substring search; a key spelt with a `\u` escape needs a full scan.
        if !json.contains("\\u") && !self.needles.iter().any(|n| json.contains(n.as_str())) {
            return Ok(Cow::Borrowed(json));
        }
        let mut scan = Scan {
            text: json.as_bytes(),
            pii: self,
            edits: Vec::new(),
            path: at.iter().map(|k| Cow::Borrowed(*k)).collect(),
        };
        scan.value(scan.ws(0), at.len()).ok_or_else(|| {
            format!(
                "it nests deeper than {MAX_DEPTH} levels, more than {PII_FIELDS} masking reads, so it cannot be masked"
            )
        })?;
        if scan.edits.is_empty() {
            return Ok(Cow::Borrowed(json));
        }
        // In order, each edit between the text before and after it (none overlap).
        scan.edits.sort_by_key(|e| e.0.start);
        let (mut out, mut done) = (String::with_capacity(json.len()), 0);
        for (range, with) in scan.edits {
            out += &json[done..range.start];
            out += &with;
            done = range.end;
        }
        Ok(Cow::Owned(out + &json[done..]))
    }

    /// For `check`: what is hidden where, and how (never the hash key).
    pub fn describe(&self) -> String {
        let method = match self.method {
            Method::Mask => "masked".to_string(),
            Method::Hash(_) => format!("hashed (HMAC-SHA256 with {PII_HASH_KEY})"),
            Method::Drop => "dropped".to_string(),
        };
        let keys = self.keys.join(", ");
        let keys = (!keys.is_empty()).then(|| format!("the keys {keys} anywhere"));
        let paths = Vec::from_iter(self.paths.iter().map(|p| p.join(".")));
        let paths = (!paths.is_empty()).then(|| paths.join(", "));
        let what = Vec::from_iter(keys.into_iter().chain(paths)).join(" and ");
        format!("{PII_FIELDS}: {what} {method} in every item")
    }

    fn hits(&self, path: &[impl AsRef<str>]) -> bool {
        let key = path.last().map(AsRef::as_ref);
        let keys = || path.iter().map(AsRef::as_ref);
        key.is_some_and(|last| self.keys.iter().any(|k| k == last))
            || (self.paths.iter()).any(|p| p.iter().map(String::as_str).eq(keys()))
    }

    /// The JSON text that replaces the value `raw`; null for a dropped part of an item.
    fn replacement(&self, raw: &str) -> String {
        match &self.method {
            Method::Hash(key) => {
                // A string is hashed as its value, escaped or not; anything else as its text.
                let value: Cow<str> = serde_json::from_str(raw).unwrap_or(Cow::Borrowed(raw));
                let mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
                    .expect("HMAC takes any key length");
                let digest = mac.chain_update(value.as_bytes()).finalize().into_bytes();
                format!("\"{digest:x}\"")
            }
            Method::Mask => "\"***\"".to_string(),
            Method::Drop => "null".to_string(),
        }
    }
}

/// How deep masking reads: the walk recurses, so a hostile log must not overflow the stack.
/// Far above any audit log, below what most receivers' JSON parsers accept.
pub const MAX_DEPTH: usize = 500;

/// A walk over valid JSON text, noting the edits.
struct Scan<'a, 'p> {
    text: &'a [u8],
    pii: &'p Pii,
    edits: Vec<(Range<usize>, String)>,
    /// The keys from the top to the value being read.
    path: Vec<Cow<'a, str>>,
}

impl<'a> Scan<'a, '_> {
    fn ws(&self, i: usize) -> usize {
        let rest = self.text.get(i..).unwrap_or_default();
        i + rest.iter().take_while(|b| b.is_ascii_whitespace()).count()
    }

    /// The end of the string or other scalar at `i`, read without copying it.
    fn end(&self, i: usize) -> usize {
        let (text, mut j) = (self.text, i + 1);
        if text[i] != b'"' {
            let stop = |b: &u8| b",]}".contains(b) || b.is_ascii_whitespace();
            return i + text[i..].iter().position(stop).unwrap_or(text.len() - i);
        }
        while let Some(b) = text.get(j) {
            j += match b {
                b'"' => return j + 1,
                b'\\' => 2,
                _ => 1,
            };
        }
        j
    }

    /// The key at `i`, unescaped (copied only when it holds an escape), and its end.
    fn key(&self, i: usize) -> (Cow<'a, str>, usize) {
        let (text, end) = (self.text, self.end(i));
        let raw = text.get(i + 1..end - 1).unwrap_or_default();
        let key = match raw.contains(&b'\\') {
            false => std::str::from_utf8(raw).map(Cow::Borrowed).ok(),
            true => serde_json::from_slice(&text[i..end]).map(Cow::Owned).ok(),
        };
        (key.unwrap_or_default(), end)
    }

    /// Reads the value at `i`, noting edits; its end, or `None` deeper than [`MAX_DEPTH`].
    fn value(&mut self, i: usize, depth: usize) -> Option<usize> {
        match self.text[i] {
            b'{' | b'[' if depth >= MAX_DEPTH => None,
            b'{' => self.object(i, depth + 1),
            b'[' => self.items(i, |s, j| s.value(j, depth + 1)),
            _ => Some(self.end(i)),
        }
    }

    /// Reads the array or object at `i` with `each` (start to end) on each item; returns its end.
    fn items(
        &mut self,
        i: usize,
        mut each: impl FnMut(&mut Self, usize) -> Option<usize>,
    ) -> Option<usize> {
        let mut j = self.ws(i + 1);
        if matches!(self.text.get(j), Some(b']' | b'}')) {
            return Some(j + 1);
        }
        loop {
            let end = each(self, j)?;
            j = self.ws(end);
            match self.text.get(j) {
                Some(b',') => j = self.ws(j + 1),
                _ => return Some(j + 1),
            }
        }
    }

    fn object(&mut self, i: usize, depth: usize) -> Option<usize> {
        // (where the member's key starts, where its value ends, dropped)
        let mut members: Vec<(usize, usize, bool)> = Vec::new();
        let object_end = self.items(i, |s, key_start| {
            let (key, key_end) = s.key(key_start);
            let start = s.ws(s.ws(key_end) + 1);
            s.path.push(key);
            let personal = s.pii.hits(&s.path) && s.text[start] != b'n';
            let end = match personal {
                // A whole value, however deep, skipped by serde without recursing.
                true => skip(&s.text[start..]) + start,
                false => s.value(start, depth)?,
            };
            s.path.pop();
            let drop = personal && matches!(s.pii.method, Method::Drop);
            if personal && !drop {
                let raw = std::str::from_utf8(&s.text[start..end]).unwrap_or("");
                s.edits.push((start..end, s.pii.replacement(raw)));
            }
            members.push((key_start, end, drop));
            Some(end)
        })?;
        // Each dropped member goes with one comma, so the object stays valid: the one after it,
        // or after the last kept member, the one before it.
        let last_kept = members.iter().rposition(|m| !m.2);
        for (n, &(start, end, dropped)) in members.iter().enumerate() {
            let range = match (last_kept, members.get(n + 1)) {
                _ if !dropped => continue,
                (Some(k), _) if n > k => members[n - 1].1..end,
                (_, Some(next)) => start..next.0,
                (_, None) => start..end,
            };
            self.edits.push((range, String::new()));
        }
        Some(object_end)
    }
}

/// The length of the JSON value at the start of `text`.
fn skip(text: &[u8]) -> usize {
    let mut values = serde_json::Deserializer::from_slice(text).into_iter::<IgnoredAny>();
    let _ = values.next();
    values.byte_offset()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn pii(fields: &str, method: Method) -> Pii {
        Pii::parse(fields, method).unwrap()
    }

    impl Pii {
        /// A whole log masked, for tests.
        pub(crate) fn apply<'a>(&self, json: &'a str) -> Cow<'a, str> {
            self.apply_at(json, &[]).expect("a log masking can read")
        }
    }

    /// A log holding an e-mail address under `depth` levels of objects and arrays.
    fn nested(depth: usize) -> String {
        let (open, close) = ("{\"a\":[".repeat(depth / 2), "]}".repeat(depth / 2));
        format!(r#"{{"log_id":"9","x":{open}{{"email":"ada@example.com"}}{close}}}"#)
    }

    #[test]
    fn a_log_nested_beyond_the_bound_cannot_be_masked_and_the_stack_holds() {
        let p = pii("email", Method::Mask);
        // Little stack, far less than a thread's: the walk's depth is what bounds its use.
        let run = move || {
            let deep = nested(30_000);
            let e = p.apply_at(&deep, &[]).unwrap_err();
            assert!(
                e.contains("deeper than 500") && e.contains("PII_FIELDS"),
                "{e}"
            );
            assert!(p.apply_at(&nested(MAX_DEPTH + 2), &[]).is_err());
            let within = nested(MAX_DEPTH - 2);
            assert_eq!(p.apply(&within), within.replace("ada@example.com", "***"));
            // A personal value is replaced whole, however deep it nests.
            let deep_value = format!(
                r#"{{"email":{}1{},"x":1}}"#,
                "[".repeat(5000),
                "]".repeat(5000)
            );
            assert_eq!(p.apply(&deep_value), r#"{"email":"***","x":1}"#);
        };
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
    }

    const LOG: &str = r#"{"date":"2026-11-20T00:00:00.000Z","type":"sapi","user_name":"ada@example.com","details":{"request":{"method":"post","path":"/api/v2/users","query":{"email":"q@example.org"},"body":{"email":"new@example.org","password":"hunter2","n":1e3,"big":12345678901234567890123,"z":-0,"phone_number":null},"auth":{"user":{"user_id":"auth0|1","name":"Ada","email":"ada@example.com"}}},"response":{"statusCode":200,"body":[{"user_id":"auth0|2","email":"b@example.org","address":{"city":"Oslo"}}]}},"log_id":"900"}"#;

    #[test]
    fn mask_replaces_every_matching_key_and_keeps_every_other_byte() {
        let out = pii("email, username, address", Method::Mask).apply(LOG);
        let expected = LOG
            .replace(r#""user_name":"ada@example.com""#, r#""user_name":"***""#)
            .replace(r#""email":"q@example.org""#, r#""email":"***""#)
            .replace(r#""email":"new@example.org""#, r#""email":"***""#)
            .replace(r#""email":"ada@example.com""#, r#""email":"***""#)
            .replace(r#""email":"b@example.org""#, r#""email":"***""#)
            .replace(r#""address":{"city":"Oslo"}"#, r#""address":"***""#);
        assert_eq!(out, expected);
    }

    #[test]
    fn a_dotted_path_masks_that_place_only_and_null_stays_null() {
        let out = pii("details.request.body.password, phone", Method::Mask).apply(LOG);
        assert_eq!(
            out,
            LOG.replace(r#""password":"hunter2""#, r#""password":"***""#)
        );
        // Through the array of the response body.
        let out = pii("details.response.body.email", Method::Mask).apply(LOG);
        assert_eq!(
            out,
            LOG.replace(r#""email":"b@example.org""#, r#""email":"***""#)
        );
    }

    #[test]
    fn nothing_to_mask_borrows_the_text() {
        let p = pii("phone, details.nowhere.to.be", Method::Mask);
        assert!(matches!(p.apply(LOG), Cow::Borrowed(_)));
        let p = pii("first_name", Method::Mask);
        assert!(matches!(
            p.apply(r#"{"log_id":"1","a":[1,2]}"#),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn hash_is_keyed_stable_and_the_same_for_an_escaped_spelling() {
        let key = Secret::new("pii-test-key-0123456789");
        let p = pii("email", Method::Hash(key.clone()));
        let a = p.apply(r#"{"email":"ada@example.com"}"#).into_owned();
        let b = p
            .apply(r#"{"x":[{"email":"ada\u0040example.com"}]}"#)
            .into_owned();
        let token: Value = serde_json::from_str(&a).unwrap();
        let token = token["email"].as_str().unwrap().to_string();
        assert!(b.contains(&token), "{b}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"pii-test-key-0123456789").unwrap();
        mac.update(b"ada@example.com");
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        assert_eq!(token, expected);
        let other = pii("email", Method::Hash(Secret::new("another-key-987654321")));
        assert!(
            !other
                .apply(r#"{"email":"ada@example.com"}"#)
                .contains(&token)
        );
    }

    #[test]
    fn drop_removes_members_first_middle_last_and_all() {
        let p = pii("email", Method::Drop);
        for (input, expected) in [
            (r#"{"email":"a","x":1}"#, r#"{"x":1}"#),
            (r#"{"x":1,"email":"a","y":2}"#, r#"{"x":1,"y":2}"#),
            (r#"{"x":1,"email":"a"}"#, r#"{"x":1}"#),
            (r#"{"email":"a"}"#, r#"{}"#),
            (
                r#"{ "x" : 1 , "email" : "a" , "email" : "b" }"#,
                r#"{ "x" : 1 }"#,
            ),
            (r#"{"email":"a","email":{"b":[1]},"x":1e3}"#, r#"{"x":1e3}"#),
            (
                r#"[{"email":"a"},{"k":{"email":"b","z":-0}}]"#,
                r#"[{},{"k":{"z":-0}}]"#,
            ),
        ] {
            assert_eq!(p.apply(input), expected, "{input}");
        }
    }

    #[test]
    fn a_part_masked_where_it_lies_is_that_part_of_the_masked_log() {
        let whole: Value = serde_json::from_str(LOG).unwrap();
        let request = whole["details"]["request"].to_string();
        for fields in ["email", "details.request.body.password", "details.request"] {
            let p = pii(fields, Method::Mask);
            let masked: Value = serde_json::from_str(&p.apply(LOG)).unwrap();
            let part: Value =
                serde_json::from_str(&p.apply_at(&request, &["details", "request"]).unwrap())
                    .unwrap();
            assert_eq!(part, masked["details"]["request"], "{fields}");
        }
        let p = pii("details.request", Method::Drop);
        assert_eq!(
            p.apply_at(&request, &["details", "request"]).unwrap(),
            "null"
        );
        assert_eq!(p.apply_at("null", &["details", "request"]).unwrap(), "null");
    }

    #[test]
    fn check_is_told_what_is_hidden_and_how_but_not_the_key() {
        let p = pii("username, details.request.body.password", Method::Mask);
        assert_eq!(
            p.describe(),
            "PII_FIELDS: the keys user_name, username anywhere and details.request.body.password masked in every item"
        );
        let key = Secret::new("describe-test-key-0123");
        let d = pii("email", Method::Hash(key)).describe();
        assert!(
            d.contains("hashed") && !d.contains("describe-test-key"),
            "{d}"
        );
    }

    #[test]
    fn names_are_log_streams_and_a_typo_gets_the_nearest() {
        let p = pii("Username", Method::Mask);
        assert_eq!(p.keys, ["user_name", "username"]);
        let e = Pii::parse("emial", Method::Mask).unwrap_err();
        assert!(
            e.contains("did you mean `email`?") && e.contains("dotted path"),
            "{e}"
        );
        assert!(Pii::parse("details..x", Method::Mask).is_err());
        assert!(Pii::parse(" , ", Method::Mask).is_err());
    }

    /// Removes every non-null value of `key` in `v`, as `drop` should.
    fn without(v: &Value, key: &str) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, v)| k.as_str() != key || v.is_null())
                    .map(|(k, v)| (k.clone(), without(v, key)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| without(v, key)).collect()),
            other => other.clone(),
        }
    }

    /// Replaces every non-null value of `key` in `v` with "***", as `mask` should.
    fn masked(v: &Value, key: &str) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| match (k.as_str() == key, v) {
                        (true, Value::Null) | (false, _) => (k.clone(), masked(v, key)),
                        (true, _) => (k.clone(), json!("***")),
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| masked(v, key)).collect()),
            other => other.clone(),
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z@. \\\\\"]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(
                    (prop_oneof![Just("email".to_string()), "[a-z]{1,3}"], inner),
                    0..5
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn drop_and_mask_give_valid_json_with_exactly_those_values_changed(
            v in any_json(), pretty in any::<bool>()
        ) {
            let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
            let dropped = pii("email", Method::Drop).apply(&text).into_owned();
            let back: Value = serde_json::from_str(&dropped).unwrap();
            prop_assert_eq!(back, without(&v, "email"));
            let mask = pii("email", Method::Mask).apply(&text).into_owned();
            let back: Value = serde_json::from_str(&mask).unwrap();
            prop_assert_eq!(back, masked(&v, "email"));
        }
    }
}
