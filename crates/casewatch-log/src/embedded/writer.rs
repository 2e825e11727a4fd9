//! The writer thread: it takes every append request waiting, writes them in one
//! transaction and commits once (group commit), and answers a storage failure by rolling
//! the group back whole.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::{Connection, ErrorCode, params};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, trace, warn};

use super::schema::{CLAIM_IDEMPOTENCY, SELECT_IDEMPOTENCY, Statements, rollback};
use super::{AppendRequest, Counters, RoutedRecord};
use crate::{Appended, LogError, Offset, Position, Result, unavailable};

/// The writer thread's state. It alone writes, so its `next` offsets are exactly what is
/// committed.
pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) statements: Arc<Statements>,
    /// Next offset of each partition, as committed.
    pub(super) next: Vec<Offset>,
    pub(super) high_water: Arc<[watch::Sender<Offset>]>,
    pub(super) counters: Arc<Counters>,
    pub(super) max_group_records: usize,
    /// The size limit the connection enforces, for the appenders' answers.
    pub(super) max_bytes: Option<u64>,
    /// The last transaction failed: the next failure is no news, the next commit is.
    pub(super) failing: bool,
}

/// What one transaction did, before it is committed.
struct GroupWrite {
    next: Vec<Offset>,
    answers: Vec<Result<Vec<Appended>>>,
    records: u64,
    duplicates: u64,
}

impl Writer {
    pub(super) fn run(mut self, mut queue: mpsc::Receiver<AppendRequest>) {
        // `blocking_recv` returns `None` once every sender is gone and the queue is empty,
        // so requests queued before a close are still written.
        while let Some(first) = queue.blocking_recv() {
            let mut held = first.records.len();
            let mut group = vec![first];
            while held < self.max_group_records {
                match queue.try_recv() {
                    Ok(request) => {
                        held += request.records.len();
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
        debug!("the log writer stopped");
    }

    fn commit_group(&mut self, group: Vec<AppendRequest>) {
        let requests = group.len();
        match self.write_group(&group) {
            Ok(written) => {
                // Publish before answering, so an appender that reads its own high-water
                // mark right after `append` returns sees its records.
                for (partition, (before, after)) in self.next.iter().zip(&written.next).enumerate()
                {
                    if after != before {
                        self.high_water[partition].send_replace(*after);
                    }
                }
                self.next = written.next;
                let acknowledged = written.answers.iter().filter(|a| a.is_ok()).count() as u64;
                self.counters.transactions.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .appends
                    .fetch_add(acknowledged, Ordering::Relaxed);
                self.counters
                    .records
                    .fetch_add(written.records, Ordering::Relaxed);
                self.counters
                    .duplicates
                    .fetch_add(written.duplicates, Ordering::Relaxed);
                trace!(requests, records = written.records, "committed a group");
                if std::mem::take(&mut self.failing) {
                    info!("the log writes again");
                }
                for (request, answer) in group.into_iter().zip(written.answers) {
                    // An appender that stopped waiting no longer needs its answer.
                    let _ = request.reply.send(answer);
                }
            }
            Err(failed) => {
                rollback(&self.conn);
                self.counters
                    .failed_transactions
                    .fetch_add(1, Ordering::Relaxed);
                let reason = failed.reason(self.max_bytes);
                if std::mem::replace(&mut self.failing, true) {
                    debug!(%reason, requests, "a log transaction failed");
                } else {
                    // Until a person frees space or repairs the disk, every append fails.
                    error!(%reason, requests, "the log cannot write: appends are refused as unavailable");
                }
                self.resync();
                for request in group {
                    let _ = request
                        .reply
                        .send(Err(LogError::Unavailable(reason.clone())));
                }
            }
        }
    }

    /// Writes the group in one transaction and commits it. Each request sits in a savepoint
    /// so that one bad request (a record too big) fails alone; a failure of the storage
    /// (disk full, I/O error, read-only, locked), or one that ends the whole transaction,
    /// fails them all. Offsets are assigned on a copy of `next`, which only replaces it
    /// once the commit succeeded, so a rolled-back transaction leaves no holes.
    fn write_group(&self, group: &[AppendRequest]) -> Result<GroupWrite, Failed> {
        let begin = || -> rusqlite::Result<()> {
            if !self.conn.is_autocommit() {
                // An earlier rollback failed; without this every later BEGIN would fail too.
                self.conn.execute_batch("ROLLBACK")?;
            }
            self.conn.execute_batch("BEGIN IMMEDIATE")
        };
        begin().map_err(Failed::during(Phase::Begin))?;
        let mut written = GroupWrite {
            next: self.next.clone(),
            answers: Vec::with_capacity(group.len()),
            records: 0,
            duplicates: 0,
        };
        let write = Failed::during(Phase::Write);
        for request in group {
            self.conn
                .execute_batch("SAVEPOINT request")
                .map_err(write)?;
            let mut next = written.next.clone();
            match self.write_request(&request.records, &mut next) {
                Ok((appended, records)) => {
                    self.conn.execute_batch("RELEASE request").map_err(write)?;
                    written.next = next;
                    written.records += records;
                    written.duplicates += appended.len() as u64 - records;
                    written.answers.push(Ok(appended));
                }
                // SQLite may have rolled back the whole transaction already.
                Err(e) if self.conn.is_autocommit() || is_storage_failure(&e) => {
                    return Err(write(e));
                }
                Err(e) => {
                    self.conn
                        .execute_batch("ROLLBACK TO request; RELEASE request")
                        .map_err(write)?;
                    written
                        .answers
                        .push(Err(unavailable("cannot write the records", &e)));
                }
            }
        }
        self.conn
            .execute_batch("COMMIT")
            .map_err(Failed::during(Phase::Commit))?;
        Ok(written)
    }

    /// Writes one request's records, returning their positions and how many were new.
    fn write_request(
        &self,
        records: &[RoutedRecord],
        next: &mut [Offset],
    ) -> rusqlite::Result<(Vec<Appended>, u64)> {
        let mut appended = Vec::with_capacity(records.len());
        let mut stored = 0;
        for record in records {
            let partition = record.partition as usize;
            let offset = next[partition];
            if let Some(key) = &record.idempotency_key {
                // Claims the key for the offset the record is about to take; a key already
                // held (committed earlier, or written earlier in this transaction) is left
                // alone, and the record is a re-send. One index search for a new key.
                let claimed = self
                    .conn
                    .prepare_cached(CLAIM_IDEMPOTENCY)?
                    .execute(params![key, record.partition, offset])?;
                if claimed == 0 {
                    let position =
                        self.conn
                            .prepare_cached(SELECT_IDEMPOTENCY)?
                            .query_row([key], |row| {
                                Ok(Position {
                                    partition: row.get(0)?,
                                    offset: row.get(1)?,
                                })
                            })?;
                    appended.push(Appended {
                        position,
                        duplicate: true,
                    });
                    continue;
                }
            }
            self.conn
                .prepare_cached(&self.statements.insert[partition])?
                .execute(params![offset, record.key, record.bytes])?;
            next[partition] = offset + 1;
            stored += 1;
            appended.push(Appended {
                position: Position {
                    partition: record.partition,
                    offset,
                },
                duplicate: false,
            });
        }
        Ok((appended, stored))
    }

    /// After a failed transaction, re-reads the stored high-water marks: a commit that
    /// reported an I/O error may still have reached the disk, and the next offsets must
    /// follow what is stored. The records of such a commit are found again by a retry with
    /// the same idempotency key.
    fn resync(&mut self) {
        if !self.conn.is_autocommit() {
            // The rollback failed: the connection would see the failed transaction's own
            // records. The next transaction ends it first; its failure resyncs then.
            return;
        }
        match self.statements.next_offsets(&self.conn) {
            Ok(stored) => {
                for (partition, (next, stored)) in self.next.iter_mut().zip(stored).enumerate() {
                    if stored > *next {
                        warn!(
                            partition,
                            stored,
                            expected = *next,
                            "a failed commit reached the disk"
                        );
                        *next = stored;
                        self.high_water[partition].send_replace(stored);
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot re-read the high-water marks"),
        }
    }
}

/// When a transaction failed: SQLite enforces the size limit while the statements take
/// pages, and the disk reports itself full when the pages are written to the write-ahead
/// log, at the commit (the writer's 64 MiB cache holds a group's pages until then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Begin,
    Write,
    Commit,
}

/// A transaction that failed, and when.
struct Failed {
    error: rusqlite::Error,
    phase: Phase,
}

impl Failed {
    fn during(phase: Phase) -> impl Fn(rusqlite::Error) -> Failed + Copy {
        move |error| Failed { error, phase }
    }

    /// What the appenders are told: what went wrong in words an operator acts on, then
    /// SQLite's own.
    fn reason(&self, max_bytes: Option<u64>) -> String {
        let what = match self.error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => match max_bytes {
                Some(limit) if self.phase == Phase::Write => {
                    format!("the log reached its size limit of `{limit}` bytes")
                }
                _ => "the log's disk is full".to_owned(),
            },
            Some(ErrorCode::ReadOnly) => "the log's file system or file is read-only".to_owned(),
            Some(ErrorCode::SystemIoFailure) => {
                "the log's disk failed to read or write (an i/o error)".to_owned()
            }
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                "another connection holds the log's lock".to_owned()
            }
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                "the log's file is damaged".to_owned()
            }
            Some(ErrorCode::CannotOpen) => "cannot open the log's files".to_owned(),
            Some(ErrorCode::OutOfMemory) => "out of memory".to_owned(),
            _ => "cannot write to the log".to_owned(),
        };
        format!("{what}: {}", self.error)
    }
}

/// Whether an error is the storage's rather than one request's: it fails every request of
/// the group, not only the one that met it.
fn is_storage_failure(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
        )
    )
}
