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
            idempotency_keys_are_stored_once,
            read_returns_at_most_max_records,
        );
    };
}

/// Records sent to one partition, by key or by number, are read back in the order they
/// were appended, whether they came one per call or many per call.
pub async fn records_of_a_partition_keep_their_order<H: Harness>(mut harness: H) {
    let partitions = 4;
    let log = harness.open(partitions).await;
    let keys: Vec<String> = (0..8).map(|i| format!("330106-2025-{i:06}")).collect();
    // What each partition must hold, in append order: (key, bytes).
    let mut expected: BTreeMap<Partition, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut sequence = 0;

    for round in 0..30_u32 {
        let mut batch = Vec::new();
        for (k, key) in keys.iter().enumerate() {
            // Not every key in every round, so that keys interleave unevenly.
            if (round as usize + k).is_multiple_of(3) {
                continue;
            }
            batch.push(keyed(key, format!("{key}#{sequence}")));
            sequence += 1;
        }
        let target = round % partitions;
        batch.push(to_partition(target, format!("tick-{round}")));

        let calls: Vec<Vec<NewRecord>> = if round % 2 == 0 {
            vec![batch]
        } else {
            batch.into_iter().map(|record| vec![record]).collect()
        };
        for call in calls {
            let destinations: Vec<(Partition, String, Vec<u8>)> = call
                .iter()
                .map(|record| match &record.destination {
                    Destination::Key(key) => {
                        (log.partition_of(key), key.clone(), record.bytes.clone())
                    }
                    Destination::Partition(p) => (*p, String::new(), record.bytes.clone()),
                })
                .collect();
            let appended = append_ok(&log, call).await;
            for ((partition, key, bytes), appended) in destinations.into_iter().zip(appended) {
                let held = expected.entry(partition).or_default();
                assert_eq!(
                    appended.position,
                    Position {
                        partition,
                        offset: held.len() as Offset
                    },
                    "a record got a position other than the next one of its partition"
                );
                assert!(
                    !appended.duplicate,
                    "a record without idempotency key is a duplicate"
                );
                held.push((key, bytes));
            }
        }
    }

    for partition in 0..partitions {
        let read: Vec<(String, Vec<u8>)> = read_all(&log, partition)
            .await
            .into_iter()
            .map(|record| (record.key, record.bytes))
            .collect();
        let want = expected.remove(&partition).unwrap_or_default();
        assert_eq!(
            read, want,
            "partition {partition} holds other records or another order"
        );
    }
}

/// Every record with a key lands in `partition_of(key)`, which is Kafka's partitioner, and
/// keeps landing there.
pub async fn a_key_always_lands_in_its_partition<H: Harness>(mut harness: H) {
    let partitions = 7;
    let log = harness.open(partitions).await;
    assert_eq!(log.partitions(), partitions);
    let mut keys: Vec<String> = (0..100).map(|i| format!("330106-2025-{i:06}")).collect();
    keys.push("浙江省杭州市西湖区-2025-000001".to_owned());
    keys.push("foobar".to_owned());

    for key in &keys {
        assert_eq!(
            log.partition_of(key),
            partition_for_key(key, partitions),
            "the partition of `{key}` is not Kafka's"
        );
    }
    // murmur2("foobar") is -790332482 in the Java client.
    assert_eq!(
        log.partition_of("foobar"),
        (2_147_483_648 - 790_332_482) % partitions
    );

    let first = append_ok(&log, keys.iter().map(|key| keyed(key, "first")).collect()).await;
    for key in &keys {
        let again = append_ok(&log, vec![keyed(key, "again")]).await;
        assert_eq!(
            again[0].position.partition,
            log.partition_of(key),
            "`{key}` moved"
        );
    }
    for (key, appended) in keys.iter().zip(&first) {
        assert_eq!(
            appended.position.partition,
            log.partition_of(key),
            "`{key}` misplaced"
        );
    }

    let mut found: HashMap<String, Vec<Partition>> = HashMap::new();
    for partition in 0..partitions {
        for record in read_all(&log, partition).await {
            found.entry(record.key).or_default().push(partition);
        }
    }
    for key in &keys {
        let partition = log.partition_of(key);
        assert_eq!(
            found.get(key),
            Some(&vec![partition, partition]),
            "`{key}` must be read back twice from partition {partition}"
        );
    }
}

/// Offsets start at 0 in every partition and grow by one per record, with no gaps, and the
/// high-water mark is the next offset.
pub async fn offsets_are_dense_from_zero<H: Harness>(mut harness: H) {
    let partitions = 3;
    let log = harness.open(partitions).await;
    assert_eq!(log.partitions(), partitions);
    for partition in 0..partitions {
        assert_eq!(high_water(&log, partition).await, 0, "a new log is empty");
        assert!(
            read(&log, partition, 0, 10).await.is_empty(),
            "a new log is empty"
        );
    }
    assert!(append_ok(&log, Vec::new()).await.is_empty());
    assert_eq!(
        high_water(&log, 0).await,
        0,
        "an empty append stores nothing"
    );

    let mut next = 0;
    for size in [1, 5, 1, 10, 3] {
        let batch = (0..size)
            .map(|i| to_partition(1, format!("r{}", next + i)))
            .collect();
        let appended = append_ok(&log, batch).await;
        let offsets: Vec<Offset> = appended.iter().map(|a| a.position.offset).collect();
        assert_eq!(
            offsets,
            (next..next + size).collect::<Vec<_>>(),
            "offsets are not dense"
        );
        next += size;
        assert_eq!(high_water(&log, 1).await, next);
    }
    assert_eq!(
        high_water(&log, 0).await,
        0,
        "partition 0 got records meant for 1"
    );
    assert_eq!(
        high_water(&log, 2).await,
        0,
        "partition 2 got records meant for 1"
    );

    // A key's first record in its partition starts at 0 there too.
    let key = (0..)
        .map(|i| format!("key-{i}"))
        .find(|key| log.partition_of(key) == 2)
        .expect("some key falls in partition 2");
    let appended = append_ok(&log, vec![keyed(&key, "a"), keyed(&key, "b")]).await;
    assert_eq!(
        appended[0].position,
        Position {
            partition: 2,
            offset: 0
        }
    );
    assert_eq!(
        appended[1].position,
        Position {
            partition: 2,
            offset: 1
        }
    );

    let read = read_all(&log, 1).await;
    assert_eq!(read.len() as Offset, next);
    for (i, record) in read.iter().enumerate() {
        assert_eq!(record.bytes, format!("r{i}").into_bytes());
        assert_eq!(record.key, "", "a record sent to a partition has no key");
    }
}

/// Everything acknowledged is there, byte for byte, after the log is dropped and opened
/// again; the high-water marks are kept and new records continue the offsets.
pub async fn records_survive_a_reopen<H: Harness>(mut harness: H) {
    let partitions = 3;
    let deduplicates = harness.deduplicates();
    let log = harness.open(partitions).await;

    let mut batch = vec![
        keyed("330106-2025-000001", "accepted"),
        keyed("330106-2025-000002", ""),
        to_partition(0, (0..=255).collect::<Vec<u8>>()),
        to_partition(2, vec![0xa5; 256 * 1024]),
        keyed("浙江-2025-1", "受理".as_bytes()),
    ];
    batch.push(NewRecord {
        idempotency_key: Some("event-kept-across-reopen".to_owned()),
        headers: Vec::new(),
        ..keyed("330106-2025-000003", "with an idempotency key")
    });
    let appended = append_ok(&log, batch).await;
    for i in 0..20 {
        append_ok(
            &log,
            vec![keyed(&format!("330106-2025-{i:06}"), format!("step {i}"))],
        )
        .await;
    }

    let mut before = Vec::new();
    let mut high_waters = Vec::new();
    for partition in 0..partitions {
        before.push(read_all(&log, partition).await);
        high_waters.push(high_water(&log, partition).await);
    }
    drop(log);

    let log = harness.open(partitions).await;
    assert_eq!(log.partitions(), partitions);
    for partition in 0..partitions {
        assert_eq!(
            high_water(&log, partition).await,
            high_waters[partition as usize],
            "the high-water mark of partition {partition} changed across a reopen"
        );
        assert!(
            read_all(&log, partition).await == before[partition as usize],
            "partition {partition} reads back differently after a reopen"
        );
    }

    let appended_after = append_ok(&log, vec![to_partition(0, "after the reopen")]).await;
    assert_eq!(
        appended_after[0].position,
        Position {
            partition: 0,
            offset: high_waters[0]
        },
        "appends after a reopen must continue the offsets"
    );
    assert_eq!(high_water(&log, 0).await, high_waters[0] + 1);

    if deduplicates {
        let again = append_ok(
            &log,
            vec![NewRecord {
                idempotency_key: Some("event-kept-across-reopen".to_owned()),
                headers: Vec::new(),
                ..keyed("330106-2025-000003", "re-sent after the reopen")
            }],
        )
        .await;
        assert_eq!(
            again[0],
            Appended {
                position: appended[5].position,
                duplicate: true
            },
            "an idempotency key is forgotten across a reopen"
        );
    }
}

/// Readers only ever see committed records: never a gap, never a record at an offset other
/// than the one its append is acknowledged with, and, where appends are atomic, never part
/// of an append; once an append returns, its records are readable and counted in the
/// high-water mark.
///
/// (A record may become readable a moment before its appender hears the acknowledgement:
/// it is already durable then, as with Kafka, where a consumer can see a record before the
/// producer receives its ack.)
pub async fn readers_see_only_committed_records<H: Harness>(mut harness: H) {
    const BATCHES: u64 = 200;
    const BATCH: u64 = 5;
    let atomic = harness.atomic_appends();
    let log = Arc::new(harness.open(2).await);

    let mut readers = Vec::new();
    for _ in 0..2 {
        let log = Arc::clone(&log);
        readers.push(tokio::spawn(async move {
            let mut cursor = 0;
            let mut reads = 0_u64;
            while cursor < BATCHES * BATCH {
                let page = read(&*log, 0, cursor, usize::MAX).await;
                reads += 1;
                for record in &page {
                    assert_eq!(record.position.offset, cursor, "a read returned a gap");
                    assert_eq!(
                        record.bytes,
                        batch_record(cursor / BATCH, cursor % BATCH),
                        "offset {cursor} holds a record its append was not acknowledged with"
                    );
                    cursor += 1;
                }
                // Everything visible was read, so the end must fall between two appends.
                if atomic {
                    assert_eq!(cursor % BATCH, 0, "a reader saw part of an append");
                }
                tokio::task::yield_now().await;
            }
            reads
        }));
    }

    for b in 0..BATCHES {
        let records = (0..BATCH)
            .map(|i| to_partition(0, batch_record(b, i)))
            .collect();
        let appended = append_ok(&*log, records).await;
        let first = b * BATCH;
        for (i, appended) in appended.iter().enumerate() {
            assert_eq!(appended.position.offset, first + i as Offset);
        }
        assert!(
            high_water(&*log, 0).await >= first + BATCH,
            "an acknowledged record is not counted in the high-water mark"
        );
        let mine = read(&*log, 0, first, BATCH as usize).await;
        let bytes: Vec<Vec<u8>> = mine.into_iter().map(|r| r.bytes).collect();
        let want: Vec<Vec<u8>> = (0..BATCH).map(|i| batch_record(b, i)).collect();
        assert_eq!(bytes, want, "an acknowledged append is not readable");
    }

    for reader in readers {
        let reads = reader.await.expect("the reader task panicked");
        assert!(reads > 0);
    }
    assert!(
        read(&*log, 1, 0, 10).await.is_empty(),
        "partition 1 got records"
    );
}

/// Many tasks appending at once (16 × 200 appends): every append is acknowledged, every
/// record is readable exactly once at its acknowledged position, each task's records keep
/// their order, and offsets stay dense.
pub async fn concurrent_appenders_are_all_acknowledged_in_order<H: Harness>(mut harness: H) {
    let log = Arc::new(harness.open(4).await);
    let calls = append_concurrently(&log, 16, 200).await;
    assert_eq!(calls, 16 * 200);
}

/// The workload of [`concurrent_appenders_are_all_acknowledged_in_order`], with its checks,
/// for backend-specific tests that want to look at the backend afterwards. The log must be
/// empty. Half of the tasks append by key, half to a partition. Returns the number of
/// append calls made.
pub async fn append_concurrently<L: EventLog>(
    log: &Arc<L>,
    tasks: u32,
    appends_per_task: u32,
) -> u64 {
    let partitions = log.partitions();
    let destination = |task: u32| {
        if task.is_multiple_of(2) {
            Destination::Key(format!("330106-2025-{task:06}"))
        } else {
            Destination::Partition(task % partitions)
        }
    };

    let mut appenders = Vec::new();
    for task in 0..tasks {
        let log = Arc::clone(log);
        let destination = destination(task);
        appenders.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for seq in 0..appends_per_task {
                let record = NewRecord {
                    destination: destination.clone(),
                    bytes: task_record(task, seq),
                    idempotency_key: None,
                    headers: Vec::new(),
                };
                let appended = append_ok(&*log, vec![record]).await;
                positions.push(appended[0].position);
            }
            positions
        }));
    }
    let mut acknowledged: HashMap<Position, (u32, u32)> = HashMap::new();
    for (task, appender) in (0..tasks).zip(appenders) {
        let positions = appender.await.expect("an appender task panicked");
        assert_eq!(positions.len(), appends_per_task as usize);
        let partition = match destination(task) {
            Destination::Key(key) => log.partition_of(&key),
            Destination::Partition(p) => p,
        };
        for (seq, position) in (0..appends_per_task).zip(positions) {
            assert_eq!(
                position.partition, partition,
                "task {task} left its partition"
            );
            let earlier = acknowledged.insert(position, (task, seq));
            assert!(
                earlier.is_none(),
                "two appends were acknowledged at {position:?}"
            );
        }
    }

    let mut seen = 0;
    for partition in 0..partitions {
        let mut last_seq: HashMap<u32, u32> = HashMap::new();
        for record in read_all(&**log, partition).await {
            let (task, seq) = acknowledged
                .get(&record.position)
                .copied()
                .unwrap_or_else(|| panic!("{:?} was never acknowledged", record.position));
            assert_eq!(
                record.bytes,
                task_record(task, seq),
                "{:?} holds other bytes",
                record.position
            );
            let expected_seq = last_seq.get(&task).map_or(0, |s| s + 1);
            assert_eq!(seq, expected_seq, "task {task}'s records are out of order");
            last_seq.insert(task, seq);
            seen += 1;
        }
    }
    assert_eq!(seen, acknowledged.len(), "acknowledged records are missing");
    u64::from(tasks) * u64::from(appends_per_task)
}

/// `wait_for` returns as soon as a record at the offset arrives, returns at once if one is
/// already there, and otherwise returns the unchanged high-water mark after the timeout.
pub async fn wait_for_wakes_on_arrival_and_times_out_otherwise<H: Harness>(mut harness: H) {
    let log = Arc::new(harness.open(2).await);

    let short = Duration::from_millis(100);
    let started = Instant::now();
    let hw = log
        .wait_for(0, 0, short)
        .await
        .expect("wait_for on an empty partition");
    assert_eq!(hw, 0);
    assert!(
        started.elapsed() >= short,
        "wait_for returned before its timeout"
    );

    // Long enough never to expire on a slow machine; the case fails if it does.
    let long = Duration::from_secs(20);
    let waiter = {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let started = Instant::now();
            let hw = log.wait_for(0, 2, long).await.expect("wait_for");
            (hw, started.elapsed())
        })
    };
    for i in 0..3 {
        append_ok(&*log, vec![to_partition(0, format!("r{i}"))]).await;
    }
    let (hw, waited) = waiter.await.expect("the waiting task panicked");
    assert!(
        hw >= 3,
        "wait_for(offset 2) returned with high-water mark {hw}"
    );
    assert!(
        waited < long,
        "wait_for did not wake when the record arrived"
    );

    let started = Instant::now();
    assert_eq!(log.wait_for(0, 1, long).await.expect("wait_for"), 3);
    assert!(
        started.elapsed() < long,
        "wait_for waited for a record already there"
    );

    // A record in partition 0 does not wake a waiter on partition 1.
    let started = Instant::now();
    assert_eq!(log.wait_for(1, 0, short).await.expect("wait_for"), 0);
    assert!(started.elapsed() >= short);
}

/// Partitions outside `0..partitions` are refused by every operation, and an append that
/// names one stores nothing, not even its valid records.
pub async fn unknown_partitions_are_refused<H: Harness>(mut harness: H) {
    let partitions = 3;
    let log = harness.open(partitions).await;
    for partition in [partitions, partitions + 1, u32::MAX] {
        let refused = |result: Result<_, LogError>, what: &str| match result {
            Err(LogError::NoSuchPartition {
                partition: p,
                partitions: n,
            }) => {
                assert_eq!(
                    (p, n),
                    (partition, partitions),
                    "{what} named the wrong partition"
                );
            }
            other => {
                panic!("{what} of partition {partition}: expected NoSuchPartition, got {other:?}")
            }
        };
        refused(log.read(partition, 0, 10).await.map(|_| ()), "read");
        refused(log.high_water(partition).await.map(|_| ()), "high_water");
        refused(
            log.wait_for(partition, 0, Duration::from_millis(10))
                .await
                .map(|_| ()),
            "wait_for",
        );
        refused(
            log.append(vec![
                keyed("330106-2025-000001", "valid"),
                to_partition(partition, "x"),
            ])
            .await
            .map(|_| ()),
            "append",
        );
    }
    for partition in 0..partitions {
        assert_eq!(
            high_water(&log, partition).await,
            0,
            "a refused append stored records"
        );
    }
}

/// A record whose idempotency key the log already holds is not stored again: the append
/// answers `duplicate` with the original's position, also when the original came earlier in
/// the same append or in a concurrent one. Skipped for backends that do not deduplicate.
pub async fn idempotency_keys_are_stored_once<H: Harness>(mut harness: H) {
    if !harness.deduplicates() {
        return;
    }
    let log = Arc::new(harness.open(4).await);
    let with_key = |key: &str, destination: NewRecord| NewRecord {
        idempotency_key: Some(key.to_owned()),
        headers: Vec::new(),
        ..destination
    };
    let case = "330106-2025-000001";
    let partition = log.partition_of(case);

    let first = append_ok(&*log, vec![with_key("event-1", keyed(case, "original"))]).await;
    assert!(!first[0].duplicate);
    let resent = append_ok(&*log, vec![with_key("event-1", keyed(case, "re-sent"))]).await;
    assert_eq!(
        resent[0],
        Appended {
            position: first[0].position,
            duplicate: true
        }
    );
    assert_eq!(
        high_water(&*log, partition).await,
        1,
        "a duplicate was stored"
    );

    let mixed = append_ok(
        &*log,
        vec![
            with_key("event-2", keyed(case, "second")),
            with_key("event-1", keyed(case, "re-sent again")),
            with_key("event-2", keyed(case, "second, twice in one append")),
            keyed(case, "no key"),
            // Same key, another destination: still the original.
            with_key("event-1", to_partition((partition + 1) % 4, "elsewhere")),
        ],
    )
    .await;
    let at = |offset| Position { partition, offset };
    let expected = [
        Appended {
            position: at(1),
            duplicate: false,
        },
        Appended {
            position: at(0),
            duplicate: true,
        },
        Appended {
            position: at(1),
            duplicate: true,
        },
        Appended {
            position: at(2),
            duplicate: false,
        },
        Appended {
            position: at(0),
            duplicate: true,
        },
    ];
    assert_eq!(mixed, expected);
    let stored: Vec<Vec<u8>> = read_all(&*log, partition)
        .await
        .into_iter()
        .map(|r| r.bytes)
        .collect();
    assert_eq!(
        stored,
        vec![b"original".to_vec(), b"second".to_vec(), b"no key".to_vec()]
    );
    assert_eq!(
        high_water(&*log, (partition + 1) % 4).await,
        0,
        "a duplicate was stored"
    );

    // Sixteen senders race with one key: one record is stored, all see its position.
    let mut racers = Vec::new();
    for racer in 0..16 {
        let log = Arc::clone(&log);
        racers.push(tokio::spawn(async move {
            let record = NewRecord {
                idempotency_key: Some("event-raced".to_owned()),
                headers: Vec::new(),
                ..keyed("330106-2025-000002", format!("racer {racer}"))
            };
            append_ok(&*log, vec![record]).await[0]
        }));
    }
    let mut answers = Vec::new();
    for racer in racers {
        answers.push(racer.await.expect("a racing task panicked"));
    }
    let originals = answers.iter().filter(|a| !a.duplicate).count();
    assert_eq!(originals, 1, "the raced key was stored {originals} times");
    assert!(answers.iter().all(|a| a.position == answers[0].position));
    let raced_partition = answers[0].position.partition;
    let holders = read_all(&*log, raced_partition)
        .await
        .into_iter()
        .filter(|r| r.bytes.starts_with(b"racer "))
        .count();
    assert_eq!(
        holders, 1,
        "the raced key's record was stored {holders} times"
    );
}

/// `read` returns at most `max` records, from `from` on, and nothing past the end.
pub async fn read_returns_at_most_max_records<H: Harness>(mut harness: H) {
    let log = harness.open(1).await;
    let records = (0..10).map(|i| to_partition(0, format!("r{i}"))).collect();
    append_ok(&log, records).await;

    let offsets = |records: Vec<StoredRecord>| -> Vec<Offset> {
        records.into_iter().map(|r| r.position.offset).collect()
    };
    assert_eq!(offsets(read(&log, 0, 0, 3).await), vec![0, 1, 2]);
    assert_eq!(offsets(read(&log, 0, 3, 3).await), vec![3, 4, 5]);
    assert_eq!(offsets(read(&log, 0, 8, 100).await), vec![8, 9]);
    assert_eq!(
        offsets(read(&log, 0, 0, usize::MAX).await),
        (0..10).collect::<Vec<_>>()
    );
    assert!(
        read(&log, 0, 0, 0).await.is_empty(),
        "max 0 returned records"
    );
    assert!(
        read(&log, 0, 10, 5).await.is_empty(),
        "read past the end returned records"
    );
    assert!(read(&log, 0, Offset::MAX, 5).await.is_empty());
    let one = read(&log, 0, 7, 1).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].bytes, b"r7".to_vec());
}

fn keyed(key: &str, bytes: impl Into<Vec<u8>>) -> NewRecord {
    NewRecord {
        destination: Destination::Key(key.to_owned()),
        bytes: bytes.into(),
        idempotency_key: None,
        headers: Vec::new(),
    }
}

fn to_partition(partition: Partition, bytes: impl Into<Vec<u8>>) -> NewRecord {
    NewRecord {
        destination: Destination::Partition(partition),
        bytes: bytes.into(),
        idempotency_key: None,
        headers: Vec::new(),
    }
}

fn batch_record(batch: u64, index: u64) -> Vec<u8> {
    format!("batch {batch} record {index}").into_bytes()
}

fn task_record(task: u32, seq: u32) -> Vec<u8> {
    format!("task {task} seq {seq}").into_bytes()
}

async fn append_ok<L: EventLog + ?Sized>(log: &L, records: Vec<NewRecord>) -> Vec<Appended> {
    let count = records.len();
    let appended = log
        .append(records)
        .await
        .unwrap_or_else(|e| panic!("an append to a healthy log failed: {e}"));
    assert_eq!(appended.len(), count, "append must answer once per record");
    appended
}

async fn read<L: EventLog + ?Sized>(
    log: &L,
    partition: Partition,
    from: Offset,
    max: usize,
) -> Vec<StoredRecord> {
    let records = log
        .read(partition, from, max)
        .await
        .unwrap_or_else(|e| panic!("reading partition {partition} from {from} failed: {e}"));
    assert!(
        records.len() <= max,
        "read returned more than `max` records"
    );
    records
}

async fn high_water<L: EventLog + ?Sized>(log: &L, partition: Partition) -> Offset {
    log.high_water(partition)
        .await
        .unwrap_or_else(|e| panic!("the high-water mark of partition {partition}: {e}"))
}

/// The whole partition, checking on the way that offsets are dense from 0 and that reading
/// stops at the high-water mark.
async fn read_all<L: EventLog + ?Sized>(log: &L, partition: Partition) -> Vec<StoredRecord> {
    let end = high_water(log, partition).await;
    let mut all: Vec<StoredRecord> = Vec::new();
    loop {
        let from = all.len() as Offset;
        let page = read(log, partition, from, 500).await;
        if page.is_empty() {
            break;
        }
        for record in page {
            let expected = Position {
                partition,
                offset: all.len() as Offset,
            };
            assert_eq!(
                record.position, expected,
                "a read returned a gap or a stray record"
            );
            all.push(record);
        }
    }
    assert!(
        all.len() as Offset >= end,
        "partition {partition} reads {} records below its high-water mark {end}",
        all.len()
    );
    all
}
