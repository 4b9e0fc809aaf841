//! The `--config` file (TOML): each value read as text and checked by the parser its setting's
//! kind uses for flags and variables, every mistake reported at once with its line.

use crate::settings::{ALL, Declared, Form, Name, PER_ROUTE, WEBHOOK_HEADERS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// The file's values as text, by key (the variable names in lower case).
#[derive(Debug, Default)]
pub struct FileSettings {
    values: BTreeMap<String, String>,
    /// The `[webhook_headers]` table.
    pub(super) headers: Option<BTreeMap<String, String>>,
    /// The `[[route]]` tables, by name, in the file's order.
    pub(super) routes: Vec<(String, FileSettings)>,
}

impl FileSettings {
    /// The setting's value, as written.
    pub(super) fn get(&self, setting: &Name) -> Option<&str> {
        self.values.get(&setting.key()).map(String::as_str)
    }

    /// Whether the file gives the setting, as a value, a file, or a table.
    pub(super) fn holds(&self, setting: &Name) -> bool {
        self.get(setting).is_some()
            || self.file_of(setting).is_some()
            || (setting.env == WEBHOOK_HEADERS.env && self.headers.is_some())
    }

    /// The file its `name_file` key names.
    pub(super) fn file_of(&self, setting: &Name) -> Option<PathBuf> {
        self.values
            .get(&format!("{}_file", setting.key()))
            .map(PathBuf::from)
    }
}

fn keys_of(settings: &[&dyn Declared]) -> Vec<String> {
    let keys = settings.iter().map(|s| (s.key(), s.from_file));
    let keys = keys.flat_map(|(k, file)| [Some(k.clone()), file.then(|| format!("{k}_file"))]);
    keys.flatten().collect()
}

/// The setting of `among` a key sets, and whether it is the `name_file` key.
fn setting_of<'s>(key: &str, among: &[&'s dyn Declared]) -> Option<(&'s dyn Declared, bool)> {
    among
        .iter()
        .find_map(|s| match key.strip_prefix(&s.key())? {
            "" => Some((*s, false)),
            "_file" if s.from_file => Some((*s, true)),
            _ => None,
        })
}

/// The file at `path` holding `text`; or every mistake, one a line with its line and column.
pub(super) fn parse(path: &Path, text: &str) -> Result<FileSettings, String> {
    let (table, errors) = DeTable::parse_recoverable(text);
    let mut m = Mistakes(path, text, Vec::new());
    for e in errors {
        m.add(e.span().map_or(0, |s| s.start), None, e.message().trim());
    }
    let mut out = FileSettings::default();
    if m.2.is_empty() {
        m.fill(&mut out, table.get_ref(), ALL);
    }
    // In the file's order (the table is sorted by key), one a line.
    m.2.sort();
    let lines: Vec<String> = m.2.into_iter().map(|(_, m)| m).collect();
    match lines.is_empty() {
        true => Ok(out),
        false => Err(lines.join("\n")),
    }
}

/// The file's path and text, and the mistakes found in it, by byte offset.
struct Mistakes<'a>(&'a Path, &'a str, Vec<(usize, String)>);

impl Mistakes<'_> {
    /// A mistake at `offset`, in the value of `key` if given.
    fn add(&mut self, offset: usize, key: Option<&str>, words: impl std::fmt::Display) {
        let (line, column) = position(self.1, offset);
        let key = key.map(|k| format!(", key `{k}`")).unwrap_or_default();
        let at = format!("line {line}, column {column}{key}: {words}");
        let words = format!("config file {}, {at}", self.0.display());
        self.2.push((offset, words));
    }

    /// Reads `table`'s keys, settings of `among`, into `out`; at the top level, `[[route]]` tables.
    fn fill(&mut self, out: &mut FileSettings, table: &DeTable, among: &[&dyn Declared]) {
        let top = among.len() == ALL.len();
        for (key, value) in table {
            let name = key.get_ref().as_ref();
            let offset = value.span().start;
            if name == "name" && !top {
                continue;
            }
            if name == "route" && top {
                match self.routes(value.get_ref()) {
                    Ok(routes) => out.routes = routes,
                    Err(words) => self.add(offset, Some(name), words),
                }
                continue;
            }
            let Some((setting, file_key)) = setting_of(name, among) else {
                let words = match setting_of(name, ALL) {
                    Some(_) => format!(
                        "`{name}` is set once for the run, not per route: set it outside the [[route]] tables"
                    ),
                    None => unknown(name, &keys_of(among)),
                };
                self.add(key.span().start, None, words);
                continue;
            };
            if setting.env == WEBHOOK_HEADERS.env && !file_key {
                match headers(value.get_ref()) {
                    Ok(map) => out.headers = Some(map),
                    Err((at, words)) => self.add(at.unwrap_or(offset), Some(name), words),
                }
                continue;
            }
            let checked =
                as_text(setting, file_key, value.get_ref()).and_then(|raw| match file_key {
                    true => Ok(raw),
                    false => setting.check(raw.trim()).map(|()| raw),
                });
            match checked {
                Ok(raw) => drop(out.values.insert(name.to_string(), raw)),
                Err(words) => self.add(offset, Some(name), words),
            }
        }
    }

    /// The `[[route]]` tables: each a `name` and settings of one destination ([`PER_ROUTE`]).
    fn routes(&mut self, value: &DeValue) -> Result<Vec<(String, FileSettings)>, String> {
        let not_tables = || {
            format!(
                "invalid type: {}, expected tables written [[route]], each with a name",
                describe(value)
            )
        };
        let DeValue::Array(tables) = value else {
            return Err(not_tables());
        };
        let mut out = Vec::new();
        for table in tables {
            let DeValue::Table(t) = table.get_ref() else {
                return Err(not_tables());
            };
            let start = table.span().start;
            let named = t.iter().find(|(k, _)| k.get_ref().as_ref() == "name");
            let name = match named.map(|(_, v)| v.get_ref()) {
                Some(DeValue::String(n)) => (route_name(n).map(|()| n.to_string()))
                    .map_err(|why| format!("route name {n:?} {why}")),
                _ => Err(
                    "a [[route]] table needs a name in quotes, e.g. name = \"siem\"".to_string(),
                ),
            };
            let Ok(name) = name.map_err(|why| self.add(start, None, why)) else {
                continue;
            };
            if out.iter().any(|(n, _)| *n == name) {
                self.add(start, None, format!("two routes are named {name:?}"));
            }
            let mut route = FileSettings::default();
            self.fill(&mut route, t, &PER_ROUTE);
            out.push((name, route));
        }
        Ok(out)
    }
}

/// A route's name goes in file names, metric labels and messages: short and plain.
pub fn route_name(name: &str) -> Result<(), &'static str> {
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    match name.len() {
        1..=32 if name.chars().all(plain) && !name.starts_with('-') => Ok(()),
        _ => Err("must be 1 to 32 of a-z, 0-9, - and _, not starting with -"),
    }
}

/// An unknown key, with the known key it most likely meant.
fn unknown(key: &str, known: &[impl AsRef<str>]) -> String {
    let hint =
        crate::suggest::closest(key, known).map(|k| format!("did you mean `{}`? ", k.as_ref()));
    let hint = hint.unwrap_or_default();
    format!(
        "unknown key `{key}`; {hint}keys are the environment variable names in lower case (docs/settings.md)"
    )
}

/// 1-based line and column (in characters) of byte `offset`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// A value as the text a variable would hold. Text is text; a number or a boolean is taken as
/// its text where the setting's kind reads one. A bare number is refused for a duration: its
/// unit would be a guess.
fn as_text(setting: &dyn Declared, file_key: bool, value: &DeValue) -> Result<String, String> {
    let form = if file_key { Form::Path } else { setting.form() };
    let number_ok = !matches!(form, Form::Duration | Form::Choice);
    match value {
        DeValue::String(s) => return Ok(s.to_string()),
        DeValue::Integer(n) if number_ok => {
            if let Ok(n) = i64::from_str_radix(n.as_str(), n.radix()) {
                return Ok(n.to_string());
            }
        }
        DeValue::Float(f) if form == Form::Number => return Ok(f.as_str().to_string()),
        DeValue::Boolean(b) if form == Form::Bool => return Ok(b.to_string()),
        DeValue::Datetime(d) if form == Form::Text => return Ok(d.to_string()),
        _ => {}
    }
    let expected = match file_key {
        true => "the name of a file".to_string(),
        false => setting.expected(),
    };
    let example = match (form, value) {
        (Form::Duration, DeValue::Integer(n)) => format!("\"{n}s\""),
        (Form::Duration, _) => format!("\"{}\"", setting.shown_default().unwrap_or_default()),
        _ => "\"...\"".to_string(),
    };
    Err(format!(
        "invalid type: {}, expected {expected} (put it in quotes: {}{} = {example})",
        describe(value),
        setting.key(),
        if file_key { "_file" } else { "" }
    ))
}

/// A TOML value as a message names it.
fn describe(value: &DeValue) -> String {
    match value {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(n) => format!("integer `{n}`"),
        DeValue::Float(f) => format!("number `{f}`"),
        DeValue::Boolean(b) => format!("boolean `{b}`"),
        DeValue::Datetime(d) => format!("date `{d}`"),
        DeValue::Array(_) => "a list".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    }
}

/// The `[webhook_headers]` table; a mistake's position when it is not the table's own.
fn headers(value: &DeValue) -> Result<BTreeMap<String, String>, (Option<usize>, String)> {
    let DeValue::Table(table) = value else {
        let words = format!(
            "invalid type: {}, expected a table of header names and values, e.g. [webhook_headers] then X-Env = \"prod\"",
            describe(value)
        );
        return Err((None, words));
    };
    let header = |name: &str, v: &DeValue| match v {
        DeValue::String(s) => Ok((name.to_string(), s.to_string())),
        other => Err(format!(
            "the value of header '{name}' must be text in quotes, got {}",
            describe(other)
        )),
    };
    table
        .iter()
        .map(|(name, v)| header(name.get_ref(), v.get_ref()).map_err(|e| (Some(v.span().start), e)))
        .collect()
}

/// Every key the file may hold: each setting's, and `name_file` beside those read from a file.
#[cfg(test)]
pub(super) fn file_keys() -> Vec<String> {
    keys_of(ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(Path::new("c.toml"), text).unwrap_err()
    }

    #[test]
    fn a_value_goes_through_the_parser_of_its_kind_as_a_variable_would() {
        let f = parse(
            Path::new("c.toml"),
            "send_as_batch = \"yes\"\nwebhook_gzip = true\nbatch_size = 20\nauth0_rate_limit = 0.5\nstart_from = 2026-11-01\n",
        )
        .unwrap();
        assert_eq!(f.values["send_as_batch"], "yes");
        assert_eq!(f.values["webhook_gzip"], "true");
        assert_eq!(f.values["batch_size"], "20");
        assert_eq!(f.values["auth0_rate_limit"], "0.5");
        assert_eq!(f.values["start_from"], "2026-11-01");
    }

    #[test]
    fn every_mistake_is_reported_at_once_in_words_with_its_line() {
        let m = error(
            "batch_size = 500\nsend_as_batch = \"maybe\"\nmax_run_time = 60\nbatch_sise = 1\npayload_format = \"xml\"\nwebhook_concurrent_calls = \"many\"\n",
        );
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines.len(), 6, "{m}");
        assert!(
            lines[0].starts_with("config file c.toml, line 1, column 14, key `batch_size`: must be a whole number from 1 to 100 (Auth0 returns at most 100 logs a request), got '500'"),
            "{m}"
        );
        assert!(
            lines[1].contains("line 2") && lines[1].contains("must be true or false, got 'maybe'"),
            "{m}"
        );
        assert!(
            lines[2].contains("line 3, column 16, key `max_run_time`: invalid type: integer `60`, expected a duration from 1s to 24h (put it in quotes: max_run_time = \"60s\")"),
            "{m}"
        );
        assert!(
            lines[3]
                .contains("line 4, column 1: unknown key `batch_sise`; did you mean `batch_size`?"),
            "{m}"
        );
        assert!(
            lines[4].contains("line 5")
                && lines[4].contains("must be array or jsonl or jsonobject, got 'xml'"),
            "{m}"
        );
        assert!(
            lines[5].contains("line 6") && lines[5].contains("from 1 to 64"),
            "{m}"
        );
        for rust in ["u32", "usize", "u8", "bool", "expected a string"] {
            assert!(!m.contains(rust), "{rust} in {m}");
        }
    }

    #[test]
    fn headers_are_a_table_of_text() {
        let f = parse(Path::new("c.toml"), "[webhook_headers]\nX-Env = \"prod\"\n").unwrap();
        assert_eq!(f.headers.as_ref().unwrap()["X-Env"], "prod");
        let m = error("[webhook_headers]\nX-Env = 1\n");
        assert!(m.contains("line 2, column 9, key `webhook_headers`"), "{m}");
        let m = error("webhook_headers = \"X-Env: prod\"\n");
        assert!(m.contains("expected a table of header names"), "{m}");
    }

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
        let m = error("x = 1\nbatch_sise = 1");
        assert!(m.contains("line 1, column 1: unknown key `x`"), "{m}");
        assert!(m.contains("line 2, column 1"), "{m}");
        assert!(m.contains("unknown key `batch_sise`"), "{m}");
        assert!(m.contains("did you mean `batch_size`?"), "{m}");
        assert!(!m.contains("webhook_url"), "no list of every key: {m}");
        let m = unknown("colour", &["batch_size"]);
        assert!(!m.contains("did you mean"), "{m}");
    }

    #[test]
    fn a_syntax_error_has_its_position() {
        let m = error("batch_size = \n");
        assert!(m.starts_with("config file c.toml, line 1, column"), "{m}");
    }
}
