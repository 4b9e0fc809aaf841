//! The tool's share of the tenant's Auth0 rate limit: one token bucket shared by every client of
//! the tenant, reported on each answer (`x-ratelimit-limit`, `x-ratelimit-remaining`). [`Budget`]
//! decides, as a pure function of time, when a request may go: never into an empty bucket, above
//! `AUTH0_RATE_LIMIT` of the refill rate, or into the reserve the share leaves to other clients.

use crate::settings::AUTH0_RATE_LIMIT;
pub use crate::settings::Share;
use crate::stop::{Part, Stop};
use reqwest::header::HeaderMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// At most three decimals, and none that are zeros: 16, 1.667.
pub fn figure(x: f64) -> String {
    let text = format!("{x:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The smallest refill rate Auth0 publishes: a share's base while the bucket is unknown.
pub const SMALLEST_RATE: f64 = 100.0 / 60.0;

/// A bucket of a size no published plan has is taken as refilled in this long, as slowly as any
/// published plan refills (Self Service: 10 at 100 a minute); each 429 lowers the rate.
pub const SLOWEST_REFILL_SECS: f64 = 6.0;

/// The refill rate of a bucket of this size: a plan's, or one refilling it in the slowest time.
pub fn refill_rate(limit: f64) -> f64 {
    plan_rate(limit).unwrap_or((limit / SLOWEST_REFILL_SECS).max(SMALLEST_RATE))
}

/// The refill rate of Auth0's published plans by bucket size: Free, Self Service (the lower of
/// its two rates) and Enterprise non-production, Enterprise production.
pub fn plan_rate(limit: f64) -> Option<f64> {
    match limit {
        2.0 => Some(2.0),
        10.0 => Some(SMALLEST_RATE),
        50.0 => Some(16.0),
        _ => None,
    }
}

/// The bucket's size and the tokens left, from the headers; else which cannot be read, and how.
pub fn read_headers(headers: &HeaderMap) -> Result<(f64, f64), String> {
    let num = |name: &str, least: u64| {
        let value = headers.get(name).ok_or(format!("no {name} header"))?;
        let text = String::from_utf8_lossy(value.as_bytes());
        let text = text.trim();
        match text.parse::<u64>() {
            Ok(n) if n >= least => Ok(n as f64),
            _ => Err(format!(
                "{name} is '{}', not a whole number{}",
                text.chars().take(20).collect::<String>(),
                if least > 0 { " above 0" } else { "" }
            )),
        }
    };
    let limit = num("x-ratelimit-limit", 1)?;
    Ok((limit, num("x-ratelimit-remaining", 0)?.min(limit)))
}

/// A request the budget let go: its place in our order (`None`: not counted), and when.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    index: Option<u64>,
    sent: Instant,
}

/// The model of the tenant's bucket and of our share of it. Pure: every method takes the time.
#[derive(Debug)]
pub struct Budget {
    share: Share,
    /// The bucket's size, once headers could be read; or why none could.
    limit: Option<f64>,
    unread: Option<String>,
    /// The refill rate believed: the plan's, or the smallest published; each 429 lowers it.
    rate: f64,
    /// The freshest answer: its request's place, when it was sent, and the tokens it left.
    latest: Option<(u64, Instant, f64)>,
    sent: u64,
    /// Our own bucket, which caps us at the share: tokens, and when they were counted.
    ours: f64,
    ours_at: Instant,
    /// No request before this (a 429's `Retry-After`).
    not_before: Instant,
    latency: Option<f64>,
}

impl Budget {
    pub fn new(share: Share, now: Instant) -> Budget {
        Budget {
            share,
            limit: None,
            unread: None,
            rate: SMALLEST_RATE,
            latest: None,
            sent: 0,
            ours: 1.0,
            ours_at: now,
            not_before: now,
            latency: None,
        }
    }

    pub fn allowed_rate(&self) -> f64 {
        match self.share {
            Share::Fraction(p) => p * self.rate,
            Share::PerSecond(r) => r,
        }
    }

    /// Our own bucket's size, and the tokens the share leaves to the tenant's other clients.
    fn burst_and_reserve(&self) -> (f64, f64) {
        match (self.share, self.limit) {
            (Share::Fraction(p), Some(l)) => ((p * l).max(1.0), ((1.0 - p) * l).floor()),
            (Share::Fraction(_), None) => (1.0, 0.0),
            (Share::PerSecond(r), _) => (r.max(1.0), 0.0),
        }
    }

    fn our_tokens(&self, now: Instant) -> f64 {
        let secs = now.saturating_duration_since(self.ours_at).as_secs_f64();
        (self.ours + self.allowed_rate() * secs).min(self.burst_and_reserve().0)
    }

    /// How long until a request may go: until our share has a token, and the tenant's bucket
    /// (the freshest `remaining`, refilled since, less our requests after it) one beyond the
    /// reserve. One that does not `count` (the token endpoint) waits only for a 429's pause.
    pub fn wait(&self, now: Instant, counts: bool) -> Duration {
        let pause = self.not_before.saturating_duration_since(now);
        if !pause.is_zero() || !counts {
            return pause;
        }
        let mut wait = (1.0 - self.our_tokens(now)).max(0.0) / self.allowed_rate();
        if let (Some(limit), Some((index, sent, remaining))) = (self.limit, self.latest) {
            let refill = self.rate * now.saturating_duration_since(sent).as_secs_f64();
            let level = (remaining + refill).min(limit) - (self.sent - index - 1) as f64;
            wait = wait.max((1.0 + self.burst_and_reserve().1 - level) / self.rate);
        }
        Duration::from_secs_f64(wait.min(3600.0))
    }

    /// A request goes now; the ticket goes back with its answer.
    pub fn take(&mut self, now: Instant, counts: bool) -> Ticket {
        let index = counts.then(|| {
            self.ours = (self.our_tokens(now) - 1.0).max(0.0);
            self.ours_at = now;
            self.sent += 1;
            self.sent - 1
        });
        Ticket { index, sent: now }
    }

    /// The answer to `ticket`'s request; the warning to give, once, when headers cannot be read.
    pub fn answer(
        &mut self,
        ticket: Ticket,
        status: u16,
        headers: &HeaderMap,
        now: Instant,
    ) -> Option<String> {
        let index = ticket.index?;
        if status == 429 {
            // Someone else took the tokens, or the rate is overrated: believe a little less.
            self.rate *= 0.9;
            let wait = crate::retry::retry_after(headers).unwrap_or(Duration::from_secs(1));
            self.not_before = self
                .not_before
                .max(now + wait.min(crate::retry::MAX_RETRY_AFTER));
        } else if status == 200 {
            let secs = now.saturating_duration_since(ticket.sent).as_secs_f64();
            self.latency = Some(self.latency.map_or(secs, |old| 0.8 * old + 0.2 * secs));
        }
        let (limit, remaining) = match read_headers(headers) {
            Ok(bucket) => bucket,
            Err(why) if self.limit.is_none() => {
                let first = self.unread.replace(why).is_none();
                return self.fallback().filter(|_| first);
            }
            Err(_) => return None,
        };
        if self.limit.is_none() {
            // Under a share, ours starts from what the first requests left, so a run takes its
            // share from the start and not a burst on top of it; `100%` may spend the burst.
            self.limit = Some(limit);
            self.rate = refill_rate(limit);
            let start = match self.share {
                Share::Fraction(p) if p < 1.0 => 1.0,
                _ => self.burst_and_reserve().0,
            };
            self.ours = (start - self.sent as f64).max(0.0);
            self.ours_at = now;
        }
        if self.latest.is_none_or(|(i, _, _)| i < index) {
            let remaining = if status == 429 { 0.0 } else { remaining };
            self.latest = Some((index, ticket.sent, remaining));
        }
        None
    }

    /// The bucket's size and refill rate, when Auth0 reported it, and the share in use.
    pub fn reported(&self) -> (Option<(f64, f64)>, Share) {
        (self.limit.map(|l| (l, self.rate)), self.share)
    }

    /// What a share is taken of while Auth0's headers cannot be read, when that is so.
    pub fn fallback(&self) -> Option<String> {
        let (Share::Fraction(_), None, Some(why)) = (self.share, self.limit, &self.unread) else {
            return None;
        };
        Some(format!(
            "Auth0's rate limit cannot be read ({why}): {AUTH0_RATE_LIMIT} {} is taken of {} requests/s, the smallest rate Auth0 publishes, so at most {} requests/s",
            self.share,
            figure(SMALLEST_RATE),
            figure(self.allowed_rate())
        ))
    }

    /// How many cursors keep the budget busy: the allowed rate times the latency, plus one.
    pub fn cursors(&self) -> usize {
        let busy = |l: f64| (self.allowed_rate() * l).ceil() as usize + 1;
        self.latency.map_or(1, |l| busy(l).min(MAX_CURSORS))
    }
}

/// The most cursors a run reads with, whatever the budget.
pub const MAX_CURSORS: usize = 12;

/// The shared [`Budget`] every Auth0 request goes through.
pub struct Pacer(Mutex<Budget>);

impl Pacer {
    pub fn new(share: Share) -> Pacer {
        Pacer(Mutex::new(Budget::new(share, Instant::now())))
    }

    pub fn budget(&self) -> MutexGuard<'_, Budget> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the budget allows a request; `None` when not before `until`, or stopped.
    pub fn acquire(&self, counts: bool, until: Instant, stop: &Stop) -> Option<Ticket> {
        while stop.stopped(Part::Reading).is_none() {
            let now = Instant::now();
            let mut b = self.budget();
            let d = b.wait(now, counts);
            if d.is_zero() {
                return Some(b.take(now, counts));
            }
            drop(b);
            if now + d > until || stop.sleep_until(now + d, Part::Reading).is_err() {
                return None;
            }
        }
        None
    }

    /// The answer to a request `acquire` let go.
    pub fn answer(&self, ticket: Ticket, status: u16, headers: &HeaderMap) {
        let now = Instant::now();
        let warning = self.budget().answer(ticket, status, headers, now);
        warning.into_iter().for_each(crate::say::warn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rate-limit headers of an answer; an empty value leaves that header out.
    fn headers(limit: &str, remaining: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (name, value) in [
            ("x-ratelimit-limit", limit),
            ("x-ratelimit-remaining", remaining),
        ] {
            if !value.is_empty() {
                m.insert(name, value.parse().unwrap());
            }
        }
        m
    }

    #[test]
    fn shares_are_percentages_or_requests_a_second() {
        assert_eq!(Share::parse("50%"), Ok(Share::Fraction(0.5)));
        assert_eq!(Share::parse(" 100 % "), Ok(Share::Fraction(1.0)));
        assert_eq!(Share::parse("4"), Ok(Share::PerSecond(4.0)));
        assert_eq!(Share::parse("0.5"), Ok(Share::PerSecond(0.5)));
        for bad in [
            "0%", "101%", "0", "-1", "fast", "", "NaN", "inf", "1e9", "50 %%",
        ] {
            let e = Share::parse(bad).unwrap_err();
            assert!(
                e.contains("AUTH0_RATE_LIMIT") && e.contains("50%"),
                "{bad}: {e}"
            );
        }
        assert_eq!(Share::Fraction(0.5).to_string(), "50%");
        assert_eq!(Share::PerSecond(0.5).to_string(), "0.5 requests/s");
        assert_eq!(
            (figure(16.0), figure(SMALLEST_RATE), figure(10.0)),
            ("16".into(), "1.667".into(), "10".into())
        );
    }

    #[test]
    fn the_bucket_is_read_when_its_size_and_what_is_left_are_whole_numbers() {
        let read = |limit, remaining| read_headers(&headers(limit, remaining));
        assert_eq!(read("50", "49"), Ok((50.0, 49.0)));
        assert_eq!(read(" 2 ", "0"), Ok((2.0, 0.0)));
        // More left than the bucket holds is the bucket full.
        assert_eq!(read("50", "900"), Ok((50.0, 50.0)));
        for (limit, remaining, why) in [
            ("", "", "no x-ratelimit-limit header"),
            ("50", "", "no x-ratelimit-remaining header"),
            (
                "n/a",
                "49",
                "x-ratelimit-limit is 'n/a', not a whole number above 0",
            ),
            (
                "-3",
                "49",
                "x-ratelimit-limit is '-3', not a whole number above 0",
            ),
            (
                "0",
                "0",
                "x-ratelimit-limit is '0', not a whole number above 0",
            ),
            (
                "16.5",
                "3",
                "x-ratelimit-limit is '16.5', not a whole number above 0",
            ),
            (
                "50",
                "-1",
                "x-ratelimit-remaining is '-1', not a whole number",
            ),
            (
                "50",
                "4.5",
                "x-ratelimit-remaining is '4.5', not a whole number",
            ),
            (
                "50",
                "1e3",
                "x-ratelimit-remaining is '1e3', not a whole number",
            ),
        ] {
            assert_eq!(read(limit, remaining), Err(why.to_string()));
        }
        let long = "9".repeat(40);
        let why = read(&long, "1").unwrap_err();
        assert_eq!(
            why,
            format!(
                "x-ratelimit-limit is '{}', not a whole number above 0",
                &long[..20]
            )
        );
    }

    /// A simulated tenant bucket (Auth0's model: size `limit`, refill `rate` a second, the
    /// token taken as a request arrives, `remaining` floored) driven by one [`Budget`] with
    /// `cursors` requests in flight, each answered after `latency`, and a neighbour taking a
    /// token every `neighbour` seconds. `readable`: whether the answers' headers can be read.
    /// Returns how long `requests` took, the 429s of ours and those of the neighbour.
    #[allow(clippy::too_many_arguments)]
    fn simulate(
        share: Share,
        limit: f64,
        rate: f64,
        latency: f64,
        cursors: usize,
        requests: usize,
        neighbour: Option<f64>,
        readable: bool,
    ) -> (f64, usize, usize) {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut b = Budget::new(share, t0);
        let mut tokens = limit;
        let mut last = 0.0f64;
        let mut now = 0.0f64;
        let mut next_neighbour = neighbour.unwrap_or(f64::MAX);
        let (mut ours_429, mut theirs_429, mut done) = (0, 0, 0);
        // Requests in flight: (answer time, ticket, status, remaining)
        let mut flight: Vec<(f64, Ticket, u16, f64)> = Vec::new();
        let refill = |tokens: &mut f64, last: &mut f64, now: f64| {
            *tokens = (*tokens + (now - *last) * rate).min(limit);
            *last = now;
        };
        while done < requests && now < 10_000.0 {
            flight.sort_by(|a, b| a.0.total_cmp(&b.0));
            while flight.first().is_some_and(|f| f.0 <= now) {
                let (_, ticket, status, remaining) = flight.remove(0);
                let mut h = match readable {
                    true => headers(&limit.to_string(), &remaining.to_string()),
                    false => headers("n/a", "n/a"),
                };
                if status == 429 {
                    h.insert("retry-after", "1".parse().unwrap());
                }
                b.answer(ticket, status, &h, at(now));
                done += usize::from(status == 200);
            }
            if now >= next_neighbour {
                refill(&mut tokens, &mut last, now);
                match tokens >= 1.0 {
                    true => tokens -= 1.0,
                    false => theirs_429 += 1,
                }
                // About once a period, never quite in step.
                next_neighbour = now + neighbour.unwrap() * (0.9 + 0.2 * ((now * 7.3).sin().abs()));
            }
            while flight.len() < cursors && b.wait(at(now), true).is_zero() {
                let ticket = b.take(at(now), true);
                refill(&mut tokens, &mut last, now);
                let status = match tokens >= 1.0 {
                    true => {
                        tokens -= 1.0;
                        200
                    }
                    false => {
                        ours_429 += 1;
                        429
                    }
                };
                flight.push((now + latency, ticket, status, tokens.floor()));
            }
            now += 0.001;
        }
        eprintln!("{share:?} {limit}/{rate}: {now} s, 429s {ours_429} ours, {theirs_429} theirs");
        (now, ours_429, theirs_429)
    }

    #[test]
    fn the_whole_enterprise_budget_is_used_without_a_429() {
        // 16 a second, burst 50, 300 ms a page, enough cursors.
        let (secs, ours, _) = simulate(Share::Fraction(1.0), 50.0, 16.0, 0.3, 8, 400, None, true);
        assert_eq!(ours, 0);
        // (400 - 50 burst) / 16 = 21.9 s at best.
        assert!(secs < 21.9 * 1.2, "{secs}");
    }

    #[test]
    fn the_free_budget_is_used_without_a_429_and_without_waiting_for_whole_seconds() {
        let (secs, ours, _) = simulate(Share::Fraction(1.0), 2.0, 2.0, 0.3, 2, 60, None, true);
        assert_eq!(ours, 0);
        // 60 requests at 2 a second: 29 s at best; waiting for each whole-second reset took
        // twice that.
        assert!(secs < 29.0 * 1.3, "{secs}");
    }

    #[test]
    fn the_default_share_leaves_half_the_rate_and_half_the_burst() {
        let (secs, ours, _) = simulate(Share::DEFAULT, 50.0, 16.0, 0.3, 8, 400, None, true);
        assert_eq!(ours, 0);
        let rate = 400.0 / secs;
        assert!(rate <= 16.0 * 0.55, "{rate}/s");
    }

    #[test]
    fn a_neighbour_on_the_free_plan_is_never_refused_under_the_default_share() {
        let (_, ours, theirs) = simulate(Share::DEFAULT, 2.0, 2.0, 0.3, 2, 40, Some(1.0), true);
        assert_eq!(theirs, 0, "the neighbour was refused");
        assert!(ours <= 1, "{ours}");
    }

    #[test]
    fn without_readable_headers_a_share_is_taken_of_the_smallest_published_rate() {
        // Even the Free plan, with a neighbour at half its rate, refuses no one.
        let (secs, ours, theirs) = simulate(Share::DEFAULT, 2.0, 2.0, 0.3, 4, 40, Some(1.0), false);
        assert_eq!((ours, theirs), (0, 0));
        // The first request goes at once.
        let rate = 39.0 / secs;
        assert!(rate <= SMALLEST_RATE / 2.0 * 1.01, "{rate}/s");
    }

    #[test]
    fn a_bucket_of_no_published_plan_is_taken_as_refilled_as_slowly_as_any_plan_refills() {
        // 6 a second, burst 30: no plan has it. The burst goes, then 30 / 6 s = 5 a second.
        let (secs, ours, _) = simulate(Share::Fraction(1.0), 30.0, 6.0, 0.3, 4, 130, None, true);
        assert_eq!(ours, 0);
        let rate = (130.0 - 30.0) / secs;
        assert!(rate <= 5.0 * 1.01, "{rate}/s");
        assert!(
            rate > SMALLEST_RATE * 2.0,
            "{rate}/s: not held to the smallest plan's"
        );
        // A bucket far larger than any plan's (a custom limit) is no bottleneck.
        assert!(refill_rate(100_000.0) > 10_000.0);
        assert_eq!(refill_rate(50.0), 16.0);
    }

    #[test]
    fn a_plan_that_refills_slower_than_published_costs_a_few_429s() {
        let (secs, ours, _) = simulate(Share::Fraction(1.0), 50.0, 10.0, 0.3, 8, 400, None, true);
        assert!(ours <= 12, "{ours} refused");
        assert!(secs < 35.0 * 1.5, "{secs}");
    }

    #[test]
    fn requests_a_second_cap_the_rate() {
        let (secs, ours, _) = simulate(Share::PerSecond(4.0), 50.0, 16.0, 0.3, 8, 200, None, true);
        assert_eq!(ours, 0);
        assert!(200.0 / secs <= 4.0 * 1.05, "{}", 200.0 / secs);
    }

    #[test]
    fn a_share_falls_back_once_and_says_which_header_and_what_rate() {
        let now = Instant::now();
        let unreadable = headers("n/a", "");
        let mut b = Budget::new(Share::DEFAULT, now);
        assert_eq!(b.wait(now, true), Duration::ZERO, "the first request goes");
        let t = b.take(now, true);
        let warning = b.answer(t, 200, &unreadable, now).expect("a warning");
        assert_eq!(
            warning,
            "Auth0's rate limit cannot be read (x-ratelimit-limit is 'n/a', not a whole number above 0): \
             AUTH0_RATE_LIMIT 50% is taken of 1.667 requests/s, the smallest rate Auth0 publishes, so at most 0.833 requests/s"
        );
        assert_eq!(b.fallback(), Some(warning));
        let w = b.wait(now, true);
        assert!(
            w > Duration::from_millis(1190) && w <= Duration::from_millis(1201),
            "{w:?}"
        );
        let t = b.take(now + w, true);
        assert_eq!(
            b.answer(t, 200, &unreadable, now + w),
            None,
            "one warning a run"
        );
        // A 429 teaches a slower rate still.
        let t = b.take(now + w * 2, true);
        b.answer(t, 429, &unreadable, now + w * 2);
        assert!(b.allowed_rate() < SMALLEST_RATE / 2.0);
        // A readable answer ends the fallback.
        let t = b.take(now + w * 4, true);
        b.answer(t, 200, &headers("50", "40"), now + w * 4);
        assert_eq!(b.fallback(), None);
        assert_eq!(b.reported(), (Some((50.0, 16.0)), Share::DEFAULT));
        // Requests a second are the user's own rate: nothing to fall back from.
        let mut b = Budget::new(Share::PerSecond(2.0), now);
        let t = b.take(now, true);
        assert_eq!(b.answer(t, 200, &unreadable, now), None);
        assert_eq!(b.wait(now, true), Duration::from_millis(500));
    }

    #[test]
    fn a_429_waits_its_retry_after() {
        let now = Instant::now();
        let mut b = Budget::new(Share::Fraction(1.0), now);
        let t = b.take(now, true);
        let mut h = headers("50", "0");
        h.insert("retry-after", "3".parse().unwrap());
        b.answer(t, 429, &h, now);
        let w = b.wait(now, true);
        assert!(w > Duration::from_millis(2900), "{w:?}");
        assert_eq!(b.wait(now, false), w, "even the token endpoint waits");
    }
}
