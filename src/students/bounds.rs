//! The limits one event and one student's stored data are held to, so that one
//! event cannot pin or bloat a snapshot: `occurred_at` lies between
//! [`EARLIEST_OCCURRED_AT`] and the server's clock plus the webhook replay window
//! ([`Clock`]); an event's `data` and the record after applying it are held to the
//! record limit of `POST /v1/evaluate` ([`MAX_RECORD_BYTES`]), the whole stored
//! snapshot to [`MAX_SNAPSHOT_BYTES`]; behavior counts stay within
//! [`MAX_BEHAVIOR_COUNT`].

use serde::Serialize;

use crate::record::{Behavior, MAX_RECORD_BYTES};

use super::error::{EventError, invalid};

/// Largest behavior count (referrals, suspensions of each kind) a snapshot holds: the
/// record's own range, so a snapshot built from events is always a valid record, and
/// far below where a `u32` wraps. An event that would pass it is refused, naming the
/// count.
pub use crate::record::ranges::MAX_BEHAVIOR_COUNT;

/// Largest stored snapshot (the record, the version of each part and the incidents
/// kept by event id), in bytes of JSON.
pub const MAX_SNAPSHOT_BYTES: usize = 4 * MAX_RECORD_BYTES;

/// Most an `occurred_at` may be ahead of the server's clock, however wide the replay
/// window is set: one day.
pub const MAX_AHEAD_SECS: u64 = 24 * 60 * 60;

/// Earliest `occurred_at` accepted (the record dates' lower bound).
pub const EARLIEST_OCCURRED_AT: &str = "1990-01-01T00:00:00Z";

/// Bytes of `value` as compact JSON, counted without building the text.
pub fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing into a counter cannot fail; a value that cannot serialize counts 0.
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}

/// What the server accepts as `occurred_at`: its clock and how far ahead of it an
/// event may be (the webhook replay window: the sender's clock may run that much
/// ahead of ours).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: chrono::DateTime<chrono::Utc>,
    pub max_ahead: chrono::TimeDelta,
}

impl Clock {
    /// The server's clock now, allowing `max_ahead_secs` (at most
    /// [`MAX_AHEAD_SECS`], whatever the replay window is set to).
    pub fn now(max_ahead_secs: u64) -> Clock {
        let secs = max_ahead_secs.min(MAX_AHEAD_SECS) as i64;
        Clock {
            now: chrono::Utc::now(),
            max_ahead: chrono::TimeDelta::seconds(secs),
        }
    }

    /// `occurred_at` checked against the bounds, in the form versions use.
    pub(crate) fn check(&self, occurred_at: &str) -> Result<String, EventError> {
        let at = chrono::DateTime::parse_from_rfc3339(occurred_at)
            .map_err(|_| EventError::BadTime(occurred_at.to_string()))?
            .with_timezone(&chrono::Utc);
        let earliest = chrono::DateTime::parse_from_rfc3339(EARLIEST_OCCURRED_AT)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        if at < earliest {
            return Err(invalid(
                "occurred_at",
                format!("`{occurred_at}` is before {EARLIEST_OCCURRED_AT}"),
            ));
        }
        let latest = self
            .now
            .checked_add_signed(self.max_ahead)
            .unwrap_or(self.now);
        if at > latest {
            return Err(invalid(
                "occurred_at",
                format!(
                    "`{occurred_at}` is more than {} s ahead of the server's clock ({}); an event cannot have happened in the future",
                    self.max_ahead.num_seconds(),
                    self.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ));
        }
        Ok(at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
    }
}

/// Each behavior count at most [`MAX_BEHAVIOR_COUNT`]; `at` prefixes the field named.
pub(crate) fn check_counts(b: &Behavior, at: &str) -> Result<(), EventError> {
    for (name, n) in [
        ("office_referrals", b.office_referrals),
        ("suspensions_in_school", b.suspensions_in_school),
        ("suspensions_out_of_school", b.suspensions_out_of_school),
    ] {
        if n > MAX_BEHAVIOR_COUNT {
            return Err(invalid(
                format!("{at}.{name}"),
                format!("would be {n}; the plausible maximum is {MAX_BEHAVIOR_COUNT}"),
            ));
        }
    }
    Ok(())
}

/// `n + 1`, refused past [`MAX_BEHAVIOR_COUNT`] (never wrapping).
pub(crate) fn bump(n: &mut u32, name: &str) -> Result<(), EventError> {
    match n.checked_add(1).filter(|m| *m <= MAX_BEHAVIOR_COUNT) {
        Some(m) => {
            *n = m;
            Ok(())
        }
        None => Err(invalid(
            format!("behavior.{name}"),
            format!("would pass the plausible maximum of {MAX_BEHAVIOR_COUNT} with this incident"),
        )),
    }
}

/// The current time in the form versions use (RFC 3339, nanoseconds, `Z`): fixed
/// width, so string order is time order.
pub fn now_version_time() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `occurred_at` lies between 1990 and the clock plus the window, and no window
    /// setting lets an event from 9999 in.
    #[test]
    fn occurred_at_is_bounded_by_the_clock_whatever_the_window() {
        let ahead = |secs: i64| {
            (chrono::Utc::now() + chrono::TimeDelta::seconds(secs))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let window = Clock::now(300);
        assert!(window.check(&ahead(60)).is_ok());
        assert!(window.check(&ahead(400)).is_err());
        assert!(window.check("1990-01-01T00:00:00Z").is_ok());
        assert!(window.check("1989-12-31T23:59:59Z").is_err());
        let huge = Clock::now(u64::MAX);
        assert!(huge.check("9999-12-31T23:59:59Z").is_err());
        assert!(huge.check(&ahead(3600)).is_ok());
    }
}
