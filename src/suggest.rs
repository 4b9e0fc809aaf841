//! "Did you mean": the known name nearest to one that is not known, for a TOML key or an
//! endpoint. A few lines of edit distance, not a crate.

/// The known name nearest to `typo`, if near enough to be what was meant: at most a third of
/// its letters (and at least two) differ. Case and `-`/`_` do not count.
pub fn closest<'a>(typo: &str, known: &[&'a str]) -> Option<&'a str> {
    let typo = typo.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (distance(&typo, &k.replace('-', "_")), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance: insertions, deletions and substitutions.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("batch_sise", "batch_size"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("webhok_url", "webhook_url"), 1);
    }

    #[test]
    fn closest_ignores_case_and_dashes_and_refuses_far_guesses() {
        let known = ["users", "users-by-email", "clients", "client-grants"];
        assert_eq!(closest("user", &known), Some("users"));
        assert_eq!(closest("Users", &known), Some("users"));
        assert_eq!(closest("client_grants", &known), Some("client-grants"));
        assert_eq!(closest("tenant", &known), None);
    }
}
