//! The record log: a durable, partitioned, append-only sequence of records, keyed by case
//! number so that every record of one case lands in one partition, in order.
//!
//! [`EventLog`] is the one interface the ingest, projector and audit roles use. Backends:
//! [`embedded`] (SQLite, the one-machine default) and `kafka` (behind the cargo feature
//! `kafka`). Every backend passes the conformance suite in `conformance`, built with the
//! cargo feature `testsuite` for the tests that run it. A log knows nothing of what the
//! records mean.

use std::fmt::Display;
use std::time::Duration;

#[cfg(feature = "testsuite")]
pub mod conformance;
pub mod embedded;
#[cfg(feature = "kafka")]
pub mod kafka;
mod partitioner;

pub use partitioner::partition_for_key;

pub use casewatch_domain::log::{Offset, Partition, Position};

/// Where a new record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The partition of this key (a case number).
    Key(String),
    /// This partition (clock ticks go to every partition).
    Partition(Partition),
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub destination: Destination,
    /// The record bytes, stored as they are.
    pub bytes: Vec<u8>,
    /// The sender's idempotency key. A backend that can (the embedded one) refuses to
    /// store a second record with a key it already holds and answers with the first
    /// record's position.
    pub idempotency_key: Option<String>,
    /// Metadata carried beside the record (the trace context of the call that produced
    /// it). Kafka stores them as message headers; the embedded log, one process by
    /// definition, keeps none. They are not part of the record: hash chains and views
    /// never see them.
    pub headers: Headers,
}

/// Named metadata beside a record, such as W3C `traceparent`.
pub type Headers = Vec<(String, String)>;

/// Where an appended record lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub position: Position,
    /// The record was a re-send of one already on the log; `position` is the original's.
    pub duplicate: bool,
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub position: Position,
    /// The key it was appended under (empty for records sent to a partition).
    pub key: String,
    pub bytes: Vec<u8>,
    /// The headers it was appended with, where the backend keeps them.
    pub headers: Headers,
}

/// Why the log could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The storage cannot take or give records now (disk full, unwritable, broker down);
    /// nothing was appended, and the caller may retry.
    #[error("the log is unavailable: {0}")]
    Unavailable(String),
    /// A partition outside `0..partitions`.
    #[error("partition {partition} does not exist (the log has {partitions})")]
    NoSuchPartition {
        partition: Partition,
        partitions: u32,
    },
    /// The log was created with another partition count.
    #[error("the log has {found} partitions, not {expected}")]
    PartitionCount { expected: u32, found: u32 },
    /// The log is shutting down.
    #[error("the log is closed")]
    Closed,
}

/// A `Result` with a [`LogError`].
pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// A durable, partitioned record log.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// The fixed number of partitions, chosen when the log was created.
    fn partitions(&self) -> u32;

    /// What tells this log from every other, for its whole life: the views record the
    /// identity of the log they are folded from, and a node refuses to pair them with
    /// another.
    async fn identity(&self) -> Result<String>;

    /// The partition of a key: the same for every backend (Kafka's murmur2 partitioner).
    fn partition_of(&self, key: &str) -> Partition {
        partition_for_key(key, self.partitions())
    }

    /// Appends records and returns their positions, in the order given, once they are
    /// durable. Records of one partition keep the order given. A batch naming a partition
    /// that does not exist is refused whole. Where the backend can (the embedded one), the
    /// batch is appended all or nothing; Kafka cannot, and a batch it fails may have landed
    /// in part (see its `KafkaLog`).
    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Appended>>;

    /// Reads up to `max` records of `partition` from `from` on, in offset order. Only
    /// durable records are returned.
    async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<StoredRecord>>;

    /// The offset the next record of `partition` will get (its high-water mark).
    async fn high_water(&self, partition: Partition) -> Result<Offset>;

    /// Waits until `partition` has a record at `offset` or beyond, or `timeout` passes;
    /// returns the high-water mark then.
    async fn wait_for(
        &self,
        partition: Partition,
        offset: Offset,
        timeout: Duration,
    ) -> Result<Offset>;
}

/// The partition a record goes to and the key it is stored under (empty for records sent
/// to a partition), or the refusal of a partition outside `0..partitions`.
pub(crate) fn route(destination: Destination, partitions: u32) -> Result<(Partition, String)> {
    match destination {
        Destination::Key(key) => Ok((partition_for_key(&key, partitions), key)),
        Destination::Partition(partition) => {
            check_partition(partition, partitions)?;
            Ok((partition, String::new()))
        }
    }
}

/// Refuses a partition outside `0..partitions`.
pub(crate) fn check_partition(partition: Partition, partitions: u32) -> Result<()> {
    if partition < partitions {
        Ok(())
    } else {
        Err(LogError::NoSuchPartition {
            partition,
            partitions,
        })
    }
}

/// [`LogError::Unavailable`] with what failed and why.
pub(crate) fn unavailable(what: &str, error: &impl Display) -> LogError {
    LogError::Unavailable(format!("{what}: {error}"))
}
