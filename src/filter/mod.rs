//! Which logs are forwarded (log type, Management API endpoint, method) and what each payload
//! item looks like. Auth0 ignores `q` in checkpoint mode, so all filtering happens here.

pub mod categories;
pub mod pii;

use crate::log::Log;
use crate::settings::AUTH0_API_ENDPOINTS;
pub use crate::settings::PayloadShape;
use pii::Pii;
use serde_json::{from_str, value::RawValue};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write;

#[derive(Debug, Clone)]
pub struct Filter {
    pub log_types: BTreeSet<String>,
    /// Empty: every endpoint.
    pub endpoints: Vec<Endpoint>,
    /// PII_FIELDS: personal values masked, hashed or dropped in every item.
    pub pii: Option<pii::Pii>,
}

/// One entry of AUTH0_API_ENDPOINTS: `users`, or `DELETE users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Lower case, as Auth0 logs it; `None` matches every method.
    pub method: Option<String>,
    /// The path under /api/v2/, e.g. `users` or `users/roles`.
    pub path: String,
}

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

impl Endpoint {
    /// Parses `users, DELETE clients, /api/v2/connections`, each entry trimmed.
    pub fn parse_list(list: &str) -> Result<Vec<Endpoint>, String> {
        let mut out = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (method, path) = match entry.split_once(char::is_whitespace) {
                Some((m, p)) => (Some(m.to_ascii_lowercase()), p.trim()),
                None => (None, entry),
            };
            if let Some(m) = method.as_ref().filter(|m| !METHODS.contains(&m.as_str())) {
                return Err(format!(
                    "'{entry}': '{m}' is not an HTTP method; write e.g. 'DELETE users'"
                ));
            }
            let path = path.trim_start_matches('/');
            let path = below_v2(path).unwrap_or(path).trim_end_matches('/');
            if path.is_empty() || path.contains(char::is_whitespace) {
                return Err(format!(
                    "'{entry}' is not an endpoint; write e.g. 'users, clients' or 'DELETE users'"
                ));
            }
            let path = path.to_string();
            out.push(Endpoint { method, path });
        }
        Ok(out)
    }

    /// Whether a request to `rest`, the path under /api/v2/, is this endpoint or below it.
    fn matches(&self, method: Option<&str>, rest: &str) -> bool {
        let same = |m: &String| method.is_some_and(|got| got.eq_ignore_ascii_case(m));
        let below = |tail: &str| tail.is_empty() || tail.starts_with('/');
        self.method.as_ref().is_none_or(same) && rest.strip_prefix(&self.path).is_some_and(below)
    }
}

fn below_v2(path: &str) -> Option<&str> {
    path.strip_prefix("api/v2/").or(path.strip_prefix("v2/"))
}

impl Filter {
    /// The item for a matching log ([`item_json`]); `Err`: it cannot be masked, nor sent.
    pub fn item(&self, log: &Log, shape: PayloadShape) -> Result<Vec<u8>, String> {
        item_json(log, shape, false, self.pii.as_ref())
    }

    pub fn matches(&self, log: &Log) -> bool {
        // The path under /api/v2/ (some logs omit `/api`), without the query, which never matters.
        let rest = || below_v2(log.path()?.split(['?', '#']).next()?.strip_prefix('/')?);
        let endpoint = |rest| self.endpoints.iter().any(|e| e.matches(log.method(), rest));
        log.kind().is_some_and(|kind| self.log_types.contains(kind))
            && (self.endpoints.is_empty() || rest().is_some_and(endpoint))
    }
}

/// The payload item for one log: `extension`, `{log_id, type, date, request, response}` (from
/// `details`, `null` when absent); `log-stream`, `{log_id, data: the whole log}`; `test` adds
/// `"test": true`. The parts are Auth0's text on one line, masked by `pii` (or refused).
pub fn item_json(
    log: &Log,
    shape: PayloadShape,
    test: bool,
    pii: Option<&Pii>,
) -> Result<Vec<u8>, String> {
    fn edit<'p>(pii: Option<&Pii>, part: &'p str, at: &[&'p str]) -> Result<Cow<'p, str>, String> {
        pii.map_or(Ok(Cow::Borrowed(part)), |pii| pii.apply_at(part, at))
    }
    Ok(match shape {
        PayloadShape::Extension => {
            let [kind, date, request, response] = log.parts();
            let fields = [
                ("type", edit(pii, &kind, &["type"])?),
                ("date", edit(pii, &date, &["date"])?),
                ("request", edit(pii, &request, &["details", "request"])?),
                ("response", edit(pii, &response, &["details", "response"])?),
            ];
            write_item(log.id(), &fields, test)
        }
        PayloadShape::LogStream => {
            let line = crate::log::one_line(log.raw());
            write_item(log.id(), &[("data", edit(pii, &line, &[])?)], test)
        }
    })
}

/// `{"log_id": id, name: part, ..., "test": true}`, each part raw: checked when the page was
/// read, it is not parsed again (that cost a fifth of a backlog's CPU).
fn write_item(id: &str, parts: &[(&str, Cow<str>)], test: bool) -> Vec<u8> {
    let size: usize = parts.iter().map(|(_, part)| part.len() + 12).sum();
    let mut out = String::with_capacity(id.len() + size + 24);
    out += "{\"log_id\":";
    out += &serde_json::to_string(id).expect("a string is JSON");
    for (name, part) in parts {
        debug_assert!(from_str::<&RawValue>(part).is_ok(), "{name} is JSON");
        write!(out, ",\"{name}\":{part}").expect("writing to a String");
    }
    out += if test { ",\"test\":true}" } else { "}" };
    out.into_bytes()
}

/// The Management API's top-level collections, from Auth0's API description (2026-11). New
/// ones appear over time, so an endpoint outside this list is a warning, never an error.
#[rustfmt::skip]
pub const COLLECTIONS: &[&str] = &[
    "actions", "anomaly", "attack-protection", "branding", "client-grants", "clients",
    "connection-profiles", "connections", "connections-directory-provisionings",
    "connections-scim-configurations", "custom-domains", "device-credentials", "email-templates",
    "emails", "event-streams", "events", "experimentation", "flows", "forms", "grants", "groups",
    "guardian", "hooks", "jobs", "keys", "log-streams", "logs", "network-acls", "organizations",
    "prompts", "rate-limit-policies", "refresh-tokens", "resource-servers", "risk-assessments",
    "roles", "rules", "rules-configs", "self-service-profiles", "sessions", "stats",
    "supplemental-signals", "tenants", "tickets", "token-exchange-profiles",
    "user-attribute-profiles", "user-blocks", "users", "users-by-email", "verifiable-credentials",
];

/// A warning, with the likely one, for each endpoint whose first segment is no collection.
pub fn unknown_endpoints(endpoints: &[Endpoint]) -> Vec<String> {
    endpoints
        .iter()
        .map(|e| e.path.split('/').next().unwrap_or_default())
        .filter(|first| !COLLECTIONS.contains(first))
        .map(|first| {
            let hint = crate::suggest::did_you_mean(first, COLLECTIONS).unwrap_or_else(|| {
                "entries are whole path segments after /api/v2/, e.g. users, clients, connections".into()
            });
            format!(
                "{AUTH0_API_ENDPOINTS}: `{first}` is no Management API endpoint, so no log will match it; {hint}"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn filter(types: &[&str], endpoints: &str) -> Filter {
        Filter {
            log_types: types.iter().map(|t| t.to_string()).collect(),
            endpoints: Endpoint::parse_list(endpoints).unwrap(),
            pii: None,
        }
    }

    fn log(kind: &str, method: &str, path: &str) -> Log {
        crate::log::from_value(
            &json!({"log_id": "1", "type": kind, "details": {"request": {"method": method, "path": path}}}),
        )
    }

    #[test]
    fn spaced_list_matches_every_entry() {
        let f = filter(&["sapi"], "users, clients");
        assert!(f.matches(&log("sapi", "post", "/api/v2/users")));
        assert!(f.matches(&log("sapi", "post", "/api/v2/clients")));
        assert!(!f.matches(&log("sapi", "post", "/api/v2/connections")));
    }

    #[test]
    fn entry_matches_itself_and_below_but_not_a_longer_name() {
        let f = filter(&["sapi"], "users");
        assert!(f.matches(&log("sapi", "get", "/api/v2/users")));
        assert!(f.matches(&log("sapi", "patch", "/api/v2/users/auth0|123")));
        assert!(f.matches(&log("sapi", "get", "/api/v2/users?q=x")));
        assert!(!f.matches(&log("sapi", "get", "/api/v2/users-by-email")));
    }

    #[test]
    fn path_without_api_prefix_is_normalised() {
        let f = filter(&["sapi"], "users");
        assert!(f.matches(&log("sapi", "delete", "/v2/users/auth0|1")));
    }

    #[test]
    fn method_entries_match_only_that_method() {
        let f = filter(&["sapi"], "DELETE users, clients");
        assert!(f.matches(&log("sapi", "delete", "/api/v2/users/x")));
        assert!(!f.matches(&log("sapi", "patch", "/api/v2/users/x")));
        assert!(f.matches(&log("sapi", "patch", "/api/v2/clients/x")));
    }

    #[test]
    fn bad_method_is_refused() {
        assert!(
            Endpoint::parse_list("FETCH users")
                .unwrap_err()
                .contains("not an HTTP method")
        );
        assert_eq!(
            Endpoint::parse_list(" /api/v2/users/ ,").unwrap(),
            vec![Endpoint {
                method: None,
                path: "users".into()
            }]
        );
    }

    #[test]
    fn type_filter_and_missing_details() {
        let f = filter(&["sapi", "fapi"], "");
        assert!(f.matches(&log("fapi", "post", "/api/v2/users")));
        assert!(!f.matches(&log("s", "post", "/api/v2/users")));
        let bare = crate::log::from_value(&json!({"log_id": "1", "type": "sapi"}));
        assert!(f.matches(&bare));
        assert!(!filter(&["sapi"], "users").matches(&bare));
    }

    fn item(log: &Log, shape: PayloadShape) -> Value {
        serde_json::from_slice(&item_json(log, shape, false, None).unwrap()).unwrap()
    }

    #[test]
    fn item_of_a_log_without_details_has_nulls_not_a_crash() {
        let it = item(
            &crate::log::from_value(&json!({"_id": "42", "type": "sapi", "date": "d"})),
            PayloadShape::Extension,
        );
        assert_eq!(
            it,
            json!({"log_id": "42", "type": "sapi", "date": "d", "request": null, "response": null})
        );
    }

    #[test]
    fn extension_item_takes_request_and_response_from_details() {
        let l = log("sapi", "patch", "/api/v2/clients/abc");
        let it = item(&l, PayloadShape::Extension);
        let whole: Value = serde_json::from_str(l.raw()).unwrap();
        assert_eq!(it["request"], whole["details"]["request"]);
        assert_eq!(it["type"], "sapi");
        let keys: Vec<&String> = it.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["log_id", "type", "date", "request", "response"]);
    }

    #[test]
    fn log_stream_item_wraps_the_whole_log() {
        let l = log("sapi", "get", "/api/v2/users");
        let whole: Value = serde_json::from_str(l.raw()).unwrap();
        assert_eq!(
            item(&l, PayloadShape::LogStream),
            json!({"log_id": "1", "data": whole})
        );
    }

    #[test]
    fn an_item_is_one_compact_json_object_with_an_escaped_id_and_the_test_mark() {
        let l = crate::log::from_value(
            &json!({"_id": "4\"2", "type": "sapi", "date": "d", "details": {"request": {"n": 1}}}),
        );
        let text =
            String::from_utf8(item_json(&l, PayloadShape::Extension, true, None).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"log_id":"4\"2","type":"sapi","date":"d","request":{"n":1},"response":null,"test":true}"#
        );
        let text = String::from_utf8(item_json(&l, PayloadShape::LogStream, false, None).unwrap())
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["log_id"], "4\"2");
        assert_eq!(v["data"]["details"]["request"]["n"], 1);
    }

    #[test]
    fn an_endpoint_that_names_no_collection_gets_a_warning_with_the_likely_one() {
        let list =
            Endpoint::parse_list("users, user, DELETE client-grant, users/roles, widgets").unwrap();
        let w = unknown_endpoints(&list);
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(
            w[0].contains("`user`") && w[0].ends_with("did you mean `users`?"),
            "{w:#?}"
        );
        assert!(w[1].contains("did you mean `client-grants`?"), "{w:#?}");
        assert!(
            w[2].contains("`widgets`") && w[2].contains("whole path segments"),
            "{w:#?}"
        );
    }
}
