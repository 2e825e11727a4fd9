//! The log's file: the tables of a new log and the checks of an existing one, its
//! identity and size limit, the writer's settings, and the SQL of each partition.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};
use tracing::warn;

use crate::{LogError, Offset, Partition, Result, unavailable};

/// The layout of the tables; bumped when it changes so an old binary refuses a newer file.
const FORMAT: u32 = 1;

/// The SQL of each partition, built once since table names cannot be bound as parameters.
pub(super) struct Statements {
    pub(super) insert: Vec<String>,
    pub(super) read: Vec<String>,
    pub(super) next_offset: Vec<String>,
}

impl Statements {
    pub(super) fn new(partitions: u32) -> Statements {
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
    pub(super) fn next_offsets(&self, conn: &Connection) -> rusqlite::Result<Vec<Offset>> {
        self.next_offset
            .iter()
            .map(|sql| conn.query_row(sql, [], |row| row.get(0)))
            .collect()
    }
}

pub(super) const SELECT_IDEMPOTENCY: &str =
    r#"SELECT "partition", "offset" FROM idempotency WHERE key = ?1"#;
pub(super) const CLAIM_IDEMPOTENCY: &str =
    r#"INSERT OR IGNORE INTO idempotency (key, "partition", "offset") VALUES (?1, ?2, ?3)"#;

pub(super) fn table(partition: Partition) -> String {
    format!("partition_{partition}")
}

/// WAL so that readers never wait for the writer; `synchronous=FULL` so that every commit
/// reaches the disk before `append` returns (WAL's usual NORMAL may lose the last commits
/// on a power cut).
pub(super) fn configure_writer(
    conn: &Connection,
    busy_timeout: Duration,
    partitions: u32,
) -> Result<()> {
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
pub(super) fn limit_size(conn: &Connection, dir: &Path, max_bytes: u64) -> Result<()> {
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
pub(super) fn claim_identity(conn: &Connection) -> Result<i64> {
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

pub(super) fn read_identity(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT value FROM meta WHERE name = 'identity'",
        [],
        |row| row.get(0),
    )
    .optional()
}

/// Creates the tables on first open, in one transaction so a crash leaves no half-made log;
/// on later opens checks the format and the partition count.
pub(super) fn create_or_check(conn: &Connection, partitions: u32) -> Result<()> {
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

/// The partition count a log was created with, checking its format.
pub(super) fn read_partitions(conn: &Connection) -> Result<u32> {
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

/// Rolls back the open transaction, if SQLite has not already done so.
pub(super) fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        // The transaction stays open; the writer ends it before its next one.
        warn!(error = %e, "could not roll back the log transaction");
    }
}
