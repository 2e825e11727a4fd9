//! The conformance suite against the embedded log, then what only the embedded log does:
//! its partition-count check, group commit, failures that assign no offsets, shutdown.

use std::sync::Arc;
use std::time::Duration;

use casewatch_log::conformance::{self, Harness};
use casewatch_log::embedded::{DATABASE_FILE, EmbeddedLog, EmbeddedOptions};
use casewatch_log::{Destination, EventLog, LogError, NewRecord, Position};
use tempfile::TempDir;

/// An embedded log in a temporary directory of its own; reopening opens the same file.
struct EmbeddedHarness {
    dir: TempDir,
}

impl EmbeddedHarness {
    fn new() -> EmbeddedHarness {
        EmbeddedHarness { dir: temp_dir() }
    }
}

#[async_trait::async_trait]
impl Harness for EmbeddedHarness {
    type Log = EmbeddedLog;

    async fn open(&mut self, partitions: u32) -> EmbeddedLog {
        EmbeddedLog::open(self.dir.path(), partitions).expect("the embedded log opens")
    }

    fn deduplicates(&self) -> bool {
        true
    }

    fn atomic_appends(&self) -> bool {
        true
    }
}

mod suite {
    use super::EmbeddedHarness;

    casewatch_log::event_log_conformance_suite!(EmbeddedHarness::new());
}

#[tokio::test]
async fn reopening_with_another_partition_count_is_refused() {
    let dir = temp_dir();
    let log = EmbeddedLog::open(dir.path(), 4).expect("the log is created");
    append(&log, vec![to_partition(0, "kept")]).await;
    drop(log);

    match EmbeddedLog::open(dir.path(), 8) {
        Err(LogError::PartitionCount {
            expected: 8,
            found: 4,
        }) => {}
        other => panic!("expected a partition count mismatch, got {other:?}"),
    }
    let log = EmbeddedLog::open(dir.path(), 4).expect("the right count still opens");
    assert_eq!(read_bytes(&log, 0).await, vec![b"kept".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_group_committed() {
    let dir = temp_dir();
    let log = Arc::new(EmbeddedLog::open(dir.path(), 4).expect("the log opens"));
    let calls = conformance::append_concurrently(&log, 16, 200).await;

    let stats = log.stats();
    eprintln!(
        "{calls} appends committed in {} transactions",
        stats.transactions
    );
    assert_eq!(stats.appends, calls);
    assert_eq!(stats.records, calls);
    assert_eq!(stats.failed_transactions, 0);
    // Sixteen appenders at once wait for each other's fsync; about ten appends share a
    // transaction on an ext4 disk. Two on average is a safe floor for any machine.
    assert!(
        stats.transactions * 2 <= calls,
        "{calls} concurrent appends took {} transactions: no group commit",
        stats.transactions
    );
}

#[tokio::test]
async fn a_transaction_that_cannot_start_assigns_no_offsets() {
    let dir = temp_dir();
    let options = EmbeddedOptions {
        busy_timeout: Duration::ZERO,
        ..EmbeddedOptions::default()
    };
    let log = EmbeddedLog::open_with(dir.path(), 2, options).expect("the log opens");
    append(&log, vec![to_partition(0, "first")]).await;

    // Another process holds the write lock, so the writer's transaction cannot begin.
    let blocker = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).expect("open");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
    match log
        .append(vec![to_partition(0, "refused"), to_partition(1, "refused")])
        .await
    {
        Err(LogError::Unavailable(reason)) => {
            assert!(reason.contains("locked"), "unexpected reason: {reason}");
        }
        other => panic!("expected the log to be unavailable, got {other:?}"),
    }
    assert_eq!(log.high_water(0).await.expect("high water"), 1);
    assert_eq!(log.high_water(1).await.expect("high water"), 0);
    assert_eq!(read_bytes(&log, 0).await, vec![b"first".to_vec()]);
    blocker.execute_batch("ROLLBACK").expect("unlock");

    let appended = append(
        &log,
        vec![to_partition(0, "second"), to_partition(1, "first of 1")],
    )
    .await;
    assert_eq!(
        appended[0],
        Position {
            partition: 0,
            offset: 1
        }
    );
    assert_eq!(
        appended[1],
        Position {
            partition: 1,
            offset: 0
        }
    );
    let stats = log.stats();
    assert_eq!(stats.failed_transactions, 1);
    assert_eq!(stats.transactions, 2);
    assert_eq!(stats.records, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_append_leaves_no_gap_and_spares_the_others() {
    let dir = temp_dir();
    let log = EmbeddedLog::open(dir.path(), 1).expect("the log opens");
    append(&log, vec![to_partition(0, "before")]).await;

    // Larger than SQLite's longest blob; zeroed memory, so it costs no real memory. Its
    // first record is written before the second fails, and must not keep its offset.
    let too_big = || {
        vec![
            to_partition(0, "valid"),
            to_partition(0, vec![0; 1_000_000_001]),
        ]
    };
    match log.append(too_big()).await {
        Err(LogError::Unavailable(reason)) => {
            assert!(reason.contains("too big"), "unexpected reason: {reason}");
        }
        other => panic!("expected the log to be unavailable, got {other:?}"),
    }
    assert_eq!(log.high_water(0).await.expect("high water"), 1);

    // The same with other appenders around, likely in the same transaction: they all land.
    let mut appenders = Vec::new();
    for task in 0..8 {
        let log = log.clone();
        appenders.push(tokio::spawn(async move {
            for seq in 0..20 {
                let record = to_partition(0, format!("task {task} seq {seq}"));
                log.append(vec![record]).await.expect("a valid append");
            }
        }));
    }
    let failing = {
        let log = log.clone();
        tokio::spawn(async move { log.append(too_big()).await })
    };
    for appender in appenders {
        appender.await.expect("an appender panicked");
    }
    assert!(matches!(
        failing.await.expect("the failing appender panicked"),
        Err(LogError::Unavailable(_))
    ));

    let stored = read_bytes(&log, 0).await;
    assert_eq!(
        stored.len(),
        1 + 8 * 20,
        "every valid record, no invalid one"
    );
    assert!(
        !stored.contains(&b"valid".to_vec()),
        "part of a failed append was stored"
    );
    assert_eq!(log.high_water(0).await.expect("high water"), 161);
}

#[tokio::test]
async fn a_reader_holding_a_snapshot_does_not_block_appends() {
    let dir = temp_dir();
    let options = EmbeddedOptions {
        busy_timeout: Duration::ZERO,
        ..EmbeddedOptions::default()
    };
    let log = EmbeddedLog::open_with(dir.path(), 1, options).expect("the log opens");
    append(&log, vec![to_partition(0, "first")]).await;

    // Without WAL, a reader's lock would make the commit fail at once (no busy timeout).
    let reader = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).expect("open");
    reader.execute_batch("BEGIN").expect("begin");
    let count = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT COUNT(*) FROM partition_0", [], |row| row.get(0))
            .expect("count")
    };
    assert_eq!(count(&reader), 1);
    append(&log, vec![to_partition(0, "second")]).await;
    assert_eq!(count(&reader), 1, "the snapshot must not move");
    assert_eq!(read_bytes(&log, 0).await.len(), 2);
    reader.execute_batch("COMMIT").expect("end the snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_writes_what_was_queued_and_refuses_the_rest() {
    let dir = temp_dir();
    let log = EmbeddedLog::open(dir.path(), 1).expect("the log opens");
    let mut appenders = Vec::new();
    for i in 0..32 {
        let log = log.clone();
        appenders.push(tokio::spawn(async move {
            let bytes = format!("record {i}");
            (
                bytes.clone(),
                log.append(vec![to_partition(0, bytes)]).await,
            )
        }));
    }
    log.close().await.expect("the log closes");

    let mut acknowledged = Vec::new();
    for appender in appenders {
        match appender.await.expect("an appender panicked") {
            (bytes, Ok(appended)) => acknowledged.push((appended[0].position.offset, bytes)),
            (_, Err(LogError::Closed)) => {}
            (_, Err(other)) => panic!("an append racing the close failed: {other}"),
        }
    }
    assert!(matches!(
        log.append(vec![to_partition(0, "late")]).await,
        Err(LogError::Closed)
    ));
    acknowledged.sort();
    let expected: Vec<Vec<u8>> = acknowledged
        .into_iter()
        .map(|(_, b)| b.into_bytes())
        .collect();
    assert_eq!(
        read_bytes(&log, 0).await,
        expected,
        "reads work after a close"
    );
    drop(log);

    let log = EmbeddedLog::open(dir.path(), 1).expect("the log reopens");
    assert_eq!(
        read_bytes(&log, 0).await,
        expected,
        "exactly the acknowledged records"
    );
}

#[tokio::test]
async fn stats_count_appends_records_and_duplicates() {
    let dir = temp_dir();
    let log = EmbeddedLog::open(dir.path(), 2).expect("the log opens");
    let record = NewRecord {
        destination: Destination::Key("330106-2025-000001".to_owned()),
        bytes: b"accepted".to_vec(),
        idempotency_key: Some("event-1".to_owned()),
        headers: Vec::new(),
    };
    log.append(vec![record.clone(), to_partition(1, "tick")])
        .await
        .expect("append");
    log.append(vec![record]).await.expect("append");
    let stats = log.stats();
    assert_eq!(stats.appends, 2);
    assert_eq!(stats.records, 2);
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.transactions, 2);
}

#[test]
fn a_file_in_place_of_the_directory_is_unavailable() {
    let dir = temp_dir();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"").expect("write a file");
    match EmbeddedLog::open(&file, 1) {
        Err(LogError::Unavailable(reason)) => assert!(reason.contains("not-a-directory")),
        other => panic!("expected the log to be unavailable, got {other:?}"),
    }
}

fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn to_partition(partition: u32, bytes: impl Into<Vec<u8>>) -> NewRecord {
    NewRecord {
        destination: Destination::Partition(partition),
        bytes: bytes.into(),
        idempotency_key: None,
        headers: Vec::new(),
    }
}

async fn append(log: &EmbeddedLog, records: Vec<NewRecord>) -> Vec<Position> {
    log.append(records)
        .await
        .expect("an append to a healthy log")
        .into_iter()
        .map(|appended| appended.position)
        .collect()
}

async fn read_bytes(log: &EmbeddedLog, partition: u32) -> Vec<Vec<u8>> {
    log.read(partition, 0, usize::MAX)
        .await
        .expect("a read")
        .into_iter()
        .map(|record| record.bytes)
        .collect()
}
