//! One Auth0 log as received: its JSON text kept byte for byte, so it reaches the receiver as
//! Auth0 wrote it, and the few fields the tool reads to filter and to checkpoint. No tree of
//! values is built for a log: that keeps a large backlog cheap.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::ops::Range;

#[derive(Debug)]
pub struct Log {
    raw: Box<RawValue>,
    id: String,
    date: Option<String>,
    kind: Option<String>,
    method: Option<String>,
    path: Option<String>,
    /// Where the raw [`Log::parts`] lie in the text, so an item does not parse the log again.
    parts: [Option<Range<usize>>; 4],
}

/// What the tool reads of a log, `details` and `details.request`: slices of its text.
#[rustfmt::skip]
#[derive(Deserialize)]
struct Obj<'a> {
    #[serde(borrow)] log_id: Option<&'a RawValue>,
    #[serde(borrow, rename = "_id")] underscore_id: Option<&'a RawValue>,
    #[serde(borrow)] date: Option<&'a RawValue>,
    #[serde(borrow, rename = "type")] kind: Option<&'a RawValue>,
    #[serde(borrow)] details: Option<&'a RawValue>,
    #[serde(borrow)] request: Option<&'a RawValue>,
    #[serde(borrow)] response: Option<&'a RawValue>,
    #[serde(borrow)] method: Option<&'a RawValue>,
    #[serde(borrow)] path: Option<&'a RawValue>,
}

/// A JSON string or object; `None` for anything else (a field of the wrong type is absent).
fn read<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Option<T> {
    serde_json::from_str(raw?.get()).ok()
}

impl Log {
    /// A log from one element of a page; else why not and the text back.
    pub fn parse(raw: Box<RawValue>) -> Result<Log, (String, Box<RawValue>)> {
        // serde would also read a struct from an array: only an object is a log.
        let top = serde_json::from_str::<Obj>(raw.get()).ok();
        let Some(top) = top.filter(|_| raw.get().trim_start().starts_with('{')) else {
            return Err(("not a JSON object".into(), raw));
        };
        let id = read::<String>(top.log_id).or_else(|| read(top.underscore_id));
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            return Err(("without log_id".into(), raw));
        };
        let details = read::<Obj>(top.details);
        let request = details.as_ref().and_then(|d| read::<Obj>(d.request));
        // A part's place in the text: the slices serde hands out borrow from it.
        let base = raw.get().as_ptr() as usize;
        let place = |r: Option<&RawValue>| {
            let r = r?.get();
            let start = r.as_ptr() as usize - base;
            Some(start..start + r.len())
        };
        Ok(Log {
            id,
            date: read(top.date),
            kind: read(top.kind),
            method: request.as_ref().and_then(|r| read(r.method)),
            path: request.as_ref().and_then(|r| read(r.path)),
            parts: [
                place(top.kind),
                place(top.date),
                place(details.as_ref().and_then(|d| d.request)),
                place(details.as_ref().and_then(|d| d.response)),
            ],
            raw,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn date(&self) -> Option<&str> {
        self.date.as_deref()
    }

    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    /// `details.request.method`, as Auth0 logs it (lower case).
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// `details.request.path`.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The log's JSON text as received.
    pub fn raw(&self) -> &str {
        self.raw.get()
    }

    /// The raw `type`, `date`, `details.request`, `details.response` (or `null`), on one line.
    pub fn parts(&self) -> [Cow<'_, str>; 4] {
        self.parts.clone().map(|place| match place {
            Some(r) => one_line(&self.raw.get()[r]),
            None => Cow::Borrowed("null"),
        })
    }
}

/// JSON text without line breaks, which would break a JSON-lines body: whitespace between
/// tokens goes only when there is a line break; strings and numbers are never touched.
pub fn one_line(json: &str) -> Cow<'_, str> {
    if !json.contains(['\n', '\r']) {
        return Cow::Borrowed(json);
    }
    let (mut in_string, mut escaped) = (false, false);
    let kept = json.chars().filter(|&c| {
        let keep = in_string || !c.is_ascii_whitespace();
        // An unescaped quote opens or closes a string; a backslash in one escapes what follows.
        in_string ^= c == '"' && !escaped;
        escaped = in_string && !escaped && c == '\\';
        keep
    });
    Cow::Owned(kept.collect())
}

#[cfg(test)]
pub fn from_value(v: &serde_json::Value) -> Log {
    Log::parse(RawValue::from_string(v.to_string()).unwrap()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<Log, String> {
        Log::parse(RawValue::from_string(text.to_string()).unwrap()).map_err(|(why, _)| why)
    }

    #[test]
    fn reads_the_fields_it_needs_and_keeps_the_text() {
        let text = r#"{"date":"2026-11-20T00:00:00.000Z","type":"sapi","log_id":"900","details":{"request":{"method":"post","path":"/api/v2/users","body":{"n":1e3}},"response":{"statusCode":201}}}"#;
        let l = parse(text).unwrap();
        assert_eq!(
            (l.id(), l.date(), l.kind(), l.method(), l.path()),
            (
                "900",
                Some("2026-11-20T00:00:00.000Z"),
                Some("sapi"),
                Some("post"),
                Some("/api/v2/users")
            )
        );
        assert_eq!(l.raw(), text);
        let [kind, date, request, response] = l.parts();
        assert_eq!(kind, r#""sapi""#);
        assert_eq!(date, r#""2026-11-20T00:00:00.000Z""#);
        assert!(request.contains(r#""n":1e3"#), "{request}");
        assert_eq!(response, r#"{"statusCode":201}"#);
    }

    #[test]
    fn an_old_log_has_only_an_underscore_id_and_odd_fields_are_absent() {
        let l = parse(r#"{"_id":"42","type":7,"details":"text"}"#).unwrap();
        assert_eq!((l.id(), l.kind(), l.path()), ("42", None, None));
        assert_eq!(l.parts()[2], "null");
        assert!(
            parse(r#"{"type":"sapi"}"#)
                .unwrap_err()
                .contains("without log_id")
        );
        assert!(parse(r#"{"log_id":""}"#).is_err());
        assert!(parse("[1]").unwrap_err().contains("not a JSON object"));
        assert!(parse(r#""x""#).is_err());
    }

    #[test]
    fn a_pretty_printed_log_goes_on_one_line_with_its_strings_untouched() {
        let pretty = "{\n  \"log_id\": \"1\",\n  \"description\": \"a  b\\n c\",\n  \"n\": 1.50\n}";
        let l = parse(pretty).unwrap();
        assert_eq!(
            one_line(l.raw()),
            r#"{"log_id":"1","description":"a  b\n c","n":1.50}"#
        );
        assert!(matches!(one_line(r#"{"a": 1}"#), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn one_line_keeps_any_json_value_equal(v in any::<Vec<(String, i64, bool)>>()) {
            let value = serde_json::json!(v);
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            let flat = one_line(&pretty);
            prop_assert!(!flat.contains('\n'));
            let back: serde_json::Value = serde_json::from_str(&flat).unwrap();
            prop_assert_eq!(back, value);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            if let Ok(raw) = RawValue::from_string(text) {
                let _ = Log::parse(raw);
            }
        }
    }
}
