//! The one-machine backend: one SQLite file in WAL mode, one table per partition.
//!
//! One writer thread owns the only write connection. Appenders hand it requests over a
//! channel; it takes every request that is waiting, writes them all in one transaction and
//! commits once, so one fsync acknowledges many callers (group commit). A few read-only
//! connections serve reads from tokio's blocking pool; WAL lets them read committed data
//! while the writer writes, and never shows them a transaction that has not committed.
//!
//! When the storage fails (the disk full, an I/O error, the file system read-only, the
//! size limit of [`EmbeddedOptions::max_bytes`] reached), the group's transaction is rolled
//! back whole and every appender in it is answered [`LogError::Unavailable`]: no record of
//! it is stored and no offset taken. The writer goes on with the next group, so the log
//! takes appends again as soon as the storage can.
//!
//! Only one process may open a log at a time: a second one would keep its own offset
//! counters and its appends would fail against the first one's records.

mod readers;
mod schema;
#[cfg(feature = "testsuite")]
pub mod tamper;
#[cfg(test)]
mod tests;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, DatabaseName, params};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tracing::{debug, error};

use crate::{
    Appended, EventLog, LogError, NewRecord, Offset, Partition, Position, Result, StoredRecord,
    unavailable,
};
use readers::{Readers, open_reader};
use schema::{
    Statements, claim_identity, configure_writer, create_or_check, limit_size, read_identity,
    read_partitions,
};
use writer::Writer;

/// The database file inside the log's directory (with its `-wal` and `-shm` companions,
/// which belong to it: copy all three, or none, while the log is open).
pub const DATABASE_FILE: &str = "log.sqlite3";
/// Tuning of an [`EmbeddedLog`]; the defaults suit one county to one province.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Read-only connections, hence reads that can run at once.
    pub readers: usize,
    /// Append requests that may wait for the writer before appenders are slowed down.
    pub queue_depth: usize,
    /// The writer stops taking waiting requests into a transaction once it holds this many
    /// records, so that one huge group does not hold back the acknowledgements of the rest.
    pub max_group_records: usize,
    /// How long a connection waits for a lock held by another connection (a checkpoint, or
    /// an external tool reading the file) before the operation fails.
    pub busy_timeout: Duration,
    /// The most the log may grow to, in bytes, so that a flood of appends cannot fill a
    /// disk it shares with the views: an append that would grow it further fails with
    /// [`LogError::Unavailable`] and stores nothing. `None` lets it grow until the disk is
    /// full. It counts the log's pages, those still in the write-ahead log included; on
    /// disk the `-wal` file beside it takes up to about 64 MiB more. A log reopened with a
    /// larger limit takes appends again.
    pub max_bytes: Option<u64>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            readers: 4,
            queue_depth: 1024,
            max_group_records: 10_000,
            busy_timeout: Duration::from_secs(5),
            max_bytes: None,
        }
    }
}

/// Counters of the writer since the log was opened, to observe group commit at work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Transactions committed (each is one fsync of the write-ahead log).
    pub transactions: u64,
    /// Transactions that failed and were rolled back.
    pub failed_transactions: u64,
    /// Append requests acknowledged as durable.
    pub appends: u64,
    /// New records stored.
    pub records: u64,
    /// Records refused as re-sends of an idempotency key already held.
    pub duplicates: u64,
}

/// The embedded [`EventLog`]: durable on one machine, no services needed.
///
/// Cloning gives another handle to the same log. Dropping the last handle (or calling
/// [`EmbeddedLog::close`]) stops the writer once it has written every request already
/// queued; the drop blocks until then.
#[derive(Clone)]
pub struct EmbeddedLog {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    partitions: u32,
    /// The random number the log took when it was first opened to write (see
    /// [`EventLog::identity`]); `None` for a log made before identities, read only.
    identity: Option<i64>,
    /// `None` once the log is closed.
    requests: Mutex<Option<mpsc::Sender<AppendRequest>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The committed high-water mark of each partition; the writer publishes after every
    /// commit, before it answers the appenders.
    high_water: Arc<[watch::Sender<Offset>]>,
    readers: Arc<Readers>,
    counters: Arc<Counters>,
}

impl fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("dir", &self.inner.dir)
            .field("partitions", &self.inner.partitions)
            .finish_non_exhaustive()
    }
}

impl EmbeddedLog {
    /// Opens the log in `dir`, creating the directory and the log with `partitions`
    /// partitions on first use. Blocks while it opens the file and reads each partition's
    /// high-water mark.
    ///
    /// A log keeps the partition count it was created with: opening it with another count
    /// fails with [`LogError::PartitionCount`], since it would move cases between partitions.
    ///
    /// # Panics
    ///
    /// If `partitions` is 0: a log has at least one partition.
    pub fn open(dir: &Path, partitions: u32) -> Result<EmbeddedLog> {
        EmbeddedLog::open_with(dir, partitions, EmbeddedOptions::default())
    }

    /// [`EmbeddedLog::open`] with explicit tuning.
    ///
    /// # Panics
    ///
    /// If `partitions` is 0: a log has at least one partition.
    pub fn open_with(dir: &Path, partitions: u32, options: EmbeddedOptions) -> Result<EmbeddedLog> {
        assert!(partitions > 0, "a log has at least one partition");
        std::fs::create_dir_all(dir).map_err(|e| {
            LogError::Unavailable(format!(
                "cannot create the log directory `{}`: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(DATABASE_FILE);
        let statements = Arc::new(Statements::new(partitions));

        let conn = Connection::open(&path).map_err(|e| unavailable("cannot open the log", &e))?;
        // SQLite opens a file it cannot write read-only rather than fail; such a writer
        // would refuse every append, and keep refusing after the file system is writable
        // again.
        let read_only = conn
            .is_readonly(DatabaseName::Main)
            .map_err(|e| unavailable("cannot open the log", &e))?;
        if read_only {
            return Err(LogError::Unavailable(format!(
                "the log `{}` is read-only: its file system is mounted read-only, or the file \
                 is not writable",
                path.display()
            )));
        }
        configure_writer(&conn, options.busy_timeout, partitions)?;
        create_or_check(&conn, partitions)?;
        let identity = claim_identity(&conn)?;
        if let Some(max_bytes) = options.max_bytes {
            limit_size(&conn, dir, max_bytes)?;
        }
        let next = statements
            .next_offsets(&conn)
            .map_err(|e| unavailable("cannot read the high-water marks", &e))?;

        let readers = Arc::new(Readers {
            path,
            immutable: false,
            busy_timeout: options.busy_timeout,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(options.readers.max(1))),
            statements: Arc::clone(&statements),
        });
        // Open one reader now, so that a file the readers cannot open fails here rather than
        // on the first read.
        let first_reader = readers.connect()?;
        readers.give_back(first_reader);

        let high_water: Arc<[watch::Sender<Offset>]> =
            next.iter().map(|hw| watch::Sender::new(*hw)).collect();
        let counters = Arc::new(Counters::default());
        let (requests, queue) = mpsc::channel(options.queue_depth.max(1));
        let writer = Writer {
            conn,
            statements,
            next,
            high_water: Arc::clone(&high_water),
            counters: Arc::clone(&counters),
            max_group_records: options.max_group_records.max(1),
            max_bytes: options.max_bytes,
            failing: false,
        };
        let handle = std::thread::Builder::new()
            .name("casewatch-log-writer".to_owned())
            .spawn(move || writer.run(queue))
            .map_err(|e| LogError::Unavailable(format!("cannot start the log writer: {e}")))?;
        debug!(dir = %dir.display(), partitions, "opened the embedded log");

        Ok(EmbeddedLog {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                partitions,
                identity: Some(identity),
                requests: Mutex::new(Some(requests)),
                writer: Mutex::new(Some(handle)),
                high_water,
                readers,
                counters,
            }),
        })
    }

    /// Opens an existing log to read it only, as the auditor's tools do: nothing is created
    /// or written, the partition count is the log's own, and the high-water marks are
    /// those committed when it opened. Appends through this handle fail with
    /// [`LogError::Closed`].
    ///
    /// A log another process is writing is read through its write-ahead log. A copy of a
    /// stopped log in a directory this process cannot write (a read-only snapshot) has no
    /// write-ahead log, and SQLite could not make the shared-memory file a reader needs:
    /// it is then read as immutable, which is safe because no writer can be at work on a
    /// file without its write-ahead log.
    pub fn open_read_only(dir: &Path) -> Result<EmbeddedLog> {
        EmbeddedLog::open_read_only_with(dir, EmbeddedOptions::default())
    }

    /// [`EmbeddedLog::open_read_only`] with explicit tuning (only the readers' settings
    /// apply).
    pub fn open_read_only_with(dir: &Path, options: EmbeddedOptions) -> Result<EmbeddedLog> {
        let path = dir.join(DATABASE_FILE);
        if !path.is_file() {
            return Err(LogError::Unavailable(format!(
                "there is no log at `{}`",
                path.display()
            )));
        }
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        let open_and_read = |immutable: bool| -> Result<(Connection, u32)> {
            let conn = open_reader(&path, immutable, options.busy_timeout)?;
            let partitions = read_partitions(&conn)?;
            Ok((conn, partitions))
        };
        let (immutable, (conn, partitions)) = match open_and_read(false) {
            Ok(opened) => (false, opened),
            Err(error) if !Path::new(&wal).exists() => {
                debug!(%error, "reading the log as an immutable snapshot");
                (true, open_and_read(true)?)
            }
            Err(error) => return Err(error),
        };
        let statements = Arc::new(Statements::new(partitions));
        let next = statements
            .next_offsets(&conn)
            .map_err(|e| unavailable("cannot read the high-water marks", &e))?;
        let identity =
            read_identity(&conn).map_err(|e| unavailable("cannot read the log's identity", &e))?;
        let readers = Arc::new(Readers {
            path,
            immutable,
            busy_timeout: options.busy_timeout,
            idle: Mutex::new(vec![conn]),
            permits: Arc::new(Semaphore::new(options.readers.max(1))),
            statements,
        });
        debug!(dir = %dir.display(), partitions, immutable, "opened the embedded log to read");
        Ok(EmbeddedLog {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                partitions,
                identity,
                requests: Mutex::new(None),
                writer: Mutex::new(None),
                high_water: next.iter().map(|hw| watch::Sender::new(*hw)).collect(),
                readers,
                counters: Arc::new(Counters::default()),
            }),
        })
    }

    /// The directory holding the log.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The writer's counters so far.
    pub fn stats(&self) -> LogStats {
        self.inner.counters.snapshot()
    }

    /// Stops taking appends and waits until the writer has written every request already
    /// queued. Later appends, from any handle, fail with [`LogError::Closed`]; reads go on
    /// working until the last handle is dropped.
    pub async fn close(&self) -> Result<()> {
        self.inner.stop_taking_appends();
        let handle = lock(&self.inner.writer).take();
        let Some(handle) = handle else {
            return Ok(());
        };
        let joined = tokio::task::spawn_blocking(move || handle.join())
            .await
            .map_err(|e| LogError::Unavailable(format!("cannot wait for the log writer: {e}")))?;
        joined.map_err(|_| LogError::Unavailable("the log writer panicked".to_owned()))
    }

    fn check_partition(&self, partition: Partition) -> Result<()> {
        crate::check_partition(partition, self.inner.partitions)
    }

    fn high_water_sender(&self, partition: Partition) -> Result<&watch::Sender<Offset>> {
        self.check_partition(partition)?;
        Ok(&self.inner.high_water[partition as usize])
    }
}

impl Inner {
    fn stop_taking_appends(&self) {
        // Dropping the sender ends the writer's loop once the queue is empty; appends that
        // already hold a clone of it still get their requests in.
        drop(lock(&self.requests).take());
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_taking_appends();
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle {
            // Waits at most for the transaction in progress and the requests queued behind
            // it, so that nothing acknowledged is lost on a clean shutdown.
            if handle.join().is_err() {
                error!(dir = %self.dir.display(), "the log writer panicked");
            }
        }
    }
}

#[async_trait::async_trait]
impl EventLog for EmbeddedLog {
    async fn identity(&self) -> Result<String> {
        match self.inner.identity {
            Some(identity) => Ok(format!("embedded log {:016x}", identity.cast_unsigned())),
            None => Err(LogError::Unavailable(format!(
                "the log at `{}` has no identity yet: open it once to write",
                self.inner.dir.display()
            ))),
        }
    }

    fn partitions(&self) -> u32 {
        self.inner.partitions
    }

    /// Queues the records for the writer and waits for its commit. If the caller stops
    /// waiting, the records are still written (or not) as a whole; a retry with the same
    /// idempotency key finds them.
    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Appended>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut routed = Vec::with_capacity(records.len());
        for record in records {
            let (partition, key) = crate::route(record.destination, self.inner.partitions)?;
            routed.push(RoutedRecord {
                partition,
                key,
                bytes: record.bytes,
                idempotency_key: record.idempotency_key,
            });
        }

        let requests = lock(&self.inner.requests).clone().ok_or(LogError::Closed)?;
        let (reply, answer) = oneshot::channel();
        requests
            .send(AppendRequest {
                records: routed,
                reply,
            })
            .await
            .map_err(|_| LogError::Closed)?;
        drop(requests);
        answer.await.map_err(|_| {
            LogError::Unavailable("the log writer stopped before answering".to_owned())
        })?
    }

    async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<StoredRecord>> {
        self.check_partition(partition)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        // SQLite counts in i64; a larger `max` means "everything", as does i64::MAX.
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        // Sized for the records committed so far, so that a large read does not grow its
        // vector step by step; more may have committed since.
        let committed = self.high_water(partition).await?.saturating_sub(from);
        let capacity = usize::try_from(committed).map_or(max, |committed| committed.min(max));
        let Ok(from) = i64::try_from(from) else {
            // No offset reaches i64::MAX, so there is nothing from there on.
            return Ok(Vec::new());
        };
        self.inner
            .readers
            .run(move |conn, statements| {
                let mut select = conn.prepare_cached(&statements.read[partition as usize])?;
                let rows = select.query_map(params![from, limit], |row| {
                    Ok(StoredRecord {
                        position: Position {
                            partition,
                            offset: row.get(0)?,
                        },
                        key: row.get(1)?,
                        bytes: row.get(2)?,
                        headers: Vec::new(),
                    })
                })?;
                let mut records = Vec::with_capacity(capacity);
                for record in rows {
                    records.push(record?);
                }
                Ok(records)
            })
            .await
    }

    async fn high_water(&self, partition: Partition) -> Result<Offset> {
        Ok(*self.high_water_sender(partition)?.borrow())
    }

    async fn wait_for(
        &self,
        partition: Partition,
        offset: Offset,
        timeout: Duration,
    ) -> Result<Offset> {
        let mut high_water = self.high_water_sender(partition)?.subscribe();
        let reached = tokio::time::timeout(timeout, high_water.wait_for(|hw| *hw > offset))
            .await
            .map(|waited| waited.map(|hw| *hw));
        match reached {
            Ok(Ok(hw)) => Ok(hw),
            // The sender lives as long as `self`; this only happens if that ever changes.
            Ok(Err(_)) => Err(LogError::Closed),
            Err(_elapsed) => Ok(*high_water.borrow()),
        }
    }
}

/// One append call, on its way to the writer.
pub(super) struct AppendRequest {
    pub(super) records: Vec<RoutedRecord>,
    pub(super) reply: oneshot::Sender<Result<Vec<Appended>>>,
}

/// A record whose partition is known.
pub(super) struct RoutedRecord {
    pub(super) partition: Partition,
    /// Empty for records sent to a partition.
    pub(super) key: String,
    pub(super) bytes: Vec<u8>,
    pub(super) idempotency_key: Option<String>,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) transactions: AtomicU64,
    pub(super) failed_transactions: AtomicU64,
    pub(super) appends: AtomicU64,
    pub(super) records: AtomicU64,
    pub(super) duplicates: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> LogStats {
        // Relaxed is enough: the writer updates the counters before it answers, and the
        // answer's channel orders those updates before whatever the appender does next.
        LogStats {
            transactions: self.transactions.load(Ordering::Relaxed),
            failed_transactions: self.failed_transactions.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
        }
    }
}

/// Locks a mutex whose data stays valid even if a holder panicked: each critical section
/// here is one `take`, `push` or `pop`.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
