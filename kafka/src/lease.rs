//! Freshness of leadership, by the monotonic clock and nothing else: a pure value, no I/O.
//!
//! Each successful transaction of the leader (its claim, a lease, a write) proves that no newer
//! leader had initialised the transactional id when the broker committed it, that is at some
//! moment after the commit was *sent*. So the send instant is the confirmation. The leader may
//! act only while the last confirmation is younger than `fresh_for` (session timeout minus a
//! margin). A process frozen by SIGSTOP, or starved, wakes up with an old confirmation and is
//! stale at once: `Instant` is CLOCK_MONOTONIC, which keeps counting while a process is stopped.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub(crate) struct Freshness {
    fresh_for: Duration,
    confirmed: Option<Instant>,
}

impl Freshness {
    pub(crate) fn new(fresh_for: Duration) -> Freshness {
        Freshness {
            fresh_for,
            confirmed: None,
        }
    }

    /// A transaction sent at `sent_at` committed. Confirmations never move backwards (a slow
    /// commit that returns after a faster later one proves less).
    pub(crate) fn confirm(&mut self, sent_at: Instant) {
        self.confirmed = Some(match self.confirmed {
            Some(c) if c > sent_at => c,
            _ => sent_at,
        });
    }

    /// Leadership ended: nothing is confirmed any more.
    pub(crate) fn clear(&mut self) {
        self.confirmed = None;
    }

    /// `Ok` while the last confirmation is younger than `fresh_for`; else the age (or `None`
    /// when nothing was ever confirmed).
    pub(crate) fn check(&self, now: Instant) -> Result<(), Option<Duration>> {
        match self.confirmed {
            None => Err(None),
            Some(c) => {
                let age = now.saturating_duration_since(c);
                if age < self.fresh_for {
                    Ok(())
                } else {
                    Err(Some(age))
                }
            }
        }
    }

    /// When the next lease is due.
    pub(crate) fn next_lease(&self, now: Instant, interval: Duration) -> Instant {
        match self.confirmed {
            None => now,
            Some(c) => (c + interval).max(now),
        }
    }

    pub(crate) fn fresh_for(&self) -> Duration {
        self.fresh_for
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: Duration = Duration::from_millis(7500);

    #[test]
    fn fresh_until_the_limit_then_stale() {
        let t0 = Instant::now();
        let mut f = Freshness::new(FRESH);
        assert_eq!(f.check(t0), Err(None), "never confirmed: not fresh");
        f.confirm(t0);
        assert!(f.check(t0 + Duration::from_millis(7499)).is_ok());
        assert_eq!(
            f.check(t0 + FRESH),
            Err(Some(FRESH)),
            "the limit itself is stale"
        );
        // A process frozen for 30 s wakes up stale, whatever happened meanwhile.
        assert_eq!(
            f.check(t0 + Duration::from_secs(30)),
            Err(Some(Duration::from_secs(30)))
        );
        f.clear();
        assert_eq!(f.check(t0), Err(None));
    }

    #[test]
    fn lease_schedule() {
        let t0 = Instant::now();
        let iv = Duration::from_millis(2500);
        let mut f = Freshness::new(FRESH);
        assert_eq!(f.next_lease(t0, iv), t0, "never confirmed: due now");
        f.confirm(t0);
        assert_eq!(f.next_lease(t0, iv), t0 + iv);
        assert_eq!(
            f.next_lease(t0 + Duration::from_secs(9), iv),
            t0 + Duration::from_secs(9)
        );
    }

    /// Property: over any order of confirmations, the freshness verdict at `now` equals "some
    /// confirmation sent at or before now is younger than FRESH" (confirmations are never
    /// lost and never move backwards).
    #[test]
    fn verdict_matches_the_newest_confirmation_in_any_order() {
        let t0 = Instant::now();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let mut f = Freshness::new(FRESH);
            let n = (next() % 6) as usize;
            let sends: Vec<u64> = (0..n).map(|_| next() % 20_000).collect();
            for s in &sends {
                f.confirm(t0 + Duration::from_millis(*s));
            }
            let now_ms = 20_000 + next() % 10_000;
            let now = t0 + Duration::from_millis(now_ms);
            let expect = sends.iter().any(|s| now_ms - s < FRESH.as_millis() as u64);
            assert_eq!(f.check(now).is_ok(), expect, "sends {sends:?} now {now_ms}");
        }
    }
}
