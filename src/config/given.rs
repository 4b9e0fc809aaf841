//! A setting's value from where the user gave it: the flag or the variable (clap has chosen,
//! the flag first), else the `--config` file, else the declared default; read by the parser of
//! its kind, so a value means the same wherever it is written, and every error names the
//! setting.

use super::Env;
use super::file::FileSettings;
use super::parse::{boolean_word, choice_word, duration_in, given, given_owned, whole};
use super::settings::{Kind, Setting};
use crate::cli::Settings;
use crate::exit;
use crate::secret::Secret;
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

/// The three places a setting can be given.
#[derive(Clone, Copy)]
pub(super) struct Given<'a> {
    pub flags: &'a Settings,
    pub file: &'a FileSettings,
    pub env: Env<'a>,
}

impl Given<'_> {
    /// The setting's text, trimmed; empty is unset.
    pub fn text(&self, s: &Setting) -> Option<&str> {
        given(self.flags.text(s)).or(given(self.file.get(s)))
    }

    pub fn owned(&self, s: &Setting) -> Option<String> {
        self.text(s).map(str::to_string)
    }

    /// A path setting; empty is unset.
    pub fn path(&self, s: &Setting) -> Option<PathBuf> {
        let nonempty = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
        nonempty(self.flags.path(s)).or(nonempty(self.file.path(s)))
    }

    /// A setting that must be given; `example` is a good value.
    pub fn required(&self, s: &Setting, example: &str) -> Result<String> {
        self.owned(s)
            .ok_or_else(|| exit::settings(format!("{} is required, e.g. {example}", s.label())))
    }

    /// Whether the setting is given anywhere, its `NAME_FILE` included (nothing is read).
    pub fn is_set(&self, s: &Setting) -> bool {
        let secret = matches!(s.kind, Kind::Secret);
        self.text(s).is_some()
            || (secret && given_owned((self.env)(s.env)).is_some())
            || (s.from_file
                && (given_owned((self.env)(&s.file_var())).is_some()
                    || self.file.file_of(s).is_some()))
    }

    /// A whole number setting ([`Kind::Whole`]), else its default where that is a number.
    pub fn number<T: TryFrom<u64>>(&self, s: &Setting) -> Result<Option<T>> {
        let Kind::Whole { min, max, why } = s.kind else {
            unreachable!("{} is not a whole number", s.env)
        };
        let fits = |n: u64| T::try_from(n).ok().expect("the range fits the type");
        let Some(raw) = self.text(s) else {
            // "no limit", "off": no number.
            return Ok(s.default.and_then(|d| d.parse().ok()).map(fits));
        };
        let n = whole(raw, min..=max, why).map_err(|e| named(s, e))?;
        Ok(Some(fits(n)))
    }

    /// A true/false setting.
    pub fn boolean(&self, s: &Setting) -> Result<Option<bool>> {
        self.text(s)
            .map(|raw| boolean_word(raw).map_err(|e| named(s, e)))
            .transpose()
    }

    /// A setting that is one of a few words.
    pub fn choice<T: clap::ValueEnum>(&self, s: &Setting) -> Result<Option<T>> {
        self.text(s)
            .map(|raw| choice_word(raw).map_err(|e| named(s, e)))
            .transpose()
    }

    /// A duration setting ([`Kind::Duration`]), else its default.
    pub fn duration(&self, s: &Setting) -> Result<Duration> {
        let (Kind::Duration { min, max }, Some(default)) = (&s.kind, s.default) else {
            unreachable!("{} is not a duration with a default", s.env)
        };
        duration_in(self.text(s).unwrap_or(default), (min, max), default).map_err(|e| named(s, e))
    }

    /// A secret from `NAME`, `NAME_FILE`, or the config file's keys of the same names, in that
    /// order.
    pub fn secret(&self, s: &Setting) -> Result<Option<Secret>> {
        let in_file = self.file.owned(s);
        let from_env = given_owned((self.env)(s.env));
        let path_env = given_owned((self.env)(&s.file_var())).map(PathBuf::from);
        if from_env.is_some() && path_env.is_some() {
            return Err(exit::settings(format!(
                "set {} or {}, not both",
                s.env,
                s.file_var()
            )));
        }
        if let Some(v) = from_env {
            return Ok(Some(Secret::new(v.trim())));
        }
        let file_path = if in_file.is_none() {
            self.file.file_of(s)
        } else {
            None
        };
        match path_env.or(file_path) {
            Some(path) => read_secret(s, path).map(Some),
            None => Ok(given_owned(in_file).map(Secret::new)),
        }
    }
}

/// A secret read from the file `NAME_FILE` names: text, trimmed, not empty.
pub(super) fn read_secret(s: &Setting, path: PathBuf) -> Result<Secret> {
    let name = s.file_var();
    let bytes = crate::files::read_setting(&name, &path, crate::files::SECRET_CAP)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| exit::settings(format!("{name} {} is not text (UTF-8)", path.display())))?;
    match text.trim() {
        "" => Err(exit::settings(format!(
            "{name} {} is empty",
            path.display()
        ))),
        value => Ok(Secret::new(value)),
    }
}

/// A parser's words as a settings error naming the setting.
fn named(setting: &Setting, words: String) -> anyhow::Error {
    exit::settings(format!("{} {words}", setting.label()))
}
