//! Auth0 Log Streams' event categories (`management.success`, `auth.login.fail`, ...) as sets of
//! log type codes, so a Log Streams filter can be written in LOG_TYPES unchanged.
//!
//! Source: Auth0's "Log Stream Filters" page,
//! <https://auth0.com/docs/customize/log-streams/event-filters> (read 2026-11), by dashboard
//! name; the API names are the Management API's (log stream `filters[].name`). Actions and
//! authentication were checked against that page; token exchange, management, system, user and
//! other come from Elastic's Auth0 integration, which maps every code to the page's names (the
//! page wins where they disagree). A code missing here can always be listed as itself.

/// (Log Streams' category name, the type codes in it).
#[rustfmt::skip]
pub const CATEGORIES: &[(&str, &[&str])] = &[
    ("actions", &["actions_execution_failed"]),
    ("auth.login.fail", &["f", "fc", "fco", "fcoa", "fens", "fp", "fu"]),
    ("auth.login.notification", &["w"]),
    ("auth.login.success", &["s", "scoa", "sens"]),
    ("auth.logout.fail", &["flo", "oidc_backchannel_logout_failed"]),
    ("auth.logout.success", &["oidc_backchannel_logout_succeeded", "slo"]),
    ("auth.signup.fail", &["fs"]),
    ("auth.signup.success", &["ss"]),
    ("auth.silent_auth.fail", &["fsa"]),
    ("auth.silent_auth.success", &["ssa"]),
    ("auth.token_exchange.fail", &["feacft", "feccft", "fede", "feoobft", "feotpft", "fepft",
        "fepotpft", "fercft", "ferrt", "fertft"]),
    ("auth.token_exchange.success", &["seacft", "seccft", "sede", "seoobft", "seotpft", "sepft",
        "sercft", "sertft"]),
    ("management.fail", &["fapi"]),
    ("management.success", &["sapi", "mgmt_api_read"]),
    ("system.notification", &["admin_update_launch", "api_limit", "coff", "con", "depnote",
        "fcpro", "fui", "limit_delegation", "limit_mu", "limit_wc", "sys_os_update_start",
        "sys_os_update_end", "sys_update_start", "sys_update_end"]),
    ("user.fail", &["fce", "fcp", "fcpn", "fcpr", "fcu", "fd", "fdeaz", "fdecc", "fdu", "fn", "fv",
        "fvr"]),
    ("user.notification", &["cs", "du", "gd_enrollment_complete", "gd_start_enroll", "gd_unenroll",
        "gd_update_device_account", "ublkdu"]),
    ("user.success", &["sce", "scp", "scpn", "scpr", "scu", "sdu", "srrt", "sui", "sv", "svr"]),
    ("other", &["fcph", "fdeac", "fi", "gd_auth_failed", "gd_auth_rejected", "gd_auth_succeed",
        "gd_otp_rate_limit_exceed", "gd_recovery_failed", "gd_recovery_rate_limit_exceed",
        "gd_recovery_succeed", "gd_send_pn", "gd_send_sms", "gd_send_sms_failure", "gd_send_voice",
        "gd_send_voice_failure", "gd_start_auth", "gd_tenant_update", "limit_sul", "mfar", "pla",
        "pwd_leak", "scph", "sd", "si"]),
];

/// Category names whose codes Auth0 does not publish: refused rather than guessed.
const UNPUBLISHED: &[&str] = &[
    "auth.ancillary.fail",
    "auth.ancillary.success",
    "scim.event",
];

/// What one LOG_TYPES entry means.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// A log type code, as written.
    Code(String),
    /// A Log Streams category and its codes.
    Category(&'static str, &'static [&'static str]),
}

/// Reads one entry: a category name (any case), or else a type code (which has no dot).
pub fn entry(raw: &str) -> Result<Entry, String> {
    let lower = raw.to_ascii_lowercase();
    if let Some((name, codes)) = CATEGORIES.iter().find(|(n, _)| *n == lower) {
        return Ok(Entry::Category(name, codes));
    }
    if UNPUBLISHED.contains(&lower.as_str()) {
        return Err(format!(
            "`{raw}` is a Log Streams category whose log type codes Auth0 does not publish; list the codes themselves"
        ));
    }
    if !raw.contains('.') {
        return Ok(Entry::Code(raw.to_string()));
    }
    Err(
        match crate::suggest::did_you_mean(&lower, CATEGORIES.iter().map(|(n, _)| n)) {
            Some(hint) => format!("`{raw}` is no Log Streams category; {hint}"),
            None => format!(
                "`{raw}` is no Log Streams category (they are management.success, management.fail, auth.login.success, user.notification, ..., other)"
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn management_categories_are_the_extensions_default_and_mgmt_api_read() {
        assert_eq!(
            entry("management.success").unwrap(),
            Entry::Category("management.success", &["sapi", "mgmt_api_read"])
        );
        assert_eq!(
            entry("Management.Fail").unwrap(),
            Entry::Category("management.fail", &["fapi"])
        );
        assert_eq!(entry("sapi").unwrap(), Entry::Code("sapi".into()));
    }

    #[test]
    fn no_code_is_in_two_categories_and_no_name_twice() {
        let mut codes = BTreeSet::new();
        let mut names = BTreeSet::new();
        for (name, list) in CATEGORIES {
            assert!(names.insert(*name), "{name} twice");
            for code in *list {
                assert!(codes.insert(*code), "{code} is in two categories");
            }
        }
        assert!(codes.contains("ss") && codes.contains("actions_execution_failed"));
    }

    #[test]
    fn an_unknown_category_gets_the_nearest_name() {
        let e = entry("auth.login.sucess").unwrap_err();
        assert!(e.contains("did you mean `auth.login.success`?"), "{e}");
        let e = entry("user.notifications").unwrap_err();
        assert!(e.contains("`user.notification`"), "{e}");
        let e = entry("nothing.like.it.at.all").unwrap_err();
        assert!(e.contains("no Log Streams category"), "{e}");
        assert!(
            entry("scim.event")
                .unwrap_err()
                .contains("does not publish")
        );
    }
}
