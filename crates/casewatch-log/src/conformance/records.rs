//! The records the checks append, and the reads they make.

use super::*;

pub(super) fn keyed(key: &str, bytes: impl Into<Vec<u8>>) -> NewRecord {
    NewRecord {
        destination: Destination::Key(key.to_owned()),
        bytes: bytes.into(),
        idempotency_key: None,
        headers: Vec::new(),
    }
}

pub(super) fn to_partition(partition: Partition, bytes: impl Into<Vec<u8>>) -> NewRecord {
    NewRecord {
        destination: Destination::Partition(partition),
        bytes: bytes.into(),
        idempotency_key: None,
        headers: Vec::new(),
    }
}

pub(super) fn batch_record(batch: u64, index: u64) -> Vec<u8> {
    format!("batch {batch} record {index}").into_bytes()
}

pub(super) fn task_record(task: u32, seq: u32) -> Vec<u8> {
    format!("task {task} seq {seq}").into_bytes()
}

pub(super) async fn append_ok<L: EventLog + ?Sized>(
    log: &L,
    records: Vec<NewRecord>,
) -> Vec<Appended> {
    let count = records.len();
    let appended = log
        .append(records)
        .await
        .unwrap_or_else(|e| panic!("an append to a healthy log failed: {e}"));
    assert_eq!(appended.len(), count, "append must answer once per record");
    appended
}

pub(super) async fn read<L: EventLog + ?Sized>(
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

pub(super) async fn high_water<L: EventLog + ?Sized>(log: &L, partition: Partition) -> Offset {
    log.high_water(partition)
        .await
        .unwrap_or_else(|e| panic!("the high-water mark of partition {partition}: {e}"))
}

/// The whole partition, checking on the way that offsets are dense from 0 and that reading
/// stops at the high-water mark.
pub(super) async fn read_all<L: EventLog + ?Sized>(
    log: &L,
    partition: Partition,
) -> Vec<StoredRecord> {
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
