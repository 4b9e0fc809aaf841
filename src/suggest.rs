//! "Did you mean": the known name nearest to one that is not known, by strsim's Levenshtein
//! distance (the one clap uses for its own suggestions).

/// The known name nearest to `typo`, if at most a third of its letters (and at least two)
/// differ. Case and `-`/`_` do not count.
pub fn closest<K: AsRef<str>>(typo: &str, known: impl IntoIterator<Item = K>) -> Option<K> {
    let fold = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let typo = fold(typo);
    (known.into_iter())
        .map(|k| (strsim::levenshtein(&typo, &fold(k.as_ref())), k))
        .filter(|(d, k)| *d <= (k.as_ref().len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// "did you mean `name`?", for the name [`closest`] finds.
pub fn did_you_mean<K: AsRef<str>>(
    typo: &str,
    known: impl IntoIterator<Item = K>,
) -> Option<String> {
    closest(typo, known).map(|k| format!("did you mean `{}`?", k.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_ignores_case_and_dashes_and_refuses_far_guesses() {
        let known = ["users", "users-by-email", "clients", "client-grants"];
        assert_eq!(closest("user", &known), Some(&"users"));
        assert_eq!(closest("Users", &known), Some(&"users"));
        assert_eq!(closest("client_grants", &known), Some(&"client-grants"));
        assert_eq!(closest("tenant", &known), None);
    }
}
