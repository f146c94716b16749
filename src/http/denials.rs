//! How many refused requests become audit entries.
//!
//! Every refusal is logged (tracing, `warn`) and answered at once. Audit entries are
//! durable appends, and refused requests are unauthenticated by definition, so
//! recording each one would let anyone with a bad key grow the log and spend a disk
//! flush per request. Each client address gets its first `audit.denials_per_minute`
//! refusals per minute (default [`PER_PEER`]) recorded one by one (and at most
//! [`GLOBAL`], or that allowance if larger, across all addresses); the rest
//! are counted, and the count is recorded as one `auth.denied.suppressed` entry per
//! address when its minute is over (or at shutdown). The log therefore accounts for
//! every refusal, in bounded space.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One address's window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Refusals per address per window recorded one by one, by default.
pub const PER_PEER: u32 = 10;
/// Refusals per window recorded one by one, all addresses together.
pub const GLOBAL: u32 = 300;
/// Addresses tracked at once; refusals from further addresses share one bucket.
const MAX_PEERS: usize = 10_000;
/// The bucket for addresses past [`MAX_PEERS`].
const OTHER: &str = "other";

/// Whether to record a refusal as its own entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Record,
    /// Counted; recorded later in a summary.
    Suppress,
}

/// Refusals from one address not recorded one by one.
#[derive(Debug, PartialEq, Eq)]
pub struct Suppressed {
    pub peer: String,
    pub count: u64,
    /// When the window they fell in began (RFC 3339 UTC).
    pub since: String,
}

struct Window {
    started: Instant,
    started_at: String,
    recorded: u32,
    suppressed: u64,
}

#[derive(Default)]
struct State {
    peers: HashMap<String, Window>,
    global_started: Option<Instant>,
    global_recorded: u32,
}

/// The rate limiter; one per server.
pub struct Denials {
    state: Mutex<State>,
    per_peer: u32,
    global: u32,
}

impl Default for Denials {
    fn default() -> Denials {
        Denials::new(PER_PEER)
    }
}

impl Denials {
    /// Record `per_peer` refusals per address per minute one by one.
    pub fn new(per_peer: u32) -> Denials {
        Denials {
            state: Mutex::new(State::default()),
            per_peer,
            global: GLOBAL.max(per_peer),
        }
    }

    /// Refusals per address per minute recorded one by one.
    pub fn per_peer(&self) -> u32 {
        self.per_peer
    }

    /// Decide about one refusal from `peer` at `now`. When this starts a new window
    /// for `peer`, the count its previous window suppressed is returned to record.
    pub fn admit(&self, peer: &str, now: Instant) -> (Verdict, Option<Suppressed>) {
        let Ok(mut s) = self.state.lock() else {
            return (Verdict::Record, None);
        };
        if s.global_started
            .is_none_or(|t| now.duration_since(t) >= WINDOW)
        {
            s.global_started = Some(now);
            s.global_recorded = 0;
        }
        let key = if s.peers.len() >= MAX_PEERS && !s.peers.contains_key(peer) {
            OTHER
        } else {
            peer
        };
        let mut ended = None;
        let fresh = |now| Window {
            started: now,
            started_at: crate::audit::now(),
            recorded: 0,
            suppressed: 0,
        };
        match s.peers.get_mut(key) {
            Some(w) if now.duration_since(w.started) >= WINDOW => {
                let old = std::mem::replace(w, fresh(now));
                if old.suppressed > 0 {
                    ended = Some(Suppressed {
                        peer: key.to_string(),
                        count: old.suppressed,
                        since: old.started_at,
                    });
                }
            }
            Some(_) => {}
            None => {
                s.peers.insert(key.to_string(), fresh(now));
            }
        }
        let global_full = s.global_recorded >= self.global;
        let verdict = match s.peers.get_mut(key) {
            Some(w) if w.recorded < self.per_peer && !global_full => {
                w.recorded += 1;
                Verdict::Record
            }
            Some(w) => {
                w.suppressed += 1;
                Verdict::Suppress
            }
            None => Verdict::Record,
        };
        if verdict == Verdict::Record {
            s.global_recorded += 1;
        }
        (verdict, ended)
    }

    /// Windows over at `now` (all of them when `all`): forget them and return the
    /// counts they suppressed.
    pub fn sweep(&self, now: Instant, all: bool) -> Vec<Suppressed> {
        let Ok(mut s) = self.state.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        s.peers.retain(|peer, w| {
            if !all && now.duration_since(w.started) < WINDOW {
                return true;
            }
            if w.suppressed > 0 {
                out.push(Suppressed {
                    peer: peer.clone(),
                    count: w.suppressed,
                    since: w.started_at.clone(),
                });
            }
            false
        });
        out.sort_by(|a, b| a.peer.cmp(&b.peer));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusals_per_address_are_recorded_and_the_rest_counted() {
        let d = Denials::default();
        let t0 = Instant::now();
        for _ in 0..PER_PEER {
            assert_eq!(d.admit("10.0.0.1", t0).0, Verdict::Record);
        }
        for _ in 0..25 {
            assert_eq!(d.admit("10.0.0.1", t0).0, Verdict::Suppress);
        }
        // Another address has its own allowance.
        assert_eq!(d.admit("10.0.0.2", t0).0, Verdict::Record);
        // Nothing is over yet.
        assert!(d.sweep(t0 + Duration::from_secs(1), false).is_empty());
        // The next window starts fresh and hands back the count.
        let (v, ended) = d.admit("10.0.0.1", t0 + WINDOW);
        assert_eq!(v, Verdict::Record);
        let ended = ended.expect("the last window's count");
        assert_eq!((ended.peer.as_str(), ended.count), ("10.0.0.1", 25));
    }

    #[test]
    fn sweeping_reports_each_suppressed_count_once() {
        let d = Denials::default();
        let t0 = Instant::now();
        for _ in 0..(PER_PEER + 3) {
            d.admit("10.0.0.1", t0);
        }
        let swept = d.sweep(t0 + WINDOW, false);
        assert_eq!(swept.len(), 1);
        assert_eq!(swept[0].count, 3);
        assert!(d.sweep(t0 + WINDOW * 2, true).is_empty());
    }

    #[test]
    fn many_addresses_together_are_bounded() {
        let d = Denials::default();
        let t0 = Instant::now();
        let recorded = (0..1_000)
            .filter(|i| d.admit(&format!("10.0.{}.{}", i / 256, i % 256), t0).0 == Verdict::Record)
            .count();
        assert_eq!(recorded, GLOBAL as usize);
        let suppressed: u64 = d.sweep(t0, true).iter().map(|s| s.count).sum();
        assert_eq!(suppressed, 1_000 - u64::from(GLOBAL));
    }
}
