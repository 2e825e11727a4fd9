//! What readers, waiters and concurrent appenders see; bounds, unknown partitions and
//! idempotency keys.

use super::*;

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

/// A re-send: a record whose idempotency key the log already holds. A log that
/// deduplicates (the embedded one) stores nothing and answers `duplicate` with the
/// original's position, also when the original came earlier in the same append or in a
/// concurrent one; a log that does not (Kafka) stores the copy as a new record after the
/// original. Either way the original stays where it was, unchanged, before its copies, and
/// every other record of the append is stored as if the re-send were not there. The
/// answers are checked against a model of both behaviours, chosen by
/// [`Harness::deduplicates`].
pub async fn a_re_send_keeps_its_original<H: Harness>(mut harness: H) {
    let mut model = ResendModel::new(harness.deduplicates());
    let log = Arc::new(harness.open(4).await);
    let with_key = |key: &str, destination: NewRecord| NewRecord {
        idempotency_key: Some(key.to_owned()),
        headers: Vec::new(),
        ..destination
    };
    let case = "330106-2025-000001";
    let partition = log.partition_of(case);
    let elsewhere = (partition + 1) % 4;
    let appends = vec![
        vec![(Some("event-1"), partition, keyed(case, "original"))],
        vec![(Some("event-1"), partition, keyed(case, "re-sent"))],
        vec![
            (Some("event-2"), partition, keyed(case, "second")),
            (Some("event-1"), partition, keyed(case, "re-sent again")),
            (
                Some("event-2"),
                partition,
                keyed(case, "second, twice in one append"),
            ),
            (None, partition, keyed(case, "no key")),
            // Same key, another destination: still a re-send of the original.
            (
                Some("event-1"),
                elsewhere,
                to_partition(elsewhere, "elsewhere"),
            ),
        ],
    ];
    for append in appends {
        let expected: Vec<Appended> = append
            .iter()
            .map(|(key, partition, record)| model.append(*key, *partition, &record.bytes))
            .collect();
        let records = append
            .into_iter()
            .map(|(key, _, record)| match key {
                Some(key) => with_key(key, record),
                None => record,
            })
            .collect();
        assert_eq!(append_ok(&*log, records).await, expected);
    }
    for partition in [partition, elsewhere] {
        let stored: Vec<Vec<u8>> = read_all(&*log, partition)
            .await
            .into_iter()
            .map(|r| r.bytes)
            .collect();
        assert_eq!(
            stored,
            model.stored(partition),
            "partition {partition} holds other records than the model"
        );
    }
    assert_eq!(
        read_all(&*log, partition).await[0].bytes,
        b"original".to_vec(),
        "a re-send displaced the original"
    );

    // Sixteen senders race with one key: a deduplicating log stores one record and all
    // see its position; another stores sixteen, each at its own position.
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
    let positions: std::collections::BTreeSet<Position> =
        answers.iter().map(|a| a.position).collect();
    let raced_partition = answers[0].position.partition;
    let holders = read_all(&*log, raced_partition)
        .await
        .into_iter()
        .filter(|r| r.bytes.starts_with(b"racer "))
        .count();
    let expected = if model.deduplicates { 1 } else { 16 };
    assert_eq!(
        originals, expected,
        "the raced key was stored {originals} times"
    );
    assert_eq!(
        positions.len(),
        expected,
        "positions of the raced key: {positions:?}"
    );
    assert_eq!(
        holders, expected,
        "the raced key's record was stored {holders} times"
    );
}

/// What a log stores and answers for appends with idempotency keys, deduplicating or not.
struct ResendModel {
    deduplicates: bool,
    originals: HashMap<String, Position>,
    partitions: BTreeMap<Partition, Vec<Vec<u8>>>,
}

impl ResendModel {
    fn new(deduplicates: bool) -> Self {
        Self {
            deduplicates,
            originals: HashMap::new(),
            partitions: BTreeMap::new(),
        }
    }

    fn append(&mut self, key: Option<&str>, partition: Partition, bytes: &[u8]) -> Appended {
        if self.deduplicates
            && let Some(position) = key.and_then(|key| self.originals.get(key))
        {
            return Appended {
                position: *position,
                duplicate: true,
            };
        }
        let stored = self.partitions.entry(partition).or_default();
        let position = Position {
            partition,
            offset: stored.len() as Offset,
        };
        stored.push(bytes.to_vec());
        if let Some(key) = key {
            self.originals.entry(key.to_owned()).or_insert(position);
        }
        Appended {
            position,
            duplicate: false,
        }
    }

    fn stored(&self, partition: Partition) -> Vec<Vec<u8>> {
        self.partitions.get(&partition).cloned().unwrap_or_default()
    }
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
