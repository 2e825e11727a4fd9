//! Consumer-group membership: which partitions this process owns among the members of a
//! group. The group's consumer is used for nothing else: its partitions are paused as soon
//! as they are assigned, and the owner reads them through the log.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::TopicPartitionList;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{KafkaConfig, LogContext};
use crate::{LogError, Partition, Result, unavailable};

/// How often the membership thread polls its consumer, which is also how long a shutdown
/// may wait for it to notice.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// This process's membership of a consumer group on the log's topic, from
/// [`KafkaLog::join_group`](super::KafkaLog::join_group).
///
/// A thread keeps the membership alive (heartbeats, rebalances) until the shutdown token
/// is cancelled, [`Membership::leave`] is called or the membership is dropped; then the
/// consumer leaves the group, so the other members take its partitions at once rather
/// than after the session timeout.
#[derive(Debug)]
pub struct Membership {
    group_id: String,
    assignment: watch::Receiver<BTreeSet<Partition>>,
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl Membership {
    pub(super) fn join(
        config: &KafkaConfig,
        group_id: &str,
        shutdown: CancellationToken,
    ) -> Result<Membership> {
        let (owned, assignment) = watch::channel(BTreeSet::new());
        let owned = Arc::new(owned);
        let context = GroupContext {
            log: LogContext::new("group"),
            topic: config.topic.clone(),
            group_id: group_id.to_owned(),
            owned: Arc::clone(&owned),
        };

        let mut client_config = config.client_config("group");
        client_config
            .set("group.id", group_id)
            // A projector's checkpoint lives with its views, never in Kafka.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Low enough that a killed member's partitions move within seconds.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            // The eager protocol: every rebalance hands out all partitions afresh. The
            // incremental `cooperative-sticky` would move fewer partitions, but against the
            // tansu broker of the end-to-end suite a member that had one revoked was never
            // given any back; the views' checkpoints make a full hand-out cheap anyway.
            .set("partition.assignment.strategy", "roundrobin");
        config.finish(&mut client_config);
        let consumer: BaseConsumer<GroupContext> = client_config
            .create_with_context(context)
            .map_err(|e| unavailable("cannot create the Kafka group consumer", &e))?;
        consumer
            .subscribe(&[&config.topic])
            .map_err(|e| unavailable(&format!("cannot join the group `{group_id}`"), &e))?;

        let stop = shutdown.child_token();
        let thread = {
            let stop = stop.clone();
            let group_id = group_id.to_owned();
            std::thread::Builder::new()
                .name("casewatch-kafka-group".to_owned())
                .spawn(move || keep_membership(consumer, &group_id, &stop, &owned))
                .map_err(|e| {
                    LogError::Unavailable(format!("cannot start the group membership thread: {e}"))
                })?
        };
        Ok(Membership {
            group_id: group_id.to_owned(),
            assignment,
            stop,
            thread: Some(thread),
        })
    }

    /// The partitions this member owns now, updated on every rebalance: empty before the
    /// first assignment and after leaving. A partition can be owned by two members for a
    /// moment during a rebalance; the projector's fenced checkpoint keeps that harmless.
    pub fn assignment(&self) -> watch::Receiver<BTreeSet<Partition>> {
        self.assignment.clone()
    }

    /// The group's name.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// Leaves the group and waits until the consumer has closed (it has given back its
    /// partitions then).
    pub async fn leave(mut self) -> Result<()> {
        self.stop.cancel();
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| LogError::Unavailable(format!("cannot wait for the group thread: {e}")))?
            .map_err(|_| LogError::Unavailable("the group membership thread panicked".to_owned()))
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        // The thread leaves the group on its own; joining it here would block the caller
        // for as long as the brokers take to answer.
        self.stop.cancel();
    }
}

/// The membership thread: polls the consumer, which runs the rebalance callbacks, until
/// told to stop; then closes it, which leaves the group.
fn keep_membership(
    consumer: BaseConsumer<GroupContext>,
    group_id: &str,
    stop: &CancellationToken,
    owned: &watch::Sender<BTreeSet<Partition>>,
) {
    let mut last_error: Option<String> = None;
    while !stop.is_cancelled() {
        match consumer.poll(POLL_INTERVAL) {
            // Assigned partitions are paused, so records are not expected; one fetched
            // before the pause took effect is ignored.
            None | Some(Ok(_)) => {}
            Some(Err(e)) => {
                // librdkafka repeats a broker's failure on every reconnection attempt.
                let error = e.to_string();
                if last_error.as_ref() != Some(&error) {
                    warn!(group = group_id, %error, "the Kafka group consumer reported an error");
                    last_error = Some(error);
                }
            }
        }
    }
    // Dropping the consumer closes it: its partitions are revoked (through the rebalance
    // callback) and it leaves the group.
    drop(consumer);
    owned.send_if_modified(|owned| {
        let changed = !owned.is_empty();
        owned.clear();
        changed
    });
    debug!(group = group_id, "left the Kafka consumer group");
}

/// The group consumer's callbacks: publishes the partitions owned after each rebalance.
struct GroupContext {
    log: LogContext,
    topic: String,
    group_id: String,
    owned: Arc<watch::Sender<BTreeSet<Partition>>>,
}

impl GroupContext {
    fn partitions(&self, list: &TopicPartitionList) -> BTreeSet<Partition> {
        list.elements_for_topic(&self.topic)
            .iter()
            .filter_map(|element| Partition::try_from(element.partition()).ok())
            .collect()
    }
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.log.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let group = self.group_id.as_str();
        match rebalance {
            Rebalance::Assign(list) => {
                if let Err(error) = consumer.pause(list) {
                    // Harmless beyond fetching records nobody reads.
                    warn!(group, %error, "cannot pause the assigned partitions");
                }
                let assigned = self.partitions(list);
                if !assigned.is_empty() {
                    info!(group, partitions = ?assigned, "partitions assigned");
                }
                self.owned.send_if_modified(|owned| {
                    let before = owned.len();
                    owned.extend(assigned);
                    owned.len() != before
                });
            }
            Rebalance::Revoke(list) => {
                let revoked = self.partitions(list);
                if !revoked.is_empty() {
                    info!(group, partitions = ?revoked, "partitions revoked");
                }
                self.owned.send_if_modified(|owned| {
                    let before = owned.len();
                    owned.retain(|p| !revoked.contains(p));
                    owned.len() != before
                });
            }
            Rebalance::Error(error) => warn!(group, %error, "a Kafka group rebalance failed"),
        }
    }
}
