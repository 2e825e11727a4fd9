//! The conformance suite: what every [`EventLog`] backend must do, written once and run
//! against each backend, so that the embedded log and Kafka cannot drift apart.
//!
//! A backend's test file implements [`Harness`] and expands
//! [`event_log_conformance_suite!`](crate::event_log_conformance_suite),
//! which makes one `#[tokio::test]` per case:
//!
//! ```ignore
//! casewatch_log::event_log_conformance_suite!(MyHarness::new());
//! ```
//!
//! Each case is also a public function taking a fresh harness, for a backend that needs to
//! run them some other way. The cases panic, as tests do, when the backend falls short.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::{
    Appended, Destination, EventLog, LogError, NewRecord, Offset, Partition, Position,
    StoredRecord, partition_for_key,
};

/// Opens the log under test for a case.
#[async_trait::async_trait]
pub trait Harness: Send {
    /// The backend under test.
    type Log: EventLog;

    /// Opens the log under test: fresh storage on the first call, the same storage on later
    /// calls (a reopen, after the case has dropped the previous log), with the same
    /// partition count.
    async fn open(&mut self, partitions: u32) -> Self::Log;

    /// Whether the backend refuses duplicate idempotency keys (the embedded one does).
    fn deduplicates(&self) -> bool;

    /// Whether the records of one append become readable all at once (the embedded log
    /// commits them in one transaction). Kafka's may become readable one by one, and a
    /// reader can see the first records of an append before its last ones.
    fn atomic_appends(&self) -> bool;
}

/// Makes one `#[tokio::test]` per conformance case; `$harness` is evaluated afresh for
/// each, so every case gets its own storage. The calling crate needs `tokio` with the
/// `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! event_log_conformance_suite {
    (@cases $harness:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::conformance::$case($harness).await;
            }
        )+
    };
    ($harness:expr) => {
        $crate::event_log_conformance_suite!(@cases $harness;
            records_of_a_partition_keep_their_order,
            a_key_always_lands_in_its_partition,
            offsets_are_dense_from_zero,
            records_survive_a_reopen,
            readers_see_only_committed_records,
            concurrent_appenders_are_all_acknowledged_in_order,
            wait_for_wakes_on_arrival_and_times_out_otherwise,
            unknown_partitions_are_refused,
            a_re_send_keeps_its_original,
            read_returns_at_most_max_records,
        );
    };
}

mod order;
mod records;
mod visibility;

pub use order::*;
use records::*;
pub use visibility::*;
