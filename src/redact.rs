//! Redaction: URLs and server answers made fit for a log line, a message or a record, with
//! every secret the process holds replaced by `***`. A leaf: settings, clients and reports
//! all use it.

use reqwest::Url;

/// A URL fit for a log line: no user info, and query values replaced by `***` (receivers
/// sometimes take a token in the query).
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if u.query().is_some() {
        let keys: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let pairs = keys.iter().map(|k| (k, "***"));
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// A URL that does not parse, for a message: user info and query replaced by `***`.
pub fn redact_raw(raw: &str) -> String {
    let mut out = raw.trim().to_string();
    if let Some(q) = out.find(['?', '#']) {
        out.truncate(q);
        out.push_str("?***");
    }
    let start = out.find("://").map_or(0, |i| i + 3);
    if let Some(at) = out[start..].rfind('@') {
        out.replace_range(start..start + at, "***");
    }
    crate::secret::scrub(&out)
}

/// The start of a response body, for an error message: one line, at most 200 characters,
/// scrubbed.
pub fn snippet(body: &str) -> String {
    let scrubbed = crate::secret::scrub(body);
    let one_line = scrubbed.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}
