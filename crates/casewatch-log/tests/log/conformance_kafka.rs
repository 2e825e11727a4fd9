//! The conformance suite against the Kafka backend, on librdkafka's mock cluster (brokers
//! inside the test process), then what only the Kafka backend does: headers, group
//! membership, a cluster going down, the topic checks, its settings file.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use casewatch_log::conformance::Harness;
use casewatch_log::kafka::{KafkaConfig, KafkaLog, TopicStatus, ensure_topic};
use casewatch_log::{Destination, EventLog, LogError, NewRecord, Partition, Position};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use tokio::sync::watch;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "casewatch.records";
/// Long enough for the mock's group coordinator (it delays a new group's first rebalance
/// by 3 s) on a loaded machine; a case fails if it runs out.
const PATIENCE: Duration = Duration::from_secs(60);

type Cluster = MockCluster<'static, DefaultProducerContext>;
type Command = Box<dyn FnOnce(&Cluster) + Send>;

/// A mock Kafka cluster, owned by a thread of its own (librdkafka's handle may not move
/// between threads, and tokio moves tests' futures) and driven through commands. Dropping
/// it stops the brokers.
struct MockKafka {
    brokers: String,
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl MockKafka {
    fn start(brokers: i32) -> MockKafka {
        let (commands, queue) = mpsc::channel::<Command>();
        let (ready, bootstrap) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let cluster = MockCluster::new(brokers).expect("a mock Kafka cluster");
            ready
                .send(cluster.bootstrap_servers())
                .expect("the test waits for the cluster");
            for command in queue {
                command(&cluster);
            }
        });
        MockKafka {
            brokers: bootstrap.recv().expect("the mock cluster starts"),
            commands: Some(commands),
            thread: Some(thread),
        }
    }

    fn run<T, F>(&self, command: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&Cluster) -> T + Send + 'static,
    {
        let (reply, answer) = mpsc::channel();
        let command: Command = Box::new(move |cluster| {
            let _ = reply.send(command(cluster));
        });
        self.commands
            .as_ref()
            .expect("the cluster runs")
            .send(command)
            .expect("the cluster thread takes commands");
        answer.recv().expect("the cluster thread answers")
    }

    fn create_topic(&self, partitions: i32) {
        self.run(move |cluster| cluster.create_topic(TOPIC, partitions, 3))
            .expect("the mock cluster creates the topic");
    }

    fn config(&self, partitions: u32) -> KafkaConfig {
        KafkaConfig {
            client_id: "casewatch-test".to_owned(),
            // The mock holds an empty fetch for the whole wait, where a real broker answers
            // as soon as records arrive.
            properties: [("fetch.wait.max.ms".to_owned(), "10".to_owned())].into(),
            ..KafkaConfig::new(self.brokers.clone(), TOPIC, partitions)
        }
    }

    async fn connect(&self, partitions: u32) -> KafkaLog {
        KafkaLog::connect(self.config(partitions))
            .await
            .expect("the Kafka log connects")
    }
}

impl Drop for MockKafka {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A mock cluster of three brokers per case; the topic is created on the first open, and
/// reopening connects a new log to the same cluster.
struct KafkaHarness {
    kafka: MockKafka,
    topic_created: bool,
}

impl KafkaHarness {
    fn new() -> KafkaHarness {
        KafkaHarness {
            kafka: MockKafka::start(3),
            topic_created: false,
        }
    }
}

#[async_trait::async_trait]
impl Harness for KafkaHarness {
    type Log = KafkaLog;

    async fn open(&mut self, partitions: u32) -> KafkaLog {
        if !self.topic_created {
            self.kafka
                .create_topic(i32::try_from(partitions).expect("a small count"));
            self.topic_created = true;
        }
        self.kafka.connect(partitions).await
    }

    fn deduplicates(&self) -> bool {
        false
    }

    fn atomic_appends(&self) -> bool {
        false
    }
}

mod suite {
    use super::KafkaHarness;

    casewatch_log::event_log_conformance_suite!(KafkaHarness::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_keys_round_trip() {
    let kafka = MockKafka::start(1);
    kafka.create_topic(2);
    let log = kafka.connect(2).await;
    let traced = vec![
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("tracestate".to_owned(), "congo=t61rcWkgMzE".to_owned()),
        ("baggage".to_owned(), "a=1".to_owned()),
        ("baggage".to_owned(), "b=2".to_owned()),
        ("部门".to_owned(), "市场监管局".to_owned()),
        ("empty".to_owned(), String::new()),
    ];
    let records = vec![
        NewRecord {
            destination: Destination::Key("330106-2025-000001".to_owned()),
            bytes: b"accepted".to_vec(),
            idempotency_key: None,
            headers: traced.clone(),
        },
        NewRecord {
            destination: Destination::Partition(1),
            bytes: b"tick".to_vec(),
            idempotency_key: None,
            headers: Vec::new(),
        },
        NewRecord {
            destination: Destination::Key("330106-2025-000001".to_owned()),
            bytes: Vec::new(),
            idempotency_key: Some("ignored by Kafka".to_owned()),
            headers: vec![("traceparent".to_owned(), "another".to_owned())],
        },
    ];
    let appended = log.append(records.clone()).await.expect("append");
    assert!(appended.iter().all(|a| !a.duplicate));

    for (record, appended) in records.iter().zip(&appended) {
        let Position { partition, offset } = appended.position;
        let read = log.read(partition, offset, 1).await.expect("read");
        assert_eq!(read.len(), 1, "the record at {:?}", appended.position);
        assert_eq!(read[0].position, appended.position);
        assert_eq!(read[0].bytes, record.bytes);
        assert_eq!(
            read[0].headers, record.headers,
            "headers at {:?}",
            appended.position
        );
        let key = match &record.destination {
            Destination::Key(key) => key.as_str(),
            Destination::Partition(_) => "",
        };
        assert_eq!(read[0].key, key);
    }
}

/// A projector's loop, read until empty then wait, against a writer appending one record
/// at a time: every record arrives, in order, with no read past the end blocking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tailing_reader_gets_every_record_in_order() {
    const RECORDS: u64 = 300;
    let kafka = MockKafka::start(1);
    kafka.create_topic(1);
    let log = kafka.connect(1).await;
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            for i in 0..RECORDS {
                let record = NewRecord {
                    destination: Destination::Partition(0),
                    bytes: format!("r{i}").into_bytes(),
                    idempotency_key: None,
                    headers: Vec::new(),
                };
                log.append(vec![record]).await.expect("append");
            }
        })
    };

    let mut next = 0;
    let started = Instant::now();
    while next < RECORDS {
        assert!(started.elapsed() < PATIENCE, "the reader stalled at {next}");
        let page = log.read(0, next, 50).await.expect("read");
        if page.is_empty() {
            log.wait_for(0, next, Duration::from_secs(5))
                .await
                .expect("wait_for");
            continue;
        }
        for record in page {
            assert_eq!(record.position.offset, next);
            assert_eq!(record.bytes, format!("r{next}").into_bytes());
            next += 1;
        }
    }
    writer.await.expect("the writer panicked");
    assert_eq!(log.high_water(0).await.expect("high water"), RECORDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_share_the_partitions_and_take_over_a_leaver_s() {
    let kafka = MockKafka::start(3);
    kafka.create_topic(4);
    let log = kafka.connect(4).await;
    let all: BTreeSet<Partition> = (0..4).collect();
    let shutdown = CancellationToken::new();

    let first = log
        .join_group("projectors", shutdown.clone())
        .expect("the first member joins");
    let mut first_owned = first.assignment();
    until_owned(&mut first_owned, |owned| *owned == all).await;

    let second = log
        .join_group("projectors", shutdown.clone())
        .expect("the second member joins");
    let mut second_owned = second.assignment();
    within(async {
        loop {
            let (a, b) = (
                first_owned.borrow_and_update().clone(),
                second_owned.borrow_and_update().clone(),
            );
            if !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && &a | &b == all {
                break;
            }
            tokio::select! {
                changed = first_owned.changed() => changed.expect("the first member runs"),
                changed = second_owned.changed() => changed.expect("the second member runs"),
            }
        }
    })
    .await;

    second.leave().await.expect("the second member leaves");
    assert!(second_owned.borrow().is_empty(), "a leaver owns nothing");
    until_owned(&mut first_owned, |owned| *owned == all).await;

    // The shutdown token ends the remaining membership too.
    shutdown.cancel();
    until_owned(&mut first_owned, BTreeSet::is_empty).await;
    first.leave().await.expect("the first member is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_unavailable_while_the_brokers_are_down() {
    let kafka = MockKafka::start(1);
    kafka.create_topic(1);
    let append_timeout = Duration::from_secs(2);
    let log = KafkaLog::connect(KafkaConfig {
        append_timeout,
        ..kafka.config(1)
    })
    .await
    .expect("connect");
    let record = |bytes: &str| NewRecord {
        destination: Destination::Partition(0),
        bytes: bytes.as_bytes().to_vec(),
        idempotency_key: None,
        headers: Vec::new(),
    };
    log.append(vec![record("before")])
        .await
        .expect("a healthy append");

    kafka
        .run(|cluster| cluster.broker_down(-1))
        .expect("brokers down");
    let started = Instant::now();
    match log.append(vec![record("lost"), record("lost too")]).await {
        Err(LogError::Unavailable(reason)) => {
            assert!(
                reason.contains("2 of 2 records"),
                "unexpected reason: {reason}"
            );
        }
        other => panic!("expected the log to be unavailable, got {other:?}"),
    }
    // librdkafka looks for expired records once a second; the rest is slack for a busy
    // two-core machine running the other cases at the same time.
    let waited = started.elapsed();
    eprintln!("the append failed after {waited:?}");
    assert!(
        waited < append_timeout + Duration::from_secs(10),
        "the append failed only after {waited:?}"
    );

    kafka
        .run(|cluster| cluster.broker_up(-1))
        .expect("brokers up");
    // The producer reconnects with a backoff; appends fail until then, and then work.
    let deadline = Instant::now() + PATIENCE;
    let appended = loop {
        match log.append(vec![record("after")]).await {
            Ok(appended) => break appended,
            Err(LogError::Unavailable(_)) if Instant::now() < deadline => {}
            Err(e) => panic!("the log did not recover: {e}"),
        }
    };
    let read = log
        .read(0, appended[0].position.offset, 1)
        .await
        .expect("read");
    assert_eq!(read[0].bytes, b"after".to_vec());
    assert_eq!(
        log.read(0, 0, 1).await.expect("read")[0].bytes,
        b"before".to_vec()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_needs_the_topic_with_its_partition_count() {
    let kafka = MockKafka::start(1);
    match KafkaLog::connect(kafka.config(4)).await {
        Err(LogError::Unavailable(reason)) => {
            assert!(
                reason.contains("casewatch migrate"),
                "unexpected reason: {reason}"
            );
        }
        other => panic!("expected a missing topic, got {other:?}"),
    }

    kafka.create_topic(4);
    match KafkaLog::connect(kafka.config(3)).await {
        Err(LogError::PartitionCount {
            expected: 3,
            found: 4,
        }) => {}
        other => panic!("expected a partition count mismatch, got {other:?}"),
    }
    assert_eq!(kafka.connect(4).await.partitions(), 4);

    assert_eq!(
        ensure_topic(&kafka.config(4)).await.expect("ensure_topic"),
        TopicStatus::Exists
    );
    assert!(matches!(
        ensure_topic(&kafka.config(5)).await,
        Err(LogError::PartitionCount {
            expected: 5,
            found: 4
        })
    ));

    match KafkaLog::connect(kafka.config(0)).await {
        Err(LogError::Unavailable(reason)) => assert!(reason.contains("`partitions`")),
        other => panic!("expected invalid settings, got {other:?}"),
    }
}

/// Awaits `future`, failing the test if it takes longer than [`PATIENCE`].
async fn within<T>(future: impl Future<Output = T>) -> T {
    timeout(PATIENCE, future)
        .await
        .expect("the cluster did not get there in time")
}

/// Waits until the member owns what `wanted` accepts.
async fn until_owned(
    owned: &mut watch::Receiver<BTreeSet<Partition>>,
    wanted: impl FnMut(&BTreeSet<Partition>) -> bool,
) {
    within(owned.wait_for(wanted))
        .await
        .expect("the member's thread publishes until it has left");
}
