//! Order, partitioning, dense offsets and durability across a reopen.

use super::*;

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
