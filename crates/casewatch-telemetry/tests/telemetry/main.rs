//! Telemetry's suites, in one test binary: trace context out and back, and `init` as the
//! binary calls it (the one test here that installs the global subscriber).

mod init;
mod propagation;
