//! What the declarations in [`crate::cli::settings`] mean for a value given as text: its check
//! by the parser of its kind, and a good value in words.

pub(super) use crate::cli::settings::*;

use super::parse;

/// Checks a value given as text with the parser of its setting's kind; the error is in words,
/// without the setting's name.
pub(super) fn check(setting: &Setting, raw: &str) -> Result<(), String> {
    match &setting.kind {
        Kind::Text | Kind::Secret | Kind::Headers => Ok(()),
        Kind::Whole { min, max, why } => parse::whole(raw, *min..=*max, why).map(drop),
        Kind::Duration { min, max } => {
            parse::duration_in(raw, (min, max), setting.default.unwrap_or(min)).map(drop)
        }
        Kind::Bool => parse::boolean_word(raw).map(drop),
        Kind::Choice(words) => parse::one_of(raw, &words()).map(drop),
        Kind::Rate => crate::source::pacer::Share::parse(raw).map(drop),
    }
}

/// What a good value is, in words, for the file's messages.
pub(super) fn expected(setting: &Setting) -> String {
    match &setting.kind {
        Kind::Text | Kind::Secret => "text".to_string(),
        Kind::Whole { min, max, .. } => format!("a whole number from {min} to {max}"),
        Kind::Duration { min, max } => format!("a duration from {min} to {max}"),
        Kind::Bool => "true or false".to_string(),
        Kind::Choice(words) => parse::words(&words()),
        Kind::Rate => "a share such as \"50%\" or requests a second such as 4".to_string(),
        Kind::Headers => "a table of header names and values".to_string(),
    }
}
