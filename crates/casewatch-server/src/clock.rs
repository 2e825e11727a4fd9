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

/// A clock that reads the time from a file (one RFC 3339 instant) each time it is asked,
/// for rehearsals and end-to-end tests that drive separate processes through a scripted
/// timeline. When the file cannot be read, the last time read stands (it starts at the
/// Unix epoch), and the failure is logged.
#[derive(Debug)]
pub struct FileClock {
    path: std::path::PathBuf,
    last: Mutex<Timestamp>,
}

impl FileClock {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self {
            path: path.into(),
            last: Mutex::new(Timestamp::default()),
        }
    }

    /// Writes `now` for every `FileClock` reading `path`.
    pub fn write(path: &std::path::Path, now: Timestamp) -> std::io::Result<()> {
        // Write then rename, so that a reader never sees half a time.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, now.to_rfc3339())?;
        std::fs::rename(partial, path)
    }

    fn read(&self) -> Result<Timestamp, String> {
        let text = std::fs::read_to_string(&self.path).map_err(|error| error.to_string())?;
        chrono::DateTime::parse_from_rfc3339(text.trim())
            .map(|at| at.with_timezone(&chrono::Utc))
            .map_err(|error| error.to_string())
    }
}

impl Clock for FileClock {
    fn now(&self) -> Timestamp {
        let mut last = self
            .last
            .lock()
            .expect("the clock's lock is never poisoned");
        match self.read() {
            Ok(now) => *last = chrono::SubsecRound::trunc_subsecs(now, 6),
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "the clock file is unreadable");
            }
        }
        *last
    }
}
