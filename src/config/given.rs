//! A setting's value from where the user gave it: the flag or the variable (clap has chosen,
//! the flag first), else the `--config` file, else the declared default; read by the parser of
//! its kind into its type, so a value means the same wherever it is written, and every error
//! names the setting.

use super::Env;
use super::file::FileSettings;
use crate::cli::Settings;
use crate::exit;
use crate::secret::Secret;
use crate::settings::{self, Fallback, Kind, Name, Setting, Text};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The three places a setting can be given, and the `[[route]]` table read, whose settings
/// come before them all.
#[derive(Clone, Copy)]
pub(super) struct Given<'a> {
    pub flags: &'a Settings,
    pub file: &'a FileSettings,
    pub env: Env<'a>,
    pub route: Option<&'a FileSettings>,
}

static NO_FLAGS: Settings = Settings::none();

impl<'a> Given<'a> {
    pub fn new(flags: &'a Settings, file: &'a FileSettings, env: Env<'a>) -> Given<'a> {
        let route = None;
        Given {
            flags,
            file,
            env,
            route,
        }
    }

    /// Where `s` is read from: the route's table alone when it holds the setting (a value or
    /// a file), else the three places.
    pub fn at(&self, s: &Name) -> Given<'a> {
        match self.route.filter(|r| r.holds(s)) {
            Some(route) => Given::new(&NO_FLAGS, route, &|_| None),
            None => Given {
                route: None,
                ..*self
            },
        }
    }

    /// The setting's value in its type: an `Option`, or with a default the value.
    pub fn get<K: Kind, D: Fallback<K>>(&self, s: &Setting<K, D>) -> Result<D::Out> {
        let g = self.at(s);
        let flag = g.flags.raw(s);
        let value = match flag.filter(|v| !v.to_string_lossy().trim().is_empty()) {
            Some(raw) => Some(s.kind.parse_os(raw)),
            None => given(g.file.get(s)).map(|raw| s.kind.parse(raw)),
        };
        let value = value.transpose().map_err(|e| named(s, e))?;
        Ok(s.default.or(value))
    }

    /// A text setting that must be given; `example` is a good value.
    pub fn required(&self, s: &Setting<Text>, example: &str) -> Result<String> {
        self.get(s)?
            .ok_or_else(|| exit::settings(format!("{} is required, e.g. {example}", s.label())))
    }

    /// Whether the setting is given anywhere, its `NAME_FILE` included (nothing is read).
    pub fn is_set(&self, s: &Name) -> bool {
        let g = self.at(s);
        let env = |name: &str| given_owned((g.env)(name)).is_some();
        g.flags.raw(s).is_some()
            || given(g.file.get(s)).is_some()
            || (s.flag.is_none() && env(s.env))
            || (s.from_file && (env(&s.file_var()) || g.file.file_of(s).is_some()))
    }

    /// A secret from `NAME`, `NAME_FILE`, or the config file's keys of the same names.
    pub fn secret(&self, s: &Setting<settings::Secret>) -> Result<Option<Secret>> {
        let g = self.at(s);
        let (in_file, file_var) = (g.file.get(s), s.file_var());
        let path_env = given_owned((g.env)(&file_var)).map(PathBuf::from);
        match (given_owned((g.env)(s.env)), path_env) {
            (Some(_), Some(_)) => Err(exit::settings(format!("set {s} or {file_var}, not both"))),
            (Some(v), None) => Ok(Some(Secret::new(v.trim()))),
            (None, path) => match path.or(g.file.file_of(s).filter(|_| in_file.is_none())) {
                Some(path) => read_secret(s, path).map(Some),
                None => Ok(given(in_file).map(Secret::new)),
            },
        }
    }
}

/// A secret read from the file `NAME_FILE` names: text, trimmed, not empty.
pub(super) fn read_secret(s: &Name, path: PathBuf) -> Result<Secret> {
    let name = s.file_var();
    match read_text(&name, &path, crate::files::SECRET_CAP)?.trim() {
        "" => Err(exit::settings(format!(
            "{name} {} is empty",
            path.display()
        ))),
        value => Ok(Secret::new(value)),
    }
}

/// A file a setting names, read as text.
pub(super) fn read_text(name: &str, path: &Path, cap: u64) -> Result<String> {
    let bytes = crate::files::read_setting(name, path, cap)?;
    let not_text = || format!("{name} {} is not text (UTF-8)", path.display());
    String::from_utf8(bytes).map_err(|_| exit::settings(not_text()))
}

/// A setting's value as every setting treats it: trimmed, and empty meaning unset.
pub(super) fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Same as [`given`], for an owned value.
pub(super) fn given_owned(value: Option<String>) -> Option<String> {
    given(value.as_deref()).map(str::to_string)
}

/// A parser's words as a settings error naming the setting, unless they already do.
fn named(s: &Name, words: String) -> anyhow::Error {
    match words.starts_with(s.env) {
        true => exit::settings(words),
        false => exit::settings(format!("{} {words}", s.label())),
    }
}
