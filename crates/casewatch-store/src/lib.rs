//! The views: cases, the per-case step archive, alerts and their transitions, statistics,
//! and the projector's checkpoints, written one transaction per projector batch.
//!
//! [`ViewStore`] is the interface the projector writes through and the monitor and audit
//! services read through. Backends: [`sqlite`] (the one-machine default) and [`postgres`]
//! (several projector and api processes on one database); both run the same SQL and pass
//! the suite in `conformance`, built with the cargo feature `testsuite` (as are
//! `postgres::testing`'s throwaway schemas) for the tests that use them. The store holds
//! no business rules: what goes into a batch is decided by the domain and the projector.

use casewatch_domain::Timestamp;
use casewatch_domain::alert::{Alert, AlertChange, AlertState};
use casewatch_domain::case::{Case, CaseStatus, Disposition, Light};
use casewatch_domain::catalogue::{Category, Level, RuleId};
use casewatch_domain::event::{StepKind, UnknownStepKind};
use casewatch_domain::ids::CaseNo;
use casewatch_domain::policy::{PolicyChange, PolicySnapshot};
use casewatch_domain::stats::{Counters, StatKey};
use chrono::NaiveDate;

mod codec;
#[cfg(feature = "testsuite")]
pub mod conformance;
pub mod digest;
pub mod postgres;
mod sql;
pub mod sqlite;

pub use casewatch_domain::log::{Hash, Offset, Partition, Position};

/// How far the views have folded one partition, the partition's running hash chain up to
/// there (`chain = SHA-256(previous chain || record bytes)` over every record), and its
/// time then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub partition: Partition,
    /// The offset of the next record to fold.
    pub next_offset: Offset,
    pub chain_hash: Hash,
    /// The partition's time: the newest tick or record time folded (`None` before any),
    /// so that a projector resuming here tells the time as one that never stopped.
    pub clock: Option<Timestamp>,
}

/// A case as the views hold it: the domain state, plus what the projector derived from
/// it with the calendar at the batch's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    pub case: Case,
    pub partition: Partition,
    /// The head of the case's hash chain: `h_n = SHA-256(h_{n-1} || record bytes)`.
    pub chain_head: Hash,
    pub light: Light,
    pub promised_due: Option<Timestamp>,
    pub legal_due: Option<Timestamp>,
    /// Working time used against the promised limit, in seconds, as of `as_of`.
    pub used_seconds: i64,
    pub paused: bool,
    /// The case's time when the row was written.
    pub as_of: Timestamp,
}

/// One record of a case in the step archive (case steps and supervision actions alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub case_no: CaseNo,
    pub position: Position,
    /// The step number for case steps; `None` for supervision actions.
    pub seq: Option<u32>,
    pub kind: RecordKind,
    pub recorded_at: Timestamp,
    pub disposition: Disposition,
    /// The chain hash after this record, and the one before it.
    pub hash: Hash,
    pub previous_hash: Hash,
}

/// What an archived record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A reported step, of its kind.
    Step(StepKind),
    /// A staff or department action on one of the case's alerts.
    Supervision,
    /// A record keyed by the case that could not be read.
    Unreadable,
}

impl RecordKind {
    /// How the archive names it: the step's catalogue name, `supervision` or `unreadable`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Step(kind) => kind.name(),
            RecordKind::Supervision => "supervision",
            RecordKind::Unreadable => "unreadable",
        }
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RecordKind {
    type Err = UnknownStepKind;

    fn from_str(name: &str) -> std::result::Result<Self, UnknownStepKind> {
        match name {
            "supervision" => Ok(RecordKind::Supervision),
            "unreadable" => Ok(RecordKind::Unreadable),
            step => step.parse().map(RecordKind::Step),
        }
    }
}

/// A record's place in the step archive, without the rest of its row: what verifying the
/// hash chains in log order needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepHash {
    pub position: Position,
    pub case_no: CaseNo,
    /// The case's chain hash after this record, and the one before it.
    pub hash: Hash,
    pub previous_hash: Hash,
}

/// The partition's running chain (as in [`Checkpoint::chain_hash`]) after one record that no
/// case's archive holds: a clock tick, or a record about no case the views know. With the
/// archive's case chains it gives every record folded a hash of its own, so that
/// verification names the very record that was changed, removed or moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLink {
    pub position: Position,
    pub hash: Hash,
}

/// An alert change with the position of the record that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertChangeRow {
    pub change: AlertChange,
    pub position: Position,
}

/// A supervision action the alert lifecycle refused (it stays on the log as history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalRow {
    pub position: Position,
    pub alert_id: String,
    pub principal: String,
    pub reason: String,
}

/// A record the projector could not read (undecodable, invalid, or not keyed by the case
/// it is about), kept aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRow {
    pub position: Position,
    pub reason: String,
    pub bytes: Vec<u8>,
    /// The case the record's key names, when the key is a case number.
    pub case_no: Option<CaseNo>,
}

/// What became of a change of policy when its partition folded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOutcome {
    /// In force from its record on.
    Applied,
    /// Held until the partition's time reaches the instant it applies from (it applies
    /// then, and the partition's policy says so).
    Held,
    /// Refused, changing nothing, for this reason.
    Refused(String),
}

/// A change of policy on the log, as its partition folded it: the policy's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecordRow {
    pub position: Position,
    pub recorded_at: Timestamp,
    pub change: PolicyChange,
    pub outcome: PolicyOutcome,
}

/// Everything one projector batch on one partition writes, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewBatch {
    pub partition: Partition,
    /// The fence: the batch applies only if the stored checkpoint's `next_offset` is still
    /// this one (0 when the partition has no checkpoint yet).
    pub from_offset: Offset,
    /// The checkpoint after the batch.
    pub checkpoint: Checkpoint,
    /// Cases changed by the batch (upserted whole).
    pub cases: Vec<CaseRow>,
    /// New archive rows, and rows whose disposition changed (a held step applied later),
    /// keyed by position.
    pub steps: Vec<StepRow>,
    /// The partition's chain after each record of the batch no archive row is for.
    pub links: Vec<ChainLink>,
    /// Positions of held steps, added to the pending set.
    pub pending_added: Vec<(CaseNo, u32, Position)>,
    /// Held steps applied since (their gap filled): they leave the pending set, and their
    /// archive rows become [`Disposition::Applied`].
    pub pending_removed: Vec<(CaseNo, u32)>,
    /// Alert changes in the order they happened.
    pub alerts: Vec<AlertChangeRow>,
    pub refusals: Vec<RefusalRow>,
    pub quarantine: Vec<QuarantineRow>,
    /// Statistics deltas, added to the stored counters.
    pub stats: Vec<(StatKey, Counters)>,
    /// The partition's policy after the batch, when the batch changed it.
    pub policy: Option<PolicySnapshot>,
    /// The changes of policy the batch folded.
    pub policy_records: Vec<PolicyRecordRow>,
}

/// An alert change as committed, with its cursor: cursors grow in commit order, so a
/// subscriber that resumes after cursor `c` misses nothing committed after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedAlert {
    pub cursor: u64,
    pub row: AlertChangeRow,
}

/// A batch some projector committed, as announced to the processes that read the views
/// (PostgreSQL's [`CommitFeed`](postgres::CommitFeed)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitNotice {
    pub partition: Partition,
    /// The partition's checkpoint after the batch.
    pub next_offset: Offset,
    /// The highest alert cursor the batch took, `None` when it changed no alert.
    pub last_cursor: Option<u64>,
}

/// What a commit feed reports, in commit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitEvent {
    Commit(CommitNotice),
    /// Notices may have been lost (the feed's connection dropped and came back): re-read
    /// from your own position (an alert cursor, a checkpoint) rather than trusting the
    /// notices to be complete.
    Resync,
}

/// Which cases to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Region prefixes (significant digits: `3301` covers every code starting with them);
    /// a case inside any of them passes, and an empty list passes none. `None`: every
    /// region.
    pub region_prefixes: Option<Vec<String>>,
    pub dept_code: Option<String>,
    pub item_code: Option<String>,
    pub status: Option<CaseStatus>,
    pub light: Option<Light>,
    pub overdue: Option<OverdueFilter>,
}

/// Which overdue cases to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverdueFilter {
    /// Open cases (status accepted) currently past their promised limit (超承诺时限):
    /// `Case::overdue_promised_at` is set.
    PastPromised,
    /// Open cases (status accepted) currently past their legal limit (超法定时限):
    /// `Case::overdue_legal_at` is set.
    PastLegal,
}

/// Which alerts to list or stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// As [`CaseFilter::region_prefixes`].
    pub region_prefixes: Option<Vec<String>>,
    pub dept_code: Option<String>,
    pub item_code: Option<String>,
    pub case_no: Option<String>,
    pub rules: Vec<RuleId>,
    pub categories: Vec<Category>,
    pub states: Vec<AlertState>,
    pub min_level: Option<Level>,
    /// Raised at or after this instant.
    pub raised_from: Option<Timestamp>,
    /// Raised before this instant.
    pub raised_to: Option<Timestamp>,
}

impl AlertFilter {
    /// Whether an alert, as it is after a change, passes the filter. This is the filter's
    /// meaning; backends implement it in their queries, and live feeds apply it directly.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.region_prefixes.as_ref().is_none_or(|prefixes| {
            prefixes
                .iter()
                .any(|prefix| alert.region_code.as_str().starts_with(prefix.as_str()))
        }) && self
            .dept_code
            .as_ref()
            .is_none_or(|dept| alert.dept_code.as_str() == dept)
            && self
                .item_code
                .as_ref()
                .is_none_or(|item| alert.item_code.as_str() == item)
            && self
                .case_no
                .as_ref()
                .is_none_or(|case_no| alert.id.case_no.as_str() == case_no)
            && (self.rules.is_empty() || self.rules.contains(&alert.rule()))
            && (self.categories.is_empty() || self.categories.contains(&alert.category))
            && (self.states.is_empty() || self.states.contains(&alert.state))
            && self.min_level.is_none_or(|level| alert.level >= level)
            && self.raised_from.is_none_or(|from| alert.raised_at >= from)
            && self.raised_to.is_none_or(|to| alert.raised_at < to)
    }
}

impl ViewBatch {
    /// A batch that changes nothing yet: from `from_offset`, with `checkpoint` after it.
    pub fn new(partition: Partition, from_offset: Offset, checkpoint: Checkpoint) -> Self {
        Self {
            partition,
            from_offset,
            checkpoint,
            cases: Vec::new(),
            steps: Vec::new(),
            links: Vec::new(),
            pending_added: Vec::new(),
            pending_removed: Vec::new(),
            alerts: Vec::new(),
            refusals: Vec::new(),
            quarantine: Vec::new(),
            stats: Vec::new(),
            policy: None,
            policy_records: Vec::new(),
        }
    }
}

/// A case read back, with its row.
pub type CaseRecord = CaseRow;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another projector moved the partition's checkpoint: this batch is stale and was
    /// rolled back.
    #[error("partition {partition} is at offset {found}, not {expected}: the batch is stale")]
    Fenced {
        partition: Partition,
        expected: Offset,
        found: Offset,
    },
    /// The database cannot be reached: it refused or did not answer a connection.
    #[error("the view store is unavailable: {0}")]
    Unavailable(String),
    /// The database failed a statement; [`StoreError::is_transient`] says whether the
    /// same work is worth trying again.
    #[error("the view store failed: {source}")]
    Database {
        /// What the database, or the connection to it, said.
        #[source]
        source: sqlx::Error,
    },
    /// Stored content that does not decode (a newer schema, or corruption).
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt { what: &'static str, reason: String },
}

impl StoreError {
    /// Whether the failure may pass by itself, so that the same work is worth trying again:
    /// the database unreachable, restarting, out of space or resources, busy, or a
    /// transaction that lost a race. A statement it refuses (a table or column missing, a
    /// constraint violated: a bug, or views of another build), a stale batch and unreadable
    /// content are not: trying again would only hide them.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Database { source } => sql::is_transient(source),
            StoreError::Fenced { .. } | StoreError::Corrupt { .. } => false,
        }
    }
}

/// A `Result` with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The views.
#[async_trait::async_trait]
pub trait ViewStore: Send + Sync + 'static {
    /// Applies one batch in one transaction, checkpoint included, fenced by
    /// `batch.from_offset`. Returns the batch's alert changes with their cursors.
    async fn apply(&self, batch: ViewBatch) -> Result<Vec<CommittedAlert>> {
        self.apply_all(vec![batch]).await
    }

    /// Applies batches of different partitions in one transaction (one commit, one flush
    /// to disk for all of them), each fenced by its `from_offset`: all of them or, when one
    /// is fenced or anything fails, none. Returns their alert changes with their cursors,
    /// in the order of the batches.
    async fn apply_all(&self, batches: Vec<ViewBatch>) -> Result<Vec<CommittedAlert>>;

    /// The checkpoint of a partition, if it was ever folded.
    async fn checkpoint(&self, partition: Partition) -> Result<Option<Checkpoint>>;

    /// Every checkpoint.
    async fn checkpoints(&self) -> Result<Vec<Checkpoint>>;

    /// The cases of a partition, to warm the projector's cache.
    async fn load_cases(&self, partition: Partition) -> Result<Vec<CaseRow>>;

    /// One case.
    async fn case(&self, case_no: &str) -> Result<Option<CaseRecord>>;

    /// Cases matching `filter`, ordered by case number, after `after` (paging).
    async fn list_cases(
        &self,
        filter: &CaseFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CaseRecord>>;

    /// The current state of alerts matching `filter`, newest change first, with their
    /// latest cursor; `before` pages backwards by cursor.
    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<CommittedAlert>>;

    /// Alert changes after `cursor`, oldest first, matching `filter` (state and level
    /// as they were after each change).
    async fn alert_changes_after(
        &self,
        cursor: u64,
        filter: &AlertFilter,
        limit: u32,
    ) -> Result<Vec<CommittedAlert>>;

    /// Cases open at `at` and past their promised limit by then: `overdue_promised_at` at or
    /// before `at`, accepted at or before `at`, and not ended by `at` (`ended_at` null or
    /// after `at`); inside any of `region_prefixes` (as [`CaseFilter::region_prefixes`]), of
    /// department `dept` when given; ordered by case number.
    async fn overdue_cases(
        &self,
        region_prefixes: Option<&[String]>,
        dept: Option<&str>,
        at: Timestamp,
    ) -> Result<Vec<CaseRecord>>;

    /// Alerts as they stood at `at`: for every alert inside the prefixes (and of `dept`
    /// when given) with a change at or before `at`, the alert after its latest such change
    /// (the `alert` JSON of alert_transitions), kept when its level then was at least
    /// `min_level`; ordered by alert id.
    async fn alerts_as_of(
        &self,
        region_prefixes: Option<&[String]>,
        dept: Option<&str>,
        min_level: Level,
        at: Timestamp,
    ) -> Result<Vec<Alert>>;

    /// Alert changes whose time is in `from..to` (from inclusive, to exclusive), inside the
    /// prefixes and of `dept` when given, in cursor order, with their cursors.
    async fn alert_changes_between(
        &self,
        region_prefixes: Option<&[String]>,
        dept: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<CommittedAlert>>;

    /// The archive of one case, in log order.
    async fn steps(&self, case_no: &str) -> Result<Vec<StepRow>>;

    /// The archive of one partition from offset `from` on, in offset order, at most
    /// `limit` rows, each with only its case and hash: pages for verifying a partition's
    /// case chains in one pass over the log.
    async fn step_hashes(
        &self,
        partition: Partition,
        from: Offset,
        limit: u32,
    ) -> Result<Vec<StepHash>>;

    /// The partition's chain links from offset `from` on, in offset order, at most `limit`:
    /// pages for verifying, beside [`step_hashes`](Self::step_hashes), the records no case
    /// chain holds.
    async fn chain_links(
        &self,
        partition: Partition,
        from: Offset,
        limit: u32,
    ) -> Result<Vec<ChainLink>>;

    /// The policy partition `partition` was folded by at its checkpoint; `None` when no
    /// batch of it changed the policy it started with.
    async fn partition_policy(&self, partition: Partition) -> Result<Option<PolicySnapshot>>;

    /// The changes of policy partition `partition` folded, in offset order.
    async fn policy_records(&self, partition: Partition) -> Result<Vec<PolicyRecordRow>>;

    /// Summed counters per key for days `from..=to` inside any of `region_prefixes` (as
    /// [`CaseFilter::region_prefixes`]), in key order; keys whose counters are all zero are
    /// left out.
    async fn statistics(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        region_prefixes: Option<&[String]>,
    ) -> Result<Vec<(StatKey, Counters)>>;

    /// The records the projector quarantined, in position order, after `after` (paging),
    /// at most `limit`.
    async fn quarantine(&self, after: Option<Position>, limit: u32) -> Result<Vec<QuarantineRow>>;

    /// A SHA-256 over the views' logical content, stable across backends, batch sizes and
    /// commit order: cases (state and chain head), the step archive without positions,
    /// alerts and their transitions without cursors, refusals, quarantined records, and
    /// the non-zero statistics.
    async fn digest(&self) -> Result<Hash>;

    /// The identity of the log the views are folded from (`EventLog::identity`), once one
    /// was set.
    async fn log_identity(&self) -> Result<Option<String>>;

    /// Records the identity of the log the views are folded from; an identity already set
    /// stays.
    async fn set_log_identity(&self, identity: &str) -> Result<()>;

    /// Whether the views answer now, for health checks: a cheap read that fails as
    /// [`StoreError::Unavailable`] (within the backend's connect timeout) when they are
    /// away.
    async fn ping(&self) -> Result<()> {
        self.checkpoints().await.map(drop)
    }
}

#[cfg(test)]
mod record_kind_tests {
    use super::*;

    #[test]
    fn an_archived_kind_reads_back_from_its_name_and_a_stray_name_is_refused() {
        let kinds = StepKind::ALL
            .iter()
            .map(|kind| RecordKind::Step(*kind))
            .chain([RecordKind::Supervision, RecordKind::Unreadable]);
        for kind in kinds {
            assert_eq!(kind.as_str().parse::<RecordKind>(), Ok(kind));
        }
        assert_eq!(
            "approved"
                .parse::<RecordKind>()
                .map_err(|error| error.to_string()),
            Err("`approved` is no kind of step".to_owned())
        );
    }
}
