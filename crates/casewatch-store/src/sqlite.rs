//! The SQLite backend of [`ViewStore`], the one-machine default: one database file in WAL
//! mode, written by a single connection and read by a small pool.
//!
//! Every batch is one `BEGIN IMMEDIATE` transaction whose first statement moves the
//! partition's checkpoint only if it still stands at the batch's `from_offset` (the fence),
//! so a stale projector's batch changes nothing. Alert cursors come from a one-row counter
//! bumped inside the same transaction: SQLite has one writer at a time, so cursors follow
//! commit order.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use casewatch_domain::alert::{Alert, AlertChange, Cause, Level};
use casewatch_domain::case::Case;
use casewatch_domain::stats::{Counters, StatKey};
use chrono::NaiveDate;
use futures::TryStreamExt;
use sqlx::migrate::Migrator;
use sqlx::query_builder::Separated;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use tracing::{debug, info};

use crate::codec::{
    corrupt, day_text, enum_text, from_json, hash, parse_day, parse_enum, parse_timestamp,
    timestamp_text, to_json,
};
use crate::digest::ViewDigest;
use crate::{
    AlertChangeRow, AlertFilter, CaseFilter, CaseRecord, CaseRow, Checkpoint, CommittedAlert, Hash,
    Offset, Partition, Position, QuarantineRow, Result, StepRow, StoreError, ViewBatch, ViewStore,
};

/// The migrations, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Read connections: readers never block the writer in WAL mode.
const READERS: u32 = 4;
/// Bind parameters per multi-row statement, well below SQLite's limit of 32766.
const MAX_BINDS: usize = 16_000;
/// Rows per multi-row statement. Chunks are powers of two up to this, so a table sees at
/// most a dozen distinct statements and they stay in the prepared-statement cache.
const MAX_ROWS: usize = 512;

/// The views in one SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: batches queue here rather than contend for SQLite's write lock.
    writer: SqlitePool,
    reader: SqlitePool,
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
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        MIGRATOR.run(&writer).await.map_err(migration)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await
            .map_err(db)?;
        info!(path = %path.display(), "view store opened");
        Ok(SqliteStore { writer, reader })
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
            writer: pool.clone(),
            reader: pool,
        })
    }

    /// Closes the connections, waiting for them to finish.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

#[async_trait::async_trait]
impl ViewStore for SqliteStore {
    async fn apply(&self, batch: ViewBatch) -> Result<Vec<CommittedAlert>> {
        let started = Instant::now();
        debug_assert_eq!(
            batch.partition, batch.checkpoint.partition,
            "a batch carries its own partition's checkpoint"
        );
        // Everything is encoded before the write lock is taken.
        let rows = EncodedBatch::new(&batch)?;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db)?;
        if let Err(error) = fence(&mut tx, &batch).await {
            tx.rollback().await.map_err(db)?;
            return Err(error);
        }
        let first_cursor = rows.write(&mut tx).await?;
        tx.commit().await.map_err(db)?;

        let committed: Vec<CommittedAlert> = batch
            .alerts
            .into_iter()
            .zip(first_cursor..)
            .map(|(row, cursor)| CommittedAlert { cursor, row })
            .collect();
        debug!(
            partition = batch.partition,
            from_offset = batch.from_offset,
            next_offset = batch.checkpoint.next_offset,
            cases = batch.cases.len(),
            steps = batch.steps.len(),
            alerts = committed.len(),
            elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "batch applied"
        );
        Ok(committed)
    }

    async fn checkpoint(&self, partition: Partition) -> Result<Option<Checkpoint>> {
        sqlx::query(
            "SELECT partition, next_offset, chain_hash FROM checkpoints WHERE partition = ?",
        )
        .bind(i64::from(partition))
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .map(|row| checkpoint_from_row(&row))
        .transpose()
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        sqlx::query("SELECT partition, next_offset, chain_hash FROM checkpoints ORDER BY partition")
            .fetch_all(&self.reader)
            .await
            .map_err(db)?
            .iter()
            .map(checkpoint_from_row)
            .collect()
    }

    async fn load_cases(&self, partition: Partition) -> Result<Vec<CaseRow>> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE partition = ? ORDER BY case_no");
        sqlx::query(&sql)
            .bind(i64::from(partition))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?
            .iter()
            .map(case_from_row)
            .collect()
    }

    async fn case(&self, case_no: &str) -> Result<Option<CaseRecord>> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE case_no = ?");
        sqlx::query(&sql)
            .bind(case_no)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .map(|row| case_from_row(&row))
            .transpose()
    }

    async fn list_cases(
        &self,
        filter: &CaseFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CaseRecord>> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {CASE_COLUMNS} FROM cases WHERE 1 = 1"));
        if let Some(after) = after {
            query.push(" AND case_no > ").push_bind(after.to_owned());
        }
        if let Some(prefix) = &filter.region_prefix {
            push_prefix(&mut query, "region_code", prefix);
        }
        if let Some(dept) = &filter.dept_code {
            query.push(" AND dept_code = ").push_bind(dept.clone());
        }
        if let Some(item) = &filter.item_code {
            query.push(" AND item_code = ").push_bind(item.clone());
        }
        if let Some(status) = &filter.status {
            query.push(" AND status = ").push_bind(enum_text(status)?);
        }
        if let Some(light) = &filter.light {
            query.push(" AND light = ").push_bind(enum_text(light)?);
        }
        query
            .push(" ORDER BY case_no LIMIT ")
            .push_bind(i64::from(limit));
        query
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(db)?
            .iter()
            .map(case_from_row)
            .collect()
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<CommittedAlert>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {TRANSITION_COLUMNS} FROM alerts a \
             JOIN alert_transitions t ON t.cursor = a.cursor WHERE 1 = 1"
        ));
        if let Some(before) = before {
            query
                .push(" AND a.cursor < ")
                .push_bind(cursor_bind(before));
        }
        push_alert_filter(&mut query, filter, "a")?;
        query
            .push(" ORDER BY a.cursor DESC LIMIT ")
            .push_bind(i64::from(limit));
        query
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(db)?
            .iter()
            .map(committed_from_row)
            .collect()
    }

    async fn alert_changes_after(
        &self,
        cursor: u64,
        filter: &AlertFilter,
        limit: u32,
    ) -> Result<Vec<CommittedAlert>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {TRANSITION_COLUMNS} FROM alert_transitions t \
             JOIN alerts a ON a.alert_id = t.alert_id WHERE t.cursor > "
        ));
        query.push_bind(cursor_bind(cursor));
        push_alert_filter(&mut query, filter, "t")?;
        query
            .push(" ORDER BY t.cursor LIMIT ")
            .push_bind(i64::from(limit));
        query
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(db)?
            .iter()
            .map(committed_from_row)
            .collect()
    }

    async fn steps(&self, case_no: &str) -> Result<Vec<StepRow>> {
        let sql = format!(
            "SELECT {STEP_COLUMNS} FROM steps WHERE case_no = ? ORDER BY partition, log_offset"
        );
        sqlx::query(&sql)
            .bind(case_no)
            .fetch_all(&self.reader)
            .await
            .map_err(db)?
            .iter()
            .map(step_from_row)
            .collect()
    }

    async fn statistics(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        region_prefix: Option<&str>,
    ) -> Result<Vec<(StatKey, Counters)>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT day, region_code, dept_code, item_code, {} FROM stats WHERE day >= ",
            Counters::NAMES.join(", ")
        ));
        query.push_bind(day_text(from));
        query.push(" AND day <= ").push_bind(day_text(to));
        if let Some(prefix) = region_prefix {
            push_prefix(&mut query, "region_code", prefix);
        }
        query.push(" ORDER BY day, region_code, dept_code, item_code");
        let mut rows = Vec::new();
        for row in query.build().fetch_all(&self.reader).await.map_err(db)? {
            let (key, counters) = stat_from_row(&row)?;
            if !counters.is_zero() {
                rows.push((key, counters));
            }
        }
        Ok(rows)
    }

    async fn quarantine(&self) -> Result<Vec<QuarantineRow>> {
        sqlx::query(
            "SELECT partition, log_offset, reason, bytes FROM quarantine \
             ORDER BY partition, log_offset",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .iter()
        .map(|row| {
            Ok(QuarantineRow {
                position: position_from_row(row)?,
                reason: row.try_get("reason").map_err(db)?,
                bytes: row.try_get("bytes").map_err(db)?,
            })
        })
        .collect()
    }

    async fn digest(&self) -> Result<Hash> {
        // One read transaction: one snapshot for every section.
        let mut tx = self.reader.begin().await.map_err(db)?;
        let mut digest = ViewDigest::new();
        {
            let mut rows =
                sqlx::query("SELECT case_no, chain_head, state FROM cases ORDER BY case_no")
                    .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                let case: Case = from_json("case state", row.try_get("state").map_err(db)?)?;
                let chain_head = hash("case chain head", row.try_get("chain_head").map_err(db)?)?;
                digest.case(&case, &chain_head)?;
            }
        }
        {
            let sql = format!(
                "SELECT {STEP_COLUMNS} FROM steps ORDER BY case_no, hash, previous_hash, kind, \
                 seq IS NOT NULL, seq, recorded_at, disposition"
            );
            let mut rows = sqlx::query(&sql).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                digest.step(&step_from_row(&row)?)?;
            }
        }
        {
            let mut rows =
                sqlx::query("SELECT alert FROM alerts ORDER BY alert_id").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                let alert: Alert = from_json("alert", row.try_get("alert").map_err(db)?)?;
                digest.alert(&alert)?;
            }
        }
        {
            let sql = format!(
                "SELECT {TRANSITION_COLUMNS} FROM alert_transitions t ORDER BY t.alert_id, t.cursor"
            );
            let mut rows = sqlx::query(&sql).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                digest.transition(&committed_from_row(&row)?.row.change)?;
            }
        }
        {
            let mut rows = sqlx::query(
                "SELECT alert_id, principal, reason FROM refusals \
                 ORDER BY alert_id, principal, reason",
            )
            .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                digest.refusal(
                    row.try_get("alert_id").map_err(db)?,
                    row.try_get("principal").map_err(db)?,
                    row.try_get("reason").map_err(db)?,
                )?;
            }
        }
        {
            let mut rows =
                sqlx::query("SELECT reason, bytes FROM quarantine ORDER BY bytes, reason")
                    .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                digest.quarantined(
                    row.try_get("reason").map_err(db)?,
                    row.try_get("bytes").map_err(db)?,
                )?;
            }
        }
        {
            let sql = format!(
                "SELECT day, region_code, dept_code, item_code, {} FROM stats \
                 ORDER BY day, region_code, dept_code, item_code",
                Counters::NAMES.join(", ")
            );
            let mut rows = sqlx::query(&sql).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                let (key, counters) = stat_from_row(&row)?;
                digest.statistic(&key, &counters)?;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(digest.finish())
    }
}

/// Moves the partition's checkpoint from `batch.from_offset` to the batch's checkpoint, or
/// fails with [`StoreError::Fenced`] when it stands elsewhere. The first write of the
/// transaction, so nothing the batch writes can precede it.
async fn fence(conn: &mut SqliteConnection, batch: &ViewBatch) -> Result<()> {
    let partition = i64::from(batch.partition);
    let from = offset_bind(batch.from_offset)?;
    let next = offset_bind(batch.checkpoint.next_offset)?;
    let chain = &batch.checkpoint.chain_hash[..];
    let moved = if batch.from_offset == 0 {
        sqlx::query(
            "INSERT INTO checkpoints (partition, next_offset, chain_hash) VALUES (?1, ?2, ?3) \
             ON CONFLICT (partition) DO UPDATE \
             SET next_offset = excluded.next_offset, chain_hash = excluded.chain_hash \
             WHERE checkpoints.next_offset = 0",
        )
        .bind(partition)
        .bind(next)
        .bind(chain)
        .execute(&mut *conn)
        .await
    } else {
        sqlx::query(
            "UPDATE checkpoints SET next_offset = ?2, chain_hash = ?3 \
             WHERE partition = ?1 AND next_offset = ?4",
        )
        .bind(partition)
        .bind(next)
        .bind(chain)
        .bind(from)
        .execute(&mut *conn)
        .await
    };
    if moved.map_err(db)?.rows_affected() == 1 {
        return Ok(());
    }
    let found: Option<i64> =
        sqlx::query_scalar("SELECT next_offset FROM checkpoints WHERE partition = ?")
            .bind(partition)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    let found = found.map_or(Ok(0), |offset| offset_from("checkpoint offset", offset))?;
    debug!(
        partition = batch.partition,
        expected = batch.from_offset,
        found,
        "stale batch fenced"
    );
    Err(StoreError::Fenced {
        partition: batch.partition,
        expected: batch.from_offset,
        found,
    })
}

/// A batch's rows as column values, encoded before the transaction starts.
struct EncodedBatch {
    cases: Vec<CaseColumns>,
    steps: Vec<StepColumns>,
    pending_added: Vec<(String, i64, i64, i64)>,
    pending_removed: Vec<(String, i64)>,
    transitions: Vec<TransitionColumns>,
    /// Indices into `transitions` of each alert's last change in the batch.
    latest_alerts: Vec<usize>,
    refusals: Vec<(i64, i64, String, String, String)>,
    quarantine: Vec<(i64, i64, String, Vec<u8>)>,
    stats: Vec<(String, String, String, String, Vec<i64>)>,
}

struct CaseColumns {
    case_no: String,
    partition: i64,
    region_code: String,
    dept_code: String,
    item_code: String,
    status: String,
    case_type: Option<String>,
    light: String,
    accepted_at: Option<String>,
    ended_at: Option<String>,
    promised_due: Option<String>,
    legal_due: Option<String>,
    used_seconds: i64,
    paused: bool,
    open_alerts: i64,
    last_seq: i64,
    held_count: i64,
    chain_head: Hash,
    as_of: String,
    state: String,
}

struct StepColumns {
    partition: i64,
    offset: i64,
    case_no: String,
    seq: Option<i64>,
    kind: String,
    recorded_at: String,
    disposition: String,
    hash: Hash,
    previous_hash: Hash,
}

struct TransitionColumns {
    alert_id: String,
    case_no: String,
    rule: String,
    category: String,
    level: String,
    level_rank: i64,
    state: String,
    region_code: String,
    dept_code: String,
    item_code: String,
    raised_at: String,
    updated_at: String,
    at: String,
    previous_state: Option<String>,
    previous_level: Option<String>,
    cause: String,
    partition: i64,
    offset: i64,
    alert: String,
}

impl EncodedBatch {
    fn new(batch: &ViewBatch) -> Result<Self> {
        // A case or a step position appearing twice in a batch: the last row stands.
        let mut cases = BTreeMap::new();
        for row in &batch.cases {
            cases.insert(row.case.case_no.as_str(), row);
        }
        let cases = cases
            .into_values()
            .map(CaseColumns::new)
            .collect::<Result<_>>()?;
        let mut steps = BTreeMap::new();
        for row in &batch.steps {
            steps.insert(row.position, row);
        }
        let steps = steps
            .into_values()
            .map(StepColumns::new)
            .collect::<Result<_>>()?;
        let pending_added = batch
            .pending_added
            .iter()
            .map(|(case_no, seq, position)| {
                Ok((
                    case_no.clone(),
                    i64::from(*seq),
                    i64::from(position.partition),
                    offset_bind(position.offset)?,
                ))
            })
            .collect::<Result<_>>()?;
        let pending_removed = batch
            .pending_removed
            .iter()
            .map(|(case_no, seq)| (case_no.clone(), i64::from(*seq)))
            .collect();
        let transitions: Vec<TransitionColumns> = batch
            .alerts
            .iter()
            .map(TransitionColumns::new)
            .collect::<Result<_>>()?;
        let mut latest = BTreeMap::new();
        for (index, transition) in transitions.iter().enumerate() {
            latest.insert(transition.alert_id.as_str(), index);
        }
        let latest_alerts = latest.into_values().collect();
        let refusals = batch
            .refusals
            .iter()
            .map(|refusal| {
                Ok((
                    i64::from(refusal.position.partition),
                    offset_bind(refusal.position.offset)?,
                    refusal.alert_id.clone(),
                    refusal.principal.clone(),
                    refusal.reason.clone(),
                ))
            })
            .collect::<Result<_>>()?;
        let quarantine = batch
            .quarantine
            .iter()
            .map(|row| {
                Ok((
                    i64::from(row.position.partition),
                    offset_bind(row.position.offset)?,
                    row.reason.clone(),
                    row.bytes.clone(),
                ))
            })
            .collect::<Result<_>>()?;
        let mut stats: BTreeMap<&StatKey, Counters> = BTreeMap::new();
        for (key, counters) in &batch.stats {
            *stats.entry(key).or_default() += counters;
        }
        let stats = stats
            .into_iter()
            .filter(|(_, counters)| !counters.is_zero())
            .map(|(key, counters)| {
                (
                    day_text(key.day),
                    key.region_code.as_str().to_owned(),
                    key.dept_code.as_str().to_owned(),
                    key.item_code.as_str().to_owned(),
                    counters.values(),
                )
            })
            .collect();
        Ok(EncodedBatch {
            cases,
            steps,
            pending_added,
            pending_removed,
            transitions,
            latest_alerts,
            refusals,
            quarantine,
            stats,
        })
    }

    /// Writes the rows after the fence; returns the first alert cursor of the batch.
    async fn write(&self, conn: &mut SqliteConnection) -> Result<u64> {
        insert_chunked(
            conn,
            &self.cases,
            CASE_INSERT,
            CASE_UPSERT,
            20,
            |values, row| {
                values
                    .push_bind(row.case_no.as_str())
                    .push_bind(row.partition)
                    .push_bind(row.region_code.as_str())
                    .push_bind(row.dept_code.as_str())
                    .push_bind(row.item_code.as_str())
                    .push_bind(row.status.as_str())
                    .push_bind(row.case_type.as_deref())
                    .push_bind(row.light.as_str())
                    .push_bind(row.accepted_at.as_deref())
                    .push_bind(row.ended_at.as_deref())
                    .push_bind(row.promised_due.as_deref())
                    .push_bind(row.legal_due.as_deref())
                    .push_bind(row.used_seconds)
                    .push_bind(row.paused)
                    .push_bind(row.open_alerts)
                    .push_bind(row.last_seq)
                    .push_bind(row.held_count)
                    .push_bind(&row.chain_head[..])
                    .push_bind(row.as_of.as_str())
                    .push_bind(row.state.as_str());
            },
        )
        .await?;
        insert_chunked(
            conn,
            &self.steps,
            "INSERT INTO steps (partition, log_offset, case_no, seq, kind, recorded_at, \
             disposition, hash, previous_hash) ",
            " ON CONFLICT (partition, log_offset) DO UPDATE SET disposition = excluded.disposition",
            9,
            |values, row| {
                values
                    .push_bind(row.partition)
                    .push_bind(row.offset)
                    .push_bind(row.case_no.as_str())
                    .push_bind(row.seq)
                    .push_bind(row.kind.as_str())
                    .push_bind(row.recorded_at.as_str())
                    .push_bind(row.disposition.as_str())
                    .push_bind(&row.hash[..])
                    .push_bind(&row.previous_hash[..]);
            },
        )
        .await?;
        insert_chunked(
            conn,
            &self.pending_added,
            "INSERT INTO pending_steps (case_no, seq, partition, log_offset) ",
            " ON CONFLICT (case_no, seq) DO UPDATE \
             SET partition = excluded.partition, log_offset = excluded.log_offset",
            4,
            |values, (case_no, seq, partition, offset)| {
                values
                    .push_bind(case_no.as_str())
                    .push_bind(*seq)
                    .push_bind(*partition)
                    .push_bind(*offset);
            },
        )
        .await?;
        for (case_no, seq) in &self.pending_removed {
            sqlx::query("DELETE FROM pending_steps WHERE case_no = ? AND seq = ?")
                .bind(case_no.as_str())
                .bind(*seq)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        let first_cursor = self.write_alerts(conn).await?;
        insert_chunked(
            conn,
            &self.refusals,
            "INSERT INTO refusals (partition, log_offset, alert_id, principal, reason) ",
            " ON CONFLICT (partition, log_offset) DO UPDATE SET alert_id = excluded.alert_id, \
             principal = excluded.principal, reason = excluded.reason",
            5,
            |values, (partition, offset, alert_id, principal, reason)| {
                values
                    .push_bind(*partition)
                    .push_bind(*offset)
                    .push_bind(alert_id.as_str())
                    .push_bind(principal.as_str())
                    .push_bind(reason.as_str());
            },
        )
        .await?;
        insert_chunked(
            conn,
            &self.quarantine,
            "INSERT INTO quarantine (partition, log_offset, reason, bytes) ",
            " ON CONFLICT (partition, log_offset) DO UPDATE \
             SET reason = excluded.reason, bytes = excluded.bytes",
            4,
            |values, (partition, offset, reason, bytes)| {
                values
                    .push_bind(*partition)
                    .push_bind(*offset)
                    .push_bind(reason.as_str())
                    .push_bind(bytes.as_slice());
            },
        )
        .await?;
        insert_chunked(
            conn,
            &self.stats,
            STATS_INSERT.as_str(),
            STATS_UPSERT.as_str(),
            4 + Counters::NAMES.len(),
            |values, (day, region, dept, item, counters)| {
                values
                    .push_bind(day.as_str())
                    .push_bind(region.as_str())
                    .push_bind(dept.as_str())
                    .push_bind(item.as_str());
                for value in counters {
                    values.push_bind(*value);
                }
            },
        )
        .await?;
        Ok(first_cursor)
    }

    /// Takes the batch's cursors from the counter, then writes the transitions and the
    /// alerts' current state. Returns the first cursor (meaningless, and the counter left
    /// untouched, when the batch has no alert changes).
    async fn write_alerts(&self, conn: &mut SqliteConnection) -> Result<u64> {
        if self.transitions.is_empty() {
            return Ok(0);
        }
        let count = i64::try_from(self.transitions.len())
            .map_err(|_| corrupt("batch", "too many alert changes"))?;
        let end: i64 = sqlx::query_scalar(
            "UPDATE alert_cursor SET next = next + ? WHERE id = 0 RETURNING next",
        )
        .bind(count)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        let first = end - count;
        let numbered: Vec<(i64, &TransitionColumns)> =
            (first..).zip(self.transitions.iter()).collect();
        insert_chunked(
            conn,
            &numbered,
            "INSERT INTO alert_transitions (cursor, alert_id, at, previous_state, \
             previous_level, state, level, level_rank, cause, partition, log_offset, alert) ",
            "",
            12,
            |values, (cursor, row)| {
                values
                    .push_bind(*cursor)
                    .push_bind(row.alert_id.as_str())
                    .push_bind(row.at.as_str())
                    .push_bind(row.previous_state.as_deref())
                    .push_bind(row.previous_level.as_deref())
                    .push_bind(row.state.as_str())
                    .push_bind(row.level.as_str())
                    .push_bind(row.level_rank)
                    .push_bind(row.cause.as_str())
                    .push_bind(row.partition)
                    .push_bind(row.offset)
                    .push_bind(row.alert.as_str());
            },
        )
        .await?;
        let latest: Vec<(i64, &TransitionColumns)> = self
            .latest_alerts
            .iter()
            .map(|index| numbered[*index])
            .collect();
        insert_chunked(
            conn,
            &latest,
            "INSERT INTO alerts (alert_id, case_no, rule, category, level, level_rank, state, \
             region_code, dept_code, item_code, raised_at, updated_at, cursor, alert) ",
            " ON CONFLICT (alert_id) DO UPDATE SET level = excluded.level, \
             level_rank = excluded.level_rank, state = excluded.state, \
             updated_at = excluded.updated_at, cursor = excluded.cursor, alert = excluded.alert",
            14,
            |values, (cursor, row)| {
                values
                    .push_bind(row.alert_id.as_str())
                    .push_bind(row.case_no.as_str())
                    .push_bind(row.rule.as_str())
                    .push_bind(row.category.as_str())
                    .push_bind(row.level.as_str())
                    .push_bind(row.level_rank)
                    .push_bind(row.state.as_str())
                    .push_bind(row.region_code.as_str())
                    .push_bind(row.dept_code.as_str())
                    .push_bind(row.item_code.as_str())
                    .push_bind(row.raised_at.as_str())
                    .push_bind(row.updated_at.as_str())
                    .push_bind(*cursor)
                    .push_bind(row.alert.as_str());
            },
        )
        .await?;
        cursor_from(first)
    }
}

impl CaseColumns {
    fn new(row: &CaseRow) -> Result<Self> {
        let case = &row.case;
        Ok(CaseColumns {
            case_no: case.case_no.as_str().to_owned(),
            partition: i64::from(row.partition),
            region_code: case.region_code.as_str().to_owned(),
            dept_code: case.dept_code.as_str().to_owned(),
            item_code: case.item_code.as_str().to_owned(),
            status: enum_text(&case.status)?,
            case_type: case.case_type.as_ref().map(enum_text).transpose()?,
            light: enum_text(&row.light)?,
            accepted_at: case.accepted_at.as_ref().map(timestamp_text),
            ended_at: case.ended_at.as_ref().map(timestamp_text),
            promised_due: row.promised_due.as_ref().map(timestamp_text),
            legal_due: row.legal_due.as_ref().map(timestamp_text),
            used_seconds: row.used_seconds,
            paused: row.paused,
            open_alerts: count(case.alerts.iter().filter(|alert| alert.state.is_open())),
            last_seq: i64::from(case.applied_through),
            held_count: count(case.held.iter()),
            chain_head: row.chain_head,
            as_of: timestamp_text(&row.as_of),
            state: to_json("case state", case)?,
        })
    }
}

impl StepColumns {
    fn new(row: &StepRow) -> Result<Self> {
        Ok(StepColumns {
            partition: i64::from(row.position.partition),
            offset: offset_bind(row.position.offset)?,
            case_no: row.case_no.clone(),
            seq: row.seq.map(i64::from),
            kind: row.kind.clone(),
            recorded_at: timestamp_text(&row.recorded_at),
            disposition: enum_text(&row.disposition)?,
            hash: row.hash,
            previous_hash: row.previous_hash,
        })
    }
}

impl TransitionColumns {
    fn new(row: &AlertChangeRow) -> Result<Self> {
        let change = &row.change;
        let alert = &change.alert;
        let (previous_state, previous_level) = match &change.previous {
            Some((state, level)) => (Some(enum_text(state)?), Some(enum_text(level)?)),
            None => (None, None),
        };
        Ok(TransitionColumns {
            alert_id: alert.id.to_string(),
            case_no: alert.id.case_no.as_str().to_owned(),
            rule: enum_text(&alert.rule())?,
            category: enum_text(&alert.category)?,
            level: enum_text(&alert.level)?,
            level_rank: level_rank(alert.level),
            state: enum_text(&alert.state)?,
            region_code: alert.region_code.as_str().to_owned(),
            dept_code: alert.dept_code.as_str().to_owned(),
            item_code: alert.item_code.as_str().to_owned(),
            raised_at: timestamp_text(&alert.raised_at),
            updated_at: timestamp_text(&alert.updated_at),
            at: timestamp_text(&change.at),
            previous_state,
            previous_level,
            cause: to_json("alert cause", &change.cause)?,
            partition: i64::from(row.position.partition),
            offset: offset_bind(row.position.offset)?,
            alert: to_json("alert", alert)?,
        })
    }
}

const CASE_INSERT: &str = "INSERT INTO cases (case_no, partition, region_code, dept_code, \
    item_code, status, case_type, light, accepted_at, ended_at, promised_due, legal_due, \
    used_seconds, paused, open_alerts, last_seq, held_count, chain_head, as_of, state) ";

const CASE_UPSERT: &str = " ON CONFLICT (case_no) DO UPDATE SET \
    partition = excluded.partition, region_code = excluded.region_code, \
    dept_code = excluded.dept_code, item_code = excluded.item_code, status = excluded.status, \
    case_type = excluded.case_type, light = excluded.light, accepted_at = excluded.accepted_at, \
    ended_at = excluded.ended_at, promised_due = excluded.promised_due, \
    legal_due = excluded.legal_due, used_seconds = excluded.used_seconds, \
    paused = excluded.paused, open_alerts = excluded.open_alerts, last_seq = excluded.last_seq, \
    held_count = excluded.held_count, chain_head = excluded.chain_head, as_of = excluded.as_of, \
    state = excluded.state";

/// The stats insert, its columns generated from [`Counters::NAMES`].
static STATS_INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO stats (day, region_code, dept_code, item_code, {}) ",
        Counters::NAMES.join(", ")
    )
});

/// Adds each counter of a conflicting row to the stored one.
static STATS_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let sums: Vec<String> = Counters::NAMES
        .iter()
        .map(|name| format!("{name} = stats.{name} + excluded.{name}"))
        .collect();
    format!(
        " ON CONFLICT (day, region_code, dept_code, item_code) DO UPDATE SET {}",
        sums.join(", ")
    )
});

const CASE_COLUMNS: &str = "case_no, partition, light, promised_due, legal_due, used_seconds, \
    paused, as_of, chain_head, state";

const STEP_COLUMNS: &str = "partition, log_offset, case_no, seq, kind, recorded_at, disposition, \
    hash, previous_hash";

const TRANSITION_COLUMNS: &str = "t.cursor, t.at, t.previous_state, t.previous_level, t.cause, \
    t.partition, t.log_offset, t.alert";

/// Inserts `rows` with multi-row statements of power-of-two sizes: few round trips, and
/// few distinct statements for the prepared-statement cache.
async fn insert_chunked<'r, T>(
    conn: &mut SqliteConnection,
    rows: &'r [T],
    head: &str,
    tail: &str,
    columns: usize,
    mut bind: impl FnMut(&mut Separated<'_, 'r, Sqlite, &'static str>, &'r T),
) -> Result<()> {
    let max_rows = (MAX_BINDS / columns.max(1)).clamp(1, MAX_ROWS);
    let mut rest = rows;
    while !rest.is_empty() {
        let size = power_of_two_below(rest.len().min(max_rows));
        let (chunk, after) = rest.split_at(size);
        let mut query = QueryBuilder::<Sqlite>::new(head);
        query.push_values(chunk, |mut values, row| bind(&mut values, row));
        query.push(tail);
        query.build().execute(&mut *conn).await.map_err(db)?;
        rest = after;
    }
    Ok(())
}

/// The largest power of two not above `n` (`n` ≥ 1).
fn power_of_two_below(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.max(1).leading_zeros())
}

/// Adds `AND column LIKE 'prefix%'` with the prefix's wildcards escaped.
fn push_prefix(query: &mut QueryBuilder<'_, Sqlite>, column: &str, prefix: &str) {
    let escaped = prefix
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    query
        .push(format!(" AND {column} LIKE "))
        .push_bind(format!("{escaped}%"))
        .push(" ESCAPE '\\'");
}

/// Adds the filter's conditions. Identity columns (region, department, item, case, rule,
/// category, raised time) come from the alert `a`; state and level from `current`: `a` for
/// the alerts' current state, `t` for a change's state after it.
fn push_alert_filter(
    query: &mut QueryBuilder<'_, Sqlite>,
    filter: &AlertFilter,
    current: &str,
) -> Result<()> {
    if let Some(prefix) = &filter.region_prefix {
        push_prefix(query, "a.region_code", prefix);
    }
    if let Some(dept) = &filter.dept_code {
        query.push(" AND a.dept_code = ").push_bind(dept.clone());
    }
    if let Some(item) = &filter.item_code {
        query.push(" AND a.item_code = ").push_bind(item.clone());
    }
    if let Some(case_no) = &filter.case_no {
        query.push(" AND a.case_no = ").push_bind(case_no.clone());
    }
    push_any_of(query, "a.rule", &filter.rules)?;
    push_any_of(query, "a.category", &filter.categories)?;
    push_any_of(query, &format!("{current}.state"), &filter.states)?;
    if let Some(level) = filter.min_level {
        query
            .push(format!(" AND {current}.level_rank >= "))
            .push_bind(level_rank(level));
    }
    if let Some(from) = &filter.raised_from {
        query
            .push(" AND a.raised_at >= ")
            .push_bind(timestamp_text(from));
    }
    if let Some(to) = &filter.raised_to {
        query
            .push(" AND a.raised_at < ")
            .push_bind(timestamp_text(to));
    }
    Ok(())
}

/// Adds `AND column IN (…)` unless `values` is empty (no restriction).
fn push_any_of<T: serde::Serialize>(
    query: &mut QueryBuilder<'_, Sqlite>,
    column: &str,
    values: &[T],
) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    query.push(format!(" AND {column} IN ("));
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(enum_text(value)?);
    }
    list.push_unseparated(")");
    Ok(())
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

fn case_from_row(row: &SqliteRow) -> Result<CaseRow> {
    let case: Case = from_json("case state", row.try_get("state").map_err(db)?)?;
    Ok(CaseRow {
        case,
        partition: partition_from(row.try_get("partition").map_err(db)?)?,
        chain_head: hash("case chain head", row.try_get("chain_head").map_err(db)?)?,
        light: parse_enum("case light", row.try_get("light").map_err(db)?)?,
        promised_due: optional_timestamp(row, "promised_due")?,
        legal_due: optional_timestamp(row, "legal_due")?,
        used_seconds: row.try_get("used_seconds").map_err(db)?,
        paused: row.try_get("paused").map_err(db)?,
        as_of: parse_timestamp("case as_of", row.try_get("as_of").map_err(db)?)?,
    })
}

fn step_from_row(row: &SqliteRow) -> Result<StepRow> {
    let seq: Option<i64> = row.try_get("seq").map_err(db)?;
    Ok(StepRow {
        case_no: row.try_get("case_no").map_err(db)?,
        position: position_from_row(row)?,
        seq: seq
            .map(|seq| u32::try_from(seq).map_err(|_| corrupt("step seq", seq.to_string())))
            .transpose()?,
        kind: row.try_get("kind").map_err(db)?,
        recorded_at: parse_timestamp("step recorded_at", row.try_get("recorded_at").map_err(db)?)?,
        disposition: parse_enum("step disposition", row.try_get("disposition").map_err(db)?)?,
        hash: hash("step hash", row.try_get("hash").map_err(db)?)?,
        previous_hash: hash(
            "step previous hash",
            row.try_get("previous_hash").map_err(db)?,
        )?,
    })
}

/// An alert change from the `TRANSITION_COLUMNS` of a row.
fn committed_from_row(row: &SqliteRow) -> Result<CommittedAlert> {
    let alert: Alert = from_json("alert", row.try_get("alert").map_err(db)?)?;
    let previous_state: Option<&str> = row.try_get("previous_state").map_err(db)?;
    let previous_level: Option<&str> = row.try_get("previous_level").map_err(db)?;
    let previous = match (previous_state, previous_level) {
        (Some(state), Some(level)) => Some((
            parse_enum("alert previous state", state)?,
            parse_enum("alert previous level", level)?,
        )),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "alert transition",
                "previous state and level must be both present or both absent",
            ));
        }
    };
    let cause: Cause = from_json("alert cause", row.try_get("cause").map_err(db)?)?;
    Ok(CommittedAlert {
        cursor: cursor_from(row.try_get("cursor").map_err(db)?)?,
        row: AlertChangeRow {
            change: AlertChange {
                alert,
                previous,
                cause,
                at: parse_timestamp("alert change at", row.try_get("at").map_err(db)?)?,
            },
            position: position_from_row(row)?,
        },
    })
}

fn checkpoint_from_row(row: &SqliteRow) -> Result<Checkpoint> {
    Ok(Checkpoint {
        partition: partition_from(row.try_get("partition").map_err(db)?)?,
        next_offset: offset_from("checkpoint offset", row.try_get("next_offset").map_err(db)?)?,
        chain_hash: hash(
            "partition chain hash",
            row.try_get("chain_hash").map_err(db)?,
        )?,
    })
}

fn stat_from_row(row: &SqliteRow) -> Result<(StatKey, Counters)> {
    let key = StatKey {
        day: parse_day(row.try_get("day").map_err(db)?)?,
        region_code: parse_id("stats region code", row.try_get("region_code").map_err(db)?)?,
        dept_code: parse_id(
            "stats department code",
            row.try_get("dept_code").map_err(db)?,
        )?,
        item_code: parse_id("stats item code", row.try_get("item_code").map_err(db)?)?,
    };
    let values = Counters::NAMES
        .iter()
        .map(|name| row.try_get::<i64, _>(*name).map_err(db))
        .collect::<Result<Vec<i64>>>()?;
    Ok((key, Counters::from_values(&values)))
}

/// An identifier read back through its checked constructor.
fn parse_id<T: FromStr>(what: &'static str, text: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|error: T::Err| corrupt(what, format!("`{text}`: {error}")))
}

fn optional_timestamp(
    row: &SqliteRow,
    column: &'static str,
) -> Result<Option<casewatch_domain::Timestamp>> {
    let text: Option<&str> = row.try_get(column).map_err(db)?;
    text.map(|text| parse_timestamp(column, text)).transpose()
}

fn position_from_row(row: &SqliteRow) -> Result<Position> {
    Ok(Position {
        partition: partition_from(row.try_get("partition").map_err(db)?)?,
        offset: offset_from("log offset", row.try_get("log_offset").map_err(db)?)?,
    })
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

/// An offset as SQLite's signed integer; offsets past `i64::MAX` cannot be stored.
fn offset_bind(offset: Offset) -> Result<i64> {
    i64::try_from(offset)
        .map_err(|_| corrupt("offset", format!("{offset} exceeds the store's range")))
}

/// A cursor to compare with; cursors past `i64::MAX` never exist, so clamping keeps the
/// comparison's meaning.
fn cursor_bind(cursor: u64) -> i64 {
    i64::try_from(cursor).unwrap_or(i64::MAX)
}

fn count<T>(items: impl Iterator<Item = T>) -> i64 {
    i64::try_from(items.count()).unwrap_or(i64::MAX)
}

/// Decoding failures are stored content that does not read; anything else is the
/// database failing.
fn db(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. } => corrupt("row", error.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

fn migration(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Unavailable(format!("migrating the view store failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stats_columns_of_the_migration_are_the_counter_names() {
        let store = SqliteStore::open_in_memory()
            .await
            .expect("in-memory store opens");
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('stats') ORDER BY cid")
                .fetch_all(&store.reader)
                .await
                .expect("table info reads");
        let key = ["day", "region_code", "dept_code", "item_code"];
        assert_eq!(&columns[..key.len()], &key);
        assert_eq!(&columns[key.len()..], Counters::NAMES);
    }

    #[test]
    fn chunks_are_powers_of_two() {
        assert_eq!(power_of_two_below(1), 1);
        assert_eq!(power_of_two_below(3), 2);
        assert_eq!(power_of_two_below(512), 512);
        assert_eq!(power_of_two_below(1000), 512);
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
            },
        );
        store.apply(batch).await.expect("batch applies");
        let digest = store.digest().await.expect("digest");
        store.close().await;

        let reopened = SqliteStore::open(&path).await.expect("store reopens");
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&reopened.writer)
            .await
            .expect("journal mode reads");
        assert_eq!(journal, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&reopened.writer)
            .await
            .expect("synchronous reads");
        assert_eq!(synchronous, 2, "synchronous = FULL");
        assert_eq!(
            reopened.checkpoint(3).await.expect("checkpoint reads"),
            Some(Checkpoint {
                partition: 3,
                next_offset: 7,
                chain_hash: [7; 32],
            })
        );
        assert_eq!(reopened.digest().await.expect("digest"), digest);
    }
}
