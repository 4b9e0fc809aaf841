//! The tool's share of the tenant's Auth0 rate limit. Auth0 limits a tenant's Management API
//! with one token bucket shared by every client of the tenant, and reports it on every answer:
//! `x-ratelimit-limit` (the bucket's size), `x-ratelimit-remaining` (tokens left after this
//! request) and `x-ratelimit-reset` (Unix seconds, when it is full again). [`Budget`] models
//! that bucket from those headers (its refill rate is learnt from how `remaining` moves against
//! the requests sent) and decides, as a pure function of time, when the next request may go:
//! never into an empty bucket, never above `AUTH0_RATE_LIMIT` of the refill rate, and never
//! below the reserve that the share leaves to the tenant's other clients. [`Pacer`] is the
//! blocking, shared wrapper every Auth0 request goes through.

/// Declared with AUTH0_RATE_LIMIT, whose kind parses it.
pub use crate::settings::Share;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What one answer's `x-ratelimit-*` headers said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Headers {
    pub limit: f64,
    pub remaining: f64,
    /// Unix seconds.
    pub reset: u64,
}

impl Headers {
    /// The three headers, when all are there and make sense; otherwise the answer tells
    /// nothing about the bucket.
    pub fn read(headers: &reqwest::header::HeaderMap) -> Option<Headers> {
        let num = |name: &str| -> Option<f64> {
            let v: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
            (v.is_finite() && v >= 0.0).then_some(v)
        };
        let reset = headers
            .get("x-ratelimit-reset")?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let (limit, remaining) = (num("x-ratelimit-limit")?, num("x-ratelimit-remaining")?);
        (1.0..=1e6).contains(&limit).then_some(Headers {
            limit,
            remaining: remaining.min(limit),
            reset,
        })
    }
}

/// One answer that counted against the bucket: the request's place in our sending order and
/// when it was sent (Auth0 takes the token as the request arrives), and what it reported.
#[derive(Debug, Clone, Copy)]
struct Seen {
    sent: Instant,
    index: u64,
    remaining: f64,
}

/// The refill rate of Auth0's published plans, by bucket size: Free (2, 2 a second), Self
/// Service's logs endpoint and Enterprise non-production (10: 100 a minute or 2 a second, the
/// lower taken), Enterprise production (50, 16 a second). What answers show is learnt on top;
/// a 429 lowers the trust in the plan's figure.
pub fn plan_rate(limit: f64) -> Option<f64> {
    match limit {
        2.0 => Some(2.0),
        10.0 => Some(100.0 / 60.0),
        50.0 => Some(16.0),
        _ => None,
    }
}

/// A request the budget let go: its place in our sending order (`u64::MAX` for one that does
/// not count against the bucket) and when it was sent (Auth0 takes the token as it arrives).
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    index: u64,
    sent: Instant,
}

/// What an answer tells the budget.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub headers: Option<Headers>,
    pub retry_after: Option<Duration>,
}

/// How long the model keeps answers to learn the refill rate from: the longer the span, the
/// smaller the error of `remaining` being a whole number.
const HISTORY: Duration = Duration::from_secs(60);
/// The shortest span two answers must be apart to say anything about the refill rate.
const MIN_SPAN: Duration = Duration::from_millis(500);

/// The model of the tenant's bucket and of our share of it. Pure: every method takes the time.
#[derive(Debug)]
pub struct Budget {
    share: Share,
    /// The bucket's size, from the last answer.
    limit: Option<f64>,
    /// The refill rate: the larger of the plan's (times `trust`) and what the answers show at
    /// least, so the model does not believe in tokens that are not there.
    rate: f64,
    /// The refill rate the answers show at least.
    learnt: f64,
    /// How far the plan's figure is believed: a 429 lowers it.
    trust: f64,
    /// The answers of the last [`HISTORY`], oldest first.
    seen: VecDeque<Seen>,
    /// The freshest answer: the one sent last among those answered.
    latest: Option<Seen>,
    /// When the bucket is surely full again: a second past the last `x-ratelimit-reset`, which
    /// is rounded to whole seconds.
    full_at: Option<SystemTime>,
    /// Requests that count against the bucket, sent so far, and those whose fate is known.
    sent: u64,
    answered: u64,
    /// Our own bucket, which caps us at the share: tokens, and when they were counted.
    ours: f64,
    ours_at: Instant,
    /// No request before this (a 429's `Retry-After`).
    not_before: Instant,
}

impl Budget {
    pub fn new(share: Share, now: Instant) -> Budget {
        Budget {
            share,
            limit: None,
            rate: 0.0,
            learnt: 0.0,
            trust: 1.0,
            seen: VecDeque::new(),
            latest: None,
            full_at: None,
            sent: 0,
            answered: 0,
            ours: 1.0,
            ours_at: now,
            not_before: now,
        }
    }

    fn rate_now(&self) -> f64 {
        let plan = self.limit.and_then(plan_rate).unwrap_or(0.0);
        (plan * self.trust).max(self.learnt)
    }

    /// The bucket's size and the refill rate learnt, when known.
    pub fn reported(&self) -> Option<(f64, f64)> {
        self.limit.map(|l| (l, self.rate))
    }

    pub fn share(&self) -> Share {
        self.share
    }

    /// Our own rate cap (requests a second), when it is known.
    pub fn allowed_rate(&self) -> Option<f64> {
        match self.share {
            Share::PerSecond(r) if self.rate > 0.0 => Some(r.min(self.rate)),
            Share::PerSecond(r) => Some(r),
            Share::Fraction(p) => (self.rate > 0.0).then_some(p * self.rate),
        }
    }

    /// Our own bucket's size: the share of the tenant's burst (at least one request).
    fn our_burst(&self) -> f64 {
        match (self.share, self.limit) {
            (Share::Fraction(p), Some(l)) => (p * l).max(1.0),
            (Share::Fraction(_), None) => 1.0,
            (Share::PerSecond(r), _) => r.max(1.0),
        }
    }

    /// Tokens the share leaves to the tenant's other clients.
    fn reserve(&self) -> f64 {
        match (self.share, self.limit) {
            (Share::Fraction(p), Some(l)) => ((1.0 - p) * l).floor(),
            _ => 0.0,
        }
    }

    /// Tokens in the tenant's bucket now, as far as we know: the freshest answer's
    /// `remaining`, refilled at the learnt rate since, less our requests sent after it.
    fn level(&self, now: Instant, wall: SystemTime) -> Option<f64> {
        let limit = self.limit?;
        let latest = self.latest?;
        let after = (self.sent - latest.index - 1) as f64;
        let refilled = if self.full_at.is_some_and(|t| wall >= t) {
            limit
        } else {
            let secs = now.saturating_duration_since(latest.sent).as_secs_f64();
            (latest.remaining + self.rate * secs).min(limit)
        };
        Some(refilled - after)
    }

    fn our_tokens(&self, now: Instant, wall: SystemTime) -> f64 {
        let Some(rate) = self.allowed_rate() else {
            // A share of a rate not learnt yet: once the bucket is surely full again, a
            // share of it is ours.
            return match self.full_at {
                Some(t) if wall >= t => self.our_burst(),
                _ => self.ours,
            };
        };
        let secs = now.saturating_duration_since(self.ours_at).as_secs_f64();
        (self.ours + rate * secs).min(self.our_burst())
    }

    /// How long until a request may go: zero when it may go now, `None` when only news (an
    /// answer) can tell. `wall` is the clock `x-ratelimit-reset` is read against.
    /// A request that does not `count` against the tenant's bucket (the token endpoint, limited
    /// apart) waits only for a 429's pause.
    pub fn wait(&self, now: Instant, wall: SystemTime, counts: bool) -> Option<Duration> {
        let pause = self.not_before.saturating_duration_since(now);
        if !pause.is_zero() || !counts {
            return Some(pause);
        }
        let Some(level) = self.level(now, wall) else {
            // No bucket reported yet: one request at a time until an answer tells. Answers
            // without the headers (a proxy that drops them) leave nothing to take a share of:
            // requests a second still apply, and a 429 is still waited out.
            if self.answered < self.sent {
                return None;
            }
            return Some(match self.share {
                Share::PerSecond(r) => {
                    let need = 1.0 - self.our_tokens(now, wall);
                    Duration::from_secs_f64((need / r).clamp(0.0, 3600.0))
                }
                Share::Fraction(_) => Duration::ZERO,
            });
        };
        let need_tenant = 1.0 + self.reserve() - level;
        let need_ours = 1.0 - self.our_tokens(now, wall);
        let mut wait = Duration::ZERO;
        if need_tenant > 1e-9 {
            let by_rate = (self.rate > 0.0).then(|| need_tenant / self.rate);
            let by_reset = self
                .full_at
                .map(|t| t.duration_since(wall).unwrap_or_default().as_secs_f64());
            let secs = match (by_rate, by_reset) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b)?,
            };
            wait = wait.max(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
        }
        if need_ours > 1e-9 {
            let rate = self.allowed_rate().filter(|r| *r > 0.0);
            let secs = match rate {
                Some(r) => need_ours / r,
                // The share of a rate not learnt yet: the bucket's reset says when it is full.
                None => self
                    .full_at
                    .map(|t| t.duration_since(wall).unwrap_or_default().as_secs_f64())?,
            };
            wait = wait.max(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
        }
        Some(wait)
    }

    /// A request goes now. `counts` is false for one that another bucket limits (the token
    /// endpoint): it tells nothing about the tenant's bucket and takes nothing from it. The
    /// ticket goes back with the answer.
    pub fn take(&mut self, now: Instant, wall: SystemTime, counts: bool) -> Ticket {
        if !counts {
            return Ticket {
                index: u64::MAX,
                sent: now,
            };
        }
        self.ours = (self.our_tokens(now, wall) - 1.0).max(0.0);
        self.ours_at = now;
        self.sent += 1;
        Ticket {
            index: self.sent - 1,
            sent: now,
        }
    }

    /// The request of `ticket` got no answer (a transport error): it may or may not have taken
    /// a token, and the next answer says.
    pub fn unanswered(&mut self, ticket: Ticket) {
        if ticket.index != u64::MAX {
            self.answered += 1;
        }
    }

    /// The answer to the request of `ticket`.
    pub fn answer(&mut self, ticket: Ticket, answer: Answer, now: Instant, wall: SystemTime) {
        let Ticket { index, sent } = ticket;
        let Answer {
            status,
            headers,
            retry_after,
        } = answer;
        if index == u64::MAX {
            return;
        }
        self.answered += 1;
        if status == 429 {
            // Someone else took the tokens, or the rate was overrated: forget what the answers
            // so far said (a refused request took no token) and learn again, a little slower.
            self.seen.clear();
            self.trust *= 0.9;
            self.learnt *= 0.9;
            self.rate = self.rate_now();
            let wait = retry_after
                .unwrap_or(Duration::from_secs(1))
                .min(crate::retry::MAX_RETRY_AFTER);
            self.not_before = self.not_before.max(now + wait);
        }
        let Some(h) = headers else { return };
        if self.limit.is_none() {
            // The first news of the bucket. Under a share with a plan's rate known, ours
            // starts from what the first request left, so a run takes its share from the
            // start and not a burst on top of it. The whole budget's burst is there to use, and
            // with the rate still to be learnt, spending the burst is what shows it.
            self.limit = Some(h.limit);
            self.rate = self.rate_now();
            let start = match (self.share, self.rate > 0.0) {
                (Share::Fraction(p), true) if p < 1.0 => 1.0,
                _ => self.our_burst(),
            };
            self.ours = (start - self.sent as f64).max(0.0);
            self.ours_at = now;
        }
        self.limit = Some(h.limit);
        // A second past the reset, which is rounded to whole seconds; a reset further off than
        // any bucket takes to fill is not believed.
        let wall_reset = UNIX_EPOCH
            .checked_add(Duration::from_secs(h.reset.saturating_add(1)))
            .map(|t| t.min(wall + crate::retry::MAX_RETRY_AFTER));
        let seen = Seen {
            sent,
            index,
            remaining: if status == 429 { 0.0 } else { h.remaining },
        };
        if self.latest.is_none_or(|l| l.index < index) {
            self.latest = Some(seen);
            self.full_at = wall_reset;
        }
        if status == 429 {
            return;
        }
        self.seen
            .retain(|s| now.saturating_duration_since(s.sent) <= HISTORY);
        self.learnt = self.learnt.max(learn_rate(self.seen.iter(), &seen));
        self.rate = self.rate_now();
        let at = self.seen.partition_point(|s| s.index < index);
        self.seen.insert(at, seen);
    }
}

/// The refill rate the answers show, at least: between an earlier answer and this one the
/// bucket went from `a.remaining` to `b.remaining` while our requests in between took one token
/// each, and other clients took some more. Both are whole numbers of fractional levels, hence
/// the one token less. The best lower bound of all pairs.
fn learn_rate<'a>(earlier: impl Iterator<Item = &'a Seen>, b: &Seen) -> f64 {
    earlier
        .filter(|a| a.index < b.index)
        .filter_map(|a| {
            let span = b.sent.checked_duration_since(a.sent)?;
            if span < MIN_SPAN {
                return None;
            }
            let taken = (b.index - a.index) as f64;
            Some((b.remaining - a.remaining + taken - 1.0) / span.as_secs_f64())
        })
        .fold(0.0, f64::max)
}

/// The shared [`Budget`] every Auth0 request goes through, with the latency of the answers (how
/// many cursors the budget can keep busy).
pub struct Pacer {
    budget: Mutex<Budget>,
    changed: Condvar,
    /// Smoothed seconds from a page request to its answer.
    latency: Mutex<Option<f64>>,
}

/// The most cursors a run reads with, whatever the budget.
pub const MAX_CURSORS: usize = 12;

impl Pacer {
    pub fn new(share: Share) -> Pacer {
        Pacer {
            budget: Mutex::new(Budget::new(share, Instant::now())),
            changed: Condvar::new(),
            latency: Mutex::new(None),
        }
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the budget allows a request, or `until`, or `stop`. `None` then.
    pub fn acquire(
        &self,
        counts: bool,
        until: Instant,
        stop: &crate::stop::Stop,
    ) -> Option<Ticket> {
        let mut b = self.budget();
        loop {
            if stop.stopped(crate::stop::Part::Reading).is_some() {
                return None;
            }
            let now = Instant::now();
            let wait = b.wait(now, SystemTime::now(), counts);
            if wait == Some(Duration::ZERO) {
                return Some(b.take(now, SystemTime::now(), counts));
            }
            if now >= until {
                return None;
            }
            // An answer or a stop ([`Pacer::wake`]) wakes us (it may bring news); otherwise
            // the model says when, and now and then for the model's own sake.
            let nap = wait
                .unwrap_or(Duration::from_millis(100))
                .clamp(Duration::from_millis(1), Duration::from_millis(100))
                .min(until - now);
            b = self
                .changed
                .wait_timeout(b, nap)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Wakes every `acquire`, to look at the stop token (under the lock, so none
    /// misses it).
    pub fn wake(&self) {
        let _b = self.budget();
        self.changed.notify_all();
    }

    /// The answer to a request `acquire` let go (`None` when it had no answer).
    pub fn answer(&self, ticket: Ticket, answer: Option<(u16, &reqwest::header::HeaderMap)>) {
        let now = Instant::now();
        match answer {
            Some((status, headers)) => {
                let answer = Answer {
                    status,
                    headers: Headers::read(headers),
                    retry_after: crate::retry::retry_after(headers),
                };
                self.budget().answer(ticket, answer, now, SystemTime::now());
            }
            None => self.budget().unanswered(ticket),
        }
        if ticket.index != u64::MAX && answer.is_some_and(|(s, _)| s == 200) {
            let secs = now.duration_since(ticket.sent).as_secs_f64();
            let mut l = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
            *l = Some(l.map_or(secs, |old| 0.8 * old + 0.2 * secs));
        }
        self.changed.notify_all();
    }

    /// How many cursors keep the budget busy: the allowed rate times the answers' latency,
    /// plus one so that a cursor handing on its page does not leave a gap.
    pub fn cursors(&self) -> usize {
        let rate = self.budget().allowed_rate();
        let latency = *self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        match (rate, latency) {
            (Some(r), Some(l)) => ((r * l).ceil() as usize + 1).clamp(1, MAX_CURSORS),
            _ => 1,
        }
    }

    /// The bucket Auth0 reports (size, learnt refill rate) and the share in use.
    pub fn reported(&self) -> (Option<(f64, f64)>, Share) {
        let b = self.budget();
        (b.reported(), b.share())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(limit: f64, remaining: f64, reset: u64) -> Option<Headers> {
        Some(Headers {
            limit,
            remaining,
            reset,
        })
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
    }

    #[test]
    fn headers_are_read_only_when_all_three_make_sense() {
        let mut m = reqwest::header::HeaderMap::new();
        m.insert("x-ratelimit-limit", "50".parse().unwrap());
        m.insert("x-ratelimit-remaining", "49".parse().unwrap());
        assert_eq!(Headers::read(&m), None);
        m.insert("x-ratelimit-reset", "1700000000".parse().unwrap());
        assert_eq!(Headers::read(&m), h(50.0, 49.0, 1_700_000_000));
        m.insert("x-ratelimit-remaining", "900".parse().unwrap());
        assert_eq!(Headers::read(&m).unwrap().remaining, 50.0);
        m.insert("x-ratelimit-limit", "0".parse().unwrap());
        assert_eq!(Headers::read(&m), None);
        m.insert("x-ratelimit-limit", "-3".parse().unwrap());
        assert_eq!(Headers::read(&m), None);
    }

    /// A simulated tenant bucket (Auth0's model: size `limit`, refill `rate` a second, the
    /// token taken as a request arrives, `remaining` floored, `reset` rounded up to a second)
    /// driven by one [`Budget`] with `cursors` requests in flight, each answered after
    /// `latency`, and a neighbour taking a token every `neighbour` seconds. Returns how long
    /// `requests` took, the 429s of ours and those of the neighbour.
    fn simulate(
        share: Share,
        limit: f64,
        rate: f64,
        latency: f64,
        cursors: usize,
        requests: usize,
        neighbour: Option<f64>,
    ) -> (f64, usize, usize) {
        let r = simulate_inner(share, limit, rate, latency, cursors, requests, neighbour);
        eprintln!("{share:?} {limit}/{rate}: {r:?}");
        r
    }

    fn simulate_inner(
        share: Share,
        limit: f64,
        rate: f64,
        latency: f64,
        cursors: usize,
        requests: usize,
        neighbour: Option<f64>,
    ) -> (f64, usize, usize) {
        let t0 = Instant::now();
        let wall0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let wall = |s: f64| wall0 + Duration::from_secs_f64(s);
        let mut b = Budget::new(share, t0);
        let mut tokens = limit;
        let mut last = 0.0f64;
        let mut now = 0.0f64;
        let mut next_neighbour = neighbour.unwrap_or(f64::MAX);
        let (mut ours_429, mut theirs_429, mut done) = (0, 0, 0);
        // Requests in flight: (answer time, ticket, status, remaining, reset)
        let mut flight: Vec<(f64, Ticket, u16, f64, u64)> = Vec::new();
        let refill = |tokens: &mut f64, last: &mut f64, now: f64| {
            *tokens = (*tokens + (now - *last) * rate).min(limit);
            *last = now;
        };
        let step = 0.001;
        while done < requests && now < 10_000.0 {
            // Answers due.
            flight.sort_by(|a, b| a.0.total_cmp(&b.0));
            while flight.first().is_some_and(|f| f.0 <= now) {
                let (_, ticket, status, remaining, reset) = flight.remove(0);
                let answer = Answer {
                    status,
                    headers: h(limit, remaining, reset),
                    retry_after: (status == 429).then_some(Duration::from_secs(1)),
                };
                b.answer(ticket, answer, at(now), wall(now));
                if status == 200 {
                    done += 1;
                }
            }
            if now >= next_neighbour {
                refill(&mut tokens, &mut last, now);
                if tokens >= 1.0 {
                    tokens -= 1.0;
                } else {
                    theirs_429 += 1;
                }
                // About once a period, never quite in step.
                next_neighbour = now + neighbour.unwrap() * (0.9 + 0.2 * ((now * 7.3).sin().abs()));
            }
            while flight.len() < cursors && b.wait(at(now), wall(now), true) == Some(Duration::ZERO)
            {
                let ticket = b.take(at(now), wall(now), true);
                refill(&mut tokens, &mut last, now);
                let status = if tokens >= 1.0 {
                    tokens -= 1.0;
                    200
                } else {
                    ours_429 += 1;
                    429
                };
                let to_full = ((limit - tokens) / rate).ceil() as u64;
                let reset = 1_800_000_000 + now.floor() as u64 + to_full;
                flight.push((now + latency, ticket, status, tokens.floor(), reset));
            }
            now += step;
        }
        (now, ours_429, theirs_429)
    }

    #[test]
    fn the_whole_enterprise_budget_is_used_without_a_429() {
        // 16 a second, burst 50, 300 ms a page, enough cursors.
        let (secs, ours, _) = simulate(Share::Fraction(1.0), 50.0, 16.0, 0.3, 8, 400, None);
        assert_eq!(ours, 0);
        // (400 - 50 burst) / 16 = 21.9 s at best.
        assert!(secs < 21.9 * 1.2, "{secs}");
    }

    #[test]
    fn the_free_budget_is_used_without_a_429_and_without_waiting_for_whole_seconds() {
        let (secs, ours, _) = simulate(Share::Fraction(1.0), 2.0, 2.0, 0.3, 2, 60, None);
        assert_eq!(ours, 0);
        // 60 requests at 2 a second: 29 s at best; waiting for each whole-second reset took
        // twice that.
        assert!(secs < 29.0 * 1.3, "{secs}");
    }

    #[test]
    fn the_default_share_leaves_half_the_rate_and_half_the_burst() {
        let (secs, ours, _) = simulate(Share::DEFAULT, 50.0, 16.0, 0.3, 8, 400, None);
        assert_eq!(ours, 0);
        let rate = 400.0 / secs;
        assert!(rate <= 16.0 * 0.55, "{rate}/s");
    }

    #[test]
    fn a_neighbour_on_the_free_plan_is_never_refused_under_the_default_share() {
        let (_, ours, theirs) = simulate(Share::DEFAULT, 2.0, 2.0, 0.3, 2, 40, Some(1.0));
        assert_eq!(theirs, 0, "the neighbour was refused");
        assert!(ours <= 1, "{ours}");
    }

    #[test]
    fn a_bucket_of_no_published_plan_is_learnt_from_the_answers() {
        // 6 a second, burst 30: no plan has it, so the rate is learnt while the burst drains.
        let (secs, ours, _) = simulate(Share::Fraction(1.0), 30.0, 6.0, 0.3, 4, 300, None);
        assert_eq!(ours, 0);
        // (300 - 30) / 6 = 45 s at best.
        assert!(secs < 45.0 * 1.35, "{secs}");
    }

    #[test]
    fn a_plan_that_refills_slower_than_published_costs_a_few_429s_then_is_learnt() {
        let (secs, ours, _) = simulate(Share::Fraction(1.0), 50.0, 10.0, 0.3, 8, 400, None);
        assert!(ours <= 12, "{ours} refused");
        assert!(secs < 35.0 * 1.5, "{secs}");
    }

    #[test]
    fn requests_a_second_cap_the_rate() {
        let (secs, ours, _) = simulate(Share::PerSecond(4.0), 50.0, 16.0, 0.3, 8, 200, None);
        assert_eq!(ours, 0);
        assert!(200.0 / secs <= 4.0 * 1.05, "{}", 200.0 / secs);
    }

    #[test]
    fn before_any_answer_one_request_goes() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut b = Budget::new(Share::DEFAULT, now);
        assert_eq!(b.wait(now, wall, true), Some(Duration::ZERO));
        b.take(now, wall, true);
        assert_eq!(b.wait(now, wall, true), None, "the second waits for news");
    }

    #[test]
    fn answers_without_the_headers_leave_requests_a_second_to_pace() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let quiet = |status| Answer {
            status,
            headers: None,
            retry_after: None,
        };
        let mut b = Budget::new(Share::DEFAULT, now);
        let t = b.take(now, wall, true);
        b.answer(t, quiet(200), now, wall);
        assert_eq!(b.wait(now, wall, true), Some(Duration::ZERO));
        let t = b.take(now, wall, true);
        b.unanswered(t);
        assert_eq!(b.wait(now, wall, true), Some(Duration::ZERO));
        let mut b = Budget::new(Share::PerSecond(2.0), now);
        let t = b.take(now, wall, true);
        b.answer(t, quiet(200), now, wall);
        let w = b.wait(now, wall, true).unwrap();
        assert!(
            w > Duration::from_millis(400) && w <= Duration::from_millis(500),
            "{w:?}"
        );
    }

    #[test]
    fn a_429_waits_its_retry_after() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut b = Budget::new(Share::Fraction(1.0), now);
        let t = b.take(now, wall, true);
        let answer = Answer {
            status: 429,
            headers: None,
            retry_after: Some(Duration::from_secs(3)),
        };
        b.answer(t, answer, now, wall);
        let w = b.wait(now, wall, true).unwrap();
        assert!(w > Duration::from_millis(2900), "{w:?}");
    }

    #[test]
    fn the_rate_learnt_is_a_lower_bound() {
        let t = Instant::now();
        let s = |sec: f64, index: u64, remaining: f64| Seen {
            sent: t + Duration::from_secs_f64(sec),
            index,
            remaining,
        };
        // 16 a second, 20 of our requests in 2 s: 49 -> 49 + 32 - 20 = 61, capped... use a
        // drained bucket: 10 -> 10 + 32 - 40 = 2.
        let r = learn_rate([s(0.0, 0, 10.0)].iter(), &s(2.0, 40, 2.0));
        assert!(r <= 16.0 && r > 15.0, "{r}");
        assert_eq!(learn_rate([s(0.0, 0, 10.0)].iter(), &s(0.1, 4, 7.0)), 0.0);
    }
}
