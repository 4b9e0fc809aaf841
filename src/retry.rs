//! Retrying, for the webhook and the Auth0 API alike: the decisions as pure functions (which
//! answers are retried, which are final, how long to wait, what `Retry-After` says) and the one
//! blocking runner every client uses (attempt, classify, wait; the deadline checked here only).

use crate::settings::{
    AUTHORIZATION, CA_CERT, MAX_RUN_TIME, PAYLOAD_FORMAT, WEBHOOK_CONTENT_TYPE, WEBHOOK_GZIP,
    WEBHOOK_HEADERS, WEBHOOK_SECRET, WEBHOOK_URL,
};
use crate::stop::{Cause, Part, Stop};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What one answer means, for every client: the webhook, Auth0, Slack and pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delivered.
    Delivered,
    /// Worth another attempt. `throttled` (429, 503) means the receiver asked everyone to slow
    /// down, not only this request.
    Retry { throttled: bool },
    /// The receiver refuses these logs (400, 413, 422 and other 4xx): a batch is split to find
    /// the logs it refuses; a single refused log may be set aside in the dead-letter file.
    Refused(u16),
    /// The answer is about the endpoint or the credentials, not the logs (401, 403, 404, 405,
    /// 407, 410, 415, 421, 426, 501, a redirect): every log would get it, so the run stops
    /// with the checkpoint kept, dead-letter file or not.
    Misconfigured(u16),
}

/// Standard Webhooks / Svix / Vector practice, with the answers that concern the endpoint
/// told apart from those that concern the payload. The one status classifier: each client
/// only words the outcome (Auth0 replaces a token on 401/403, the webhook splits a refused
/// batch). A 3xx is never followed: a redirect would
/// carry the body and its signature to another host.
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        429 | 503 => Verdict::Retry { throttled: true },
        408 => Verdict::Retry { throttled: false },
        300..=399 | 401 | 403 | 404 | 405 | 407 | 410 | 415 | 421 | 426 | 501 => {
            Verdict::Misconfigured(status)
        }
        500..=599 => Verdict::Retry { throttled: false },
        _ => Verdict::Refused(status),
    }
}

/// What a user should change after an endpoint or credentials answer.
pub fn misconfigured_advice(status: u16) -> String {
    match status {
        300..=399 => format!(
            "redirects are never followed (they would carry the logs and credentials elsewhere): set {WEBHOOK_URL} to the final address"
        ),
        401 | 403 | 407 => format!(
            "the receiver does not accept the credentials: check {AUTHORIZATION} (and {WEBHOOK_HEADERS}, {WEBHOOK_SECRET})"
        ),
        415 => format!(
            "the receiver does not accept the body's content type: set {WEBHOOK_CONTENT_TYPE} (receivers written for Log Streams want application/json), or check {PAYLOAD_FORMAT} and {WEBHOOK_GZIP}"
        ),
        _ => format!("the receiver has no such endpoint for a POST: check {WEBHOOK_URL}"),
    }
}

/// A certificate this tool does not accept. No wait changes it, so the request is not retried
/// and the run fails at once, naming the setting to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadCertificate {
    /// Not signed by a CA this tool trusts (a private CA, a self-signed certificate), or
    /// expired, revoked or malformed.
    Untrusted,
    /// Signed by a trusted CA, but for another host name.
    WrongHost,
}

/// Whether a transport error is a refused certificate, looking down its causes (reqwest's
/// stack wraps rustls' error in `io::Error`s).
pub fn bad_certificate(err: &(dyn std::error::Error + 'static)) -> Option<BadCertificate> {
    use rustls::{CertificateError, Error as Tls};
    let mut next = Some(err);
    while let Some(e) = next {
        match e.downcast_ref::<Tls>() {
            Some(Tls::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => return Some(BadCertificate::WrongHost),
            Some(Tls::InvalidCertificate(_)) => return Some(BadCertificate::Untrusted),
            _ => {}
        }
        // An io::Error's `source` is its inner error's source, skipping the inner error.
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// What a user should change after a refused certificate. `url_setting` names where the
/// address came from (`WEBHOOK_URL`, `AUTH0_DOMAIN`).
pub fn certificate_advice(bad: BadCertificate, url_setting: &str) -> String {
    let fix = match bad {
        BadCertificate::Untrusted => format!(
            "the certificate is not signed by a trusted CA: for a private CA set {} to its certificate file, or check {url_setting}",
            CA_CERT.label()
        ),
        BadCertificate::WrongHost => format!(
            "the certificate is for another host name: set {url_setting} to a name the certificate holds, or have the server present a certificate for this one ({CA_CERT} only adds trusted CAs)"
        ),
    };
    format!("{fix}; not retried, as waiting does not change a certificate")
}

pub const BASE_DELAY: Duration = Duration::from_millis(250);
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// A Retry-After longer than this is not believed: a run is short, and the next one retries.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Exponential backoff with full jitter: a uniform wait in [0, min(MAX, BASE * 2^attempt)].
/// `unit` is a random number in [0, 1). `attempt` counts failures so far, from 1.
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE_DELAY
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_DELAY);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// The wait before the next attempt: the server's Retry-After when it gave one, else backoff.
pub fn next_wait(attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
    match retry_after {
        Some(d) => d.min(MAX_RETRY_AFTER),
        None => backoff(attempt, unit),
    }
}

/// A `Retry-After` value: delay seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An answer's `Retry-After`, parsed once for every client.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// What one attempt came to, as its client classified the answer.
pub enum Attempt<T> {
    /// Finished, one way or another: the runner returns it.
    Done(T),
    /// Worth another attempt. `why` names the problem for messages; `wait` is what the server
    /// asked for (`Retry-After`, a rate-limit reset), else backoff decides.
    Again { why: String, wait: Option<Duration> },
    /// A step toward the result that is not a failure (a token fetched before the request it
    /// is for): the next attempt follows at once, and counts like any other.
    Step,
}

/// Sends, classifies and waits until an attempt is [`Attempt::Done`], `max_attempts` are
/// spent, the run stops (`stop` fires for a cause that stops `part`), or the next attempt would
/// come after the deadline: the token's, or `until` when that is earlier. The attempt gets its
/// number (0 for the first, which is always made); `retrying` hears of each retry, for `-v`.
/// Err is the message saying why it gave up.
pub fn run<T>(
    until: Option<Instant>,
    stop: &Stop,
    part: Part,
    max_attempts: Option<u32>,
    mut attempt: impl FnMut(u32) -> Attempt<T>,
    retrying: impl Fn(&str),
) -> Result<T, String> {
    let mut n = 0;
    loop {
        let step = attempt(n);
        n += 1;
        let (why, asked) = match step {
            Attempt::Done(v) => return Ok(v),
            Attempt::Again { why, wait } => (why, wait),
            Attempt::Step if max_attempts.is_some_and(|max| n >= max) => {
                return Err(format!("gave up after {n} attempts"));
            }
            Attempt::Step => continue,
        };
        if max_attempts.is_some_and(|max| n >= max) {
            return Err(format!(
                "{why} ({n} attempt{})",
                if n == 1 { "" } else { "s" }
            ));
        }
        let pause = next_wait(n, asked, fastrand::f64());
        retrying(&format!("{why}; retry {n} in {} ms", pause.as_millis()));
        wait(pause, until, stop, part, &why)?;
    }
}

/// Sleeps `wait` unless the run stops. A wait that would pass the deadline (the token's, or
/// `until`: a `Retry-After` or a rate-limit reset beyond MAX_RUN_TIME) sleeps until the
/// deadline and then gives up with a message saying so; the next run goes on. The one place a
/// wait meets the deadline, and a timed wait on the token: a signal ends it at once, wherever
/// it moves the deadline.
fn wait(
    wait: Duration,
    until: Option<Instant>,
    stop: &Stop,
    part: Part,
    why: &str,
) -> Result<(), String> {
    let now = Instant::now();
    // At most MAX_RETRY_AFTER (`next_wait`): no overflow.
    let end = now + wait;
    let limit = match (until, stop.deadline()) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(end),
    };
    match stop.sleep_until(end.min(limit), part) {
        Ok(()) if end <= limit => Ok(()),
        Ok(()) | Err(Cause::Deadline) => Err(format!(
            "{why}; the next attempt would come after {MAX_RUN_TIME}, so this run waited {} until {MAX_RUN_TIME} and stops (the next run goes on)",
            human(limit.saturating_duration_since(now))
        )),
        Err(_) => Err(format!("{why} (not retried: the run is stopping)")),
    }
}

/// A duration as people read it: to the millisecond under a minute ("1s 500ms"), else to the
/// second ("3m 20s", "584542046033years 8months ...").
pub fn human(d: Duration) -> String {
    let rounded = if d.as_secs() < 60 {
        Duration::from_millis(d.as_millis() as u64)
    } else {
        Duration::from_secs(d.as_secs())
    };
    humantime::format_duration(rounded).to_string()
}

/// The wait until a Unix-seconds reset time (`x-ratelimit-reset`), zero when it has passed.
pub fn until_unix(reset: u64, now: SystemTime) -> Duration {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Duration::from_secs(reset).saturating_sub(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn statuses_are_classified_as_documented() {
        assert_eq!(classify(200), Verdict::Delivered);
        assert_eq!(classify(204), Verdict::Delivered);
        for s in [408, 500, 502, 504] {
            assert_eq!(classify(s), Verdict::Retry { throttled: false }, "{s}");
        }
        for s in [429, 503] {
            assert_eq!(classify(s), Verdict::Retry { throttled: true }, "{s}");
        }
        for s in [400, 409, 413, 422] {
            assert_eq!(classify(s), Verdict::Refused(s), "{s}");
        }
        for s in [301, 302, 307, 308, 401, 403, 404, 405, 407, 410, 415, 501] {
            assert_eq!(classify(s), Verdict::Misconfigured(s), "{s}");
        }
        assert!(misconfigured_advice(401).contains("AUTHORIZATION"));
        assert!(misconfigured_advice(404).contains("WEBHOOK_URL"));
        assert!(misconfigured_advice(308).contains("WEBHOOK_URL"));
    }

    #[test]
    fn refused_certificates_are_told_from_passing_failures() {
        use rustls::{CertificateError, Error as Tls};
        // As reqwest nests it: the TLS error inside an io::Error inside the request error.
        let nested = |tls: Tls| -> Box<dyn std::error::Error + 'static> {
            Box::new(std::io::Error::other(std::io::Error::other(tls)))
        };
        let untrusted = nested(Tls::InvalidCertificate(CertificateError::UnknownIssuer));
        assert_eq!(
            bad_certificate(untrusted.as_ref()),
            Some(BadCertificate::Untrusted)
        );
        let expired = nested(Tls::InvalidCertificate(CertificateError::Expired));
        assert_eq!(
            bad_certificate(expired.as_ref()),
            Some(BadCertificate::Untrusted)
        );
        let host = nested(Tls::InvalidCertificate(CertificateError::NotValidForName));
        assert_eq!(
            bad_certificate(host.as_ref()),
            Some(BadCertificate::WrongHost)
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(bad_certificate(&reset), None);
        let handshake = nested(Tls::HandshakeNotComplete);
        assert_eq!(bad_certificate(handshake.as_ref()), None);

        let advice = certificate_advice(BadCertificate::Untrusted, "WEBHOOK_URL");
        assert!(
            advice.contains("CA_CERT") && advice.contains("WEBHOOK_URL"),
            "{advice}"
        );
        let advice = certificate_advice(BadCertificate::WrongHost, "AUTH0_DOMAIN");
        assert!(advice.contains("AUTH0_DOMAIN"), "{advice}");
    }

    #[test]
    fn every_attempt_counts_toward_the_limit_steps_included() {
        // A token fetched, then answers that are asked again: the limit is on all of them.
        let stop = Stop::until(Instant::now() + Duration::from_secs(3600));
        let mut sent = 0;
        let given_up = run::<()>(
            None,
            &stop,
            Part::Sending,
            Some(4),
            |n| {
                sent += 1;
                match n {
                    0 => Attempt::Step,
                    _ => Attempt::Again {
                        why: "Auth0 answered 502".into(),
                        wait: Some(Duration::ZERO),
                    },
                }
            },
            |_| {},
        );
        assert_eq!(sent, 4);
        assert_eq!(given_up, Err("Auth0 answered 502 (4 attempts)".to_string()));

        let mut sent = 0;
        let steps = run::<()>(
            None,
            &stop,
            Part::Sending,
            Some(2),
            |_| {
                sent += 1;
                Attempt::Step
            },
            |_| {},
        );
        assert_eq!(sent, 2);
        assert!(steps.is_err());
        assert_eq!(
            run(None, &stop, Part::Sending, Some(2), Attempt::Done, |_| {}),
            Ok(0)
        );
    }

    #[test]
    fn a_wait_past_the_deadline_gives_up_and_a_stopped_run_retries_nothing() {
        let stop = Stop::until(Instant::now());
        let past = wait(Duration::from_secs(5), None, &stop, Part::Sending, "503");
        assert!(past.unwrap_err().contains("after MAX_RUN_TIME"));
        let until = Some(Instant::now());
        let unbounded = Stop::new();
        let past = wait(
            Duration::from_secs(5),
            until,
            &unbounded,
            Part::Reading,
            "503",
        );
        assert!(past.unwrap_err().contains("after MAX_RUN_TIME"));
        assert_eq!(
            wait(Duration::ZERO, None, &unbounded, Part::Sending, "503"),
            Ok(())
        );

        let stopped = Stop::new();
        stopped.interrupt(15, Duration::from_secs(10));
        let mut sent = 0;
        let given_up = run::<()>(
            None,
            &stopped,
            Part::Sending,
            None,
            |_| {
                sent += 1;
                Attempt::Again {
                    why: "webhook answered 503".into(),
                    wait: Some(Duration::from_secs(1)),
                }
            },
            |_| {},
        );
        assert_eq!(sent, 1, "the first attempt is made, no retry");
        assert_eq!(
            given_up,
            Err("webhook answered 503 (not retried: the run is stopping)".into())
        );
        // The end of reading stops the reader's retries, not the sender's.
        let read = Stop::new();
        read.fire(Cause::Read);
        assert!(wait(Duration::ZERO, None, &read, Part::Reading, "x").is_err());
        assert_eq!(
            wait(Duration::ZERO, None, &read, Part::Sending, "x"),
            Ok(())
        );
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(20));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(20))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(20));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_wins_over_backoff_but_is_capped() {
        assert_eq!(
            next_wait(1, Some(Duration::from_secs(3)), 0.0),
            Duration::from_secs(3)
        );
        assert_eq!(
            next_wait(1, Some(Duration::from_secs(3600)), 0.0),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn reset_in_the_past_means_no_wait() {
        let now = UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(until_unix(90, now), Duration::ZERO);
        assert_eq!(until_unix(105, now), Duration::from_secs(5));
    }

    proptest! {
        #[test]
        fn any_retry_after_value_is_read_without_panic(value in "\\PC{0,40}", now in 0u64..u64::MAX / 2) {
            let now = UNIX_EPOCH + Duration::from_secs(now);
            if let Some(d) = parse_retry_after(&value, now) {
                prop_assert!(next_wait(1, Some(d), 0.5) <= MAX_RETRY_AFTER);
            }
            let _ = until_unix(u64::MAX, now);
        }

        #[test]
        fn backoff_grows_within_its_ceiling(attempt in 1u32..100, unit in 0.0f64..1.0) {
            let wait = backoff(attempt, unit);
            prop_assert!(wait <= MAX_DELAY);
            let ceiling = BASE_DELAY.saturating_mul(1 << (attempt - 1).min(16)).min(MAX_DELAY);
            prop_assert!(wait <= ceiling);
            prop_assert_eq!(backoff(attempt, 0.999_999) >= backoff(attempt, unit), true);
        }
    }
}
