//! A projector killed at the worst moments resumes exactly where its checkpoint says.
//!
//! The projector is killed (its future dropped, as when its process dies) while the views
//! hold one of its rounds of batches, at every round of the scripted scenario in turn:
//! once inside the round's transaction, which then rolls back, and once right after the
//! commit, before the projector learns of it. A fresh projector over the same log and the
//! reopened views must start each partition at the stored checkpoint, read on from there
//! without a gap or an overlap, and end with views identical to a clean rebuild of the log:
//! no record skipped, none folded twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use casewatch_domain::Timestamp;
use casewatch_domain::alert::Alert;
use casewatch_domain::catalogue::Level;
use casewatch_domain::stats::{Counters, StatKey};
use casewatch_log::embedded::EmbeddedLog;
use casewatch_log::{Appended, EventLog, NewRecord, StoredRecord};
use casewatch_store::sqlite::SqliteStore;
use casewatch_store::{
    AlertFilter, CaseFilter, CaseRecord, CaseRow, Checkpoint, CommittedAlert, Hash, QuarantineRow,
    StepHash, StepRow, StoreError, ViewBatch, ViewStore,
};
use casewatch_tests::{Scripted, log_records, scenario};
use chrono::NaiveDate;
use tokio::sync::Notify;

use crate::common;

const PARTITIONS: u32 = 3;
/// Small batches, so that the scenario takes many rounds.
const BATCH: usize = 7;

/// Where in a round the projector dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// The store has begun the round's transaction and moved the checkpoints when the
    /// transaction fails: it rolls back, as a dying process's does.
    InsideTheTransaction,
    /// The round has committed; the projector never hears back.
    AfterTheCommit,
}

#[tokio::test]
async fn a_projector_killed_inside_its_transaction_resumes_at_the_checkpoint_before() {
    kill_at_every_round(Kill::InsideTheTransaction).await;
}

#[tokio::test]
async fn a_projector_killed_right_after_its_commit_refolds_nothing() {
    kill_at_every_round(Kill::AfterTheCommit).await;
}

async fn kill_at_every_round(kill: Kill) {
    let (_dir, log) = scenario_log().await;
    let clean = Killer::new(SqliteStore::open_in_memory().await.expect("a store"), None);
    common::catch_up(log.clone(), clean.clone(), PARTITIONS, BATCH).await;
    let rounds = clean.rounds.load(Ordering::Relaxed);
    assert!(rounds > 20, "the scenario takes {rounds} rounds");
    let expected_digest = clean.inner.digest().await.expect("a digest");
    let expected_checkpoints = clean.inner.checkpoints().await.expect("checkpoints");

    for round in 0..rounds {
        let views = tempfile::tempdir().expect("a temporary directory");
        let path = views.path().join("views.db");
        let killer = Killer::new(
            SqliteStore::open(&path).await.expect("the views open"),
            Some((round, kill)),
        );
        let mut doomed = common::projector(log.clone(), killer.clone(), PARTITIONS, BATCH).await;
        tokio::select! {
            () = killer.killed.notified() => {}
            outcome = doomed.run_until_caught_up() => {
                panic!("round {round}: the projector caught up before its kill: {outcome:?}")
            }
        }
        drop(doomed);
        let committed = killer.committed();
        drop(killer);

        // The process starts again: the views as their file holds them.
        let store = Arc::new(SqliteStore::open(&path).await.expect("the views reopen"));
        let checkpoints = next_offsets(&store.checkpoints().await.expect("checkpoints"));
        assert_eq!(
            checkpoints, committed,
            "round {round}: the stored checkpoints are those of the committed rounds"
        );
        let reads = Arc::new(ReadLog::new(log.clone()));
        common::catch_up(reads.clone(), store.clone(), PARTITIONS, BATCH).await;
        for partition in 0..PARTITIONS {
            let from = checkpoints.get(&partition).copied().unwrap_or(0);
            let to = log.high_water(partition).await.expect("a high water");
            assert_eq!(
                reads.covered(partition),
                (from..to).collect::<Vec<_>>(),
                "round {round}: partition {partition} must be read once from its checkpoint on"
            );
        }
        assert_eq!(
            store.checkpoints().await.expect("checkpoints"),
            expected_checkpoints,
            "round {round}: the chains after the resume"
        );
        assert_eq!(
            store.digest().await.expect("a digest"),
            expected_digest,
            "round {round}: the views after the resume differ from a clean rebuild"
        );
    }
}

/// The scripted scenario on an embedded log, as ingest and the ticker append it.
async fn scenario_log() -> (tempfile::TempDir, Arc<EmbeddedLog>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = EmbeddedLog::open(dir.path(), PARTITIONS).expect("the log opens");
    let script = scenario().into_iter().map(Scripted::Input);
    log.append(log_records(script, PARTITIONS))
        .await
        .expect("the scenario appends");
    (dir, Arc::new(log))
}

fn next_offsets(checkpoints: &[Checkpoint]) -> BTreeMap<u32, u64> {
    checkpoints
        .iter()
        .map(|checkpoint| (checkpoint.partition, checkpoint.next_offset))
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Views that let rounds through until the one to die in, then never answer again.
struct Killer {
    inner: SqliteStore,
    /// The round to die in (counted from 0), and how.
    kill: Option<(usize, Kill)>,
    /// Rounds handed to the store so far.
    rounds: AtomicUsize,
    /// The checkpoints of the rounds that committed.
    committed: Mutex<BTreeMap<u32, u64>>,
    /// Told once the projector is as good as dead.
    killed: Notify,
}

impl Killer {
    fn new(inner: SqliteStore, kill: Option<(usize, Kill)>) -> Arc<Killer> {
        Arc::new(Killer {
            inner,
            kill,
            rounds: AtomicUsize::new(0),
            committed: Mutex::new(BTreeMap::new()),
            killed: Notify::new(),
        })
    }

    fn committed(&self) -> BTreeMap<u32, u64> {
        lock(&self.committed).clone()
    }

    async fn commit(&self, batches: Vec<ViewBatch>) -> Result<Vec<CommittedAlert>, StoreError> {
        let checkpoints: Vec<Checkpoint> = batches.iter().map(|batch| batch.checkpoint).collect();
        let committed = self.inner.apply_all(batches).await?;
        lock(&self.committed).extend(next_offsets(&checkpoints));
        Ok(committed)
    }
}

#[async_trait::async_trait]
impl ViewStore for Killer {
    async fn apply_all(
        &self,
        mut batches: Vec<ViewBatch>,
    ) -> Result<Vec<CommittedAlert>, StoreError> {
        let round = self.rounds.fetch_add(1, Ordering::Relaxed);
        match self.kill {
            Some((at, kill)) if at == round => {
                match kill {
                    Kill::InsideTheTransaction => {
                        // The round's first batch once more, after the round: its fence
                        // finds the checkpoint the first copy moved, and the transaction
                        // fails after all the round's fences passed.
                        batches.push(batches[0].clone());
                        let outcome = self.inner.apply_all(batches).await;
                        assert!(
                            matches!(outcome, Err(StoreError::Fenced { .. })),
                            "round {round} was to fail inside its transaction: {outcome:?}"
                        );
                    }
                    Kill::AfterTheCommit => {
                        self.commit(batches).await.expect("the round commits");
                    }
                }
                self.killed.notify_one();
                std::future::pending().await
            }
            _ => self.commit(batches).await,
        }
    }

    async fn checkpoint(&self, partition: u32) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.checkpoint(partition).await
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.inner.checkpoints().await
    }

    async fn log_identity(&self) -> Result<Option<String>, StoreError> {
        self.inner.log_identity().await
    }

    async fn set_log_identity(&self, identity: &str) -> Result<(), StoreError> {
        self.inner.set_log_identity(identity).await
    }

    async fn load_cases(&self, partition: u32) -> Result<Vec<CaseRow>, StoreError> {
        self.inner.load_cases(partition).await
    }

    async fn case(&self, case_no: &str) -> Result<Option<CaseRecord>, StoreError> {
        self.inner.case(case_no).await
    }

    async fn list_cases(
        &self,
        filter: &CaseFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        self.inner.list_cases(filter, after, limit).await
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<CommittedAlert>, StoreError> {
        self.inner.list_alerts(filter, before, limit).await
    }

    async fn alert_changes_after(
        &self,
        cursor: u64,
        filter: &AlertFilter,
        limit: u32,
    ) -> Result<Vec<CommittedAlert>, StoreError> {
        self.inner.alert_changes_after(cursor, filter, limit).await
    }

    async fn steps(&self, case_no: &str) -> Result<Vec<StepRow>, StoreError> {
        self.inner.steps(case_no).await
    }

    async fn overdue_cases(
        &self,
        region_prefixes: Option<&[String]>,
        dept: Option<&str>,
        at: Timestamp,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        self.inner.overdue_cases(region_prefixes, dept, at).await
    }

    async fn alerts_as_of(
        &self,
        region_prefixes: Option<&[String]>,
        dept: Option<&str>,
        min_level: Level,
        at: Timestamp,
    ) -> Result<Vec<Alert>, StoreError> {
        self.inner
            .alerts_as_of(region_prefixes, dept, min_level, at)
            .await
    }

    async fn alert_changes_between(
        &self,
        region_prefixes: Option<&[String]>,
        dept: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<CommittedAlert>, StoreError> {
        self.inner
            .alert_changes_between(region_prefixes, dept, from, to)
            .await
    }

    async fn step_hashes(
        &self,
        partition: u32,
        from: u64,
        limit: u32,
    ) -> Result<Vec<StepHash>, StoreError> {
        self.inner.step_hashes(partition, from, limit).await
    }

    async fn chain_links(
        &self,
        partition: u32,
        from: u64,
        limit: u32,
    ) -> Result<Vec<casewatch_store::ChainLink>, StoreError> {
        self.inner.chain_links(partition, from, limit).await
    }

    async fn partition_policy(
        &self,
        partition: u32,
    ) -> Result<Option<casewatch_domain::policy::PolicySnapshot>, StoreError> {
        self.inner.partition_policy(partition).await
    }

    async fn policy_records(
        &self,
        partition: u32,
    ) -> Result<Vec<casewatch_store::PolicyRecordRow>, StoreError> {
        self.inner.policy_records(partition).await
    }

    async fn statistics(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        region_prefixes: Option<&[String]>,
    ) -> Result<Vec<(StatKey, Counters)>, StoreError> {
        self.inner.statistics(from, to, region_prefixes).await
    }

    async fn quarantine(
        &self,
        after: Option<casewatch_store::Position>,
        limit: u32,
    ) -> Result<Vec<QuarantineRow>, StoreError> {
        self.inner.quarantine(after, limit).await
    }

    async fn digest(&self) -> Result<Hash, StoreError> {
        self.inner.digest().await
    }
}

/// The log, noting every read: which partition, and which offsets it returned.
struct ReadLog {
    inner: Arc<EmbeddedLog>,
    reads: Mutex<Vec<(u32, Vec<u64>)>>,
}

impl ReadLog {
    fn new(inner: Arc<EmbeddedLog>) -> ReadLog {
        ReadLog {
            inner,
            reads: Mutex::new(Vec::new()),
        }
    }

    /// The offsets of `partition` that reads returned, in the order returned.
    fn covered(&self, partition: u32) -> Vec<u64> {
        lock(&self.reads)
            .iter()
            .filter(|(read, _)| *read == partition)
            .flat_map(|(_, offsets)| offsets.iter().copied())
            .collect()
    }
}

#[async_trait::async_trait]
impl EventLog for ReadLog {
    fn partitions(&self) -> u32 {
        self.inner.partitions()
    }

    async fn identity(&self) -> casewatch_log::Result<String> {
        self.inner.identity().await
    }

    async fn append(&self, records: Vec<NewRecord>) -> casewatch_log::Result<Vec<Appended>> {
        self.inner.append(records).await
    }

    async fn read(
        &self,
        partition: u32,
        from: u64,
        max: usize,
    ) -> casewatch_log::Result<Vec<StoredRecord>> {
        let records = self.inner.read(partition, from, max).await?;
        let offsets = records
            .iter()
            .map(|record| record.position.offset)
            .collect();
        lock(&self.reads).push((partition, offsets));
        Ok(records)
    }

    async fn high_water(&self, partition: u32) -> casewatch_log::Result<u64> {
        self.inner.high_water(partition).await
    }

    async fn wait_for(
        &self,
        partition: u32,
        offset: u64,
        timeout: Duration,
    ) -> casewatch_log::Result<u64> {
        self.inner.wait_for(partition, offset, timeout).await
    }
}
