//! Corporate proxies. reqwest reads HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (or their
//! lower-case names) itself, credentials in the proxy URL included, and applies them to every
//! request, loopback hosts too. This module says which proxy a URL goes through, the way reqwest
//! decides it, without the credentials (for `check`), and registers those credentials as
//! secrets, so no message, error or echo from a server shows them.

/// Reads an environment variable (injected, so tests need not touch the process's).
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;
use base64::Engine;
use hyper_util::client::proxy::matcher::Matcher;
use reqwest::Url;

/// ALL_PROXY, HTTP_PROXY, HTTPS_PROXY and NO_PROXY, upper case first, as reqwest reads them.
pub fn settings(env: Env) -> [String; 4] {
    let first = |n: &str| env(n).or(env(&n.to_lowercase())).unwrap_or_default();
    // Under CGI, HTTP_PROXY can be set by a client's `Proxy:` header (httpoxy), so reqwest
    // ignores it there; so does this.
    let http = env("REQUEST_METHOD").map_or_else(|| first("HTTP_PROXY"), |_| String::new());
    [
        first("ALL_PROXY"),
        http,
        first("HTTPS_PROXY"),
        first("NO_PROXY"),
    ]
}

/// The proxy requests to `url` go through (reqwest's own matcher), without its credentials.
pub fn proxy_for(url: &Url, env: Env) -> Option<String> {
    let [all, http, https, no] = settings(env);
    let matcher = Matcher::builder().all(all).http(http).https(https).no(no);
    let hit = matcher.build().intercept(&url.as_str().parse().ok()?)?;
    let auth = hit.basic_auth().is_some() || hit.raw_auth().is_some();
    let note = auth.then_some(" (with a user name and password, not shown)");
    let shown = hit.uri().to_string();
    Some(shown.trim_end_matches('/').to_string() + note.unwrap_or_default())
}

/// Registers every proxy password, `user:password` and `Proxy-Authorization` as secrets.
pub fn register_secrets(env: Env) {
    let [all, http, https, _] = settings(env);
    for raw in [all, http, https] {
        let scheme = if raw.contains("://") { "" } else { "http://" };
        let Ok(url) = Url::parse(&format!("{scheme}{raw}")) else {
            // Not a URL: whatever it holds stays out of messages.
            crate::secret::register(&raw);
            continue;
        };
        let Some(pass) = url.password() else {
            continue;
        };
        let decode = |s: &str| {
            let pairs = format!("x={s}");
            let pairs = url::form_urlencoded::parse(pairs.as_bytes());
            pairs.map(|(_, v)| v.into_owned()).collect::<String>()
        };
        let (user, decoded) = (decode(url.username()), decode(pass));
        let pair = format!("{user}:{decoded}");
        let header = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
        for secret in [pass, &decoded, &pair, &header] {
            crate::secret::register(secret);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn url(u: &str) -> Url {
        Url::parse(u).unwrap()
    }

    #[test]
    fn the_proxy_of_a_url_is_named_without_its_credentials() {
        let e = env(&[
            ("HTTPS_PROXY", "http://svc:pr0xy-pass@proxy.corp:3128"),
            ("http_proxy", "http://plain.corp:8080"),
            ("NO_PROXY", "internal.corp, 10.0.0.0/8"),
        ]);
        let https = proxy_for(&url("https://hooks.example.com/x"), &e).unwrap();
        assert_eq!(
            https,
            "http://proxy.corp:3128 (with a user name and password, not shown)"
        );
        assert_eq!(
            proxy_for(&url("http://hooks.example.com/x"), &e).as_deref(),
            Some("http://plain.corp:8080")
        );
        assert_eq!(proxy_for(&url("https://a.internal.corp/x"), &e), None);
        assert_eq!(proxy_for(&url("https://10.1.2.3/x"), &e), None);
        // Loopback is not special: only NO_PROXY sends it direct, as reqwest does.
        assert!(proxy_for(&url("https://127.0.0.1:8443/x"), &e).is_some());
        assert_eq!(proxy_for(&url("https://x.example/"), &env(&[])), None);
    }

    #[test]
    fn all_proxy_covers_both_schemes_and_cgi_ignores_http_proxy() {
        let e = env(&[("ALL_PROXY", "http://all.corp:1")]);
        assert_eq!(
            proxy_for(&url("http://x.example/"), &e).as_deref(),
            Some("http://all.corp:1")
        );
        let cgi = env(&[("HTTP_PROXY", "http://evil:1"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(proxy_for(&url("http://x.example/"), &cgi), None);
    }

    #[test]
    fn proxy_credentials_are_scrubbed_from_any_text() {
        register_secrets(&env(&[(
            "https_proxy",
            "http://svc-user:p%40ss-proxy-77@proxy.corp:3128",
        )]));
        let header = base64::engine::general_purpose::STANDARD.encode("svc-user:p@ss-proxy-77");
        let echoed = format!("407 for svc-user:p@ss-proxy-77 (Basic {header}) p%40ss-proxy-77");
        let shown = crate::secret::scrub(&echoed);
        assert!(
            !shown.contains("ss-proxy-77") && !shown.contains(&header),
            "{shown}"
        );
    }
}
