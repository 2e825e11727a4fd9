//! The contract's suites, in one test binary: values that make the round trip through
//! protobuf bytes, and hostile bytes at the edge.

mod hostile_bytes;
mod round_trip;
