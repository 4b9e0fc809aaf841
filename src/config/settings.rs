//! What the declarations in [`crate::settings`] mean for a value given as text: its check by
//! the parser of its kind, and a good value in words. A choice's words are its enum's, named
//! here.

pub(super) use crate::settings::*;

use super::parse;
use crate::cli::{FormatSetting, Output};
use crate::filter::PayloadShape;
use crate::filter::pii::PiiMethod;
use crate::sink::sign::SignatureScheme;
use clap::ValueEnum;
use clap::builder::PossibleValue;

/// The words a choice setting takes: those of the enum it is read into.
pub(super) fn words(setting: &Setting) -> Vec<PossibleValue> {
    fn of<T: ValueEnum>() -> Vec<PossibleValue> {
        T::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .collect()
    }
    match setting.env {
        e if e == PAYLOAD_FORMAT.env => of::<FormatSetting>(),
        e if e == PAYLOAD_SHAPE.env => of::<PayloadShape>(),
        e if e == SIGNATURE_SCHEME.env => of::<SignatureScheme>(),
        e if e == PII_METHOD.env => of::<PiiMethod>(),
        e if e == AUTH0_MGMT_WEBHOOKS_OUTPUT.env => of::<Output>(),
        e => unreachable!("{e} is not a choice"),
    }
}

/// Checks a value given as text with the parser of its setting's kind; the error is in words,
/// without the setting's name.
pub(super) fn check(setting: &Setting, raw: &str) -> Result<(), String> {
    match &setting.kind {
        Kind::Text | Kind::Path | Kind::Secret | Kind::Headers => Ok(()),
        Kind::Whole { min, max, why } => parse::whole(raw, *min..=*max, why).map(drop),
        Kind::Duration { min, max } => {
            parse::duration_in(raw, (min, max), setting.default.unwrap_or(min)).map(drop)
        }
        Kind::Bool => parse::boolean_word(raw).map(drop),
        Kind::Choice => parse::one_of(raw, &words(setting)).map(drop),
        Kind::Rate => crate::source::pacer::Share::parse(raw).map(drop),
    }
}

/// What a good value is, in words, for the file's messages.
pub(super) fn expected(setting: &Setting) -> String {
    match &setting.kind {
        Kind::Text | Kind::Secret => "text".to_string(),
        Kind::Path => "the name of a file".to_string(),
        Kind::Whole { min, max, .. } => format!("a whole number from {min} to {max}"),
        Kind::Duration { min, max } => format!("a duration from {min} to {max}"),
        Kind::Bool => "true or false".to_string(),
        Kind::Choice => parse::words(&words(setting)),
        Kind::Rate => "a share such as \"50%\" or requests a second such as 4".to_string(),
        Kind::Headers => "a table of header names and values".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_names_its_words() {
        for s in ALL.iter().copied().chain([&AUTH0_MGMT_WEBHOOKS_OUTPUT]) {
            if matches!(s.kind, Kind::Choice) {
                assert!(words(s).len() >= 2, "{}", s.env);
            }
        }
    }
}
