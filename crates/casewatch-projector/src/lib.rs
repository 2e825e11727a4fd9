//! The projector: reads the log's records in batches, folds them through the domain and
//! writes each batch to the views in one transaction, checkpoint included, so every record
//! counts exactly once. It keeps the cases of its partitions in memory, so a batch never
//! re-reads rows it just wrote.
//!
//! Time comes only from the log: clock ticks and the records' `recorded_at`. Replaying the
//! log therefore gives the same alerts at the same moments as the live run. The projector
//! holds no business rules of its own; it only moves records to the domain and results to
//! the store.
//!
//! A record it cannot read — undecodable, invalid, or not keyed by the case it is about —
//! never stops it: the record goes to the quarantine with the reason. When its key names a
//! case the partition knows, the case's archive keeps the record as
//! [`Disposition::Unreadable`] and the domain raises C5 on the case; otherwise the
//! projector logs an error and counts the record in the
//! `casewatch.projector.records_quarantined` metric, for operators to act on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::time::Duration;

use casewatch_domain::Timestamp;
use casewatch_domain::case::{Case, Disposition, Effects, Policy};
use casewatch_domain::ids::CaseNo;
use casewatch_domain::stats::{Counters, StatKey};
use casewatch_log::{EventLog, LogError, StoredRecord};
use casewatch_proto::{DecodedRecord, decode_record};
use casewatch_store::{
    AlertChangeRow, CaseRow, Checkpoint, CommittedAlert, Hash, Position, QuarantineRow, RefusalRow,
    StepRow, StoreError, ViewBatch, ViewStore,
};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

pub mod audit;
mod calendar_years;

pub use casewatch_domain::log::{GENESIS, chain};

/// Why projecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The views were folded from another log.
    #[error(
        "the views belong to the {views}, not to this {log}: point the views at this log's \
         own (or at an empty database to fold it there)"
    )]
    OtherLog { views: String, log: String },
    /// Views without a log identity (folded before identities were recorded) claim more
    /// of a partition than the log holds: they are another log's.
    #[error(
        "the views have folded partition {partition} up to offset {folded}, but this {log} \
         holds {held} records there: they are another log's views"
    )]
    AheadOfLog {
        log: String,
        partition: u32,
        folded: u64,
        held: u64,
    },
}

/// Pairs the views with the log they are folded from: views that name a log must name this
/// one; views that name none take this log's identity, once their checkpoints are found
/// within it (views folded before identities were recorded).
pub async fn bind_views<L, S>(log: &L, store: &S) -> Result<()>
where
    L: EventLog + ?Sized,
    S: ViewStore + ?Sized,
{
    let identity = log.identity().await?;
    match store.log_identity().await? {
        Some(views) if views == identity => return Ok(()),
        Some(views) => {
            return Err(ProjectError::OtherLog {
                views,
                log: identity,
            });
        }
        None => {}
    }
    for checkpoint in store.checkpoints().await? {
        let held = log.high_water(checkpoint.partition).await?;
        if checkpoint.next_offset > held {
            return Err(ProjectError::AheadOfLog {
                log: identity,
                partition: checkpoint.partition,
                folded: checkpoint.next_offset,
                held,
            });
        }
    }
    store.set_log_identity(&identity).await?;
    Ok(())
}

/// A `Result` with a [`ProjectError`].
pub type Result<T, E = ProjectError> = std::result::Result<T, E>;

/// Whether committed alert changes go to live subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The live projector: committed changes are pushed.
    Live,
    /// A rebuild or replay: nothing is pushed.
    Rebuild,
}

/// How the projector batches.
#[derive(Debug, Clone)]
pub struct ProjectorOptions {
    /// Records read and committed per batch, at most.
    pub batch_size: usize,
    pub mode: Mode,
}

impl Default for ProjectorOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            mode: Mode::Live,
        }
    }
}

/// How far the views have folded each partition, for readers who want to see their own
/// writes: `wait_for` resolves once a position is folded.
#[derive(Debug)]
pub struct Progress {
    partitions: Vec<watch::Sender<u64>>,
}

impl Progress {
    /// Progress of `partitions` partitions, none folded yet.
    pub fn new(partitions: u32) -> Arc<Self> {
        Arc::new(Self {
            partitions: (0..partitions).map(|_| watch::channel(0).0).collect(),
        })
    }

    /// Records that `partition` is folded up to `next_offset` (never backwards).
    pub fn advance(&self, partition: u32, next_offset: u64) {
        if let Some(sender) = self.partitions.get(partition as usize) {
            sender.send_if_modified(|current| {
                let moved = next_offset > *current;
                *current = (*current).max(next_offset);
                moved
            });
        }
    }

    /// The offset of the next record to fold on `partition`.
    pub fn next_offset(&self, partition: u32) -> u64 {
        self.partitions
            .get(partition as usize)
            .map_or(0, |sender| *sender.borrow())
    }

    /// Waits until the record at `offset` of `partition` is folded, or `timeout` passes;
    /// returns whether it was.
    pub async fn wait_for(&self, partition: u32, offset: u64, timeout: Duration) -> bool {
        let Some(sender) = self.partitions.get(partition as usize) else {
            return false;
        };
        let mut receiver = sender.subscribe();
        let folded = receiver.wait_for(|next| *next > offset);
        matches!(tokio::time::timeout(timeout, folded).await, Ok(Ok(_)))
    }
}

/// Whether an error may pass by itself: the log or the views are unreachable or busy for
/// now. Anything else stops the projector, and with it the process.
fn is_transient(error: &ProjectError) -> bool {
    match error {
        ProjectError::Log(LogError::Unavailable(_)) => true,
        ProjectError::Store(error) => error.is_transient(),
        _ => false,
    }
}

/// Keeps a transient failure of a reload for the run loop's backoff.
fn transient(error: ProjectError) -> Result<()> {
    if is_transient(&error) {
        warn!(%error, "partition not reloaded yet");
        Ok(())
    } else {
        Err(error)
    }
}

/// Pauses that double from 100 ms to 5 s while failures last.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const LONGEST: Duration = Duration::from_secs(5);

    fn next(&mut self) -> Duration {
        let pause = Self::FIRST.saturating_mul(1 << self.failures.min(6));
        self.failures += 1;
        pause.min(Self::LONGEST)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A case in memory with the head of its hash chain.
#[derive(Debug, Clone)]
struct CaseEntry {
    case: Case,
    chain_head: Hash,
    /// Up to when ticks need not visit the case (its horizon when a tick last visited
    /// it); `None` when unknown: it changed since, or was never visited.
    quiet_until: Option<Timestamp>,
}

impl CaseEntry {
    fn new(case: Case, chain_head: Hash) -> Self {
        Self {
            case,
            chain_head,
            quiet_until: None,
        }
    }

    /// The instant after which ticks must visit the case; `None` when time cannot change
    /// it.
    fn due_after(&self) -> Option<Timestamp> {
        self.case
            .is_time_sensitive()
            .then(|| self.quiet_until.unwrap_or(Timestamp::MIN_UTC))
    }

    /// Lets time pass to `at`, and notes until when ticks need not visit again.
    fn advance(&mut self, at: Timestamp, policy: &Policy) -> Effects {
        let (effects, horizon) = self.case.advance_with_horizon(at, policy);
        self.quiet_until = Some(horizon.unwrap_or(Timestamp::MAX_UTC));
        effects
    }
}

/// Cases by the instant after which ticks must visit them ([`CaseEntry::due_after`]), so
/// that a tick finds the few cases it can change without looking at the others.
#[derive(Debug, Default)]
struct Agenda(BTreeMap<Timestamp, BTreeSet<CaseNo>>);

impl Agenda {
    /// Files a case due after `next` rather than after `previous` (`None`: not filed).
    fn refile(&mut self, case_no: &CaseNo, previous: Option<Timestamp>, next: Option<Timestamp>) {
        if previous == next {
            return;
        }
        if let Some(previous) = previous
            && let Some(cases) = self.0.get_mut(&previous)
        {
            cases.remove(case_no);
            if cases.is_empty() {
                self.0.remove(&previous);
            }
        }
        if let Some(next) = next {
            self.0.entry(next).or_default().insert(case_no.clone());
        }
    }

    /// The cases due after an instant in `range`.
    fn due(&self, range: impl RangeBounds<Timestamp>) -> impl Iterator<Item = &CaseNo> {
        self.0.range(range).flat_map(|(_, cases)| cases)
    }
}

/// The state of one partition.
#[derive(Debug)]
struct PartitionState {
    partition: u32,
    next_offset: u64,
    chain: Hash,
    /// The partition's time: the newest tick or record time folded so far.
    clock: Option<Timestamp>,
    cases: HashMap<CaseNo, CaseEntry>,
    /// When ticks must visit the time-sensitive ones of `cases`.
    agenda: Agenda,
}

impl PartitionState {
    /// Puts a case into the partition's cache, in place of the one it had.
    fn put(&mut self, case_no: CaseNo, entry: CaseEntry) {
        let filed = self.cases.get(&case_no).and_then(CaseEntry::due_after);
        self.agenda.refile(&case_no, filed, entry.due_after());
        self.cases.insert(case_no, entry);
    }
}

/// Folds a set of partitions of the log into the views.
pub struct Projector<L: ?Sized, S: ?Sized> {
    log: Arc<L>,
    store: Arc<S>,
    policy: Arc<Policy>,
    options: ProjectorOptions,
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
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<L: EventLog + ?Sized, S: ViewStore + ?Sized> Projector<L, S> {
    /// A projector of `partitions`, resuming each from its checkpoint with its cases loaded
    /// from the views. Committed alert changes go to `alerts` in live mode.
    pub async fn new(
        log: Arc<L>,
        store: Arc<S>,
        policy: Arc<Policy>,
        partitions: &[u32],
        options: ProjectorOptions,
        alerts: Option<broadcast::Sender<Arc<CommittedAlert>>>,
        progress: Arc<Progress>,
    ) -> Result<Self> {
        bind_views(log.as_ref(), store.as_ref()).await?;
        let mut projector = Self {
            log,
            store,
            policy,
            alerts: alerts.filter(|_| options.mode == Mode::Live),
            options,
            partitions: Vec::with_capacity(partitions.len()),
            progress,
            metrics: Metrics::new(),
            uncovered_years: calendar_years::Reported::default(),
        };
        projector
            .assign(&partitions.iter().copied().collect())
            .await?;
        Ok(projector)
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
        let mut state = PartitionState {
            partition,
            next_offset,
            chain,
            clock,
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
    /// views. Only corrupt views stop the projector.
    pub async fn run_assigned(
        mut self,
        mut assignment: watch::Receiver<BTreeSet<u32>>,
        shutdown: CancellationToken,
    ) -> Result<()> {
        let mut backoff = Backoff::default();
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let outcome = self.round(&mut assignment, &shutdown).await;
            match outcome {
                Ok(()) => backoff.reset(),
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
                    let pause = backoff.next();
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
                .read(state.partition, state.next_offset, self.options.batch_size)
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
                let (batch, fold) = fold_batch(&self.partitions[*index], records, &self.policy);
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

/// What a batch changes in the partition's state, to be kept once it is committed.
struct Folded {
    /// The cases it touched, to put back into the cache.
    cases: HashMap<CaseNo, CaseEntry>,
    next_offset: u64,
    /// The partition's chain and time after it.
    chain: Hash,
    clock: Option<Timestamp>,
    quarantined: Quarantined,
    /// The years the calendars of the cases it wrote have no data for.
    uncovered_years: BTreeSet<i32>,
}

/// The records a batch quarantined.
#[derive(Debug, Default)]
struct Quarantined {
    /// Of cases the partition knows, which were alerted (C5).
    alerted: u64,
    /// Of no case the partition knows: only operators can be told.
    unplaced: u64,
}

/// Folds a batch of records without touching the partition's state: the cases it changes
/// are copied, so a failed commit leaves the cache as the views are.
fn fold_batch(
    state: &PartitionState,
    records: &[StoredRecord],
    policy: &Policy,
) -> (ViewBatch, Folded) {
    let mut fold = BatchFold {
        state,
        policy,
        cases: HashMap::new(),
        agenda: Agenda::default(),
        copied_due: None,
        touched: BTreeSet::new(),
        chain: state.chain,
        clock: state.clock,
        quarantined: Quarantined::default(),
        batch: ViewBatch::new(
            state.partition,
            state.next_offset,
            Checkpoint {
                partition: state.partition,
                next_offset: state.next_offset,
                chain_hash: state.chain,
                clock: state.clock,
            },
        ),
        stats: BTreeMap::new(),
    };
    for record in records {
        fold.record(record);
    }
    fold.finish()
}

/// The working state of one batch's fold.
struct BatchFold<'a> {
    state: &'a PartitionState,
    policy: &'a Policy,
    /// Copies of the cases this batch changed or its ticks visited.
    cases: HashMap<CaseNo, CaseEntry>,
    /// When ticks must visit the copies.
    agenda: Agenda,
    /// The latest tick so far: the partition's cases due before it are copied.
    copied_due: Option<Timestamp>,
    touched: BTreeSet<CaseNo>,
    chain: Hash,
    /// The partition's time so far.
    clock: Option<Timestamp>,
    quarantined: Quarantined,
    batch: ViewBatch,
    stats: BTreeMap<StatKey, Counters>,
}

impl BatchFold<'_> {
    /// The batch's copy of a case, made on first use.
    fn case(&mut self, case_no: &CaseNo) -> Option<&mut CaseEntry> {
        if !self.cases.contains_key(case_no) {
            let entry = self.state.cases.get(case_no)?.clone();
            self.add(case_no.clone(), entry);
        }
        self.cases.get_mut(case_no)
    }

    /// Adds a case to the batch's copies.
    fn add(&mut self, case_no: CaseNo, entry: CaseEntry) {
        self.agenda.refile(&case_no, None, entry.due_after());
        self.cases.insert(case_no, entry);
    }

    /// The batch's copy of a case about to be changed by a record: when ticks must visit
    /// it is unknown until the next one does; see [`refile`](Self::refile).
    fn change(&mut self, case_no: &CaseNo) -> Option<(&mut CaseEntry, Option<Timestamp>)> {
        let entry = self.case(case_no)?;
        let filed = entry.due_after();
        entry.quiet_until = None;
        Some((entry, filed))
    }

    /// Files a copy changed since it was filed after `filed` where it now belongs.
    fn refile(&mut self, case_no: &CaseNo, filed: Option<Timestamp>) {
        let due_after = self.cases.get(case_no).and_then(CaseEntry::due_after);
        self.agenda.refile(case_no, filed, due_after);
    }

    fn record(&mut self, record: &StoredRecord) {
        let position = Position {
            partition: record.position.partition,
            offset: record.position.offset,
        };
        self.chain = chain(&self.chain, &record.bytes);
        self.batch.checkpoint.next_offset = position.offset + 1;
        let read = read_record(record);
        if let Ok((recorded_at, decoded)) = &read {
            self.clock = Some(advance_clock(self.clock, *recorded_at, decoded));
        }
        match read {
            Err(reason) => self.unreadable(record, position, reason),
            Ok((recorded_at, DecodedRecord::Case(event))) => {
                if self.case(&event.case_no).is_none() {
                    let entry = CaseEntry::new(Case::new(&event), GENESIS);
                    self.add(event.case_no.clone(), entry);
                }
                let policy = self.policy;
                let (entry, filed) = self.change(&event.case_no).expect("added above");
                let previous_hash = entry.chain_head;
                entry.chain_head = chain(&previous_hash, &record.bytes);
                let hash = entry.chain_head;
                let effects = entry.case.handle_step(&event, recorded_at, policy);
                self.refile(&event.case_no, filed);
                let disposition = effects
                    .steps
                    .iter()
                    .find(|step| step.seq == event.seq)
                    .map_or(Disposition::Duplicate, |step| step.disposition);
                if disposition == Disposition::Held {
                    self.batch
                        .pending_added
                        .push((event.case_no.to_string(), event.seq, position));
                }
                for step in &effects.steps {
                    if step.seq != event.seq && step.disposition == Disposition::Applied {
                        self.batch
                            .pending_removed
                            .push((event.case_no.to_string(), step.seq));
                    }
                }
                self.batch.steps.push(StepRow {
                    case_no: event.case_no.to_string(),
                    position,
                    seq: Some(event.seq),
                    kind: event.step.name().to_owned(),
                    recorded_at,
                    disposition,
                    hash,
                    previous_hash,
                });
                self.absorb(&event.case_no, effects, position);
            }
            Ok((recorded_at, DecodedRecord::Supervision(action))) => {
                let case_no = action.alert_id.case_no.clone();
                let policy = self.policy;
                let Some((entry, filed)) = self.change(&case_no) else {
                    self.batch.refusals.push(RefusalRow {
                        position,
                        alert_id: action.alert_id.to_string(),
                        principal: action.principal.id.clone(),
                        reason: format!("case `{case_no}` is unknown"),
                    });
                    return;
                };
                let previous_hash = entry.chain_head;
                entry.chain_head = chain(&previous_hash, &record.bytes);
                let hash = entry.chain_head;
                let outcome = entry.case.handle_supervision(&action, recorded_at, policy);
                self.refile(&case_no, filed);
                self.batch.steps.push(StepRow {
                    case_no: case_no.to_string(),
                    position,
                    seq: None,
                    kind: "supervision".to_owned(),
                    recorded_at,
                    disposition: Disposition::Applied,
                    hash,
                    previous_hash,
                });
                self.touched.insert(case_no.clone());
                match outcome {
                    Ok(effects) => self.absorb(&case_no, effects, position),
                    Err(error) => self.batch.refusals.push(RefusalRow {
                        position,
                        alert_id: action.alert_id.to_string(),
                        principal: action.principal.id.clone(),
                        reason: error.to_string(),
                    }),
                }
            }
            Ok((_, DecodedRecord::Tick(tick))) => self.tick(tick.at, position),
        }
    }

    /// A record that cannot be folded: quarantined, and kept in the archive of the case its
    /// key names, which the domain alerts (C5), when the partition knows that case.
    fn unreadable(&mut self, record: &StoredRecord, position: Position, reason: String) {
        let keyed = CaseNo::parse(record.key.as_str()).ok();
        self.batch.quarantine.push(QuarantineRow {
            position,
            reason: reason.clone(),
            bytes: record.bytes.clone(),
            case_no: keyed.as_ref().map(ToString::to_string),
        });
        let policy = self.policy;
        let (Some(case_no), Some(now)) = (keyed, self.clock) else {
            return self.unplaced(record, position, &reason);
        };
        let Some((entry, filed)) = self.change(&case_no) else {
            return self.unplaced(record, position, &reason);
        };
        let previous_hash = entry.chain_head;
        entry.chain_head = chain(&previous_hash, &record.bytes);
        let hash = entry.chain_head;
        let effects = entry
            .case
            .handle_unreadable(&record.bytes, &reason, now, policy);
        self.refile(&case_no, filed);
        self.batch.steps.push(StepRow {
            case_no: case_no.to_string(),
            position,
            seq: None,
            kind: "unreadable".to_owned(),
            recorded_at: now,
            disposition: Disposition::Unreadable,
            hash,
            previous_hash,
        });
        warn!(
            partition = position.partition,
            offset = position.offset,
            %case_no,
            %reason,
            "unreadable record quarantined; its case is alerted (C5)"
        );
        self.touched.insert(case_no.clone());
        self.absorb(&case_no, effects, position);
        self.quarantined.alerted += 1;
    }

    /// An unreadable record of no case the partition knows: only operators can act.
    fn unplaced(&mut self, record: &StoredRecord, position: Position, reason: &str) {
        error!(
            partition = position.partition,
            offset = position.offset,
            key = %record.key,
            %reason,
            "unreadable record of no known case quarantined"
        );
        self.quarantined.unplaced += 1;
    }

    /// Time passes on the partition: every case time can change by now is visited (the
    /// others are quiet until past `at`). A tick that changes nothing visible leaves a
    /// case as it was, so only cases it changed are written; the copies of the others
    /// carry their new horizon back to the cache.
    fn tick(&mut self, at: Timestamp, position: Position) {
        let policy = self.policy;
        let state = self.state;
        if self.copied_due.is_none_or(|copied| copied < at) {
            let from = self.copied_due.map_or(Bound::Unbounded, Bound::Included);
            for case_no in state.agenda.due((from, Bound::Excluded(at))) {
                if !self.cases.contains_key(case_no) {
                    self.add(case_no.clone(), state.cases[case_no].clone());
                }
            }
            self.copied_due = Some(at);
        }
        let due: Vec<CaseNo> = self.agenda.due(..at).cloned().collect();
        for case_no in due {
            let entry = self
                .cases
                .get_mut(&case_no)
                .expect("filed from the batch's cases");
            let filed = entry.due_after();
            let effects = entry.advance(at, policy);
            self.refile(&case_no, filed);
            self.absorb(&case_no, effects, position);
        }
    }

    fn absorb(&mut self, case_no: &CaseNo, effects: Effects, position: Position) {
        if effects.alerts.is_empty() && effects.stats.is_empty() && effects.steps.is_empty() {
            return;
        }
        self.touched.insert(case_no.clone());
        self.batch.alerts.extend(
            effects
                .alerts
                .into_iter()
                .map(|change| AlertChangeRow { change, position }),
        );
        for delta in effects.stats {
            *self.stats.entry(delta.key).or_default() += &delta.counters;
        }
    }

    fn finish(mut self) -> (ViewBatch, Folded) {
        let policy = self.policy;
        let mut uncovered_years = BTreeSet::new();
        for case_no in &self.touched {
            let entry = &self.cases[case_no];
            let case = &entry.case;
            let calendar = policy.calendars.for_region(&case.region_code);
            let as_of = case.evaluated_at.or(case.last_step_at).unwrap_or_default();
            let promised_due = case.promised_due(calendar);
            let legal_due = case.legal_due(calendar);
            uncovered_years.extend(calendar_years::uncovered_years(
                case,
                calendar,
                as_of,
                [promised_due, legal_due],
            ));
            self.batch.cases.push(CaseRow {
                case: case.clone(),
                partition: self.state.partition,
                chain_head: entry.chain_head,
                light: case.light(),
                promised_due,
                legal_due,
                used_seconds: case.used_seconds(calendar, as_of),
                paused: case.clock.is_paused(calendar, as_of),
                as_of,
            });
        }
        self.batch.stats = self
            .stats
            .into_iter()
            .filter(|(_, counters)| !counters.is_zero())
            .collect();
        self.batch.checkpoint.chain_hash = self.chain;
        self.batch.checkpoint.clock = self.clock;
        let folded = Folded {
            cases: self.cases,
            next_offset: self.batch.checkpoint.next_offset,
            chain: self.chain,
            clock: self.clock,
            quarantined: self.quarantined,
            uncovered_years,
        };
        (self.batch, folded)
    }
}

/// A record as the projector folds it: decoded, converted, and placed — a case step or an
/// action must be keyed by the case it is about, so that it lies in that case's partition
/// and chain (and a foreign producer's misrouted record cannot fork a case across
/// partitions). Anything else is unreadable, for the reason given.
pub(crate) fn read_record(
    record: &StoredRecord,
) -> std::result::Result<(Timestamp, DecodedRecord), String> {
    let (recorded_at, decoded) = decode_record(&record.bytes).map_err(|error| error.to_string())?;
    let case_no = match &decoded {
        DecodedRecord::Case(event) => Some(&event.case_no),
        DecodedRecord::Supervision(action) => Some(&action.alert_id.case_no),
        DecodedRecord::Tick(_) => None,
    };
    if let Some(case_no) = case_no
        && case_no.as_str() != record.key
    {
        return Err(format!(
            "the record is about case `{case_no}` but keyed `{}`",
            record.key
        ));
    }
    Ok((recorded_at, decoded))
}

/// A partition's time after a readable record: the newest tick or record time so far.
pub(crate) fn advance_clock(
    clock: Option<Timestamp>,
    recorded_at: Timestamp,
    decoded: &DecodedRecord,
) -> Timestamp {
    let at = match decoded {
        DecodedRecord::Tick(tick) => tick.at.max(recorded_at),
        DecodedRecord::Case(_) | DecodedRecord::Supervision(_) => recorded_at,
    };
    clock.map_or(at, |clock| clock.max(at))
}

/// The projector's instruments, from the global meter provider (a no-op until the binary
/// installs one).
#[derive(Debug)]
struct Metrics {
    quarantined: opentelemetry::metrics::Counter<u64>,
}

impl Metrics {
    fn new() -> Self {
        let meter = opentelemetry::global::meter("casewatch-projector");
        Self {
            quarantined: meter
                .u64_counter("casewatch.projector.records_quarantined")
                .with_unit("{record}")
                .with_description(
                    "Records the projector could not read and quarantined; \
                     `case_alerted` false means no case was alerted and an operator must look",
                )
                .build(),
        }
    }

    /// Counts a committed batch's quarantined records.
    fn quarantined(&self, partition: u32, quarantined: &Quarantined) {
        for (count, case_alerted) in [(quarantined.alerted, true), (quarantined.unplaced, false)] {
            if count > 0 {
                self.quarantined.add(
                    count,
                    &[
                        opentelemetry::KeyValue::new("partition", i64::from(partition)),
                        opentelemetry::KeyValue::new("case_alerted", case_alerted),
                    ],
                );
            }
        }
    }
}
