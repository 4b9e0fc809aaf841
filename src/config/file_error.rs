//! A mistake in the `--config` file, told so it can be fixed: the file, line and column, the
//! key, and for an unknown key the known key it most likely meant.

use std::path::Path;

/// The message for a TOML error in `text` (the file at `path`).
pub(super) fn message(path: &Path, text: &str, err: &toml::de::Error) -> String {
    let raw = err.message().trim();
    let mut at = format!("config file {}", path.display());
    let mut key = None;
    if let Some(span) = err.span() {
        let (line, column, line_text) = position(text, span.start);
        at.push_str(&format!(", line {line}, column {column}"));
        key = key_of(line_text);
    }
    if let Some(unknown) = backticked(raw)
        .first()
        .filter(|_| raw.starts_with("unknown field"))
    {
        let known = expected(raw);
        let hint = match crate::config::suggest::closest(unknown, &known) {
            Some(k) => format!("did you mean `{k}`? "),
            None => String::new(),
        };
        return format!(
            "{at}: unknown key `{unknown}`; {hint}keys are the environment variable names in lower case (README, Settings)"
        );
    }
    let Some(key) = key else {
        return format!("{at}: {raw}");
    };
    let mut msg = format!("{at}, key `{key}`: {raw}");
    if raw.contains("expected a string") {
        let example = if key.ends_with("_time") || key.ends_with("_timeout") {
            "\"60s\""
        } else {
            "\"...\""
        };
        msg.push_str(&format!(" (put it in quotes: {key} = {example})"));
    }
    msg
}

/// 1-based line and column (in characters) of byte `offset`, and that line's text.
fn position(text: &str, offset: usize) -> (usize, usize, &str) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = before.matches('\n').count() + 1;
    let column = text[line_start..offset].chars().count() + 1;
    (line, column, &text[line_start..line_end])
}

/// The key a `key = value` line sets.
fn key_of(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches(['"', '\'']);
    (!key.is_empty() && !key.starts_with('#')).then(|| key.to_string())
}

/// The `quoted` names in serde's message, in order.
fn backticked(msg: &str) -> Vec<&str> {
    msg.split('`').skip(1).step_by(2).collect()
}

/// The names serde lists after "expected one of".
fn expected(msg: &str) -> Vec<&str> {
    msg.split_once("expected one of")
        .map(|(_, rest)| backticked(rest))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Keys {
        batch_size: Option<u32>,
        max_run_time: Option<String>,
        webhook_url: Option<String>,
    }

    fn error(text: &str) -> String {
        let e = toml::from_str::<Keys>(text).unwrap_err();
        message(Path::new("c.toml"), text, &e)
    }

    #[test]
    fn a_wrong_type_names_the_key_line_and_column_and_shows_the_fix() {
        let m = error("batch_size = 20\nmax_run_time = 60\n");
        assert!(
            m.starts_with("config file c.toml, line 2, column 16, key `max_run_time`: "),
            "{m}"
        );
        assert!(m.contains("expected a string"), "{m}");
        assert!(m.contains("max_run_time = \"60s\""), "{m}");
    }

    #[test]
    fn an_unknown_key_gets_the_nearest_known_one() {
        let m = error("batch_size = 20\nbatch_sise = 20\n");
        assert!(m.contains("line 2, column 1"), "{m}");
        assert!(m.contains("unknown key `batch_sise`"), "{m}");
        assert!(m.contains("did you mean `batch_size`?"), "{m}");
        assert!(!m.contains("webhook_url"), "no list of every key: {m}");
        let m = error("colour = 1\n");
        assert!(!m.contains("did you mean"), "{m}");
    }

    #[test]
    fn a_syntax_error_has_its_position() {
        let m = error("batch_size = \n");
        assert!(m.starts_with("config file c.toml, line 1, column"), "{m}");
    }
}
