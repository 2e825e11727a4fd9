//! The SQLite backend of [`ViewStore`](crate::ViewStore), the one-machine default: one
//! database file in WAL mode, written by a single connection and read by a small pool.
//!
//! Every batch is one `BEGIN IMMEDIATE` transaction whose first statement moves the
//! partition's checkpoint only if it still stands at the batch's `from_offset` (the fence),
//! so a stale projector's batch changes nothing. Alert cursors come from a one-row counter
//! bumped inside the same transaction: SQLite has one writer at a time, so cursors follow
//! commit order. The statements are those of every SQL backend (the crate's `sql`
//! module).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite};
use tracing::info;

use crate::sql::{Dialect, SqlViews, db, migration, sql_primitives, view_store};
use crate::{CommitNotice, Result};

/// The migrations, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Read connections: readers never block the writer in WAL mode.
const READERS: u32 = 4;
/// The writer's page cache, in KiB (as `PRAGMA cache_size` takes it: negative).
const WRITER_CACHE_KIB: &str = "-65536";

/// The views in one SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The writer is one connection: batches queue there rather than contend for SQLite's
    /// write lock.
    views: SqlViews<Sqlite>,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `path` and brings its schema up to
    /// date.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(false)
            .busy_timeout(BUSY_TIMEOUT);
        // A batch touches thousands of pages: with SQLite's default cache of 2 MiB they
        // spill to the file before the commit, and the statement journals of its
        // multi-row upserts go to temporary files.
        let writer_options = options
            .clone()
            .pragma("cache_size", WRITER_CACHE_KIB)
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(writer_options)
            .await
            .map_err(db)?;
        MIGRATOR.run(&writer).await.map_err(migration)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await
            .map_err(db)?;
        info!(path = %path.display(), "view store opened");
        Ok(SqliteStore {
            views: SqlViews { writer, reader },
        })
    }

    /// Opens existing views to read them only, as the auditor's tools do: nothing is
    /// created, migrated or written (a batch fails), and views whose schema is behind this
    /// build are refused. Views another process is writing are read through their
    /// write-ahead log; a copy of stopped views in a directory this process cannot write (a
    /// read-only snapshot) has none, and is read as immutable (see
    /// `EmbeddedLog::open_read_only` of the log crate, which does the same).
    pub async fn open_read_only(path: &Path) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .foreign_keys(false)
            .busy_timeout(BUSY_TIMEOUT);
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let reader = match Self::open_reader(options.clone()).await {
            Ok(reader) => reader,
            Err(error) if !Path::new(&wal).exists() => {
                tracing::debug!(%error, "reading the views as an immutable snapshot");
                Self::open_reader(options.immutable(true)).await?
            }
            Err(error) => return Err(error),
        };
        info!(path = %path.display(), "view store opened to read");
        Ok(SqliteStore {
            views: SqlViews {
                writer: reader.clone(),
                reader,
            },
        })
    }

    /// A pool of read-only connections to views whose schema is this build's.
    async fn open_reader(options: SqliteConnectOptions) -> Result<sqlx::SqlitePool> {
        let pool = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await
            .map_err(db)?;
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&pool)
                .await
                .map_err(db)?;
        if let Some(missing) = MIGRATOR
            .iter()
            .find(|migration| !applied.contains(&migration.version))
        {
            return Err(crate::StoreError::Unavailable(format!(
                "the views lack migration {} ({}) of this build: run `casewatch migrate`",
                missing.version, missing.description
            )));
        }
        Ok(pool)
    }

    /// A private in-memory database, for tests: one connection, kept open for the store's
    /// life, serves reads and writes alike.
    pub async fn open_in_memory() -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db)?
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db)?;
        MIGRATOR.run(&pool).await.map_err(migration)?;
        Ok(SqliteStore {
            views: SqlViews {
                writer: pool.clone(),
                reader: pool,
            },
        })
    }

    /// Closes the connections, waiting for them to finish.
    pub async fn close(&self) {
        self.views.writer.close().await;
        self.views.reader.close().await;
    }
}

impl Dialect for Sqlite {
    /// Takes the write lock at once: a deferred transaction that reads before it writes can
    /// fail with `SQLITE_BUSY` instead of waiting.
    const BEGIN_BATCH: &'static str = "BEGIN IMMEDIATE";
    /// A deferred transaction reads from the snapshot of its first read.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";

    /// One process writes an SQLite database: it announces commits in-process.
    fn commit_notice(_: &CommitNotice) -> Option<QueryBuilder<'static, Self>> {
        None
    }

    sql_primitives!();
}

view_store!(SqliteStore);

#[cfg(test)]
mod tests {
    use casewatch_domain::stats::Counters;

    use super::*;
    use crate::{Checkpoint, ViewBatch, ViewStore};

    #[tokio::test]
    async fn stats_columns_of_the_migration_are_the_counter_names() {
        let store = SqliteStore::open_in_memory()
            .await
            .expect("in-memory store opens");
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('stats') ORDER BY cid")
                .fetch_all(&store.views.reader)
                .await
                .expect("table info reads");
        let key = ["day", "region_code", "dept_code", "item_code"];
        assert_eq!(&columns[..key.len()], &key);
        assert_eq!(&columns[key.len()..], Counters::NAMES);
    }

    #[tokio::test]
    async fn a_file_store_reopens_with_its_content() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("views.db");
        let store = SqliteStore::open(&path).await.expect("store opens");
        let batch = ViewBatch::new(
            3,
            0,
            Checkpoint {
                partition: 3,
                next_offset: 7,
                chain_hash: [7; 32],
                clock: Some(chrono::DateTime::UNIX_EPOCH),
            },
        );
        store.apply(batch).await.expect("batch applies");
        let digest = store.digest().await.expect("digest");
        store.close().await;

        let reopened = SqliteStore::open(&path).await.expect("store reopens");
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&reopened.views.writer)
            .await
            .expect("journal mode reads");
        assert_eq!(journal, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&reopened.views.writer)
            .await
            .expect("synchronous reads");
        assert_eq!(synchronous, 2, "synchronous = FULL");
        assert_eq!(
            reopened.checkpoint(3).await.expect("checkpoint reads"),
            Some(Checkpoint {
                partition: 3,
                next_offset: 7,
                chain_hash: [7; 32],
                clock: Some(chrono::DateTime::UNIX_EPOCH),
            })
        );
        assert_eq!(reopened.digest().await.expect("digest"), digest);
        reopened.close().await;

        let read = SqliteStore::open_read_only(&path)
            .await
            .expect("store opens to read");
        assert_eq!(read.digest().await.expect("digest"), digest);
        let batch = ViewBatch::new(
            3,
            7,
            Checkpoint {
                partition: 3,
                next_offset: 8,
                chain_hash: [8; 32],
                clock: None,
            },
        );
        assert!(read.apply(batch).await.is_err(), "a reader writes nothing");

        let missing = dir.path().join("missing.db");
        assert!(SqliteStore::open_read_only(&missing).await.is_err());
        assert!(!missing.exists(), "reading created nothing");
    }
}
