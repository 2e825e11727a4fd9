//! The SQL behind both database backends, written once: the batch transaction, the reads and
//! the digest run the same statements on SQLite and PostgreSQL, so the two cannot drift
//! apart. What differs between the databases is a [`Dialect`]: how a transaction starts and
//! whether a commit is announced.
//!
//! The statements keep to what both databases accept (multi-row `INSERT … ON CONFLICT`,
//! `RETURNING`, row values, `LIKE … ESCAPE`) and bind only text, 64-bit integers, booleans
//! and bytes ([`Param`]), so every column reads back as the same Rust type on both.

use casewatch_domain::catalogue::Level;
use futures::future::BoxFuture;
use sqlx::{ColumnIndex, Database, Decode, Pool, QueryBuilder, Row, Type};

use crate::codec::corrupt;
use crate::{CommitNotice, Hash, Offset, Partition, Result, StoreError};

mod batch;
mod read;
mod rows;

/// The views in one SQL database, whichever it is.
#[derive(Debug)]
pub(crate) struct SqlViews<DB: Database> {
    /// Where batches are written.
    pub(crate) writer: Pool<DB>,
    /// Where reads go (the same pool as `writer` when the database takes concurrent
    /// writers).
    pub(crate) reader: Pool<DB>,
}

impl<DB: Database> Clone for SqlViews<DB> {
    fn clone(&self) -> Self {
        SqlViews {
            writer: self.writer.clone(),
            reader: self.reader.clone(),
        }
    }
}

/// What the shared SQL needs to know about one database.
///
/// The statement-running functions are the same code for every database but call sqlx's
/// concrete executors and query results (`rows_affected` is not part of sqlx's generic
/// interface), so each implementation gets them from `sql_primitives!`.
pub(crate) trait Dialect: Database<Row: Columns> {
    /// Starts a batch transaction.
    const BEGIN_BATCH: &'static str;
    /// Starts a read transaction whose statements all see one snapshot (the digest).
    const BEGIN_SNAPSHOT: &'static str;

    /// The statement that announces a committed batch to other processes, run last in the
    /// batch's transaction so that the announcement goes out with the commit, or `None`
    /// when the database has no such channel.
    fn commit_notice(notice: &CommitNotice) -> Option<QueryBuilder<'static, Self>>;

    /// Appends a bind parameter.
    fn push_param(query: &mut QueryBuilder<'_, Self>, param: Param);

    /// Runs a statement; returns the number of rows it changed.
    fn execute<'c>(
        conn: &'c mut Self::Connection,
        query: QueryBuilder<'static, Self>,
    ) -> BoxFuture<'c, Result<u64>>;

    /// Runs a query and collects its rows.
    fn fetch_all<'c>(
        conn: &'c mut Self::Connection,
        query: QueryBuilder<'static, Self>,
    ) -> BoxFuture<'c, Result<Vec<Self::Row>>>;

    /// Runs a query and hands its rows to `each` as they arrive.
    fn for_each_row<'c>(
        conn: &'c mut Self::Connection,
        query: QueryBuilder<'static, Self>,
        each: &'c mut (dyn FnMut(&Self::Row) -> Result<()> + Send),
    ) -> BoxFuture<'c, Result<()>>;
}

/// The statement-running functions of a [`Dialect`] implementation.
macro_rules! sql_primitives {
    () => {
        fn push_param(query: &mut ::sqlx::QueryBuilder<'_, Self>, param: $crate::sql::Param) {
            use $crate::sql::Param;
            match param {
                Param::Text(text) => query.push_bind(text),
                Param::OptionalText(text) => query.push_bind(text),
                Param::Int(value) => query.push_bind(value),
                Param::OptionalInt(value) => query.push_bind(value),
                Param::Flag(flag) => query.push_bind(flag),
                Param::Bytes(bytes) => query.push_bind(bytes),
            };
        }

        fn execute<'c>(
            conn: &'c mut Self::Connection,
            mut query: ::sqlx::QueryBuilder<'static, Self>,
        ) -> ::futures::future::BoxFuture<'c, $crate::Result<u64>> {
            Box::pin(async move {
                let done = query.build().execute(conn).await.map_err($crate::sql::db)?;
                Ok(done.rows_affected())
            })
        }

        fn fetch_all<'c>(
            conn: &'c mut Self::Connection,
            mut query: ::sqlx::QueryBuilder<'static, Self>,
        ) -> ::futures::future::BoxFuture<'c, $crate::Result<Vec<Self::Row>>> {
            Box::pin(async move { query.build().fetch_all(conn).await.map_err($crate::sql::db) })
        }

        fn for_each_row<'c>(
            conn: &'c mut Self::Connection,
            mut query: ::sqlx::QueryBuilder<'static, Self>,
            each: &'c mut (dyn FnMut(&Self::Row) -> $crate::Result<()> + Send),
        ) -> ::futures::future::BoxFuture<'c, $crate::Result<()>> {
            Box::pin(async move {
                use ::futures::TryStreamExt as _;
                let mut rows = query.build().fetch(conn);
                while let Some(row) = rows.try_next().await.map_err($crate::sql::db)? {
                    each(&row)?;
                }
                Ok(())
            })
        }
    };
}
pub(crate) use sql_primitives;

/// Implements [`ViewStore`](crate::ViewStore) for a store type whose `views` field is a
/// [`SqlViews`]: every method is the shared one.
macro_rules! view_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::ViewStore for $store {
            async fn apply_all(
                &self,
                batches: Vec<$crate::ViewBatch>,
            ) -> $crate::Result<Vec<$crate::CommittedAlert>> {
                self.views.apply_all(batches).await
            }

            async fn checkpoint(
                &self,
                partition: $crate::Partition,
            ) -> $crate::Result<Option<$crate::Checkpoint>> {
                self.views.checkpoint(partition).await
            }

            async fn checkpoints(&self) -> $crate::Result<Vec<$crate::Checkpoint>> {
                self.views.checkpoints().await
            }

            async fn load_cases(
                &self,
                partition: $crate::Partition,
            ) -> $crate::Result<Vec<$crate::CaseRow>> {
                self.views.load_cases(partition).await
            }

            async fn case(&self, case_no: &str) -> $crate::Result<Option<$crate::CaseRecord>> {
                self.views.case(case_no).await
            }

            async fn list_cases(
                &self,
                filter: &$crate::CaseFilter,
                after: Option<&str>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::CaseRecord>> {
                self.views.list_cases(filter, after, limit).await
            }

            async fn list_alerts(
                &self,
                filter: &$crate::AlertFilter,
                before: Option<u64>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::CommittedAlert>> {
                self.views.list_alerts(filter, before, limit).await
            }

            async fn alert_changes_after(
                &self,
                cursor: u64,
                filter: &$crate::AlertFilter,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::CommittedAlert>> {
                self.views.alert_changes_after(cursor, filter, limit).await
            }

            async fn overdue_cases(
                &self,
                region_prefixes: Option<&[String]>,
                dept: Option<&str>,
                at: ::casewatch_domain::Timestamp,
            ) -> $crate::Result<Vec<$crate::CaseRecord>> {
                self.views.overdue_cases(region_prefixes, dept, at).await
            }

            async fn alerts_as_of(
                &self,
                region_prefixes: Option<&[String]>,
                dept: Option<&str>,
                min_level: ::casewatch_domain::catalogue::Level,
                at: ::casewatch_domain::Timestamp,
            ) -> $crate::Result<Vec<::casewatch_domain::alert::Alert>> {
                self.views
                    .alerts_as_of(region_prefixes, dept, min_level, at)
                    .await
            }

            async fn alert_changes_between(
                &self,
                region_prefixes: Option<&[String]>,
                dept: Option<&str>,
                from: ::casewatch_domain::Timestamp,
                to: ::casewatch_domain::Timestamp,
            ) -> $crate::Result<Vec<$crate::CommittedAlert>> {
                self.views
                    .alert_changes_between(region_prefixes, dept, from, to)
                    .await
            }

            async fn steps(&self, case_no: &str) -> $crate::Result<Vec<$crate::StepRow>> {
                self.views.steps(case_no).await
            }

            async fn step_hashes(
                &self,
                partition: $crate::Partition,
                from: $crate::Offset,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::StepHash>> {
                self.views.step_hashes(partition, from, limit).await
            }

            async fn chain_links(
                &self,
                partition: $crate::Partition,
                from: $crate::Offset,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::ChainLink>> {
                self.views.chain_links(partition, from, limit).await
            }

            async fn partition_policy(
                &self,
                partition: $crate::Partition,
            ) -> $crate::Result<Option<::casewatch_domain::policy::PolicySnapshot>> {
                self.views.partition_policy(partition).await
            }

            async fn policy_records(
                &self,
                partition: $crate::Partition,
            ) -> $crate::Result<Vec<$crate::PolicyRecordRow>> {
                self.views.policy_records(partition).await
            }

            async fn statistics(
                &self,
                from: ::chrono::NaiveDate,
                to: ::chrono::NaiveDate,
                region_prefixes: Option<&[String]>,
            ) -> $crate::Result<
                Vec<(
                    ::casewatch_domain::stats::StatKey,
                    ::casewatch_domain::stats::Counters,
                )>,
            > {
                self.views.statistics(from, to, region_prefixes).await
            }

            async fn quarantine(
                &self,
                after: Option<$crate::Position>,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::QuarantineRow>> {
                self.views.quarantine(after, limit).await
            }

            async fn digest(&self) -> $crate::Result<$crate::Hash> {
                self.views.digest().await
            }

            async fn log_identity(&self) -> $crate::Result<Option<String>> {
                self.views.log_identity().await
            }

            async fn set_log_identity(&self, identity: &str) -> $crate::Result<()> {
                self.views.set_log_identity(identity).await
            }
        }
    };
}
pub(crate) use view_store;

/// A bind parameter, in the column types both databases share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Text(String),
    OptionalText(Option<String>),
    Int(i64),
    OptionalInt(Option<i64>),
    Flag(bool),
    Bytes(Vec<u8>),
}

impl From<String> for Param {
    fn from(text: String) -> Self {
        Param::Text(text)
    }
}

impl From<&str> for Param {
    fn from(text: &str) -> Self {
        Param::Text(text.to_owned())
    }
}

impl From<Option<String>> for Param {
    fn from(text: Option<String>) -> Self {
        Param::OptionalText(text)
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<Option<i64>> for Param {
    fn from(value: Option<i64>) -> Self {
        Param::OptionalInt(value)
    }
}

impl From<bool> for Param {
    fn from(flag: bool) -> Self {
        Param::Flag(flag)
    }
}

impl From<Vec<u8>> for Param {
    fn from(bytes: Vec<u8>) -> Self {
        Param::Bytes(bytes)
    }
}

impl From<Hash> for Param {
    fn from(hash: Hash) -> Self {
        Param::Bytes(hash.to_vec())
    }
}

/// `push_bind` for [`Param`]s.
pub(crate) trait PushParam {
    /// Appends `param` as a bind parameter.
    fn push_param(&mut self, param: impl Into<Param>) -> &mut Self;
}

impl<DB: Dialect> PushParam for QueryBuilder<'_, DB> {
    fn push_param(&mut self, param: impl Into<Param>) -> &mut Self {
        DB::push_param(self, param.into());
        self
    }
}

/// Typed access to the columns of a row, in the types [`Param`] binds.
pub(crate) trait Columns {
    fn text(&self, column: &str) -> Result<&str>;
    fn optional_text(&self, column: &str) -> Result<Option<&str>>;
    fn int(&self, column: &str) -> Result<i64>;
    fn optional_int(&self, column: &str) -> Result<Option<i64>>;
    fn flag(&self, column: &str) -> Result<bool>;
    fn bytes(&self, column: &str) -> Result<&[u8]>;
}

impl<R> Columns for R
where
    R: Row,
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database> + ColumnIndex<R>,
    for<'r> &'r [u8]: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &str) -> Result<&str> {
        self.try_get(column).map_err(db)
    }

    fn optional_text(&self, column: &str) -> Result<Option<&str>> {
        self.try_get(column).map_err(db)
    }

    fn int(&self, column: &str) -> Result<i64> {
        self.try_get(column).map_err(db)
    }

    fn optional_int(&self, column: &str) -> Result<Option<i64>> {
        self.try_get(column).map_err(db)
    }

    fn flag(&self, column: &str) -> Result<bool> {
        self.try_get(column).map_err(db)
    }

    fn bytes(&self, column: &str) -> Result<&[u8]> {
        self.try_get(column).map_err(db)
    }
}

/// Bind parameters per multi-row statement, well below SQLite's limit of 32766 (and
/// PostgreSQL's of 65535).
const MAX_BINDS: usize = 16_000;
/// Rows per multi-row statement. Chunks are powers of two up to this, so a table sees at
/// most a dozen distinct statements and they stay in the prepared-statement cache.
const MAX_ROWS: usize = 512;

/// The largest power of two not above `n` (`n` ≥ 1).
fn power_of_two_below(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.max(1).leading_zeros())
}

/// Adds `AND (column LIKE 'prefix%' OR …)` with the prefixes' wildcards escaped; no
/// prefixes at all match nothing.
fn push_prefixes<DB: Dialect>(query: &mut QueryBuilder<'_, DB>, column: &str, prefixes: &[String]) {
    if prefixes.is_empty() {
        query.push(" AND 1 = 0");
        return;
    }
    query.push(" AND (");
    for (index, prefix) in prefixes.iter().enumerate() {
        let escaped = prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        if index > 0 {
            query.push(" OR ");
        }
        query
            .push(format!("{column} LIKE "))
            .push_param(format!("{escaped}%"))
            .push(" ESCAPE '\\'");
    }
    query.push(")");
}

/// The order of levels, for `min_level`.
fn level_rank(level: Level) -> i64 {
    match level {
        Level::Warning => 0,
        Level::Yellow => 1,
        Level::Red => 2,
        Level::Serious => 3,
    }
}

fn partition_from(value: i64) -> Result<Partition> {
    Partition::try_from(value).map_err(|_| corrupt("partition", value.to_string()))
}

fn offset_from(what: &'static str, value: i64) -> Result<Offset> {
    Offset::try_from(value).map_err(|_| corrupt(what, value.to_string()))
}

fn cursor_from(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt("alert cursor", value.to_string()))
}

/// An offset as a signed 64-bit integer; offsets past `i64::MAX` cannot be stored.
fn offset_bind(offset: Offset) -> Result<i64> {
    i64::try_from(offset)
        .map_err(|_| corrupt("offset", format!("{offset} exceeds the store's range")))
}

/// A cursor to compare with; cursors past `i64::MAX` never exist, so clamping keeps the
/// comparison's meaning.
fn cursor_bind(cursor: u64) -> i64 {
    i64::try_from(cursor).unwrap_or(i64::MAX)
}

/// Decoding failures are stored content that does not read; anything else is the
/// database failing.
pub(crate) fn db(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. } => corrupt("row", error.to_string()),
        // The pool's own words name no cause: every connection it tried failed or hung.
        sqlx::Error::PoolTimedOut => StoreError::Unavailable(
            "no connection to the database within the connect timeout (is it down or \
             unreachable?)"
                .to_owned(),
        ),
        source => StoreError::Database { source },
    }
}

/// Whether a database error may pass by itself (see [`StoreError::is_transient`]).
pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => {
            match database.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                Some(sqlite) => {
                    sqlite_transient(sqlx::error::DatabaseError::code(sqlite).as_deref())
                }
                None => postgres_transient(database.code().as_deref()),
            }
        }
        _ => false,
    }
}

/// SQLite's transient result codes, by their primary code (the low byte of an extended
/// one): BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN and PROTOCOL (a file lock race).
fn sqlite_transient(code: Option<&str>) -> bool {
    code.and_then(|code| code.parse::<u32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6 | 7 | 10 | 13 | 14 | 15))
}

/// PostgreSQL's transient SQLSTATEs: the classes connection exception (08), transaction
/// rollback (40: serialization failures, deadlocks), insufficient resources (53), operator
/// intervention (57: a shutdown, a cancelled query) and system error (58), and a lock not
/// available (55P03).
fn postgres_transient(sqlstate: Option<&str>) -> bool {
    sqlstate.is_some_and(|code| {
        matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58")) || code == "55P03"
    })
}

pub(crate) fn migration(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Unavailable(format!("migrating the view store failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_that_may_pass_are_transient() {
        for (sqlstate, transient) in [
            ("08006", true),
            ("40001", true),
            ("40P01", true),
            ("53300", true),
            ("57P01", true),
            ("55P03", true),
            ("42P01", false),
            ("42703", false),
            ("23505", false),
        ] {
            assert_eq!(postgres_transient(Some(sqlstate)), transient, "{sqlstate}");
        }
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_WRITE, SQLITE_FULL; then
        // SQLITE_ERROR (no such table), SQLITE_CONSTRAINT_UNIQUE, SQLITE_CORRUPT.
        for (code, transient) in [
            ("5", true),
            ("517", true),
            ("778", true),
            ("13", true),
            ("1", false),
            ("2067", false),
            ("11", false),
        ] {
            assert_eq!(sqlite_transient(Some(code)), transient, "{code}");
        }
        assert!(!postgres_transient(None) && !sqlite_transient(None));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn chunks_are_powers_of_two() {
        assert_eq!(power_of_two_below(1), 1);
        assert_eq!(power_of_two_below(3), 2);
        assert_eq!(power_of_two_below(512), 512);
        assert_eq!(power_of_two_below(1000), 512);
    }
}
