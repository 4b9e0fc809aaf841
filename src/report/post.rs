//! Sending a report (a Slack message, a healthcheck ping): one POST through the attempt and
//! the retry runner every client uses, bounded so that a report never holds the run
//! long: at most [`ATTEMPTS`] attempts, none started later than [`WITHIN`] after the first nor
//! after the run's deadline. What no wait changes (a refused certificate, a 4xx other than 408
//! and 429, a redirect) is final at once.

use crate::http::{self, Unanswered, Verdict, read_prefix};
use crate::retry::{self, Attempt};
use crate::stop::{Part, Stop};
use bytes::Bytes;
use reqwest::blocking::Client;
use std::time::{Duration, Instant};

pub const ATTEMPTS: u32 = 3;
/// How long after the first attempt a retry may start; also the attempts' timeout.
pub const WITHIN: Duration = Duration::from_secs(10);
/// A retry started late still gets this long to be answered.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Reports are answered `ok` or a short error; more than this of an answer is never read.
const ANSWER_PREFIX: usize = 4 * 1024;

/// Why a report did not get through, as the last attempt found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Answered with this status (not 2xx), and the start of the answer.
    Answered { status: u16, answer: String },
    /// Not answered: what went wrong on the way.
    Unreached(String),
}

/// POSTs `body` to `url`; `shown` names it in `-v` lines (never the URL, a secret), `setting`
/// the one to fix for a refused certificate; `part` what cuts the retries short.
pub fn post(
    http: &Client,
    url: &str,
    (content_type, body): (&str, Bytes),
    (stop, part): (&Stop, Part),
    shown: &str,
    setting: &str,
) -> Result<u16, Failure> {
    let until = Instant::now() + WITHIN;
    let mut last = None;
    let sent = retry::run(Some(until), stop, part, Some(ATTEMPTS), |_| {
        let left = until.saturating_duration_since(Instant::now());
        let request = (http.post(url).timeout(left.max(MIN_TIMEOUT)))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.clone());
        let (failure, wait, retried) = match http::attempt(request, "POST", shown, setting) {
            Ok(r) => {
                // Read to its end when short, so the connection is kept for a retry.
                let answer = read_prefix(r.resp, ANSWER_PREFIX);
                if r.verdict == Verdict::Delivered {
                    return Attempt::Done(Ok(r.status));
                }
                let (status, retried) = (r.status, matches!(r.verdict, Verdict::Retry { .. }));
                (Failure::Answered { status, answer }, r.retry_after, retried)
            }
            Err(Unanswered::Final(d)) => (Failure::Unreached(d), None, false),
            Err(Unanswered::Passing(d)) => (Failure::Unreached(d), None, true),
        };
        if !retried {
            return Attempt::Done(Err(failure));
        }
        let why = match &failure {
            Failure::Answered { status, .. } => format!("{shown} answered {status}"),
            Failure::Unreached(d) => format!("{shown}: {d}"),
        };
        last = Some(failure);
        Attempt::Again { why, wait }
    });
    // Gave up on an answer worth retrying: the last one says why.
    sent.unwrap_or_else(|why| Err(last.unwrap_or(Failure::Unreached(why))))
}
