//! One projector batch, one transaction: the fenced checkpoint move first, then the rows
//! with multi-row upserts, then the alert changes with cursors from the one-row counter,
//! last the commit notice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use std::time::Instant;

use casewatch_domain::policy::PolicySnapshot;
use casewatch_domain::stats::{Counters, StatKey};
use sqlx::QueryBuilder;
use tracing::debug;

use super::{
    Columns, Dialect, MAX_BINDS, MAX_ROWS, Param, PushParam, SqlViews, cursor_from, db, level_rank,
    offset_bind, offset_from, power_of_two_below,
};
use crate::codec::{corrupt, day_text, enum_text, timestamp_text, to_json};
use crate::{
    AlertChangeRow, CaseRow, CommitNotice, CommittedAlert, Hash, Partition, PolicyOutcome,
    PolicyRecordRow, Position, Result, StepRow, StoreError, ViewBatch,
};

impl<DB: Dialect> SqlViews<DB> {
    /// Applies batches in one transaction; see
    /// [`ViewStore::apply_all`](crate::ViewStore::apply_all).
    pub(crate) async fn apply_all(&self, batches: Vec<ViewBatch>) -> Result<Vec<CommittedAlert>> {
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        for batch in &batches {
            debug_assert_eq!(
                batch.partition, batch.checkpoint.partition,
                "a batch carries its own partition's checkpoint"
            );
        }
        // Everything is encoded before the transaction takes any lock, and the rows of
        // every batch go together: a statement per table for the round, not per batch.
        let rows = EncodedBatch::new(&batches)?;
        let mut tx = self.writer.begin_with(DB::BEGIN_BATCH).await.map_err(db)?;
        for batch in &batches {
            if let Err(error) = fence::<DB>(&mut tx, batch).await {
                tx.rollback().await.map_err(db)?;
                return Err(error);
            }
        }
        let alerts = rows.write_rows::<DB>(&mut tx).await?;
        let first_cursor = alerts.write::<DB>(&mut tx).await?;
        let mut next_cursor = first_cursor;
        for batch in &batches {
            let alerts = u64::try_from(batch.alerts.len()).unwrap_or(u64::MAX);
            let notice = CommitNotice {
                partition: batch.partition,
                next_offset: batch.checkpoint.next_offset,
                last_cursor: (alerts > 0).then(|| next_cursor + alerts - 1),
            };
            next_cursor += alerts;
            if let Some(statement) = DB::commit_notice(&notice) {
                DB::execute(&mut tx, statement).await?;
            }
        }
        tx.commit().await.map_err(db)?;

        debug!(
            partitions = batches.len(),
            steps = batches.iter().map(|batch| batch.steps.len()).sum::<usize>(),
            elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "batches applied"
        );
        Ok(batches
            .into_iter()
            .flat_map(|batch| batch.alerts)
            .zip(first_cursor..)
            .map(|(row, cursor)| CommittedAlert { cursor, row })
            .collect())
    }
}

/// Moves the partition's checkpoint from `batch.from_offset` to the batch's checkpoint, or
/// fails with [`StoreError::Fenced`] when it stands elsewhere. The first write of the
/// transaction, so nothing the batch writes can precede it, and a stale batch takes no
/// lock but its own partition's checkpoint row.
async fn fence<DB: Dialect>(conn: &mut DB::Connection, batch: &ViewBatch) -> Result<()> {
    let partition = i64::from(batch.partition);
    let next = offset_bind(batch.checkpoint.next_offset)?;
    let chain = batch.checkpoint.chain_hash;
    let clock = batch.checkpoint.clock.as_ref().map(timestamp_text);
    let mut query = QueryBuilder::new("");
    if batch.from_offset == 0 {
        query
            .push("INSERT INTO checkpoints (partition, next_offset, chain_hash, clock) VALUES (")
            .push_param(partition)
            .push(", ")
            .push_param(next)
            .push(", ")
            .push_param(chain)
            .push(", ")
            .push_param(clock)
            .push(
                ") ON CONFLICT (partition) DO UPDATE \
                 SET next_offset = excluded.next_offset, chain_hash = excluded.chain_hash, \
                 clock = excluded.clock WHERE checkpoints.next_offset = 0",
            );
    } else {
        query
            .push("UPDATE checkpoints SET next_offset = ")
            .push_param(next)
            .push(", chain_hash = ")
            .push_param(chain)
            .push(", clock = ")
            .push_param(clock)
            .push(" WHERE partition = ")
            .push_param(partition)
            .push(" AND next_offset = ")
            .push_param(offset_bind(batch.from_offset)?);
    }
    if DB::execute(conn, query).await? == 1 {
        return Ok(());
    }
    let mut query = QueryBuilder::new("SELECT next_offset FROM checkpoints WHERE partition = ");
    query.push_param(partition);
    let found = match DB::fetch_all(conn, query).await?.first() {
        Some(row) => offset_from("checkpoint offset", row.int("next_offset")?)?,
        None => 0,
    };
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

/// The rows of a round of batches as bind parameters, encoded before the transaction
/// starts. A key that appears twice (a case, an archive position, a held step…) is written
/// once, with its last row: one statement cannot upsert a row twice on PostgreSQL.
struct EncodedBatch {
    /// Cases, the archive, the chain links, the pending set, refusals, quarantine and
    /// statistics.
    tables: Vec<Rows>,
    alerts: AlertRows,
}

/// Rows for one multi-row statement: `head VALUES (…), (…) tail`.
struct Rows {
    head: &'static str,
    tail: &'static str,
    rows: Vec<Vec<Param>>,
}

impl EncodedBatch {
    /// The rows of `batches`, of different partitions, to be written together.
    fn new(batches: &[ViewBatch]) -> Result<Self> {
        let cases: BTreeMap<&str, &CaseRow> = batches
            .iter()
            .flat_map(|batch| &batch.cases)
            .map(|row| (row.case.case_no.as_str(), row))
            .collect();
        let steps: BTreeMap<Position, &StepRow> = batches
            .iter()
            .flat_map(|batch| &batch.steps)
            .map(|row| (row.position, row))
            .collect();
        let links: BTreeMap<Position, Hash> = batches
            .iter()
            .flat_map(|batch| &batch.links)
            .map(|link| (link.position, link.hash))
            .collect();
        let pending_added: BTreeMap<(&str, u32), Position> = batches
            .iter()
            .flat_map(|batch| &batch.pending_added)
            .map(|(case_no, seq, position)| ((case_no.as_str(), *seq), *position))
            .collect();
        let pending_removed: BTreeSet<(&str, u32)> = batches
            .iter()
            .flat_map(|batch| &batch.pending_removed)
            .map(|(case_no, seq)| (case_no.as_str(), *seq))
            .collect();
        let refusals: BTreeMap<Position, _> = batches
            .iter()
            .flat_map(|batch| &batch.refusals)
            .map(|row| (row.position, row))
            .collect();
        let quarantine: BTreeMap<Position, _> = batches
            .iter()
            .flat_map(|batch| &batch.quarantine)
            .map(|row| (row.position, row))
            .collect();
        let policies: BTreeMap<Partition, &PolicySnapshot> = batches
            .iter()
            .filter_map(|batch| Some((batch.partition, batch.policy.as_ref()?)))
            .collect();
        let policy_records: BTreeMap<Position, &PolicyRecordRow> = batches
            .iter()
            .flat_map(|batch| &batch.policy_records)
            .map(|row| (row.position, row))
            .collect();
        let mut stats: BTreeMap<&StatKey, Counters> = BTreeMap::new();
        for (key, counters) in batches.iter().flat_map(|batch| &batch.stats) {
            *stats.entry(key).or_default() += counters;
        }

        let tables = vec![
            Rows {
                head: CASE_INSERT,
                tail: CASE_UPSERT,
                rows: cases
                    .into_values()
                    .map(case_params)
                    .collect::<Result<_>>()?,
            },
            Rows {
                head: "INSERT INTO steps (partition, log_offset, case_no, seq, kind, recorded_at, \
                       disposition, hash, previous_hash)",
                tail: " ON CONFLICT (partition, log_offset) \
                       DO UPDATE SET disposition = excluded.disposition",
                rows: steps
                    .into_values()
                    .map(step_params)
                    .collect::<Result<_>>()?,
            },
            Rows {
                head: "INSERT INTO chain_links (partition, log_offset, hash)",
                tail: " ON CONFLICT (partition, log_offset) DO UPDATE SET hash = excluded.hash",
                rows: links
                    .into_iter()
                    .map(|(position, hash)| at_position(position, [hash.into()]))
                    .collect::<Result<_>>()?,
            },
            Rows {
                head: "INSERT INTO partition_policy (partition, snapshot)",
                tail: " ON CONFLICT (partition) DO UPDATE SET snapshot = excluded.snapshot",
                rows: policies
                    .into_iter()
                    .map(|(partition, snapshot)| {
                        Ok(vec![
                            i64::from(partition).into(),
                            to_json("partition policy", snapshot)?.into(),
                        ])
                    })
                    .collect::<Result<_>>()?,
            },
            Rows {
                head: "INSERT INTO policy_records (partition, log_offset, recorded_at, change, \
                       outcome, reason)",
                tail: " ON CONFLICT (partition, log_offset) DO UPDATE \
                       SET recorded_at = excluded.recorded_at, change = excluded.change, \
                       outcome = excluded.outcome, reason = excluded.reason",
                rows: policy_records
                    .into_values()
                    .map(|row| {
                        let (outcome, reason) = match &row.outcome {
                            PolicyOutcome::Applied => ("applied", None),
                            PolicyOutcome::Held => ("held", None),
                            PolicyOutcome::Refused(reason) => ("refused", Some(reason.as_str())),
                        };
                        at_position(
                            row.position,
                            [
                                timestamp_text(&row.recorded_at).into(),
                                to_json("policy change", &row.change)?.into(),
                                outcome.into(),
                                reason.map(str::to_owned).into(),
                            ],
                        )
                    })
                    .collect::<Result<_>>()?,
            },
            Rows {
                head: "INSERT INTO pending_steps (partition, log_offset, case_no, seq)",
                tail: " ON CONFLICT (case_no, seq) DO UPDATE \
                       SET partition = excluded.partition, log_offset = excluded.log_offset",
                rows: pending_added
                    .into_iter()
                    .map(|((case_no, seq), position)| {
                        at_position(position, [case_no.into(), i64::from(seq).into()])
                    })
                    .collect::<Result<_>>()?,
            },
            // After the additions, so that a step held and released in the same batch is
            // found: a held step leaves the pending set because it was applied, and its
            // archive row says so (`applied` is `Disposition::Applied`'s name).
            Rows {
                head: "UPDATE steps SET disposition = 'applied' \
                       WHERE (partition, log_offset) IN (SELECT partition, log_offset \
                       FROM pending_steps WHERE (case_no, seq) IN (",
                tail: "))",
                rows: removed(&pending_removed),
            },
            Rows {
                head: "DELETE FROM pending_steps WHERE (case_no, seq) IN (",
                tail: ")",
                rows: removed(&pending_removed),
            },
            Rows {
                head: "INSERT INTO refusals (partition, log_offset, alert_id, principal, reason)",
                tail: " ON CONFLICT (partition, log_offset) DO UPDATE \
                       SET alert_id = excluded.alert_id, principal = excluded.principal, \
                       reason = excluded.reason",
                rows: refusals
                    .into_values()
                    .map(|row| {
                        at_position(
                            row.position,
                            [
                                row.alert_id.as_str().into(),
                                row.principal.as_str().into(),
                                row.reason.as_str().into(),
                            ],
                        )
                    })
                    .collect::<Result<_>>()?,
            },
            Rows {
                head: "INSERT INTO quarantine (partition, log_offset, reason, bytes, case_no)",
                tail: " ON CONFLICT (partition, log_offset) DO UPDATE \
                       SET reason = excluded.reason, bytes = excluded.bytes, \
                       case_no = excluded.case_no",
                rows: quarantine
                    .into_values()
                    .map(|row| {
                        at_position(
                            row.position,
                            [
                                row.reason.as_str().into(),
                                row.bytes.clone().into(),
                                row.case_no
                                    .as_ref()
                                    .map(|case_no| case_no.to_string())
                                    .into(),
                            ],
                        )
                    })
                    .collect::<Result<_>>()?,
            },
            Rows {
                head: STATS_INSERT.as_str(),
                tail: STATS_UPSERT.as_str(),
                rows: stats
                    .into_iter()
                    .filter(|(_, counters)| !counters.is_zero())
                    .map(|(key, counters)| {
                        let mut row: Vec<Param> = vec![
                            day_text(key.day).into(),
                            key.region_code.as_str().into(),
                            key.dept_code.as_str().into(),
                            key.item_code.as_str().into(),
                        ];
                        row.extend(counters.values().into_iter().map(Param::from));
                        row
                    })
                    .collect(),
            },
        ];

        let mut transitions = Vec::new();
        let mut latest = BTreeMap::new();
        let changes = batches.iter().flat_map(|batch| &batch.alerts);
        for (index, row) in changes.enumerate() {
            let (transition, alert) = alert_params(row)?;
            transitions.push(transition);
            latest.insert(row.change.alert.id.to_string(), (index, alert));
        }
        Ok(EncodedBatch {
            tables,
            alerts: AlertRows {
                transitions,
                alerts: latest.into_values().collect(),
            },
        })
    }

    /// Writes the rows after the fences, but for the alert changes: those are returned, to
    /// be written last (they take the cursor counter, whose row stays locked until the
    /// commit).
    async fn write_rows<DB: Dialect>(self, conn: &mut DB::Connection) -> Result<AlertRows> {
        for table in self.tables {
            for statement in table.statements::<DB>() {
                DB::execute(conn, statement).await?;
            }
        }
        Ok(self.alerts)
    }
}

/// A round's alert changes, encoded, waiting for their cursors.
struct AlertRows {
    /// Alert changes in order, without their cursor.
    transitions: Vec<Vec<Param>>,
    /// Each changed alert's state after its last change in the round, without the cursor,
    /// with the index in `transitions` of that change.
    alerts: Vec<(usize, Vec<Param>)>,
}

impl AlertRows {
    /// Takes cursors for the alert changes and writes them; returns the first cursor
    /// (meaningless when there are no changes).
    async fn write<DB: Dialect>(self, conn: &mut DB::Connection) -> Result<u64> {
        if self.transitions.is_empty() {
            return Ok(0);
        }
        // Last: the counter's row stays locked until the commit, and every batch with
        // alert changes waits for it, so cursors follow commit order; the less the
        // transaction does after taking it, the shorter the wait.
        let count = i64::try_from(self.transitions.len())
            .map_err(|_| corrupt("batch", "too many alert changes"))?;
        let mut query = QueryBuilder::new("UPDATE alert_cursor SET next = next + ");
        query
            .push_param(count)
            .push(" WHERE id = 0 RETURNING next - ")
            .push_param(count)
            .push(" AS first");
        let first = match DB::fetch_all(conn, query).await?.first() {
            Some(row) => row.int("first")?,
            None => return Err(corrupt("alert cursor", "the counter row is missing")),
        };
        let transitions = Rows {
            head: "INSERT INTO alert_transitions (partition, log_offset, alert_id, at, \
                   previous_state, previous_level, state, level, level_rank, cause, alert, cursor)",
            tail: "",
            rows: (first..)
                .zip(self.transitions)
                .map(|(cursor, row)| with_cursor(row, cursor))
                .collect(),
        };
        let alerts = Rows {
            head: "INSERT INTO alerts (alert_id, case_no, rule, category, level, level_rank, \
                   state, region_code, dept_code, item_code, raised_at, updated_at, alert, cursor)",
            tail: " ON CONFLICT (alert_id) DO UPDATE SET level = excluded.level, \
                   level_rank = excluded.level_rank, state = excluded.state, \
                   updated_at = excluded.updated_at, cursor = excluded.cursor, \
                   alert = excluded.alert",
            rows: self
                .alerts
                .into_iter()
                .map(|(index, row)| {
                    let cursor = first + i64::try_from(index).unwrap_or(i64::MAX);
                    with_cursor(row, cursor)
                })
                .collect(),
        };
        for statement in transitions
            .statements::<DB>()
            .into_iter()
            .chain(alerts.statements::<DB>())
        {
            DB::execute(conn, statement).await?;
        }
        cursor_from(first)
    }
}

impl Rows {
    /// The statements writing the rows, in chunks of power-of-two sizes: few round trips,
    /// and few distinct statements for the prepared-statement cache.
    fn statements<DB: Dialect>(self) -> Vec<QueryBuilder<'static, DB>> {
        let columns = self.rows.first().map_or(1, Vec::len).max(1);
        let max_rows = (MAX_BINDS / columns).clamp(1, MAX_ROWS);
        let mut left = self.rows.len();
        let mut rows = self.rows.into_iter();
        let mut statements = Vec::new();
        while left > 0 {
            let size = power_of_two_below(left.min(max_rows));
            let mut query = QueryBuilder::new(self.head);
            query.push(" VALUES ");
            for (index, row) in rows.by_ref().take(size).enumerate() {
                query.push(if index == 0 { "(" } else { ", (" });
                for (column, param) in row.into_iter().enumerate() {
                    if column > 0 {
                        query.push(", ");
                    }
                    query.push_param(param);
                }
                query.push(")");
            }
            query.push(self.tail);
            statements.push(query);
            left -= size;
        }
        statements
    }
}

const CASE_INSERT: &str = "INSERT INTO cases (case_no, partition, region_code, dept_code, \
    item_code, status, case_type, light, accepted_at, ended_at, promised_due, legal_due, \
    used_seconds, paused, open_alerts, last_seq, held_count, chain_head, as_of, state, \
    overdue_promised_at, overdue_legal_at)";

const CASE_UPSERT: &str = " ON CONFLICT (case_no) DO UPDATE SET \
    partition = excluded.partition, region_code = excluded.region_code, \
    dept_code = excluded.dept_code, item_code = excluded.item_code, status = excluded.status, \
    case_type = excluded.case_type, light = excluded.light, accepted_at = excluded.accepted_at, \
    ended_at = excluded.ended_at, promised_due = excluded.promised_due, \
    legal_due = excluded.legal_due, used_seconds = excluded.used_seconds, \
    paused = excluded.paused, open_alerts = excluded.open_alerts, last_seq = excluded.last_seq, \
    held_count = excluded.held_count, chain_head = excluded.chain_head, as_of = excluded.as_of, \
    state = excluded.state, overdue_promised_at = excluded.overdue_promised_at, \
    overdue_legal_at = excluded.overdue_legal_at";

/// The stats insert, its columns generated from [`Counters::NAMES`].
static STATS_INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO stats (day, region_code, dept_code, item_code, {})",
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

/// The rows naming steps that leave the pending set.
fn removed(pending_removed: &BTreeSet<(&str, u32)>) -> Vec<Vec<Param>> {
    pending_removed
        .iter()
        .map(|(case_no, seq)| vec![(*case_no).into(), i64::from(*seq).into()])
        .collect()
}

/// An alert row with its cursor, the last column.
fn with_cursor(mut row: Vec<Param>, cursor: i64) -> Vec<Param> {
    row.push(cursor.into());
    row
}

/// A row whose first columns are a log position (`partition, log_offset`).
fn at_position(position: Position, rest: impl IntoIterator<Item = Param>) -> Result<Vec<Param>> {
    let mut row = vec![
        i64::from(position.partition).into(),
        offset_bind(position.offset)?.into(),
    ];
    row.extend(rest);
    Ok(row)
}

fn case_params(row: &CaseRow) -> Result<Vec<Param>> {
    let case = &row.case;
    Ok(vec![
        case.case_no.as_str().into(),
        i64::from(row.partition).into(),
        case.region_code.as_str().into(),
        case.dept_code.as_str().into(),
        case.item_code.as_str().into(),
        enum_text(&case.status)?.into(),
        case.case_type.as_ref().map(enum_text).transpose()?.into(),
        enum_text(&row.light)?.into(),
        case.accepted_at.as_ref().map(timestamp_text).into(),
        case.ended_at.as_ref().map(timestamp_text).into(),
        row.promised_due.as_ref().map(timestamp_text).into(),
        row.legal_due.as_ref().map(timestamp_text).into(),
        row.used_seconds.into(),
        row.paused.into(),
        count(case.alerts.iter().filter(|alert| alert.state.is_open())).into(),
        i64::from(case.applied_through).into(),
        count(case.held.iter()).into(),
        row.chain_head.into(),
        timestamp_text(&row.as_of).into(),
        to_json("case state", case)?.into(),
        case.overdue_promised_at.as_ref().map(timestamp_text).into(),
        case.overdue_legal_at.as_ref().map(timestamp_text).into(),
    ])
}

fn step_params(row: &StepRow) -> Result<Vec<Param>> {
    at_position(
        row.position,
        [
            row.case_no.as_str().into(),
            row.seq.map(i64::from).into(),
            row.kind.as_str().into(),
            timestamp_text(&row.recorded_at).into(),
            enum_text(&row.disposition)?.into(),
            row.hash.into(),
            row.previous_hash.into(),
        ],
    )
}

/// The row of `alert_transitions` and the row of `alerts` for one change, both without the
/// cursor.
fn alert_params(row: &AlertChangeRow) -> Result<(Vec<Param>, Vec<Param>)> {
    let change = &row.change;
    let alert = &change.alert;
    let (previous_state, previous_level) = match &change.previous {
        Some((state, level)) => (Some(enum_text(state)?), Some(enum_text(level)?)),
        None => (None, None),
    };
    let alert_id = alert.id.to_string();
    let level = enum_text(&alert.level)?;
    let state = enum_text(&alert.state)?;
    let json = to_json("alert", alert)?;
    let transition = at_position(
        row.position,
        [
            alert_id.as_str().into(),
            timestamp_text(&change.at).into(),
            previous_state.into(),
            previous_level.into(),
            state.as_str().into(),
            level.as_str().into(),
            level_rank(alert.level).into(),
            to_json("alert cause", &change.cause)?.into(),
            json.as_str().into(),
        ],
    )?;
    let current = vec![
        alert_id.into(),
        alert.id.case_no.as_str().into(),
        enum_text(&alert.rule())?.into(),
        enum_text(&alert.category)?.into(),
        level.into(),
        level_rank(alert.level).into(),
        state.into(),
        alert.region_code.as_str().into(),
        alert.dept_code.as_str().into(),
        alert.item_code.as_str().into(),
        timestamp_text(&alert.raised_at).into(),
        timestamp_text(&alert.updated_at).into(),
        json.into(),
    ];
    Ok((transition, current))
}

fn count<T>(items: impl Iterator<Item = T>) -> i64 {
    i64::try_from(items.count()).unwrap_or(i64::MAX)
}
