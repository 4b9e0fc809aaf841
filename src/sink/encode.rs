//! Request bodies: matching logs grouped into requests, and each request's bytes.

use flate2::{Compression, write::GzEncoder};
use std::io::Write;

/// PAYLOAD_FORMAT, as `Config` settles it: how a batch's items are joined in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadFormat {
    Array,
    Jsonl,
}

/// A log that matched, ready to send.
#[derive(Debug, Clone)]
pub struct Matched {
    /// Its ticket with the checkpoint's acker.
    pub seq: crate::state::ledger::Ticket,
    pub log_id: String,
    /// The payload item, serialized once.
    pub json: Vec<u8>,
}

/// Fills requests across pages: one log each, or batches under `max_items` and `max_body` bytes.
#[derive(Debug)]
pub struct Batcher {
    items: Vec<Matched>,
    /// The body size of `items` so far.
    bytes: usize,
    max_items: usize,
    max_body: usize,
    format: PayloadFormat,
}

impl Batcher {
    pub fn new(
        as_batch: bool,
        max_items: usize,
        max_body: Option<usize>,
        format: PayloadFormat,
    ) -> Batcher {
        Batcher {
            items: Vec::new(),
            bytes: 0,
            max_items: if as_batch { max_items.max(1) } else { 1 },
            max_body: max_body.unwrap_or(usize::MAX),
            format,
        }
    }

    /// Adds a log; returns a request's worth of logs when one is ready (at most one).
    pub fn add(&mut self, item: Matched) -> Option<Vec<Matched>> {
        // An empty batch takes nothing: a larger log goes alone.
        let over = self.bytes.saturating_add(self.cost(&item)) > self.max_body;
        let mut ready = over.then(|| self.take()).flatten();
        self.bytes += self.cost(&item);
        self.items.push(item);
        // With one item a request, `items` was empty above, so `ready` is still `None` here.
        if self.items.len() >= self.max_items {
            ready = self.take();
        }
        ready
    }

    /// What `item` adds to a batch's body: `[` `]` or a comma in an array, a newline in lines.
    fn cost(&self, item: &Matched) -> usize {
        match self.format {
            PayloadFormat::Array if self.items.is_empty() => item.json.len() + 2,
            PayloadFormat::Array | PayloadFormat::Jsonl => item.json.len() + 1,
        }
    }

    /// What is waiting, as one request (the end of the stream, MAX_RUN_TIME, a signal).
    pub fn take(&mut self) -> Option<Vec<Matched>> {
        self.bytes = 0;
        (!self.items.is_empty()).then(|| std::mem::take(&mut self.items))
    }
}

/// The body and its content type for a group of serialized items.
pub fn encode(items: &[&[u8]], as_batch: bool, format: PayloadFormat) -> (Vec<u8>, &'static str) {
    match (as_batch, format) {
        (false, _) => (items.concat(), "application/json"),
        (true, PayloadFormat::Array) => (
            [&b"["[..], &items.join(&b","[..]), b"]"].concat(),
            "application/json",
        ),
        (true, PayloadFormat::Jsonl) => {
            let lines = items.iter().flat_map(|item| [*item, b"\n"]);
            (lines.collect::<Vec<_>>().concat(), "application/x-ndjson")
        }
    }
}

pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    enc.write_all(body).expect("writing to a Vec");
    enc.finish().expect("writing to a Vec")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u64, size: usize) -> Matched {
        Matched {
            seq: crate::state::ledger::Ticket { window: 0, seq: n },
            log_id: n.to_string(),
            json: vec![b'x'; size],
        }
    }

    /// Feeds sizes through a batcher and returns the groups of seqs it made.
    fn groups(b: &mut Batcher, sizes: &[usize]) -> Vec<Vec<u64>> {
        let mut out = Vec::new();
        for (n, size) in sizes.iter().enumerate() {
            out.extend(b.add(item(n as u64, *size)));
        }
        out.extend(b.take());
        out.into_iter()
            .map(|g| g.iter().map(|m| m.seq.seq).collect())
            .collect()
    }

    #[test]
    fn one_by_one_gives_a_request_per_log() {
        let mut b = Batcher::new(false, 100, None, PayloadFormat::Array);
        assert_eq!(groups(&mut b, &[5, 5, 5]), vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn batches_fill_to_the_item_limit_and_the_rest_goes_at_the_end() {
        let mut b = Batcher::new(true, 2, None, PayloadFormat::Array);
        assert_eq!(groups(&mut b, &[5, 5, 5]), vec![vec![0, 1], vec![2]]);
        assert!(b.take().is_none());
    }

    #[test]
    fn batches_respect_the_body_limit_exactly() {
        // [a,b] with 5-byte items is 13 bytes; a third item makes 19.
        let mut b = Batcher::new(true, 100, Some(13), PayloadFormat::Array);
        assert_eq!(groups(&mut b, &[5, 5, 5, 5]), vec![vec![0, 1], vec![2, 3]]);
        let items: Vec<Vec<u8>> = (0..2).map(|i| format!("\"{i}xx\"").into_bytes()).collect();
        let parts: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
        assert_eq!(encode(&parts, true, PayloadFormat::Array).0.len(), 13);
        let mut b = Batcher::new(true, 100, Some(12), PayloadFormat::Jsonl);
        assert_eq!(groups(&mut b, &[5, 5, 5]), vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn a_log_over_the_limit_goes_alone() {
        let mut b = Batcher::new(true, 100, Some(10), PayloadFormat::Array);
        assert_eq!(groups(&mut b, &[3, 50, 3]), vec![vec![0], vec![1], vec![2]]);
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
