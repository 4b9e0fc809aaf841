//! Request bodies: how a page's matching logs are grouped into requests (one per log, or
//! batches under the body limit), and each group's bytes (JSON object, array or lines, gzip).

use crate::cli::PayloadFormat;
use std::io::Write;
use std::ops::Range;

/// A log that matched, ready to send.
pub struct Matched {
    pub log_id: String,
    /// The payload item, serialized once.
    pub json: Vec<u8>,
}

/// Groups of items that go in one request each: one per log, or batches kept under the body
/// limit (measured before compression). A single item over the limit goes alone.
pub fn split(
    sizes: &[usize],
    as_batch: bool,
    format: PayloadFormat,
    max_body: Option<usize>,
) -> Vec<Range<usize>> {
    if !as_batch {
        return (0..sizes.len()).map(|i| i..i + 1).collect();
    }
    let max = max_body.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let mut start = 0;
    let mut len = 0;
    for (i, size) in sizes.iter().enumerate() {
        // Array: `[` `]` and a comma between items; JSON lines: a newline after each.
        let added = match format {
            PayloadFormat::Array => size + if i == start { 2 } else { 1 },
            PayloadFormat::Jsonl => size + 1,
        };
        if i > start && len + added > max {
            out.push(start..i);
            start = i;
            len = match format {
                PayloadFormat::Array => size + 2,
                PayloadFormat::Jsonl => size + 1,
            };
        } else {
            len += added;
        }
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// The body and its content type for a group of serialized items.
pub fn encode(items: &[&[u8]], as_batch: bool, format: PayloadFormat) -> (Vec<u8>, &'static str) {
    if !as_batch {
        return (items.concat(), "application/json");
    }
    match format {
        PayloadFormat::Array => {
            let mut body = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
            body.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(item);
            }
            body.push(b']');
            (body, "application/json")
        }
        PayloadFormat::Jsonl => {
            let mut body = Vec::new();
            for item in items {
                body.extend_from_slice(item);
                body.push(b'\n');
            }
            (body, "application/x-ndjson")
        }
    }
}

pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    enc.write_all(body).expect("writing to a Vec");
    enc.finish().expect("writing to a Vec")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_by_one_gives_a_group_per_log() {
        assert_eq!(
            split(&[5, 5, 5], false, PayloadFormat::Array, None),
            vec![0..1, 1..2, 2..3]
        );
    }

    #[test]
    fn batch_is_one_group_without_a_limit() {
        assert_eq!(
            split(&[5, 5, 5], true, PayloadFormat::Array, None),
            vec![0..3]
        );
        assert!(split(&[], true, PayloadFormat::Array, None).is_empty());
    }

    #[test]
    fn groups_respect_the_body_limit_exactly() {
        // [a,b] with 5-byte items is 13 bytes; a third item makes 19.
        let groups = split(&[5, 5, 5, 5], true, PayloadFormat::Array, Some(13));
        assert_eq!(groups, vec![0..2, 2..4]);
        let items: Vec<Vec<u8>> = (0..4).map(|i| format!("\"{i}xx\"").into_bytes()).collect();
        for g in &groups {
            let parts: Vec<&[u8]> = items[g.clone()].iter().map(|v| v.as_slice()).collect();
            assert!(encode(&parts, true, PayloadFormat::Array).0.len() <= 13);
        }
        assert_eq!(
            split(&[5, 5, 5], true, PayloadFormat::Jsonl, Some(12)),
            vec![0..2, 2..3]
        );
    }

    #[test]
    fn an_item_over_the_limit_goes_alone() {
        assert_eq!(
            split(&[3, 50, 3], true, PayloadFormat::Array, Some(10)),
            vec![0..1, 1..2, 2..3]
        );
    }

    #[test]
    fn bodies_parse_as_their_format_says() {
        let items: [&[u8]; 2] = [br#"{"log_id":"1"}"#, br#"{"log_id":"2"}"#];
        let (array, ct) = encode(&items, true, PayloadFormat::Array);
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&array).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        let (lines, ct) = encode(&items, true, PayloadFormat::Jsonl);
        assert_eq!(ct, "application/x-ndjson");
        assert_eq!(
            String::from_utf8(lines).unwrap(),
            "{\"log_id\":\"1\"}\n{\"log_id\":\"2\"}\n"
        );
        let (one, _) = encode(&items[..1], false, PayloadFormat::Array);
        assert_eq!(one, items[0]);
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gzip(b"hello")[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello");
    }
}
