//! Reading partitions: one consumer per partition read, created on first use, assigned by
//! hand to where the caller reads (no consumer group), kept positioned after what it
//! delivered last so that a caller reading on from there costs no new assignment.
//!
//! librdkafka's consumer calls block, so every use of a reader runs on tokio's blocking
//! pool, with the reader locked meanwhile; a caller that stops waiting leaves the reader
//! consistent, since the blocking call still finishes with it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use rdkafka::topic_partition_list::TopicPartitionList;
use tokio::sync::Mutex;
use tracing::debug;

use super::{KafkaConfig, LogContext, high_water, kafka_partition, offset};
use crate::{LogError, Offset, Partition, Position, Result, StoredRecord, unavailable};

/// How long a waiter holds a partition's reader at a time, so that reads of the same
/// partition are not held up behind a long wait.
const WAIT_SLICE: Duration = Duration::from_millis(100);
/// How far behind the offset it waits for a reader may stay positioned: the records in
/// between are fetched into its buffer (where the next read finds them) on the way.
const WAIT_BUFFER: Offset = 1000;

/// The readers of every partition, each created on first use.
pub(super) struct Readers {
    config: Arc<KafkaConfig>,
    partitions: Vec<Arc<Mutex<Option<PartitionReader>>>>,
}

impl Readers {
    pub(super) fn new(config: &KafkaConfig) -> Readers {
        Readers {
            config: Arc::new(config.clone()),
            partitions: (0..config.partitions)
                .map(|_| Arc::new(Mutex::new(None)))
                .collect(),
        }
    }

    /// Up to `max` records from `from` on. `partition` is checked, `max` is not 0 and
    /// `from` is a valid Kafka offset.
    pub(super) async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<StoredRecord>> {
        let deadline = Instant::now() + self.config.request_timeout;
        self.with_reader(partition, move |reader| reader.read(from, max, deadline))
            .await
    }

    /// Waits, a slice at a time, until a record at `offset` or beyond has been seen or
    /// `timeout` passes; then asks for the high-water mark.
    pub(super) async fn wait_for(
        &self,
        partition: Partition,
        offset: Offset,
        timeout: Duration,
    ) -> Result<Offset> {
        let deadline = Instant::now() + timeout;
        loop {
            let slice_end = deadline.min(Instant::now() + WAIT_SLICE);
            let seen = self
                .with_reader(partition, move |reader| reader.wait(offset, slice_end))
                .await?;
            if seen || Instant::now() >= deadline {
                break;
            }
        }
        self.with_reader(partition, |reader| reader.refresh_high_water())
            .await
    }

    /// Runs `use_reader` on the partition's reader (created if need be) on tokio's
    /// blocking pool.
    async fn with_reader<T, F>(&self, partition: Partition, use_reader: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PartitionReader) -> Result<T> + Send + 'static,
    {
        let slot = self
            .partitions
            .get(partition as usize)
            .ok_or(LogError::NoSuchPartition {
                partition,
                partitions: self.config.partitions,
            })?;
        let mut slot = Arc::clone(slot).lock_owned().await;
        let config = Arc::clone(&self.config);
        tokio::task::spawn_blocking(move || {
            let reader = match &mut *slot {
                Some(reader) => reader,
                empty => empty.insert(PartitionReader::new(config, partition)?),
            };
            use_reader(reader)
        })
        .await
        .map_err(|e| LogError::Unavailable(format!("a Kafka read task failed: {e}")))?
    }
}

/// One partition's consumer and what it fetched ahead of the readers.
struct PartitionReader {
    consumer: BaseConsumer<LogContext>,
    config: Arc<KafkaConfig>,
    partition: Partition,
    /// The offset of the next record the consumer delivers; `None` until first assigned.
    next: Option<Offset>,
    /// Records fetched but not yet read: consecutive, ending just before `next`.
    buffer: VecDeque<StoredRecord>,
    /// The highest high-water mark known: high-water marks only grow.
    high_water: Offset,
}

impl PartitionReader {
    fn new(config: Arc<KafkaConfig>, partition: Partition) -> Result<PartitionReader> {
        let mut client_config = config.client_config("reader");
        client_config
            // librdkafka only lets a consumer with a group assign partitions by hand; this
            // group is never joined, and nothing is committed to it.
            .set("group.id", format!("{}-readers", config.client_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Nothing is deleted from the log; an offset out of range is an error to
            // report, not a reason to jump elsewhere.
            .set("auto.offset.reset", "error")
            // The high-water mark tells a read where the partition ends.
            .set("enable.partition.eof", "false")
            // What a reader fetches ahead of its caller (librdkafka's default is 64 MiB,
            // and a reader stays assigned after its last read).
            .set("queued.max.messages.kbytes", "8192")
            // A fetch the broker holds until data arrives ends after this long even if none
            // does (librdkafka waits 500 ms): a projector reading a quiet partition beside
            // a busy one should not wait that long for the busy one's records.
            .set("fetch.wait.max.ms", "10");
        config.finish(&mut client_config);
        let consumer = client_config
            .create_with_context(LogContext::new("reader"))
            .map_err(|e| unavailable("cannot create a Kafka consumer", &e))?;
        Ok(PartitionReader {
            consumer,
            config,
            partition,
            next: None,
            buffer: VecDeque::new(),
            high_water: 0,
        })
    }

    /// Up to `max` records from `from` on: as many as the high-water mark says exist, or
    /// those that arrived by `deadline`, at least one.
    fn read(&mut self, from: Offset, max: usize, deadline: Instant) -> Result<Vec<StoredRecord>> {
        let wanted_end = from.saturating_add(u64::try_from(max).unwrap_or(u64::MAX));
        if self.high_water < wanted_end {
            self.refresh_high_water()?;
        }
        let end = wanted_end.min(self.high_water);
        if end <= from {
            return Ok(Vec::new());
        }
        self.seek(from)?;
        let last_error = self.fill(end, deadline)?;

        let mut records = Vec::with_capacity(usize::try_from(end - from).unwrap_or(max).min(1024));
        while records.len() < max
            && self.buffer.front().is_some_and(|r| r.position.offset < end)
            && let Some(record) = self.buffer.pop_front()
        {
            records.push(record);
        }
        if records.is_empty() {
            let why = last_error
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default();
            return Err(LogError::Unavailable(format!(
                "no record of partition {} arrived from offset {from} within {:?}, though its high-water mark is {}{why}",
                self.partition, self.config.request_timeout, self.high_water
            )));
        }
        Ok(records)
    }

    /// Fetches until a record at `offset` or beyond has been seen or `until` passes.
    fn wait(&mut self, offset: Offset, until: Instant) -> Result<bool> {
        if self.high_water > offset {
            return Ok(true);
        }
        let positioned = self
            .next
            .is_some_and(|next| next <= offset && offset - next <= WAIT_BUFFER);
        if !positioned {
            // About to move the consumer: one question to the leader may spare it.
            if self.refresh_high_water()? > offset {
                return Ok(true);
            }
            self.assign(offset)?;
        }
        self.fill(offset.saturating_add(1), until)?;
        Ok(self.high_water > offset)
    }

    /// Asks the leader for the high-water mark.
    fn refresh_high_water(&mut self) -> Result<Offset> {
        let high_water = high_water(self.consumer.client(), &self.config, self.partition)?;
        self.high_water = self.high_water.max(high_water);
        Ok(self.high_water)
    }

    /// Makes `from` the next record to deliver: from the buffer if it holds it, else by
    /// assigning the consumer there.
    fn seek(&mut self, from: Offset) -> Result<()> {
        if let Some(next) = self.next {
            let start = self.buffer.front().map_or(next, |r| r.position.offset);
            if start <= from && from <= next {
                while self
                    .buffer
                    .front()
                    .is_some_and(|r| r.position.offset < from)
                {
                    self.buffer.pop_front();
                }
                return Ok(());
            }
        }
        self.assign(from)
    }

    fn assign(&mut self, at: Offset) -> Result<()> {
        let kafka_offset = i64::try_from(at)
            .map_err(|_| LogError::Unavailable(format!("offset {at} is beyond Kafka's")))?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(
                &self.config.topic,
                kafka_partition(self.partition),
                rdkafka::Offset::Offset(kafka_offset),
            )
            .and_then(|()| self.consumer.assign(&assignment))
            .map_err(|e| {
                unavailable(
                    &format!("cannot position the reader of partition {}", self.partition),
                    &e,
                )
            })?;
        self.buffer.clear();
        self.next = Some(at);
        Ok(())
    }

    /// Polls records into the buffer until `next` reaches `until` or `deadline` passes.
    /// Transient errors are retried by librdkafka; the last one is returned to explain a
    /// read that got nothing.
    fn fill(&mut self, until: Offset, deadline: Instant) -> Result<Option<KafkaError>> {
        let mut last_error = None;
        while let Some(next) = self.next.filter(|next| *next < until) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let record = match self.consumer.poll(deadline - now) {
                None | Some(Err(KafkaError::PartitionEOF(_))) => continue,
                Some(Ok(message)) => stored_record(self.partition, &message)?,
                Some(Err(e @ KafkaError::MessageConsumptionFatal(_))) => {
                    return Err(unavailable("the Kafka consumer failed", &e));
                }
                Some(Err(e)) => {
                    debug!(partition = self.partition, error = %e, "a Kafka fetch failed");
                    last_error = Some(e);
                    continue;
                }
            };
            let Some(record) = record.filter(|r| r.position.offset >= next) else {
                // Fetched for an earlier assignment, before the consumer moved.
                continue;
            };
            let after = record.position.offset + 1;
            self.buffer.push_back(record);
            self.next = Some(after);
            self.high_water = self.high_water.max(after);
        }
        Ok(last_error)
    }
}

/// A fetched message as a record of `partition`, or `None` if it belongs to another.
fn stored_record(
    partition: Partition,
    message: &BorrowedMessage<'_>,
) -> Result<Option<StoredRecord>> {
    if message.partition() != kafka_partition(partition) {
        return Ok(None);
    }
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|header| {
                    let value = header
                        .value
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    (header.key.to_owned(), value.into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(StoredRecord {
        position: Position {
            partition,
            offset: offset(message.offset())?,
        },
        key: message
            .key()
            .map(|key| String::from_utf8_lossy(key).into_owned())
            .unwrap_or_default(),
        bytes: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
    }))
}
