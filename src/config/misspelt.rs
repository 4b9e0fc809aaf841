//! Environment variables that look like this tool's but are none of its own (`BATCHSIZE`), which
//! would otherwise be ignored without a word. The environment is shared with other software
//! (`AUTH0_` is also the Deploy CLI's, Terraform's and the SDKs' prefix), so a variable gets a
//! warning only when it starts with the first word of one of the tool's variables and is near
//! one of them ([`suggest::closest`]), or starts with `AUTH0_MGMT_WEBHOOKS_`. Case is ignored.

use crate::settings::{DAILY_REPORT_TIME, every};
use crate::suggest;
use std::collections::BTreeSet;

/// This tool's own prefix: any variable under it that is not one of its own is a mistake.
const OWN_PREFIX: &str = "AUTH0_MGMT_WEBHOOKS_";

/// Every variable the tool reads, from the settings' declarations (with each `NAME_FILE`), and
/// the extension's name for the daily report's hour.
pub fn known() -> Vec<String> {
    let names = every().flat_map(|s| [Some(s.env.to_string()), s.from_file.then(|| s.file_var())]);
    let extension = DAILY_REPORT_TIME.to_string();
    let names: BTreeSet<String> = names.flatten().chain([extension]).collect();
    names.into_iter().collect()
}

/// The warning for each variable in `present` that looks like one of `known` but is not.
pub fn warnings(present: &[String], known: &[String]) -> Vec<String> {
    let prefixes: Vec<&str> = known.iter().filter_map(|k| k.split('_').next()).collect();
    present
        .iter()
        .filter(|name| !known.contains(name))
        .filter_map(|name| {
            let upper = name.to_ascii_uppercase();
            let ours = upper.starts_with(OWN_PREFIX);
            let prefixed = ours || prefixes.iter().any(|p| upper.starts_with(p));
            let ignored = format!(
                "{name} is set but is not a variable of auth0-mgmt-webhooks, so it is ignored"
            );
            match suggest::closest(name, known) {
                Some(k) if prefixed => Some(format!("{ignored}; did you mean {k}?")),
                None if ours => Some(format!("{ignored} (docs/settings.md)")),
                _ => None,
            }
        })
        .collect()
}

/// [`warnings`] for this process's environment.
pub fn in_process() -> Vec<String> {
    let present: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    warnings(&present, &known())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_known_names_are_every_setting_secret_and_file() {
        let known = known();
        for name in [
            "AUTH0_DOMAIN",
            "BATCH_SIZE",
            "WEBHOOK_CONCURRENT_CALLS",
            "AUTH0_CLIENT_SECRET",
            "AUTH0_CLIENT_SECRET_FILE",
            "AUTHORIZATION_FILE",
            "HEALTHCHECK_URL_FILE",
            "SLACK_INCOMING_WEBHOOK_URL",
            "DAILY_REPORT_TIME",
            "STATE_FILE",
            "CONFIG_FILE",
            "AUTH0_MGMT_WEBHOOKS_OUTPUT",
        ] {
            assert!(known.iter().any(|k| k == name), "{name} is not known");
        }
        assert!(known.iter().all(|k| k == &k.to_ascii_uppercase()));
    }

    #[test]
    fn misspelt_names_are_named_with_the_nearest_one() {
        let known = known();
        let present = names(&[
            "WEBHOOK_CONCURENT_CALLS",
            "BATCHSIZE",
            "batch_size",
            "AUTH0_CLIENT_SECERT",
            "AUTH0_MGMT_WEBHOOKS_OUTPT",
            "AUTH0_MGMT_WEBHOOKS_VERBOSITY_LEVEL",
        ]);
        let w = warnings(&present, &known);
        assert_eq!(w.len(), 6, "{w:#?}");
        assert!(
            w[0].starts_with("WEBHOOK_CONCURENT_CALLS is set but"),
            "{}",
            w[0]
        );
        assert!(
            w[0].ends_with("did you mean WEBHOOK_CONCURRENT_CALLS?"),
            "{}",
            w[0]
        );
        assert!(w[1].ends_with("did you mean BATCH_SIZE?"), "{}", w[1]);
        assert!(w[2].ends_with("did you mean BATCH_SIZE?"), "{}", w[2]);
        assert!(
            w[3].ends_with("did you mean AUTH0_CLIENT_SECRET?"),
            "{}",
            w[3]
        );
        assert!(
            w[4].ends_with("did you mean AUTH0_MGMT_WEBHOOKS_OUTPUT?"),
            "{}",
            w[4]
        );
        assert!(w[5].ends_with("ignored (docs/settings.md)"), "{}", w[5]);
    }

    #[test]
    fn our_own_names_and_other_softwares_are_left_alone() {
        let known = known();
        let present = names(&[
            "AUTH0_DOMAIN",
            "WEBHOOK_URL",
            // The Deploy CLI, the Terraform provider, the SDKs: far from any of ours.
            "AUTH0_ALLOW_DELETE",
            "AUTH0_API_TOKEN",
            "AUTH0_SECRET",
            "AUTH0_BASE_URL",
            "AUTH0_ISSUER_BASE_URL",
            "AUTH0_DEBUG",
            "SLACK_BOT_TOKEN",
            "LOG_LEVEL",
            "MAX_MEMORY",
            // No prefix of ours.
            "HOME",
            "PATH",
            "XDG_STATE_HOME",
            "RUST_LOG",
        ]);
        assert_eq!(warnings(&present, &known), Vec::<String>::new());
    }
}
