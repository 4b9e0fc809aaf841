//! Personal data in logs (PII_FIELDS, PII_METHOD): which values are personal, and the log's
//! text with those values masked, hashed or dropped and every other byte as Auth0 wrote it.
//!
//! The log is never parsed into a tree and printed again (that would change numbers such as
//! `1e3` or `12345678901234567890123`): a small scanner walks the JSON text, which serde has
//! already validated, notes where the personal values lie, and splices only those.

use crate::secret::Secret;
use crate::settings::{PII_FIELDS, PII_HASH_KEY};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::borrow::Cow;
use std::ops::Range;

/// Log Streams' `pii_config` field names, and the keys each one means in Auth0's logs (Auth0
/// writes `user_name` at a log's top, and a user's profile has `given_name`, `family_name` and
/// `phone_number`).
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
    /// The hex HMAC-SHA256 of the value under this key: the same value gives the same token,
    /// and without the key a list of known addresses cannot be hashed to find them.
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
    /// `"key"` for each key and each path's last key: a log holding none of them, and no
    /// escape that could spell one, is passed on without a scan.
    needles: Vec<String>,
    method: Method,
}

impl Pii {
    /// PII_FIELDS: Log Streams' names and dotted paths, comma-separated.
    pub fn parse(list: &str, method: Method) -> Result<Pii, String> {
        let (mut keys, mut paths) = (Vec::new(), Vec::new());
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.contains('.') {
                let path: Vec<String> = entry.split('.').map(str::to_string).collect();
                if path.iter().any(|k| k.is_empty()) {
                    return Err(format!(
                        "'{entry}' is not a dotted path; write the keys from the log's top, e.g. details.request.body.password"
                    ));
                }
                paths.push(path);
                continue;
            }
            let lower = entry.to_ascii_lowercase();
            let Some((_, names)) = FIELDS.iter().find(|(n, _)| *n == lower) else {
                let known: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                let hint = crate::suggest::closest(&lower, &known)
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                return Err(format!(
                    "`{entry}` is not one of Log Streams' fields ({}); {hint}for one place in the log give a dotted path, e.g. details.request.body.password",
                    known.join(", ")
                ));
            };
            keys.extend(names.iter().map(|k| k.to_string()));
        }
        if keys.is_empty() && paths.is_empty() {
            return Err("names no field; e.g. email,username".to_string());
        }
        keys.sort();
        keys.dedup();
        let mut needles: Vec<String> = keys
            .iter()
            .chain(paths.iter().filter_map(|p: &Vec<String>| p.last()))
            .map(|k| format!("\"{k}\""))
            .collect();
        needles.sort();
        needles.dedup();
        Ok(Pii {
            keys,
            paths,
            needles,
            method,
        })
    }

    /// A part of a log's JSON text (`details.request`, or the whole log) that lies at `at`,
    /// the keys leading to it from the log's top, with its personal values replaced: the same
    /// edits as masking the whole log would make in it, without scanning the rest. Borrowed,
    /// untouched, when it has none. `json` must be valid JSON (as every log is, having been
    /// parsed once). `Err` says why it cannot be masked: it nests deeper than [`MAX_DEPTH`].
    pub fn apply_at<'a>(&self, json: &'a str, at: &[&'a str]) -> Result<Cow<'a, str>, String> {
        let path: Vec<Cow<'a, str>> = at.iter().map(|k| Cow::Borrowed(*k)).collect();
        // The part itself may be what is hidden (PII_FIELDS=details.request).
        if self.hits(&path) && json.trim() != "null" {
            return Ok(Cow::Owned(match self.method {
                // In the whole log the key would be gone; in an item its place says null.
                Method::Drop => "null".to_string(),
                _ => self.replacement(json.trim()),
            }));
        }
        // Most logs hold none of the keys: a substring search is all they cost. A key written
        // with a `\u` escape would slip past it, so any escape means a full scan.
        if !json.contains("\\u") && !self.needles.iter().any(|n| json.contains(n.as_str())) {
            return Ok(Cow::Borrowed(json));
        }
        let mut scan = Scan {
            text: json.as_bytes(),
            pii: self,
            edits: Vec::new(),
            path,
            too_deep: false,
        };
        let start = scan.ws(0);
        if start < json.len() {
            scan.value(start, at.len());
        }
        if scan.too_deep {
            return Err(format!(
                "it nests deeper than {MAX_DEPTH} levels, more than {PII_FIELDS} masking reads, so it cannot be masked"
            ));
        }
        if scan.edits.is_empty() {
            return Ok(Cow::Borrowed(json));
        }
        let mut edits = scan.edits;
        edits.sort_by_key(|e| e.0.start);
        let mut out = String::with_capacity(json.len());
        let mut at = 0;
        for (range, with) in edits {
            out.push_str(&json[at..range.start]);
            out.push_str(&with);
            at = range.end;
        }
        out.push_str(&json[at..]);
        Ok(Cow::Owned(out))
    }

    /// For `check`: what is hidden where, and how (never the hash key).
    pub fn describe(&self) -> String {
        let method = match self.method {
            Method::Mask => "masked".to_string(),
            Method::Hash(_) => format!("hashed (HMAC-SHA256 with {PII_HASH_KEY})"),
            Method::Drop => "dropped".to_string(),
        };
        let mut what = Vec::new();
        if !self.keys.is_empty() {
            what.push(format!("the keys {} anywhere", self.keys.join(", ")));
        }
        if !self.paths.is_empty() {
            let paths: Vec<String> = self.paths.iter().map(|p| p.join(".")).collect();
            what.push(paths.join(", "));
        }
        format!(
            "{PII_FIELDS}: {} {method} in every item",
            what.join(" and ")
        )
    }

    fn hits(&self, path: &[Cow<'_, str>]) -> bool {
        let Some(last) = path.last() else {
            return false;
        };
        self.keys.iter().any(|k| k == last)
            || self
                .paths
                .iter()
                .any(|p| p.len() == path.len() && p.iter().zip(path).all(|(a, b)| a.as_str() == b))
    }

    /// The JSON text that replaces the value `raw` (mask and hash).
    fn replacement(&self, raw: &str) -> String {
        match &self.method {
            Method::Hash(key) => {
                // A string is hashed as its value, so the same address written with or
                // without escapes gives the same token; anything else as its text.
                let value: Cow<str> = serde_json::from_str(raw).unwrap_or(Cow::Borrowed(raw));
                let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
                    .expect("HMAC takes any key length");
                mac.update(value.as_bytes());
                let hex: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("\"{hex}\"")
            }
            Method::Mask | Method::Drop => "\"***\"".to_string(),
        }
    }
}

/// How deep in a log masking reads (objects and arrays within each other, from the log's
/// top). The walk recurses: a bound keeps a hostile log from overflowing the stack. Far above
/// any audit log (Auth0's own request bodies are a few levels deep), and below what most
/// receivers' JSON parsers accept.
pub const MAX_DEPTH: usize = 500;

/// A walk over valid JSON text, noting the edits.
struct Scan<'a, 'p> {
    text: &'a [u8],
    pii: &'p Pii,
    edits: Vec<(Range<usize>, String)>,
    /// The keys from the top to the value being read.
    path: Vec<Cow<'a, str>>,
    /// A value lies deeper than [`MAX_DEPTH`]: it was skipped unread, so the text cannot be
    /// called masked.
    too_deep: bool,
}

impl<'a> Scan<'a, '_> {
    fn ws(&self, mut i: usize) -> usize {
        while i < self.text.len() && matches!(self.text[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    }

    /// The end of the string starting at `i` (its opening quote).
    fn string_end(&self, i: usize) -> usize {
        let mut j = i + 1;
        while j < self.text.len() {
            match self.text[j] {
                b'\\' => j += 2,
                b'"' => return j + 1,
                _ => j += 1,
            }
        }
        self.text.len()
    }

    /// The end of the value starting at `i`, without looking inside it.
    fn skip(&self, i: usize) -> usize {
        match self.text[i] {
            b'"' => self.string_end(i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut j = i;
                while j < self.text.len() {
                    match self.text[j] {
                        b'"' => {
                            j = self.string_end(j);
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return j + 1;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                self.text.len()
            }
            _ => {
                let mut j = i;
                while j < self.text.len()
                    && !matches!(
                        self.text[j],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                    )
                {
                    j += 1;
                }
                j
            }
        }
    }

    /// Reads the value at `i`, noting edits inside it; returns its end.
    fn value(&mut self, i: usize, depth: usize) -> usize {
        match self.text[i] {
            b'{' | b'[' if depth >= MAX_DEPTH => {
                self.too_deep = true;
                self.skip(i)
            }
            b'{' => self.object(i, depth + 1),
            b'[' => self.array(i, depth + 1),
            _ => self.skip(i),
        }
    }

    fn array(&mut self, i: usize, depth: usize) -> usize {
        let mut j = self.ws(i + 1);
        if self.text.get(j) == Some(&b']') {
            return j + 1;
        }
        while j < self.text.len() {
            j = self.value(j, depth);
            j = self.ws(j);
            match self.text.get(j) {
                Some(b',') => j = self.ws(j + 1),
                _ => return j + 1,
            }
        }
        j
    }

    fn object(&mut self, i: usize, depth: usize) -> usize {
        // (where the member's key starts, where its value ends, dropped)
        let mut members: Vec<(usize, usize, bool)> = Vec::new();
        let mut j = self.ws(i + 1);
        if self.text.get(j) == Some(&b'}') {
            return j + 1;
        }
        while j < self.text.len() {
            let key_start = j;
            let key_end = self.string_end(j);
            // Borrowed from the text, which outlives the scan; decoded only when escaped.
            let text: &'a [u8] = self.text;
            let key: Cow<'a, str> = match std::str::from_utf8(&text[key_start..key_end]) {
                Ok(k) if !k.contains('\\') => Cow::Borrowed(&k[1..k.len() - 1]),
                Ok(k) => serde_json::from_str::<String>(k)
                    .map(Cow::Owned)
                    .unwrap_or(Cow::Borrowed("")),
                Err(_) => Cow::Borrowed(""),
            };
            let value_start = self.ws(self.ws(key_end) + 1);
            self.path.push(key);
            let personal = self.pii.hits(&self.path) && self.text[value_start] != b'n';
            let value_end = if personal {
                self.skip(value_start)
            } else {
                self.value(value_start, depth)
            };
            self.path.pop();
            let drop = personal && matches!(self.pii.method, Method::Drop);
            if personal && !drop {
                let raw = std::str::from_utf8(&self.text[value_start..value_end]).unwrap_or("");
                let with = self.pii.replacement(raw);
                self.edits.push((value_start..value_end, with));
            }
            members.push((key_start, value_end, drop));
            j = self.ws(value_end);
            match self.text.get(j) {
                Some(b',') => j = self.ws(j + 1),
                _ => {
                    self.drop_members(&members);
                    return j + 1;
                }
            }
        }
        j
    }

    /// Removes the dropped members with one comma each, so the object stays valid: a member
    /// with a kept one after it goes with the text up to the next member; the members after
    /// the last kept one go with the text from the end of the member before.
    fn drop_members(&mut self, members: &[(usize, usize, bool)]) {
        let last_kept = members.iter().rposition(|m| !m.2);
        for (n, &(start, end, dropped)) in members.iter().enumerate() {
            if !dropped {
                continue;
            }
            let range = match last_kept {
                Some(k) if n > k => members[n - 1].1..end,
                _ => match members.get(n + 1) {
                    Some(next) => start..next.0,
                    None => start..end,
                },
            };
            self.edits.push((range, String::new()));
        }
    }
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
