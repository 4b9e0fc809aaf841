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

/// The codes one LOG_TYPES entry means: a category's (its name in any case), or the entry, a code.
pub fn entry(raw: &str) -> Result<Vec<String>, String> {
    let lower = raw.to_ascii_lowercase();
    if let Some((_, codes)) = CATEGORIES.iter().find(|(n, _)| *n == lower) {
        return Ok(codes.iter().map(|c| c.to_string()).collect());
    }
    // Categories whose codes Auth0 does not publish: refused rather than guessed.
    if let "auth.ancillary.fail" | "auth.ancillary.success" | "scim.event" = lower.as_str() {
        return Err(format!(
            "`{raw}` is a Log Streams category whose log type codes Auth0 does not publish; list the codes themselves"
        ));
    }
    if raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(vec![raw.to_string()]);
    }
    if !raw.contains('.') {
        return Err(format!(
            "'{raw}' is not a log type code (letters, digits, _) nor a Log Streams category"
        ));
    }
    let names = CATEGORIES.iter().map(|(n, _)| n);
    Err(match crate::suggest::did_you_mean(&lower, names) {
        Some(hint) => format!("`{raw}` is no Log Streams category; {hint}"),
        None => format!(
            "`{raw}` is no Log Streams category (they are management.success, management.fail, auth.login.success, user.notification, ..., other)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn management_categories_are_the_extensions_default_and_mgmt_api_read() {
        let codes = entry("management.success").unwrap();
        assert_eq!(codes, ["sapi", "mgmt_api_read"]);
        assert_eq!(entry("Management.Fail").unwrap(), ["fapi"]);
        assert_eq!(entry("sapi").unwrap(), ["sapi"]);
        let e = entry("sapi-x").unwrap_err();
        assert!(e.contains("'sapi-x' is not a log type code"), "{e}");
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
