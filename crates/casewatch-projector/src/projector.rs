//! The projector's run: which partitions it folds, its rounds of reading, folding and
//! committing, and how it waits for records and out failures.

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use casewatch_domain::log::GENESIS;
use casewatch_domain::policy::PolicyInForce;
use casewatch_log::{EventLog, StoredRecord};
use casewatch_store::{Checkpoint, CommittedAlert, StoreError, ViewStore};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::cache::{Agenda, CaseEntry, PartitionState};
use crate::fold::fold_batch;
use crate::metrics::Metrics;
use crate::progress::Progress;
use crate::retry::{Patience, is_transient, transient};
use crate::{ProjectError, Result, bind_views, calendar_years};

/// Folds a set of partitions of the log into the views.
pub struct Projector<L: ?Sized, S: ?Sized> {
    log: Arc<L>,
    store: Arc<S>,
    /// The policy of a partition the views have saved none for.
    policy: PolicyInForce,
    batch_size: usize,
    /// How long transient failures in a row are waited out.
    give_up_after: Duration,
    partitions: Vec<PartitionState>,
    alerts: Option<broadcast::Sender<Arc<CommittedAlert>>>,
    progress: Arc<Progress>,
    metrics: Metrics,
    /// The years without calendar data already reported.
    uncovered_years: calendar_years::Reported,
}

impl<L: ?Sized, S: ?Sized> std::fmt::Debug for Projector<L, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("partitions", &self.partitions.len())
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl<L: EventLog + ?Sized, S: ViewStore + ?Sized> Projector<L, S> {
    /// A projector of `log` into `store`, to be made with [`ProjectorBuilder::open`].
    pub fn builder(log: Arc<L>, store: Arc<S>) -> ProjectorBuilder<L, S> {
        ProjectorBuilder {
            log,
            store,
            policy: PolicyInForce::shipped(),
            partitions: BTreeSet::new(),
            batch_size: 1000,
            alerts: None,
            progress: None,
            give_up_after: ProjectorBuilder::<L, S>::GIVE_UP_AFTER,
        }
    }

    /// Folds exactly `partitions` from now on: partitions no longer assigned are dropped
    /// with their cases, newly assigned ones resume from the checkpoint in the views (the
    /// views, not the log's consumer group, know how far a partition was folded).
    pub async fn assign(&mut self, partitions: &BTreeSet<u32>) -> Result<()> {
        self.partitions
            .retain(|state| partitions.contains(&state.partition));
        for &partition in partitions {
            if !self.owns(partition) {
                let state = self.load(partition).await?;
                self.partitions.push(state);
            }
        }
        self.partitions.sort_by_key(|state| state.partition);
        Ok(())
    }

    /// The partitions this projector folds.
    pub fn partitions(&self) -> Vec<u32> {
        self.partitions
            .iter()
            .map(|state| state.partition)
            .collect()
    }

    fn owns(&self, partition: u32) -> bool {
        self.partitions
            .iter()
            .any(|state| state.partition == partition)
    }

    /// A partition's state as the views hold it.
    async fn load(&self, partition: u32) -> Result<PartitionState> {
        let checkpoint = self.store.checkpoint(partition).await?;
        let (next_offset, chain, clock) = checkpoint.map_or((0, GENESIS, None), |cp| {
            (cp.next_offset, cp.chain_hash, cp.clock)
        });
        let policy = match self.store.partition_policy(partition).await? {
            Some(snapshot) => PolicyInForce::restore(snapshot)
                .map_err(|error| ProjectError::SavedPolicy { partition, error })?,
            None => self.policy.clone(),
        };
        let mut state = PartitionState {
            partition,
            next_offset,
            chain,
            clock,
            policy,
            cases: HashMap::new(),
            agenda: Agenda::default(),
        };
        for row in self.store.load_cases(partition).await? {
            state.put(
                row.case.case_no.clone(),
                CaseEntry::new(row.case, row.chain_head),
            );
        }
        self.progress.advance(partition, next_offset);
        Ok(state)
    }

    /// Folds one batch of every partition that has records waiting, and commits them
    /// together; returns how many records were folded.
    pub async fn step(&mut self) -> Result<usize> {
        let every: Vec<usize> = (0..self.partitions.len()).collect();
        self.fold_round(&every).await
    }

    /// Folds until every partition has reached the log's high-water mark as it was when
    /// the call began; returns how many records were folded.
    pub async fn run_until_caught_up(&mut self) -> Result<u64> {
        let mut targets = Vec::with_capacity(self.partitions.len());
        for state in &self.partitions {
            targets.push(self.log.high_water(state.partition).await?);
        }
        let mut folded = 0;
        loop {
            let behind: Vec<usize> = (0..self.partitions.len())
                .filter(|index| self.partitions[*index].next_offset < targets[*index])
                .collect();
            if behind.is_empty() {
                return Ok(folded);
            }
            folded += self.fold_round(&behind).await? as u64;
        }
    }

    /// Folds the partitions it was made with as records arrive, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let partitions = self.partitions().into_iter().collect();
        let (_keep, assignment) = watch::channel(partitions);
        self.run_assigned(assignment, shutdown).await
    }

    /// Folds whatever partitions `assignment` holds (a consumer group's share of the log)
    /// as records arrive, until `shutdown`. A store or log that is unavailable pauses the
    /// fold, which resumes from the views' checkpoint once it is back; a batch fenced by
    /// another projector (an overlap during a rebalance) reloads its partition from the
    /// views. A failure that is not transient stops the projector, and so does a transient
    /// one that outlasts the bound it was made with ([`ProjectorBuilder::give_up_after`]).
    pub async fn run_assigned(
        mut self,
        mut assignment: watch::Receiver<BTreeSet<u32>>,
        shutdown: CancellationToken,
    ) -> Result<()> {
        let mut patience = Patience::new(self.give_up_after);
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let outcome = self.round(&mut assignment, &shutdown).await;
            match outcome {
                Ok(()) => patience.reset(),
                Err(ProjectError::Store(StoreError::Fenced {
                    partition,
                    expected,
                    found,
                })) => {
                    warn!(
                        partition,
                        expected,
                        found,
                        "batch fenced by another projector; reloading the partition"
                    );
                    self.reload(partition).await.or_else(transient)?;
                }
                Err(error) if is_transient(&error) => {
                    let Some(pause) = patience.next() else {
                        return Err(ProjectError::GaveUp {
                            after: self.give_up_after,
                            last: Box::new(error),
                        });
                    };
                    warn!(%error, ?pause, "projection paused");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(pause) => {}
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// One round of [`run_assigned`](Self::run_assigned): take up a changed assignment, fold
    /// what is waiting, or sleep until something arrives.
    async fn round(
        &mut self,
        assignment: &mut watch::Receiver<BTreeSet<u32>>,
        shutdown: &CancellationToken,
    ) -> Result<()> {
        let wanted = assignment.borrow_and_update().clone();
        if wanted
            .iter()
            .copied()
            .ne(self.partitions.iter().map(|state| state.partition))
        {
            info!(partitions = ?wanted, "partitions assigned");
            self.assign(&wanted).await?;
        }
        if self.step().await? > 0 {
            return Ok(());
        }
        // Nothing waiting: sleep until a record arrives or the assignment changes.
        let waits = self.partitions.iter().map(|state| {
            self.log
                .wait_for(state.partition, state.next_offset, Duration::from_secs(1))
        });
        let arrival = async {
            if self.partitions.is_empty() {
                std::future::pending::<()>().await;
            }
            let _ = futures::future::select_all(waits).await;
        };
        tokio::select! {
            () = shutdown.cancelled() => {}
            changed = assignment.changed() => {
                if changed.is_err() {
                    // The group is gone: no partitions are ours any more.
                    shutdown.cancelled().await;
                }
            }
            () = arrival => {}
        }
        Ok(())
    }

    /// Reloads a partition from the views, if it is still assigned here.
    async fn reload(&mut self, partition: u32) -> Result<()> {
        let state = self.load(partition).await?;
        if let Some(slot) = self
            .partitions
            .iter_mut()
            .find(|state| state.partition == partition)
        {
            *slot = state;
        }
        Ok(())
    }

    /// The checkpoint of each partition, as folded so far.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.partitions
            .iter()
            .map(|state| Checkpoint {
                partition: state.partition,
                next_offset: state.next_offset,
                chain_hash: state.chain,
                clock: state.clock,
            })
            .collect()
    }

    /// Reads one batch of each partition at `indexes` (at once), folds those that have
    /// records and commits them in one transaction: one flush to disk for the round, so a
    /// record waits for one commit, not for one per partition ahead of it. Returns how many
    /// records were folded. Nothing of the round is kept unless the commit succeeds.
    async fn fold_round(&mut self, indexes: &[usize]) -> Result<usize> {
        let reads = indexes.iter().map(|&index| {
            let state = &self.partitions[index];
            self.log
                .read(state.partition, state.next_offset, self.batch_size)
        });
        let reads: Vec<(usize, Vec<StoredRecord>)> = indexes
            .iter()
            .copied()
            .zip(futures::future::try_join_all(reads).await?)
            .filter(|(_, records)| !records.is_empty())
            .collect();
        if reads.is_empty() {
            return Ok(0);
        }
        let count = reads.iter().map(|(_, records)| records.len()).sum();
        let span = info_span!("batch", partitions = reads.len(), records = count);
        casewatch_telemetry::link_to_all(
            &span,
            reads
                .iter()
                .flat_map(|(_, records)| records.iter().map(|record| record.headers.as_slice())),
        );
        let mut batches = Vec::with_capacity(reads.len());
        let mut folded = Vec::with_capacity(reads.len());
        {
            let _entered = span.enter();
            for (index, records) in &reads {
                let (batch, fold) = fold_batch(&self.partitions[*index], records);
                batches.push(batch);
                folded.push((*index, fold));
            }
        }
        let committed = self.store.apply_all(batches).instrument(span).await?;
        for (index, fold) in folded {
            let state = &mut self.partitions[index];
            for (case_no, entry) in fold.cases {
                state.put(case_no, entry);
            }
            state.next_offset = fold.next_offset;
            state.chain = fold.chain;
            state.clock = fold.clock;
            if let Some(policy) = fold.policy {
                state.policy = policy;
            }
            self.progress.advance(state.partition, fold.next_offset);
            self.metrics.quarantined(state.partition, &fold.quarantined);
            self.uncovered_years.report(&fold.uncovered_years);
        }
        if let Some(alerts) = &self.alerts {
            for alert in committed {
                // No subscriber is not an error: the views hold every change.
                let _ = alerts.send(Arc::new(alert));
            }
        }
        Ok(count)
    }
}

/// How a [`Projector`] is made ([`Projector::builder`]): the partitions it folds, the
/// policy it folds them under, and where its results go besides the views.
#[must_use = "a builder does nothing until it is opened"]
pub struct ProjectorBuilder<L: ?Sized, S: ?Sized> {
    log: Arc<L>,
    store: Arc<S>,
    policy: PolicyInForce,
    partitions: BTreeSet<u32>,
    batch_size: usize,
    alerts: Option<broadcast::Sender<Arc<CommittedAlert>>>,
    progress: Option<Arc<Progress>>,
    give_up_after: Duration,
}

impl<L: ?Sized, S: ?Sized> std::fmt::Debug for ProjectorBuilder<L, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectorBuilder")
            .field("partitions", &self.partitions)
            .field("batch_size", &self.batch_size)
            .field("live", &self.alerts.is_some())
            .field("give_up_after", &self.give_up_after)
            .finish_non_exhaustive()
    }
}

impl<L: EventLog + ?Sized, S: ViewStore + ?Sized> ProjectorBuilder<L, S> {
    /// How long transient failures in a row are waited out unless told otherwise.
    pub const GIVE_UP_AFTER: Duration = Duration::from_secs(15 * 60);

    /// The policy a partition starts from when the views have saved none for it (the
    /// shipped one unless told); the policy records on the log change it from there.
    pub fn policy(mut self, policy: PolicyInForce) -> Self {
        self.policy = policy;
        self
    }

    /// The partitions to fold from the start (none unless told: a consumer group's member
    /// is given its share by [`Projector::run_assigned`]).
    pub fn partitions(mut self, partitions: impl IntoIterator<Item = u32>) -> Self {
        self.partitions = partitions.into_iter().collect();
        self
    }

    /// Records read and committed per partition and round, at most (1000 unless told).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Pushes every committed alert change to `alerts`: the live projector of a node that
    /// serves feeds. Without it (a rebuild, a replay, a projector role whose feeds are
    /// served from the views) nothing is pushed.
    pub fn alerts(mut self, alerts: broadcast::Sender<Arc<CommittedAlert>>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Where to tell how far each partition is folded (its own unless told).
    pub fn progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// How long transient failures in a row (the log or the views unreachable or busy) are
    /// waited out before they stop the projector ([`Self::GIVE_UP_AFTER`] unless told).
    pub fn give_up_after(mut self, bound: Duration) -> Self {
        self.give_up_after = bound;
        self
    }

    /// Binds the views to the log ([`bind_views`]) and loads each partition from its
    /// checkpoint, with its cases, from the views.
    pub async fn open(self) -> Result<Projector<L, S>> {
        bind_views(self.log.as_ref(), self.store.as_ref()).await?;
        let progress = self
            .progress
            .unwrap_or_else(|| Progress::new(self.log.partitions()));
        let mut projector = Projector {
            log: self.log,
            store: self.store,
            policy: self.policy,
            batch_size: self.batch_size,
            give_up_after: self.give_up_after,
            partitions: Vec::with_capacity(self.partitions.len()),
            alerts: self.alerts,
            progress,
            metrics: Metrics::new(),
            uncovered_years: calendar_years::Reported::default(),
        };
        projector.assign(&self.partitions).await?;
        Ok(projector)
    }
}

#[cfg(test)]
mod tests {
    use casewatch_log::embedded::EmbeddedLog;
    use casewatch_log::{Appended, LogError, NewRecord};
    use casewatch_store::sqlite::SqliteStore;

    use super::*;

    /// A log whose records cannot be read: the broker or the disk is gone.
    struct Unreadable(EmbeddedLog);

    #[async_trait::async_trait]
    impl EventLog for Unreadable {
        fn partitions(&self) -> u32 {
            self.0.partitions()
        }

        async fn identity(&self) -> casewatch_log::Result<String> {
            self.0.identity().await
        }

        async fn append(&self, records: Vec<NewRecord>) -> casewatch_log::Result<Vec<Appended>> {
            self.0.append(records).await
        }

        async fn read(&self, _: u32, _: u64, _: usize) -> casewatch_log::Result<Vec<StoredRecord>> {
            Err(LogError::Unavailable(
                "the broker does not answer".to_owned(),
            ))
        }

        async fn high_water(&self, partition: u32) -> casewatch_log::Result<u64> {
            self.0.high_water(partition).await
        }

        async fn wait_for(
            &self,
            partition: u32,
            offset: u64,
            timeout: Duration,
        ) -> casewatch_log::Result<u64> {
            self.0.wait_for(partition, offset, timeout).await
        }
    }

    #[tokio::test]
    async fn a_failure_that_outlasts_the_bound_stops_the_projector_naming_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = Unreadable(EmbeddedLog::open(dir.path(), 1).expect("the log opens"));
        let store = SqliteStore::open_in_memory().await.expect("a store");
        let bound = Duration::from_secs(60);
        let projector = Projector::builder(Arc::new(log), Arc::new(store))
            .partitions([0])
            .give_up_after(bound)
            .open()
            .await
            .expect("the projector opens");
        // From here on the runtime's clock moves only when every task waits: the pauses
        // pass at once, and exactly as long as they are.
        tokio::time::pause();
        let started = tokio::time::Instant::now();
        let error = projector
            .run(CancellationToken::new())
            .await
            .expect_err("the projector gives up");
        let waited = started.elapsed();
        assert!(
            matches!(&error, ProjectError::GaveUp { last, .. }
                if matches!(**last, ProjectError::Log(LogError::Unavailable(_)))),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the log or the views failed for 1m in a row; the last failure: \
             the log is unavailable: the broker does not answer"
        );
        assert!(
            waited > bound - Duration::from_secs(10) && waited <= bound,
            "it waited the failure out for {waited:?} of its {bound:?}"
        );
    }
}
