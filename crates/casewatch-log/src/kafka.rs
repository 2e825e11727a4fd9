//! The Kafka backend: one topic, one Kafka partition per log partition, for deployments
//! that outgrow one machine.
//!
//! Appends go through one idempotent producer (`acks=all`), each record to the partition
//! the log computes itself (Kafka's murmur2 partitioner, [`crate::partition_for_key`]),
//! so a case lands where it would in the embedded log. Reads go through one consumer per
//! partition read, assigned by hand (no group), positioned where the caller asks. Projectors
//! learn which partitions they own from [`KafkaLog::join_group`]; the group's consumer only
//! carries the membership, records are still read through [`EventLog::read`].
//!
//! The topic is created by `casewatch migrate` ([`ensure_topic`]), never by a client on
//! first use, so that it always gets its partition count and unlimited retention.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaRespErr;
use tokio::time::Instant;
use tracing::{debug, error, info, trace, warn};

use crate::{Appended, EventLog, Headers, LogError, NewRecord, Offset, Partition, Position};
use crate::{Result, StoredRecord, check_partition, route, unavailable};

mod membership;
mod reader;

pub use membership::Membership;

use reader::Readers;

/// Where the log's topic lives and how the clients talk to it. The log reads no
/// configuration: the binary fills this from its own (`[log.kafka]`), which is where every
/// setting's default is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// The bootstrap brokers, `host:port` separated by commas.
    pub brokers: String,
    /// The topic holding the records.
    pub topic: String,
    /// The topic's partition count: fixed at creation, since it decides where every case
    /// lives.
    pub partitions: u32,
    /// Replicas of each partition, used when `casewatch migrate` creates the topic.
    pub replication: i32,
    /// Prefix of the `client.id` of every client (brokers log and meter by it).
    pub client_id: String,
    /// More librdkafka settings (security, tuning), applied last, so they override the
    /// log's own choices.
    pub properties: BTreeMap<String, String>,
    /// How long an append may take, retries included, before it fails as unavailable
    /// (librdkafka's `message.timeout.ms`).
    pub append_timeout: Duration,
    /// How long a request to the brokers may take (metadata, high-water marks, fetching
    /// the records a read knows to exist) before the log answers unavailable.
    pub request_timeout: Duration,
    /// `retention.ms` of a topic `ensure_topic` creates: `-1` keeps records for ever, as
    /// the record of truth must be kept. A finite value only for a broker that misreads
    /// `-1`: tansu 0.6 deletes every record of such a topic when it restarts.
    pub retention_ms: i64,
}

impl KafkaConfig {
    /// The log on `topic` at `brokers`, with `partitions`: one replica, records kept for
    /// ever, no extra librdkafka settings, and 10 s for an append or a request. Set the
    /// other fields to change them.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>, partitions: u32) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            partitions,
            replication: 1,
            client_id: "casewatch".to_owned(),
            properties: BTreeMap::new(),
            append_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            retention_ms: -1,
        }
    }

    /// Refuses settings no log can work with; the message names the field.
    fn check(&self) -> Result<()> {
        let invalid = |why: &str| {
            Err(LogError::Unavailable(format!(
                "invalid Kafka settings: {why}"
            )))
        };
        if self.partitions == 0 || i32::try_from(self.partitions).is_err() {
            return invalid("`partitions` must lie in 1..=2147483647");
        }
        if self.replication < 1 {
            return invalid("`replication` must be at least 1");
        }
        if self.brokers.trim().is_empty() {
            return invalid("`brokers` is empty");
        }
        if self.topic.is_empty() {
            return invalid("`topic` is empty");
        }
        if self.append_timeout < Duration::from_millis(1) {
            return invalid("`append_timeout` must be at least 1ms");
        }
        Ok(())
    }

    /// The settings every client shares; the caller adds its role's, then
    /// [`KafkaConfig::finish`] applies `properties`.
    fn client_config(&self, role: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", format!("{}-{role}", self.client_id))
            // Only `casewatch migrate` creates the topic, with its partition count and
            // retention; a client creating it on first use would get the broker's defaults.
            .set("allow.auto.create.topics", "false")
            .set_log_level(RDKafkaLogLevel::Info);
        config
    }

    fn finish(&self, config: &mut ClientConfig) {
        for (name, value) in &self.properties {
            config.set(name, value);
        }
    }

    /// The producer: idempotent (no duplicate or reordered record when librdkafka retries)
    /// and acknowledged by every in-sync replica, batching for throughput.
    fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config("producer");
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Appenders arrive one record at a time; 5 ms lets concurrent ones share a
            // produce request for little latency next to `acks=all`'s replication.
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            // A batch cannot exceed `message.max.bytes` (the broker's limit too), so this
            // is as large as it usefully gets.
            .set("batch.size", "1000000")
            .set("compression.type", "lz4")
            .set(
                "message.timeout.ms",
                millis(self.append_timeout).to_string(),
            );
        self.finish(&mut config);
        config
    }
}

/// Whether [`ensure_topic`] had to create the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicStatus {
    /// The topic was missing and has been created.
    Created,
    /// The topic was there, with the expected partition count.
    Exists,
}

/// Creates the log's topic if it is missing, with unlimited retention (the log is the
/// record of truth) and a majority of replicas required in sync; checks the partition
/// count of an existing one. Used by `casewatch migrate`; the serving roles only
/// [`KafkaLog::connect`].
///
/// The settings of an existing topic are not changed: its retention is the operator's.
pub async fn ensure_topic(config: &KafkaConfig) -> Result<TopicStatus> {
    config.check()?;
    let mut client_config = config.client_config("admin");
    config.finish(&mut client_config);
    let admin: AdminClient<LogContext> = client_config
        .create_with_context(LogContext::new("admin"))
        .map_err(|e| unavailable("cannot create the Kafka admin client", &e))?;
    let admin = Arc::new(admin);

    let lookup = {
        let admin = Arc::clone(&admin);
        move |config: &KafkaConfig| topic_partitions(admin.inner(), config)
    };
    if let Some(found) = blocking(config, lookup.clone()).await? {
        check_count(config, found)?;
        return Ok(TopicStatus::Exists);
    }

    let partitions = i32::try_from(config.partitions).unwrap_or(i32::MAX);
    let min_in_sync = (config.replication / 2 + 1).to_string();
    let retention = config.retention_ms.to_string();
    let topic = NewTopic::new(
        &config.topic,
        partitions,
        TopicReplication::Fixed(config.replication),
    )
    .set("retention.ms", &retention)
    .set("retention.bytes", "-1")
    .set("cleanup.policy", "delete")
    .set("min.insync.replicas", &min_in_sync);
    let options = AdminOptions::new()
        .request_timeout(Some(config.request_timeout))
        .operation_timeout(Some(config.request_timeout));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .map_err(|e| unavailable("cannot create the topic", &e))?;
    let mut status = TopicStatus::Created;
    for result in results {
        match result {
            Ok(name) => info!(topic = %name, partitions, "created the log topic"),
            // Another `migrate` won the race; its topic is checked below like any other.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => status = TopicStatus::Exists,
            Err((name, code)) => {
                return Err(LogError::Unavailable(format!(
                    "cannot create the topic `{name}`: {code}"
                )));
            }
        }
    }

    // The brokers learn of a new topic one after another; wait until the metadata shows
    // it, so that a `connect` right after `migrate` finds it.
    let deadline = Instant::now() + config.request_timeout;
    loop {
        match blocking(config, lookup.clone()).await? {
            Some(found) => {
                check_count(config, found)?;
                return Ok(status);
            }
            None if Instant::now() >= deadline => {
                return Err(LogError::Unavailable(format!(
                    "the topic `{}` was created but is still not in the metadata after {:?}",
                    config.topic, config.request_timeout
                )));
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The [`EventLog`] on a Kafka topic.
///
/// Two things the embedded log does, Kafka cannot:
///
/// - **No all-or-nothing batches.** The records of one append are sent concurrently and
///   each is acknowledged on its own; when one fails (broker down past the append timeout),
///   the append fails with [`LogError::Unavailable`] although others may have landed, and
///   readers may see the first records of an append before its last ones.
/// - **No idempotency keys.** `idempotency_key` is ignored and `duplicate` is always
///   false; a record sent twice is stored twice.
///
/// Both are safe for Casewatch: a caller that hears `UNAVAILABLE` sends the same steps
/// again, and the domain recognises a step it already holds by its content and ignores
/// the copy when it folds the log. What the producer guarantees on its own is kept: no
/// record is lost once acknowledged (`acks=all`), and librdkafka's retries neither
/// duplicate nor reorder records (`enable.idempotence`).
///
/// Cloning gives another handle to the same clients.
#[derive(Clone)]
pub struct KafkaLog {
    inner: Arc<Inner>,
}

struct Inner {
    config: KafkaConfig,
    /// Replaced after a failed append (see [`KafkaLog::renew_producer`]).
    producer: std::sync::RwLock<FutureProducer<LogContext>>,
    readers: Readers,
}

impl fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaLog")
            .field("brokers", &self.inner.config.brokers)
            .field("topic", &self.inner.config.topic)
            .field("partitions", &self.inner.config.partitions)
            .finish_non_exhaustive()
    }
}

impl KafkaLog {
    /// Connects to the brokers and checks that the topic exists with exactly
    /// `config.partitions` partitions.
    ///
    /// # Errors
    ///
    /// [`LogError::PartitionCount`] if the topic has another count (cases would move);
    /// [`LogError::Unavailable`] if the settings are invalid, the brokers do not answer
    /// within `request_timeout`, or the topic is missing (`casewatch migrate` creates it).
    pub async fn connect(config: KafkaConfig) -> Result<KafkaLog> {
        config.check()?;
        let producer = new_producer(&config)?;
        let found = {
            let producer = producer.clone();
            blocking(&config, move |config| {
                topic_partitions(producer.client(), config)
            })
            .await?
        };
        match found {
            Some(found) => check_count(&config, found)?,
            None => {
                return Err(LogError::Unavailable(format!(
                    "the topic `{}` does not exist on `{}`: run `casewatch migrate` to create it",
                    config.topic, config.brokers
                )));
            }
        }
        debug!(
            brokers = %config.brokers,
            topic = %config.topic,
            partitions = config.partitions,
            "connected to the Kafka log"
        );
        Ok(KafkaLog {
            inner: Arc::new(Inner {
                readers: Readers::new(&config),
                config,
                producer: std::sync::RwLock::new(producer),
            }),
        })
    }

    /// The settings the log was connected with.
    pub fn config(&self) -> &KafkaConfig {
        &self.inner.config
    }

    /// Joins the consumer group `group_id` on the log's topic and keeps this process a
    /// member until `shutdown` is cancelled or the [`Membership`] is dropped or left. Each
    /// member owns a share of the partitions; when one leaves or stops heartbeating
    /// (`session.timeout.ms`, 10 s unless `properties` say otherwise), the others take its
    /// share.
    ///
    /// The group only decides ownership: offsets are not committed to Kafka (a projector
    /// keeps its checkpoint with its views) and records are read with [`EventLog::read`].
    pub fn join_group(
        &self,
        group_id: &str,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Membership> {
        Membership::join(&self.inner.config, group_id, shutdown)
    }

    /// The producer appends go through now.
    fn producer(&self) -> FutureProducer<LogContext> {
        self.inner
            .producer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces `failed` with a fresh producer, unless another append already did. An
    /// idempotent producer whose records timed out (brokers paused or restarted) can be
    /// left with sequence numbers the brokers no longer accept; a new one gets a new
    /// producer id and starts clean, so appends recover once the brokers are back.
    fn renew_producer(&self, failed: &FutureProducer<LogContext>) {
        let mut current = self
            .inner
            .producer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.client().native_ptr() != failed.client().native_ptr() {
            return;
        }
        match new_producer(&self.inner.config) {
            Ok(fresh) => {
                debug!("the Kafka producer was renewed after a failed append");
                *current = fresh;
            }
            Err(error) => warn!(%error, "the Kafka producer could not be renewed"),
        }
    }

    /// Sends one record to its partition; the returned future resolves when the brokers
    /// acknowledge it. Waits while librdkafka's queue is full, up to `deadline`.
    async fn enqueue(
        &self,
        producer: &FutureProducer<LogContext>,
        record: &RoutedRecord,
        deadline: Instant,
    ) -> Result<rdkafka::producer::DeliveryFuture> {
        let headers = (!record.headers.is_empty()).then(|| {
            record.headers.iter().fold(
                OwnedHeaders::new_with_capacity(record.headers.len()),
                |headers, (key, value)| {
                    headers.insert(Header {
                        key,
                        value: Some(value.as_str()),
                    })
                },
            )
        });
        let mut message: FutureRecord<'_, str, [u8]> = FutureRecord::to(&self.inner.config.topic)
            .partition(kafka_partition(record.partition))
            .payload(&record.bytes);
        if !record.key.is_empty() {
            message = message.key(&record.key);
        }
        if let Some(headers) = headers {
            message = message.headers(headers);
        }
        loop {
            match producer.send_result(message) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    // The queue drains as the brokers acknowledge; retrying this record
                    // before sending the next keeps the batch's order.
                    message = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((e, _)) => return Err(unavailable("cannot queue a record for Kafka", &e)),
            }
        }
    }
}

/// An idempotent producer with the log's settings.
fn new_producer(config: &KafkaConfig) -> Result<FutureProducer<LogContext>> {
    config
        .producer_config()
        .create_with_context(LogContext::new("producer"))
        .map_err(|e| unavailable("cannot create the Kafka producer", &e))
}

/// A record whose partition is known.
struct RoutedRecord {
    partition: Partition,
    /// Empty for records sent to a partition: they carry no Kafka key.
    key: String,
    bytes: Vec<u8>,
    headers: Headers,
}

#[async_trait::async_trait]
impl EventLog for KafkaLog {
    fn partitions(&self) -> u32 {
        self.inner.config.partitions
    }

    /// The topic: its name is what a deployment's roles share. (Two clusters holding
    /// topics of the same name are not told apart.)
    async fn identity(&self) -> Result<String> {
        Ok(format!("kafka topic {}", self.inner.config.topic))
    }

    /// Sends every record at once and waits for all the acknowledgements. See
    /// [`KafkaLog`] for what a failed append may leave behind.
    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Appended>> {
        let partitions = self.inner.config.partitions;
        let mut routed = Vec::with_capacity(records.len());
        // Every destination is checked before the first record leaves.
        for record in records {
            let (partition, key) = route(record.destination, partitions)?;
            routed.push(RoutedRecord {
                partition,
                key,
                bytes: record.bytes,
                headers: record.headers,
            });
        }

        let deadline = Instant::now() + self.inner.config.append_timeout;
        let producer = self.producer();
        let mut deliveries = Vec::with_capacity(routed.len());
        for record in &routed {
            deliveries.push(self.enqueue(&producer, record, deadline).await?);
        }

        let mut appended = Vec::with_capacity(routed.len());
        let mut failures = Vec::new();
        for (record, delivery) in routed.iter().zip(deliveries) {
            match delivery.await {
                Ok(Ok(delivery)) => {
                    match position(record.partition, delivery.partition, delivery.offset) {
                        Ok(position) => appended.push(Appended {
                            position,
                            duplicate: false,
                        }),
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                Ok(Err((e, _))) => failures.push(format!("partition {}: {e}", record.partition)),
                Err(_canceled) => failures.push("the producer dropped the record".to_owned()),
            }
        }
        if failures.is_empty() {
            return Ok(appended);
        }
        let failed = failures.len();
        let total = routed.len();
        warn!(failed, total, error = %failures[0], "a Kafka append failed");
        self.renew_producer(&producer);
        Err(LogError::Unavailable(format!(
            "{failed} of {total} records were not acknowledged by Kafka ({}); the acknowledged ones stay on the log, the others may have landed too",
            failures[0]
        )))
    }

    async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<StoredRecord>> {
        check_partition(partition, self.inner.config.partitions)?;
        if max == 0 || i64::try_from(from).is_err() {
            // No Kafka offset reaches `i64::MAX`, so there is nothing from there on.
            return Ok(Vec::new());
        }
        self.inner.readers.read(partition, from, max).await
    }

    async fn high_water(&self, partition: Partition) -> Result<Offset> {
        check_partition(partition, self.inner.config.partitions)?;
        let producer = self.producer();
        blocking(&self.inner.config, move |config| {
            high_water(producer.client(), config, partition)
        })
        .await
    }

    async fn wait_for(
        &self,
        partition: Partition,
        offset: Offset,
        timeout: Duration,
    ) -> Result<Offset> {
        check_partition(partition, self.inner.config.partitions)?;
        self.inner
            .readers
            .wait_for(partition, offset, timeout)
            .await
    }
}

/// Forwards librdkafka's logs and errors to `tracing`, naming the client they came from.
#[derive(Debug, Clone)]
pub(crate) struct LogContext {
    client: &'static str,
}

impl LogContext {
    pub(crate) fn new(client: &'static str) -> LogContext {
        LogContext { client }
    }
}

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let client = self.client;
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                error!(client, facility, "librdkafka: {message}");
            }
            // What librdkafka logs as an error (a refused connection, mostly) it also hands
            // to `error` below, which says it once.
            RDKafkaLogLevel::Error => debug!(client, facility, "librdkafka: {message}"),
            // `properties` go to every client, so each warns about those meant for
            // another kind (a consumer setting on the producer); a misspelt one fails.
            RDKafkaLogLevel::Warning if facility == "CONFWARN" => {
                debug!(client, facility, "librdkafka: {message}");
            }
            RDKafkaLogLevel::Warning => warn!(client, facility, "librdkafka: {message}"),
            RDKafkaLogLevel::Notice => info!(client, facility, "librdkafka: {message}"),
            RDKafkaLogLevel::Info => debug!(client, facility, "librdkafka: {message}"),
            RDKafkaLogLevel::Debug => trace!(client, facility, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let client = self.client;
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            // The client is unusable until the process restarts.
            error!(client, %error, reason, "fatal Kafka client error");
        } else {
            // librdkafka retries on its own; an operation that gives up tells its caller.
            warn!(client, %error, reason, "Kafka client error");
        }
    }
}

impl ConsumerContext for LogContext {}

/// Runs a blocking librdkafka call on tokio's blocking pool.
async fn blocking<T, F>(config: &KafkaConfig, call: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&KafkaConfig) -> Result<T> + Send + 'static,
{
    let config = config.clone();
    tokio::task::spawn_blocking(move || call(&config))
        .await
        .map_err(|e| LogError::Unavailable(format!("a Kafka request task failed: {e}")))?
}

/// The partition count of the log's topic, or `None` if the topic does not exist.
fn topic_partitions<C: ClientContext>(
    client: &Client<C>,
    config: &KafkaConfig,
) -> Result<Option<u32>> {
    let metadata = client
        .fetch_metadata(Some(&config.topic), config.request_timeout)
        .map_err(|e| unavailable("cannot read the topic's metadata", &e))?;
    let Some(topic) = metadata.topics().iter().find(|t| t.name() == config.topic) else {
        return Ok(None);
    };
    match topic.error() {
        None => Ok(Some(
            u32::try_from(topic.partitions().len()).unwrap_or(u32::MAX),
        )),
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => Ok(None),
        Some(e) => Err(LogError::Unavailable(format!(
            "cannot read the metadata of the topic `{}`: {}",
            config.topic,
            RDKafkaErrorCode::from(e)
        ))),
    }
}

fn check_count(config: &KafkaConfig, found: u32) -> Result<()> {
    if found == config.partitions {
        Ok(())
    } else {
        Err(LogError::PartitionCount {
            expected: config.partitions,
            found,
        })
    }
}

/// The high-water mark of a partition, asked of its leader.
pub(crate) fn high_water<C: ClientContext>(
    client: &Client<C>,
    config: &KafkaConfig,
    partition: Partition,
) -> Result<Offset> {
    let (_low, high) = client
        .fetch_watermarks(
            &config.topic,
            kafka_partition(partition),
            config.request_timeout,
        )
        .map_err(|e| {
            unavailable(
                &format!("cannot read the high-water mark of partition {partition}"),
                &e,
            )
        })?;
    offset(high)
}

/// The position the brokers acknowledged, checked against the partition the record was
/// sent to.
fn position(sent_to: Partition, partition: i32, at: i64) -> Result<Position> {
    if i64::from(partition) != i64::from(sent_to) {
        return Err(LogError::Unavailable(format!(
            "a record sent to partition {sent_to} was acknowledged in partition {partition}"
        )));
    }
    Ok(Position {
        partition: sent_to,
        offset: offset(at)?,
    })
}

/// A Kafka offset as the log's; Kafka never hands out negative ones for records.
pub(crate) fn offset(kafka: i64) -> Result<Offset> {
    Offset::try_from(kafka)
        .map_err(|_| LogError::Unavailable(format!("Kafka answered with the offset {kafka}")))
}

/// A log partition as Kafka's: `connect` refuses partition counts beyond `i32::MAX`, and
/// every partition is checked against the count first.
pub(crate) fn kafka_partition(partition: Partition) -> i32 {
    i32::try_from(partition).unwrap_or(i32::MAX)
}

pub(crate) fn millis(duration: Duration) -> u128 {
    duration.as_millis().max(1)
}
