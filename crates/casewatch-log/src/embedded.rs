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

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, DatabaseName, ErrorCode, OpenFlags, OptionalExtension, params};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tracing::{debug, error, info, trace, warn};

use crate::{
    Appended, EventLog, LogError, NewRecord, Offset, Partition, Position, Result, StoredRecord,
    unavailable,
};

/// The database file inside the log's directory (with its `-wal` and `-shm` companions,
/// which belong to it: copy all three, or none, while the log is open).
pub const DATABASE_FILE: &str = "log.sqlite3";
/// The layout of the tables; bumped when it changes so an old binary refuses a newer file.
const FORMAT: u32 = 1;

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
struct AppendRequest {
    records: Vec<RoutedRecord>,
    reply: oneshot::Sender<Result<Vec<Appended>>>,
}

/// A record whose partition is known.
struct RoutedRecord {
    partition: Partition,
    /// Empty for records sent to a partition.
    key: String,
    bytes: Vec<u8>,
    idempotency_key: Option<String>,
}

/// The SQL of each partition, built once since table names cannot be bound as parameters.
struct Statements {
    insert: Vec<String>,
    read: Vec<String>,
    next_offset: Vec<String>,
}

impl Statements {
    fn new(partitions: u32) -> Statements {
        let tables: Vec<String> = (0..partitions).map(table).collect();
        Statements {
            insert: tables
                .iter()
                .map(|t| format!(r#"INSERT INTO {t} ("offset", key, bytes) VALUES (?1, ?2, ?3)"#))
                .collect(),
            read: tables
                .iter()
                .map(|t| {
                    format!(
                        r#"SELECT "offset", key, bytes FROM {t} WHERE "offset" >= ?1 ORDER BY "offset" LIMIT ?2"#
                    )
                })
                .collect(),
            next_offset: tables
                .iter()
                .map(|t| format!(r#"SELECT COALESCE(MAX("offset") + 1, 0) FROM {t}"#))
                .collect(),
        }
    }

    /// Each partition's high-water mark as stored: `MAX(offset) + 1`, found through the
    /// primary key's index.
    fn next_offsets(&self, conn: &Connection) -> rusqlite::Result<Vec<Offset>> {
        self.next_offset
            .iter()
            .map(|sql| conn.query_row(sql, [], |row| row.get(0)))
            .collect()
    }
}

const SELECT_IDEMPOTENCY: &str = r#"SELECT "partition", "offset" FROM idempotency WHERE key = ?1"#;
const CLAIM_IDEMPOTENCY: &str =
    r#"INSERT OR IGNORE INTO idempotency (key, "partition", "offset") VALUES (?1, ?2, ?3)"#;

fn table(partition: Partition) -> String {
    format!("partition_{partition}")
}

/// WAL so that readers never wait for the writer; `synchronous=FULL` so that every commit
/// reaches the disk before `append` returns (WAL's usual NORMAL may lose the last commits
/// on a power cut).
fn configure_writer(conn: &Connection, busy_timeout: Duration, partitions: u32) -> Result<()> {
    let configure = || -> rusqlite::Result<String> {
        conn.busy_timeout(busy_timeout)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The writer searches the idempotency keys for every record: keep their upper levels
        // in memory (64 MiB rather than SQLite's 2 MiB).
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        // A request's savepoint journal stays in memory: no temporary file to write (or to
        // find full) in the middle of a group.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(mode)
    };
    let mode = configure().map_err(|e| unavailable("cannot configure the log", &e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LogError::Unavailable(format!(
            "the file system of the log does not support WAL (journal mode stayed `{mode}`)"
        )));
    }
    // The writer prepares one insert per partition; keep them all cached.
    conn.set_prepared_statement_cache_capacity(partitions as usize + 8);
    Ok(())
}

/// Caps the writer's database at `max_bytes` (`PRAGMA max_page_count`): SQLite then fails
/// a statement that would take a page beyond it with `SQLITE_FULL`, as if the disk were
/// full. A log already larger keeps its size, and appends that need a new page fail.
fn limit_size(conn: &Connection, dir: &Path, max_bytes: u64) -> Result<()> {
    let limit = || -> rusqlite::Result<(u64, u64)> {
        let page_size: u64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
        let asked = (max_bytes / page_size).max(1);
        // SQLite answers with the limit it set: never fewer pages than are in use.
        let set = conn.pragma_update_and_check(None, "max_page_count", asked, |row| row.get(0))?;
        Ok((asked, set))
    };
    let (asked, set) = limit().map_err(|e| unavailable("cannot limit the log's size", &e))?;
    if set > asked {
        warn!(
            dir = %dir.display(),
            max_bytes,
            pages = set,
            "the log is already larger than its size limit: appends fail until it is raised"
        );
    }
    Ok(())
}

/// The log's identity, taken at random the first time a writer opens it (the logs made
/// before identities take theirs then).
fn claim_identity(conn: &Connection) -> Result<i64> {
    let random = || {
        use std::hash::{BuildHasher, Hasher};
        // Each `RandomState` is seeded from the operating system's randomness.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        hasher.finish().cast_signed()
    };
    conn.execute(
        "INSERT OR IGNORE INTO meta (name, value) VALUES ('identity', ?1)",
        [random()],
    )
    .and_then(|_| read_identity(conn))
    .map_err(|e| unavailable("cannot take the log's identity", &e))?
    .ok_or_else(|| LogError::Unavailable("the log's identity was not stored".to_owned()))
}

fn read_identity(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT value FROM meta WHERE name = 'identity'",
        [],
        |row| row.get(0),
    )
    .optional()
}

/// Creates the tables on first open, in one transaction so a crash leaves no half-made log;
/// on later opens checks the format and the partition count.
fn create_or_check(conn: &Connection, partitions: u32) -> Result<()> {
    let in_transaction = |conn: &Connection| -> rusqlite::Result<Result<()>> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        )?;
        let meta = |name: &str| -> rusqlite::Result<Option<u32>> {
            conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
                row.get(0)
            })
            .optional()
        };
        match (meta("format")?, meta("partitions")?) {
            (Some(FORMAT), Some(found)) if found == partitions => Ok(Ok(())),
            (Some(FORMAT), Some(found)) => Ok(Err(LogError::PartitionCount {
                expected: partitions,
                found,
            })),
            (Some(FORMAT), None) => Ok(Err(LogError::Unavailable(
                "the log does not record its partition count".to_owned(),
            ))),
            (Some(format), _) => Ok(Err(LogError::Unavailable(format!(
                "the log is in format {format}, this build reads format {FORMAT}"
            )))),
            (None, _) => {
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('format', ?1)",
                    [FORMAT],
                )?;
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('partitions', ?1)",
                    [partitions],
                )?;
                for partition in 0..partitions {
                    conn.execute_batch(&format!(
                        r#"CREATE TABLE {} ("offset" INTEGER PRIMARY KEY, key TEXT NOT NULL, bytes BLOB NOT NULL)"#,
                        table(partition)
                    ))?;
                }
                // Without a rowid the keys are the table: one B-tree to search and grow, not
                // a table and an index (logs made before keep working with either).
                conn.execute_batch(
                    r#"CREATE TABLE idempotency (key TEXT PRIMARY KEY, "partition" INTEGER NOT NULL, "offset" INTEGER NOT NULL) WITHOUT ROWID"#,
                )?;
                Ok(Ok(()))
            }
        }
    };

    let run = || -> rusqlite::Result<Result<()>> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let outcome = in_transaction(conn);
        match &outcome {
            Ok(Ok(())) => conn.execute_batch("COMMIT")?,
            _ => rollback(conn),
        }
        outcome
    };
    run().map_err(|e| unavailable("cannot create the log", &e))?
}

/// Rolls back the open transaction, if SQLite has not already done so.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        // The transaction stays open; the writer ends it before its next one.
        warn!(error = %e, "could not roll back the log transaction");
    }
}

/// The writer thread's state. It alone writes, so its `next` offsets are exactly what is
/// committed.
struct Writer {
    conn: Connection,
    statements: Arc<Statements>,
    /// Next offset of each partition, as committed.
    next: Vec<Offset>,
    high_water: Arc<[watch::Sender<Offset>]>,
    counters: Arc<Counters>,
    max_group_records: usize,
    /// The size limit the connection enforces, for the appenders' answers.
    max_bytes: Option<u64>,
    /// The last transaction failed: the next failure is no news, the next commit is.
    failing: bool,
}

/// What one transaction did, before it is committed.
struct GroupWrite {
    next: Vec<Offset>,
    answers: Vec<Result<Vec<Appended>>>,
    records: u64,
    duplicates: u64,
}

impl Writer {
    fn run(mut self, mut queue: mpsc::Receiver<AppendRequest>) {
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

/// The read-only connections, lent out to blocking tasks one at a time.
struct Readers {
    path: PathBuf,
    /// Open the file as an immutable snapshot (see [`EmbeddedLog::open_read_only`]).
    immutable: bool,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    /// Bounds the reads running at once, hence the connections open.
    permits: Arc<Semaphore>,
    statements: Arc<Statements>,
}

impl Readers {
    /// Runs `read` on a read-only connection in tokio's blocking pool.
    async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Statements) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| LogError::Closed)?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // Held until the connection is back, even if the caller stopped waiting.
            let _permit = permit;
            let conn = readers.take()?;
            let result = read(&conn, &readers.statements);
            readers.give_back(conn);
            result.map_err(|e| unavailable("cannot read the log", &e))
        })
        .await
        .map_err(|e| LogError::Unavailable(format!("the read task failed: {e}")))?
    }

    fn take(&self) -> Result<Connection> {
        let idle = lock(&self.idle).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn give_back(&self, conn: Connection) {
        lock(&self.idle).push(conn);
    }

    fn connect(&self) -> Result<Connection> {
        let conn = open_reader(&self.path, self.immutable, self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(self.statements.read.len() + 4);
        Ok(conn)
    }
}

/// A read-only connection to the log's file; an immutable one reads the file as it stands,
/// with no locks and no write-ahead log.
fn open_reader(path: &Path, immutable: bool, busy_timeout: Duration) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
    } else {
        Connection::open_with_flags(path, flags)
    }
    .map_err(|e| unavailable("cannot open a log reader", &e))?;
    conn.busy_timeout(busy_timeout)
        .map_err(|e| unavailable("cannot configure a log reader", &e))?;
    Ok(conn)
}

/// `file:PATH?immutable=1`, the path escaped as a URI path (SQLite decodes each `%XX` to
/// its byte, so a path of any bytes survives).
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_graphic() && !matches!(byte, b'%' | b'?' | b'#') {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// The partition count a log was created with, checking its format.
fn read_partitions(conn: &Connection) -> Result<u32> {
    let meta = |name: &str| -> rusqlite::Result<Option<u32>> {
        conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .optional()
    };
    let found = meta("format")
        .and_then(|format| Ok((format, meta("partitions")?)))
        .map_err(|e| unavailable("cannot read the log's format", &e))?;
    match found {
        (Some(FORMAT), Some(partitions)) if partitions > 0 => Ok(partitions),
        (Some(FORMAT), _) => Err(LogError::Unavailable(
            "the log does not record its partition count".to_owned(),
        )),
        (Some(format), _) => Err(LogError::Unavailable(format!(
            "the log is in format {format}, this build reads format {FORMAT}"
        ))),
        (None, _) => Err(LogError::Unavailable(
            "the file holds no Casewatch log (no format recorded)".to_owned(),
        )),
    }
}

#[derive(Default)]
struct Counters {
    transactions: AtomicU64,
    failed_transactions: AtomicU64,
    appends: AtomicU64,
    records: AtomicU64,
    duplicates: AtomicU64,
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
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Destination;

    #[tokio::test]
    async fn a_log_opened_to_read_keeps_its_partitions_and_takes_no_appends() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = EmbeddedLog::open(dir.path(), 3).expect("a new log");
        let record = |partition| NewRecord {
            destination: Destination::Partition(partition),
            bytes: vec![1, 2, 3],
            idempotency_key: None,
            headers: Vec::new(),
        };
        log.append(vec![record(2), record(2)])
            .await
            .expect("appends");
        drop(log);

        let read = EmbeddedLog::open_read_only(dir.path()).expect("opens to read");
        assert_eq!(read.partitions(), 3, "the log's own count");
        assert_eq!(read.high_water(2).await.expect("a partition"), 2);
        assert_eq!(read.read(2, 0, 10).await.expect("reads").len(), 2);
        assert!(matches!(
            read.append(vec![record(0)]).await,
            Err(LogError::Closed)
        ));

        let missing = dir.path().join("nothing-here");
        let error = EmbeddedLog::open_read_only(&missing).expect_err("no log there");
        assert!(error.to_string().contains("there is no log at"), "{error}");
        assert!(!missing.exists(), "reading created nothing");
    }

    #[test]
    fn immutable_uris_escape_what_uris_reserve() {
        assert_eq!(
            immutable_uri(Path::new("/data/a?b#c%d/监察 log.sqlite3")),
            "file:/data/a%3Fb%23c%25d/%E7%9B%91%E5%AF%9F%20log.sqlite3?immutable=1"
        );
    }
}
