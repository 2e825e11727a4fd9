//! The projector's suites, in one test binary: adversarial sequences, a projector killed
//! at the worst moments, the log and views tampered with after a fold, and a case as of
//! past instants read back from them, each folding through the projector `common` makes.
//! `quarantine.rs` is a test binary of its own: it installs the process's global meter
//! provider and counts what every projector in the process records.

mod adversarial;
mod as_of;
#[path = "../common/mod.rs"]
mod common;
mod policy;
mod resume;
mod tampering;
