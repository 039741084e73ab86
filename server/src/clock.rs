//! Time, injectable: rate-limit windows, expiries and retries are tested with a manual clock.
//! Replicas on one PostgreSQL keep time by the database's clock ([`DatabaseClock`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::db::Db;

pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;

    /// Milliseconds since the Unix epoch (a clock that counts seconds says its seconds).
    fn now_ms(&self) -> i64 {
        self.now() * 1000
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// The database's time, told by a local clock set by the database's: replicas count rate
/// windows and expiries on one time however far their hosts' clocks drift apart. Two replicas
/// a minute apart would each count a minute's window of their own (twice the limit), and the
/// one ahead would collect the other's window as expired.
pub struct DatabaseClock {
    local: Arc<dyn Clock>,
    offset_ms: AtomicI64,
}

impl DatabaseClock {
    /// Tells `local`'s time until the first [`DatabaseClock::set`].
    pub fn new(local: Arc<dyn Clock>) -> DatabaseClock {
        DatabaseClock {
            local,
            offset_ms: AtomicI64::new(0),
        }
    }

    /// Sets this clock by the database's (at the middle of the query's round trip); returns
    /// how far the local clock is off, in milliseconds (positive: behind).
    pub async fn set(&self, db: &Db) -> Result<i64, sqlx::Error> {
        let before = self.local.now_ms();
        let theirs = db.now_ms().await?;
        let after = self.local.now_ms();
        let offset = theirs - (before + after) / 2;
        self.offset_ms.store(offset, Ordering::SeqCst);
        Ok(offset)
    }
}

impl Clock for DatabaseClock {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    fn now_ms(&self) -> i64 {
        self.local.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}

/// A clock that moves only when told.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub use scry_api::day;

#[cfg(test)]
mod tests {
    #[test]
    fn days() {
        assert_eq!(super::day(0), "1970-01-01");
        assert_eq!(super::day(1_795_000_000), "2026-11-18");
        assert_eq!(super::day(951_782_400), "2000-02-29");
    }
}
