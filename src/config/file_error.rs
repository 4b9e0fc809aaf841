//! A mistake in the `--config` file, told so it can be fixed: the file, line and column, the
//! key, and for an unknown key the known key it most likely meant.

use std::path::Path;

/// Where byte `offset` of `text` (the file at `path`) is: `config file F, line L, column C`.
pub(super) fn at(path: &Path, text: &str, offset: usize) -> String {
    let (line, column) = position(text, offset);
    format!(
        "config file {}, line {line}, column {column}",
        path.display()
    )
}

/// The message for a TOML syntax error.
pub(super) fn syntax(path: &Path, text: &str, err: &toml::de::Error) -> String {
    let raw = err.message().trim();
    match err.span() {
        Some(span) => format!("{}: {raw}", at(path, text, span.start)),
        None => format!("config file {}: {raw}", path.display()),
    }
}

/// The message for an unknown key at byte `offset`, with the known key it most likely meant.
pub(super) fn unknown(path: &Path, text: &str, offset: usize, key: &str, known: &[&str]) -> String {
    let hint = match crate::suggest::closest(key, known) {
        Some(k) => format!("did you mean `{k}`? "),
        None => String::new(),
    };
    format!(
        "{}: unknown key `{key}`; {hint}keys are the environment variable names in lower case (docs/settings.md)",
        at(path, text, offset)
    )
}

/// 1-based line and column (in characters) of byte `offset`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_is_its_line_and_column_in_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        let offset = text.find('=').unwrap();
        assert_eq!(position(text, offset), (1, 3));
        let offset = text.rfind('"').unwrap();
        assert_eq!(position(text, offset), (2, 8));
    }

    #[test]
    fn an_unknown_key_gets_the_nearest_known_one() {
        let m = unknown(
            Path::new("c.toml"),
            "x\nbatch_sise = 1",
            2,
            "batch_sise",
            &["batch_size", "webhook_url"],
        );
        assert!(m.contains("line 2, column 1"), "{m}");
        assert!(m.contains("unknown key `batch_sise`"), "{m}");
        assert!(m.contains("did you mean `batch_size`?"), "{m}");
        assert!(!m.contains("webhook_url"), "no list of every key: {m}");
        let m = unknown(
            Path::new("c.toml"),
            "colour = 1",
            0,
            "colour",
            &["batch_size"],
        );
        assert!(!m.contains("did you mean"), "{m}");
    }

    #[test]
    fn a_syntax_error_has_its_position() {
        let text = "batch_size = \n";
        let e = toml::de::DeTable::parse(text).unwrap_err();
        let m = syntax(Path::new("c.toml"), text, &e);
        assert!(m.starts_with("config file c.toml, line 1, column"), "{m}");
    }
}
