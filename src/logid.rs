//! Auth0 log ids and the moments they stand for. An id is `900`, the 17-digit UTC time Auth0
//! stored the log (`YYYYMMDDhhmmssSSS`), then a 36-digit counter: ids sort by storage time, so
//! the checkpoint for a moment (START_FROM, a first run's oldest log) is that time and zeros.

use std::cmp::Ordering;
use std::time::{Duration, SystemTime};

const PREFIX: &str = "900";
const LEN: usize = 56;
/// How far in this machine's future START_FROM may lie (clocks drift).
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The checkpoint for a moment: `from` it returns every log stored at or after it.
pub fn at(moment: SystemTime) -> String {
    let stamp = humantime::format_rfc3339_millis(moment).to_string();
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    format!("{:0<LEN$}", format!("{PREFIX}{digits}"))
}

/// The checkpoint of a first run: a moment before any log Auth0 still keeps.
pub fn oldest() -> String {
    at(humantime::parse_rfc3339("2000-01-01T00:00:00Z").expect("a valid date"))
}

/// Whether an id is one [`at`] made (a moment and zeros) rather than a log's.
pub fn constructed(id: &str) -> bool {
    stored_at(id).is_some() && id[20..].bytes().all(|b| b == b'0')
}

/// When the log with this id was stored, if it is a well-formed id.
pub fn stored_at(id: &str) -> Option<SystemTime> {
    if id.len() != LEN || !id.starts_with(PREFIX) || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // YYYYMMDDhhmmssSSS -> YYYY-MM-DDThh:mm:ss.SSSZ, from the end.
    let mut rfc = id[3..20].to_string();
    for (at, sep) in [14, 12, 10, 8, 6, 4].into_iter().zip(".::T--".chars()) {
        rfc.insert(at, sep);
    }
    humantime::parse_rfc3339(&(rfc + "Z")).ok()
}

/// The longest id placed: twice the 56 digits Auth0 writes.
const MAX_LEN: usize = 2 * LEN;

/// Orders two ids as Auth0 does: as text (`"9"` after `"10"`), for ids [`placeable`] accepts.
pub fn cmp(a: &str, b: &str) -> Ordering {
    a.as_bytes().cmp(b.as_bytes())
}

/// Whether an id can be placed in Auth0's order (digits sort the same in every collation), and
/// if not, why: such an id stops the run before its log is delivered.
pub fn placeable(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_LEN || !id.bytes().all(|b| b.is_ascii_digit()) {
        let shown: String = id.chars().take(MAX_LEN).collect();
        return Err(format!(
            "a log id that cannot be placed in Auth0's order ({shown:?}{}): ids are 1 to {MAX_LEN} digits",
            if shown.len() < id.len() { "..." } else { "" }
        ));
    }
    Ok(())
}

/// START_FROM as given, and the checkpoint it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFrom {
    /// As the user wrote it: it is applied again only when it changes.
    pub raw: String,
    pub checkpoint: String,
}

/// START_FROM (a log id, an RFC 3339 date or date-time, or an age) as its checkpoint.
pub fn parse_start_from(value: &str, now: SystemTime) -> Result<String, String> {
    let value = value.trim();
    let forms = "give a log id (900 followed by 53 digits), a date (2026-11-01), a UTC date-time (2026-11-01T08:00:00Z) or an age (7d, 12h)";
    let id = value.starts_with(PREFIX) && value.bytes().all(|b| b.is_ascii_digit());
    let moment = if id {
        stored_at(value).ok_or_else(|| format!(
            "'{value}' is not an Auth0 log id (56 digits: 900, the time it was stored, a counter); {forms}"
        ))?
    } else if let Ok(age) = humantime::parse_duration(value) {
        now.checked_sub(age)
            .ok_or_else(|| format!("the age '{value}' reaches before 1970; {forms}"))?
    } else {
        // A date alone is its first moment.
        humantime::parse_rfc3339_weak(&format!("{value}T00:00:00Z"))
            .or_else(|_| humantime::parse_rfc3339_weak(value))
            .map_err(|_| format!("'{value}' is not a log id, date, date-time or age; {forms}"))?
    };
    if moment > now + CLOCK_SKEW {
        let when = humantime::format_rfc3339_millis(moment);
        return Err(format!("'{value}' is in the future ({when}); {forms}"));
    }
    // Ids of moments sort as the moments: none starts before the oldest.
    Ok(if id {
        value.to_string()
    } else {
        at(moment).max(oldest())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(rfc: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc).unwrap()
    }

    #[test]
    fn a_moment_becomes_its_id_prefix_and_back() {
        let id = at(t("2023-07-26T13:11:18.200Z"));
        assert_eq!(id.len(), 56);
        assert!(id.starts_with("90020230726131118200000"), "{id}");
        assert_eq!(stored_at(&id), Some(t("2023-07-26T13:11:18.200Z")));
        assert!(cmp(&oldest(), &id).is_lt());
    }

    #[test]
    fn only_ids_made_for_a_moment_are_constructed() {
        assert!(constructed(&at(t("2023-07-26T13:11:18.200Z"))) && constructed(&oldest()));
        let real = "90020230726131118200318000000000000000000000000000000001";
        assert!(!constructed(real));
        assert!(!constructed("900") && !constructed(&"0".repeat(56)));
    }

    #[test]
    fn a_real_id_sorts_after_the_checkpoint_of_its_second() {
        let real = "90020230726131118200318000000000000000000000000000000001";
        assert!(cmp(&at(t("2023-07-26T13:11:18.200Z")), real).is_lt());
        assert!(cmp(&at(t("2023-07-26T13:11:18.201Z")), real).is_gt());
    }

    #[test]
    fn start_from_takes_ids_dates_date_times_and_ages() {
        let now = t("2026-11-26T12:00:00Z");
        let real = "90020261101080000123000000000000000000000000000000000042";
        assert_eq!(parse_start_from(real, now).unwrap(), real);
        assert_eq!(
            parse_start_from("2026-11-01", now).unwrap(),
            at(t("2026-11-01T00:00:00Z"))
        );
        assert_eq!(
            parse_start_from(" 2026-11-01T08:00:00Z ", now).unwrap(),
            at(t("2026-11-01T08:00:00Z"))
        );
        assert_eq!(
            parse_start_from("7d", now).unwrap(),
            at(t("2026-11-19T12:00:00Z"))
        );
        assert_eq!(
            parse_start_from("12h", now).unwrap(),
            at(t("2026-11-26T00:00:00Z"))
        );
    }

    #[test]
    fn start_from_refuses_garbage_and_the_future() {
        let now = t("2026-11-26T12:00:00Z");
        for bad in [
            "garbage",
            "",
            "900",
            "9001234",
            "90020261301080000123000000000000000000000000000000000042",
            "2026-13-01",
            "2026-12-01",
            "90020261201080000123000000000000000000000000000000000042",
            "-5d",
        ] {
            let e = parse_start_from(bad, now).unwrap_err();
            assert!(e.contains("7d"), "{bad}: {e}");
        }
    }

    #[test]
    fn ids_sort_as_text_as_auth0_sorts_them() {
        let id = |n: usize| format!("90020261127{}", "0".repeat(n - 11));
        let (short, mid, long) = (id(55), id(56), id(57));
        let next = format!("90020261127{}1", "0".repeat(44));
        assert!(cmp(&short, &mid).is_lt() && cmp(&mid, &long).is_lt());
        assert!(
            cmp(&long, &next).is_lt(),
            "a longer id is not larger as such"
        );
        assert!(cmp("9", "10").is_gt());
    }

    #[test]
    fn only_ids_of_digits_of_a_sane_length_are_placed() {
        assert!(placeable("900").is_ok() && placeable(&oldest()).is_ok());
        assert!(placeable(&"9".repeat(MAX_LEN)).is_ok());
        for bad in ["", "90a", "9 0", "+9", "٩٠٠", &"9".repeat(MAX_LEN + 1)] {
            let e = placeable(bad).unwrap_err();
            assert!(e.contains("cannot be placed") && e.len() < 300, "{e}");
        }
    }

    proptest! {
        /// Text order is a total order that agrees with time for well-formed ids, and
        /// places ids of any length: the one Auth0 and the fake tenant use.
        #[test]
        fn the_order_is_auth0s_text_order(a in "[0-9]{1,60}", b in "[0-9]{1,60}", c in "[0-9]{1,60}") {
            prop_assert_eq!(cmp(&a, &b), a.cmp(&b));
            prop_assert_eq!(cmp(&a, &b), cmp(&b, &a).reverse());
            if cmp(&a, &b).is_le() && cmp(&b, &c).is_le() {
                prop_assert!(cmp(&a, &c).is_le());
            }
            prop_assert!(placeable(&a).is_ok());
        }

        #[test]
        fn start_from_never_panics_and_gives_a_well_formed_id(s in "\\PC{0,80}") {
            let now = t("2026-11-26T12:00:00Z");
            if let Ok(id) = parse_start_from(&s, now) {
                prop_assert!(stored_at(&id).is_some(), "{}", id);
            }
        }

        #[test]
        fn ids_of_moments_sort_as_the_moments(a in 946_684_800u64..4_102_444_800, b in 946_684_800u64..4_102_444_800) {
            let (ta, tb) = (SystemTime::UNIX_EPOCH + Duration::from_millis(a * 1000 + a % 1000), SystemTime::UNIX_EPOCH + Duration::from_millis(b * 1000 + b % 1000));
            prop_assert_eq!(cmp(&at(ta), &at(tb)), ta.cmp(&tb));
        }
    }
}
