//! The reads and the digest.

use casewatch_domain::Timestamp;
use casewatch_domain::alert::Alert;
use casewatch_domain::case::{Case, CaseStatus};
use casewatch_domain::catalogue::Level;
use casewatch_domain::policy::PolicySnapshot;
use casewatch_domain::stats::{Counters, StatKey};
use chrono::NaiveDate;
use sqlx::QueryBuilder;

use super::rows::{
    case_from_row, chain_link_page, checkpoint_from_row, committed_from_row,
    policy_record_from_row, position_from_row, stat_from_row, step_from_row, step_hash_page,
};
use super::{
    Columns, Dialect, PushParam, SqlViews, cursor_bind, db, level_rank, offset_bind, push_prefixes,
};
use crate::codec::{day_text, enum_text, from_json, hash, parse_text, timestamp_text};
use crate::digest::ViewDigest;
use crate::{
    AlertFilter, CaseFilter, CaseRecord, CaseRow, ChainLink, Checkpoint, CommittedAlert, Hash,
    Offset, OverdueFilter, Partition, PolicyRecordRow, Position, QuarantineRow, Result, StepHash,
    StepRow,
};

const CHECKPOINT_COLUMNS: &str = "partition, next_offset, chain_hash, clock";

const CASE_COLUMNS: &str = "case_no, partition, light, promised_due, legal_due, used_seconds, \
    paused, as_of, chain_head, state";

const STEP_COLUMNS: &str = "partition, log_offset, case_no, seq, kind, recorded_at, disposition, \
    hash, previous_hash";

const TRANSITION_COLUMNS: &str = "t.cursor, t.at, t.previous_state, t.previous_level, t.cause, \
    t.partition, t.log_offset, t.alert";

/// Alert changes with their alert's identity columns (`a`), for [`push_alert_filter`].
const CHANGES_WITH_ALERTS: &str =
    "FROM alert_transitions t JOIN alerts a ON a.alert_id = t.alert_id";

const STAT_KEY_COLUMNS: &str = "day, region_code, dept_code, item_code";

impl<DB: Dialect> SqlViews<DB> {
    pub(crate) async fn checkpoint(&self, partition: Partition) -> Result<Option<Checkpoint>> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE partition = "
        ));
        query.push_param(i64::from(partition));
        self.fetch(query)
            .await?
            .first()
            .map(checkpoint_from_row)
            .transpose()
    }

    pub(crate) async fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let query = QueryBuilder::new(format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY partition"
        ));
        self.fetch(query)
            .await?
            .iter()
            .map(checkpoint_from_row)
            .collect()
    }

    pub(crate) async fn log_identity(&self) -> Result<Option<String>> {
        let query = QueryBuilder::new("SELECT identity FROM log_identity WHERE id = 0");
        self.fetch(query)
            .await?
            .first()
            .map(|row| row.text("identity").map(str::to_owned))
            .transpose()
    }

    pub(crate) async fn set_log_identity(&self, identity: &str) -> Result<()> {
        let mut query = QueryBuilder::new("INSERT INTO log_identity (id, identity) VALUES (0, ");
        query
            .push_param(identity.to_owned())
            .push(") ON CONFLICT (id) DO NOTHING");
        let mut conn = self.writer.acquire().await.map_err(db)?;
        DB::execute(&mut conn, query).await.map(drop)
    }

    pub(crate) async fn load_cases(&self, partition: Partition) -> Result<Vec<CaseRow>> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE partition = "
        ));
        query
            .push_param(i64::from(partition))
            .push(" ORDER BY case_no");
        self.fetch(query).await?.iter().map(case_from_row).collect()
    }

    pub(crate) async fn case(&self, case_no: &str) -> Result<Option<CaseRecord>> {
        let mut query =
            QueryBuilder::new(format!("SELECT {CASE_COLUMNS} FROM cases WHERE case_no = "));
        query.push_param(case_no);
        self.fetch(query)
            .await?
            .first()
            .map(case_from_row)
            .transpose()
    }

    pub(crate) async fn list_cases(
        &self,
        filter: &CaseFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CaseRecord>> {
        let mut query = QueryBuilder::new(format!("SELECT {CASE_COLUMNS} FROM cases WHERE 1 = 1"));
        if let Some(after) = after {
            query.push(" AND case_no > ").push_param(after);
        }
        push_case_scope(
            &mut query,
            filter.region_prefixes.as_deref(),
            filter.dept_code.as_deref(),
        );
        if let Some(item) = &filter.item_code {
            query.push(" AND item_code = ").push_param(item.as_str());
        }
        if let Some(status) = &filter.status {
            query.push(" AND status = ").push_param(enum_text(status)?);
        }
        if let Some(light) = &filter.light {
            query.push(" AND light = ").push_param(enum_text(light)?);
        }
        if let Some(overdue) = filter.overdue {
            let past = match overdue {
                OverdueFilter::PastPromised => "overdue_promised_at",
                OverdueFilter::PastLegal => "overdue_legal_at",
            };
            query
                .push(" AND status = ")
                .push_param(enum_text(&CaseStatus::Accepted)?)
                .push(format!(" AND {past} IS NOT NULL"));
        }
        query
            .push(" ORDER BY case_no LIMIT ")
            .push_param(i64::from(limit));
        self.fetch(query).await?.iter().map(case_from_row).collect()
    }

    /// `overdue_promised_at IS NOT NULL`, which the range implies, is the condition of the
    /// partial index `cases_past_promised`, said outright so that either planner matches it.
    pub(crate) async fn overdue_cases(
        &self,
        region_prefixes: Option<&[String]>,
        dept: Option<&str>,
        at: Timestamp,
    ) -> Result<Vec<CaseRecord>> {
        let at = timestamp_text(&at);
        let mut query = QueryBuilder::new(format!(
            "SELECT {CASE_COLUMNS} FROM cases \
             WHERE overdue_promised_at IS NOT NULL AND overdue_promised_at <= "
        ));
        query
            .push_param(at.as_str())
            .push(" AND accepted_at <= ")
            .push_param(at.as_str())
            .push(" AND (ended_at IS NULL OR ended_at > ")
            .push_param(at)
            .push(")");
        push_case_scope(&mut query, region_prefixes, dept);
        query.push(" ORDER BY case_no");
        self.fetch(query).await?.iter().map(case_from_row).collect()
    }

    pub(crate) async fn list_alerts(
        &self,
        filter: &AlertFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<CommittedAlert>> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {TRANSITION_COLUMNS} FROM alerts a \
             JOIN alert_transitions t ON t.cursor = a.cursor WHERE 1 = 1"
        ));
        if let Some(before) = before {
            query
                .push(" AND a.cursor < ")
                .push_param(cursor_bind(before));
        }
        self.fetch_alerts(query, filter, "a", "a.cursor DESC", Some(limit))
            .await
    }

    pub(crate) async fn alert_changes_after(
        &self,
        cursor: u64,
        filter: &AlertFilter,
        limit: u32,
    ) -> Result<Vec<CommittedAlert>> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {TRANSITION_COLUMNS} {CHANGES_WITH_ALERTS} WHERE t.cursor > "
        ));
        query.push_param(cursor_bind(cursor));
        self.fetch_alerts(query, filter, "t", "t.cursor", Some(limit))
            .await
    }

    /// Each alert's latest change at or before `at`: one with no later change (a higher
    /// cursor; an alert's history never runs back in time) at or before `at`. An
    /// anti-join, which PostgreSQL plans as well as SQLite does; an equality with the
    /// greatest such cursor would have it hash every transition.
    pub(crate) async fn alerts_as_of(
        &self,
        region_prefixes: Option<&[String]>,
        dept: Option<&str>,
        min_level: Level,
        at: Timestamp,
    ) -> Result<Vec<Alert>> {
        let at = timestamp_text(&at);
        let mut query = QueryBuilder::new(format!(
            "SELECT {TRANSITION_COLUMNS} {CHANGES_WITH_ALERTS} WHERE t.at <= "
        ));
        query
            .push_param(at.as_str())
            .push(
                " AND NOT EXISTS (SELECT 1 FROM alert_transitions l \
                 WHERE l.alert_id = t.alert_id AND l.cursor > t.cursor AND l.at <= ",
            )
            .push_param(at)
            .push(")");
        let filter = AlertFilter {
            min_level: Some(min_level),
            ..alert_scope(region_prefixes, dept)
        };
        let changes = self
            .fetch_alerts(query, &filter, "t", "t.alert_id", None)
            .await?;
        Ok(changes
            .into_iter()
            .map(|change| change.row.change.alert)
            .collect())
    }

    pub(crate) async fn alert_changes_between(
        &self,
        region_prefixes: Option<&[String]>,
        dept: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<CommittedAlert>> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {TRANSITION_COLUMNS} {CHANGES_WITH_ALERTS} WHERE t.at >= "
        ));
        query
            .push_param(timestamp_text(&from))
            .push(" AND t.at < ")
            .push_param(timestamp_text(&to));
        let filter = alert_scope(region_prefixes, dept);
        self.fetch_alerts(query, &filter, "t", "t.cursor", None)
            .await
    }

    /// Completes an alert query with the filter (state and level from `current`, as
    /// [`push_alert_filter`] says), the order and the limit if any, and runs it.
    async fn fetch_alerts(
        &self,
        mut query: QueryBuilder<'static, DB>,
        filter: &AlertFilter,
        current: &str,
        order: &str,
        limit: Option<u32>,
    ) -> Result<Vec<CommittedAlert>> {
        push_alert_filter(&mut query, filter, current)?;
        query.push(format!(" ORDER BY {order}"));
        if let Some(limit) = limit {
            query.push(" LIMIT ").push_param(i64::from(limit));
        }
        self.fetch(query)
            .await?
            .iter()
            .map(committed_from_row)
            .collect()
    }

    pub(crate) async fn steps(&self, case_no: &str) -> Result<Vec<StepRow>> {
        let mut query =
            QueryBuilder::new(format!("SELECT {STEP_COLUMNS} FROM steps WHERE case_no = "));
        query
            .push_param(case_no)
            .push(" ORDER BY partition, log_offset");
        self.fetch(query).await?.iter().map(step_from_row).collect()
    }

    /// Reads the page as one row, its columns aggregated: a row per step would cost the
    /// SQLite driver a hand-off between threads and an allocation per column, several times
    /// what reading the step itself costs. The aggregates take the rows in the order the
    /// subquery yields them, which its `LIMIT` makes offset order, and both databases feed
    /// the rows of a query to all its aggregates in one pass; an `ORDER BY` inside each
    /// aggregate would sort the page three more times, for more than the rest of the read
    /// costs. The subquery is served by the archive's primary key, `(partition,
    /// log_offset)`.
    pub(crate) async fn step_hashes(
        &self,
        partition: Partition,
        from: Offset,
        limit: u32,
    ) -> Result<Vec<StepHash>> {
        let mut query = QueryBuilder::new(
            "SELECT count(*) AS steps, \
             string_agg(CAST(log_offset AS TEXT), ' ') AS offsets, \
             string_agg(case_no, ' ') AS case_nos, \
             string_agg(hash, ",
        );
        // The hashes' separator: empty, and bytes, so that both databases concatenate
        // the hashes as bytes.
        query
            .push_param(Vec::new())
            .push(") AS hashes, string_agg(previous_hash, ")
            .push_param(Vec::new())
            .push(
                ") AS previous_hashes \
                 FROM (SELECT log_offset, case_no, hash, previous_hash FROM steps \
                 WHERE partition = ",
            )
            .push_param(i64::from(partition))
            .push(" AND log_offset >= ")
            .push_param(offset_bind(from)?)
            .push(" ORDER BY log_offset LIMIT ")
            .push_param(i64::from(limit))
            .push(") page");
        match self.fetch(query).await?.first() {
            Some(row) => step_hash_page(partition, row),
            None => Ok(Vec::new()),
        }
    }

    /// Reads the page as one row, its columns aggregated, as
    /// [`step_hashes`](Self::step_hashes) does and for the same reasons.
    pub(crate) async fn chain_links(
        &self,
        partition: Partition,
        from: Offset,
        limit: u32,
    ) -> Result<Vec<ChainLink>> {
        let mut query = QueryBuilder::new(
            "SELECT count(*) AS links, \
             string_agg(CAST(log_offset AS TEXT), ' ') AS offsets, \
             string_agg(hash, ",
        );
        query
            .push_param(Vec::new())
            .push(
                ") AS hashes \
                 FROM (SELECT log_offset, hash FROM chain_links WHERE partition = ",
            )
            .push_param(i64::from(partition))
            .push(" AND log_offset >= ")
            .push_param(offset_bind(from)?)
            .push(" ORDER BY log_offset LIMIT ")
            .push_param(i64::from(limit))
            .push(") page");
        match self.fetch(query).await?.first() {
            Some(row) => chain_link_page(partition, row),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) async fn partition_policy(
        &self,
        partition: Partition,
    ) -> Result<Option<PolicySnapshot>> {
        let mut query =
            QueryBuilder::new("SELECT snapshot FROM partition_policy WHERE partition = ");
        query.push_param(i64::from(partition));
        self.fetch(query)
            .await?
            .first()
            .map(|row| from_json("partition policy", row.text("snapshot")?))
            .transpose()
    }

    pub(crate) async fn policy_records(
        &self,
        partition: Partition,
    ) -> Result<Vec<PolicyRecordRow>> {
        let mut query = QueryBuilder::new(
            "SELECT partition, log_offset, recorded_at, change, outcome, reason \
             FROM policy_records WHERE partition = ",
        );
        query
            .push_param(i64::from(partition))
            .push(" ORDER BY log_offset");
        self.fetch(query)
            .await?
            .iter()
            .map(policy_record_from_row)
            .collect()
    }

    pub(crate) async fn statistics(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        region_prefixes: Option<&[String]>,
    ) -> Result<Vec<(StatKey, Counters)>> {
        let mut query = QueryBuilder::new(format!(
            "SELECT {STAT_KEY_COLUMNS}, {} FROM stats WHERE day >= ",
            Counters::NAMES.join(", ")
        ));
        query
            .push_param(day_text(from))
            .push(" AND day <= ")
            .push_param(day_text(to));
        if let Some(prefixes) = region_prefixes {
            push_prefixes(&mut query, "region_code", prefixes);
        }
        query.push(format!(" ORDER BY {STAT_KEY_COLUMNS}"));
        let mut rows = Vec::new();
        for row in self.fetch(query).await? {
            let (key, counters) = stat_from_row(&row)?;
            if !counters.is_zero() {
                rows.push((key, counters));
            }
        }
        Ok(rows)
    }

    pub(crate) async fn quarantine(
        &self,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<QuarantineRow>> {
        let mut query = QueryBuilder::new(
            "SELECT partition, log_offset, reason, bytes, case_no FROM quarantine WHERE 1 = 1",
        );
        if let Some(after) = after {
            query
                .push(" AND (partition, log_offset) > (")
                .push_param(i64::from(after.partition))
                .push(", ")
                .push_param(offset_bind(after.offset)?)
                .push(")");
        }
        query
            .push(" ORDER BY partition, log_offset LIMIT ")
            .push_param(i64::from(limit));
        self.fetch(query)
            .await?
            .iter()
            .map(|row| {
                Ok(QuarantineRow {
                    position: position_from_row(row)?,
                    reason: row.text("reason")?.to_owned(),
                    bytes: row.bytes("bytes")?.to_vec(),
                    case_no: row
                        .optional_text("case_no")?
                        .map(|case_no| parse_text("quarantined case_no", case_no))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// Feeds every section to a [`ViewDigest`] in its canonical order. Text orders are
    /// bytewise on both databases: SQLite compares text with `BINARY`, and the PostgreSQL
    /// schema declares every text column `COLLATE "C"`.
    pub(crate) async fn digest(&self) -> Result<Hash> {
        // One read transaction: one snapshot for every section.
        let mut tx = self
            .reader
            .begin_with(DB::BEGIN_SNAPSHOT)
            .await
            .map_err(db)?;
        let mut digest = ViewDigest::new();
        DB::for_each_row(
            &mut tx,
            QueryBuilder::new("SELECT case_no, chain_head, state FROM cases ORDER BY case_no"),
            &mut |row| {
                let case: Case = from_json("case state", row.text("state")?)?;
                digest.case(&case, &hash("case chain head", row.bytes("chain_head")?)?)
            },
        )
        .await?;
        DB::for_each_row(
            &mut tx,
            QueryBuilder::new(format!(
                "SELECT {STEP_COLUMNS} FROM steps ORDER BY case_no, hash, previous_hash, kind, \
                 seq IS NOT NULL, seq, recorded_at, disposition"
            )),
            &mut |row| digest.step(&step_from_row(row)?),
        )
        .await?;
        DB::for_each_row(
            &mut tx,
            QueryBuilder::new("SELECT alert FROM alerts ORDER BY alert_id"),
            &mut |row| digest.alert(&from_json::<Alert>("alert", row.text("alert")?)?),
        )
        .await?;
        DB::for_each_row(
            &mut tx,
            QueryBuilder::new(format!(
                "SELECT {TRANSITION_COLUMNS} FROM alert_transitions t ORDER BY t.alert_id, t.cursor"
            )),
            &mut |row| digest.transition(&committed_from_row(row)?.row.change),
        )
        .await?;
        DB::for_each_row(
            &mut tx,
            QueryBuilder::new(
                "SELECT alert_id, principal, reason FROM refusals \
                 ORDER BY alert_id, principal, reason",
            ),
            &mut |row| {
                digest.refusal(
                    row.text("alert_id")?,
                    row.text("principal")?,
                    row.text("reason")?,
                )
            },
        )
        .await?;
        DB::for_each_row(
            &mut tx,
            QueryBuilder::new(
                "SELECT reason, bytes, case_no FROM quarantine \
                 ORDER BY bytes, reason, case_no IS NOT NULL, case_no",
            ),
            &mut |row| {
                digest.quarantined(
                    row.text("reason")?,
                    row.bytes("bytes")?,
                    row.optional_text("case_no")?,
                )
            },
        )
        .await?;
        DB::for_each_row(
            &mut tx,
            QueryBuilder::new(format!(
                "SELECT {STAT_KEY_COLUMNS}, {} FROM stats ORDER BY {STAT_KEY_COLUMNS}",
                Counters::NAMES.join(", ")
            )),
            &mut |row| {
                let (key, counters) = stat_from_row(row)?;
                digest.statistic(&key, &counters)
            },
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(digest.finish())
    }

    /// Runs a query on a reader connection.
    async fn fetch(&self, query: QueryBuilder<'static, DB>) -> Result<Vec<DB::Row>> {
        let mut conn = self.reader.acquire().await.map_err(db)?;
        DB::fetch_all(&mut conn, query).await
    }
}

/// Adds the conditions on a case's region and department.
fn push_case_scope<DB: Dialect>(
    query: &mut QueryBuilder<'_, DB>,
    region_prefixes: Option<&[String]>,
    dept: Option<&str>,
) {
    if let Some(prefixes) = region_prefixes {
        push_prefixes(query, "region_code", prefixes);
    }
    if let Some(dept) = dept {
        query.push(" AND dept_code = ").push_param(dept);
    }
}

/// The alerts inside any of `region_prefixes` (as [`CaseFilter::region_prefixes`]) and of
/// department `dept` when given.
fn alert_scope(region_prefixes: Option<&[String]>, dept: Option<&str>) -> AlertFilter {
    AlertFilter {
        region_prefixes: region_prefixes.map(<[String]>::to_vec),
        dept_code: dept.map(str::to_owned),
        ..AlertFilter::default()
    }
}

/// Adds the filter's conditions. Identity columns (region, department, item, case, rule,
/// category, raised time) come from the alert `a`; state and level from `current`: `a` for
/// the alerts' current state, `t` for a change's state after it.
fn push_alert_filter<DB: Dialect>(
    query: &mut QueryBuilder<'_, DB>,
    filter: &AlertFilter,
    current: &str,
) -> Result<()> {
    if let Some(prefixes) = &filter.region_prefixes {
        push_prefixes(query, "a.region_code", prefixes);
    }
    if let Some(dept) = &filter.dept_code {
        query.push(" AND a.dept_code = ").push_param(dept.as_str());
    }
    if let Some(item) = &filter.item_code {
        query.push(" AND a.item_code = ").push_param(item.as_str());
    }
    if let Some(case_no) = &filter.case_no {
        query.push(" AND a.case_no = ").push_param(case_no.as_str());
    }
    push_any_of(query, "a.rule", &filter.rules)?;
    push_any_of(query, "a.category", &filter.categories)?;
    push_any_of(query, &format!("{current}.state"), &filter.states)?;
    if let Some(level) = filter.min_level {
        query
            .push(format!(" AND {current}.level_rank >= "))
            .push_param(level_rank(level));
    }
    if let Some(from) = &filter.raised_from {
        query
            .push(" AND a.raised_at >= ")
            .push_param(timestamp_text(from));
    }
    if let Some(to) = &filter.raised_to {
        query
            .push(" AND a.raised_at < ")
            .push_param(timestamp_text(to));
    }
    Ok(())
}

/// Adds `AND column IN (…)` unless `values` is empty (no restriction).
fn push_any_of<DB: Dialect, T: serde::Serialize>(
    query: &mut QueryBuilder<'_, DB>,
    column: &str,
    values: &[T],
) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    query.push(format!(" AND {column} IN ("));
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            query.push(", ");
        }
        query.push_param(enum_text(value)?);
    }
    query.push(")");
    Ok(())
}
