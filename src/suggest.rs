//! "Did you mean": the known name nearest to one that is not known, for a TOML key or an
//! endpoint. The edit distance is strsim's
//! (Levenshtein), the one clap uses for its own suggestions.

/// The known name nearest to `typo`, if near enough to be what was meant: at most a third of
/// its letters (and at least two) differ. Case and `-`/`_` do not count.
pub fn closest<'a>(typo: &str, known: &[&'a str]) -> Option<&'a str> {
    let typo = typo.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (strsim::levenshtein(&typo, &k.replace('-', "_")), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_ignores_case_and_dashes_and_refuses_far_guesses() {
        let known = ["users", "users-by-email", "clients", "client-grants"];
        assert_eq!(closest("user", &known), Some("users"));
        assert_eq!(closest("Users", &known), Some("users"));
        assert_eq!(closest("client_grants", &known), Some("client-grants"));
        assert_eq!(closest("tenant", &known), None);
    }
}
