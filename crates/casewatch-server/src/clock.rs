//! Where the server's time comes from: the wall clock in production, an accelerated clock
//! for the demo, a manual one in tests. Only the server reads a clock; the projector and
//! the domain take time from the records.

use std::sync::Mutex;
use std::time::Instant;

use casewatch_domain::Timestamp;

/// A source of the current time, stamped on records as `recorded_at` and on clock ticks.
/// Times are kept to the microsecond, the precision every view store holds.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6)
    }
}

/// A clock that starts at a chosen instant and runs `factor` times faster than real time,
/// so that a demo shows working days pass in seconds.
#[derive(Debug)]
pub struct AcceleratedClock {
    started: Instant,
    start: Timestamp,
    factor: f64,
}

impl AcceleratedClock {
    pub fn new(start: Timestamp, factor: f64) -> Self {
        Self {
            started: Instant::now(),
            start,
            factor,
        }
    }
}

impl Clock for AcceleratedClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.started.elapsed().as_secs_f64() * self.factor;
        self.start + chrono::Duration::microseconds((elapsed * 1e6) as i64)
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        *self.now.lock().expect("the clock's lock is never poisoned") = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().expect("the clock's lock is never poisoned")
    }
}
