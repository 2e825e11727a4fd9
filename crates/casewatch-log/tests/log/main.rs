//! The log's suites, in one test binary: the conformance suite against each backend, then
//! what only that backend does, and the embedded log when its storage fails.

mod conformance_embedded;
#[cfg(feature = "kafka")]
mod conformance_kafka;
mod faults_embedded;
