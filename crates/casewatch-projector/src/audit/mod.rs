//! Audit over the log: verify the hash chains the views hold, fold a case as it was at an
//! instant, and re-run the rules over the past with other thresholds. All of it reads the
//! log as it is; none of it writes or pushes anything.

use std::collections::{HashMap, VecDeque};

use casewatch_domain::Timestamp;
use casewatch_domain::alert::Alert;
use casewatch_domain::case::{Case, Disposition, Policy};
use casewatch_domain::ids::CaseNo;
use casewatch_domain::record::{PartitionFold, Record};
use casewatch_log::{EventLog, Offset, Partition, StoredRecord};
use casewatch_proto::read_record;
use casewatch_store::{Checkpoint, Hash, Position, StepHash, ViewStore};
use futures::{StreamExt as _, TryStreamExt as _, stream};
use tokio::sync::mpsc;

use crate::{GENESIS, Result, chain};

/// Records read from the log per call.
const READ_BATCH: usize = 5_000;
/// Archive rows read per call: as many as records, so that a page of each spans about the
/// same offsets.
const ARCHIVE_PAGE: u32 = READ_BATCH as u32;
/// Partitions verified at once. Each recomputes its chains on a blocking thread while its
/// next pages are read, so that two keep two cores busy.
const CONCURRENT_PARTITIONS: usize = 2;

/// Where a stored hash and the one recomputed from the log differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub position: Position,
    /// The case whose chain broke; empty for a partition's running chain.
    pub case_no: String,
    /// The hash the views hold.
    pub expected: Hash,
    /// The hash recomputed from the log.
    pub actual: Hash,
    pub reason: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub records_checked: u64,
    pub first_mismatch: Option<Mismatch>,
}

/// Verifies one case: recomputes its chain from the log records its archive names, and
/// compares every link and the head.
pub async fn verify_case<L, S>(log: &L, store: &S, case_no: &str) -> Result<VerifyReport>
where
    L: EventLog + ?Sized,
    S: ViewStore + ?Sized,
{
    let steps = store.steps(case_no).await?;
    let mut report = VerifyReport::default();
    let mut head = GENESIS;
    for step in &steps {
        let record = log
            .read(step.position.partition, step.position.offset, 1)
            .await?
            .into_iter()
            .next()
            .filter(|record| record.position.offset == step.position.offset);
        report.records_checked += 1;
        let Some(record) = record else {
            report.first_mismatch = Some(Mismatch {
                position: step.position,
                case_no: case_no.to_owned(),
                expected: step.hash,
                actual: GENESIS,
                reason: "the record is missing from the log".to_owned(),
            });
            return Ok(report);
        };
        head = chain(&head, &record.bytes);
        if head != step.hash {
            report.first_mismatch = Some(Mismatch {
                position: step.position,
                case_no: case_no.to_owned(),
                expected: step.hash,
                actual: head,
                reason: "the record's bytes differ from those the views hashed".to_owned(),
            });
            return Ok(report);
        }
    }
    if let Some(row) = store.case(case_no).await?
        && row.chain_head != head
    {
        report.first_mismatch = Some(Mismatch {
            position: steps.last().map_or(
                Position {
                    partition: row.partition,
                    offset: 0,
                },
                |step| step.position,
            ),
            case_no: case_no.to_owned(),
            expected: row.chain_head,
            actual: head,
            reason: "the case's chain head differs from its archive".to_owned(),
        });
    }
    Ok(report)
}

/// Verifies partitions up to their checkpoints: recomputes each partition's running chain
/// and every case's chain from the log, and names the first record whose recomputed hash
/// differs from the one the views hold.
pub async fn verify_log<L, S>(log: &L, store: &S, partitions: &[Partition]) -> Result<VerifyReport>
where
    L: EventLog + ?Sized,
    S: ViewStore + ?Sized,
{
    let checkpoints = store.checkpoints().await?;
    let verified: Vec<VerifyReport> =
        stream::iter(checkpoints.into_iter().filter(|checkpoint| {
            partitions.is_empty() || partitions.contains(&checkpoint.partition)
        }))
        .map(|checkpoint| verify_partition(log, store, checkpoint))
        .buffer_unordered(CONCURRENT_PARTITIONS)
        .try_collect()
        .await?;
    Ok(VerifyReport {
        records_checked: verified.iter().map(|report| report.records_checked).sum(),
        first_mismatch: verified
            .into_iter()
            .filter_map(|report| report.first_mismatch)
            .min_by_key(|mismatch| mismatch.position),
    })
}

/// Verifies one partition up to its checkpoint in one pass over its records, merged with
/// the archive in offset order. The log and the archive are each read a page ahead while
/// the chains of the page before are recomputed on a blocking thread.
async fn verify_partition<L, S>(log: &L, store: &S, checkpoint: Checkpoint) -> Result<VerifyReport>
where
    L: EventLog + ?Sized,
    S: ViewStore + ?Sized,
{
    let partition = checkpoint.partition;
    let until = checkpoint.next_offset;
    let (records_tx, mut records) = mpsc::channel::<Vec<StoredRecord>>(1);
    let (steps_tx, mut steps) = mpsc::channel::<Vec<StepHash>>(1);
    let read_archive = read_ahead(
        |from| async move { Ok(store.step_hashes(partition, from, ARCHIVE_PAGE).await?) },
        |step: &StepHash| step.position.offset,
        until,
        steps_tx,
    );
    let recompute = async move {
        let mut audit = PartitionAudit::new(partition);
        let mut archive_read = false;
        while let Some(page) = records.recv().await {
            // Pages are never empty.
            let last = page.last().map_or(0, |record| record.position.offset);
            while !archive_read
                && audit
                    .steps
                    .back()
                    .is_none_or(|step| step.position.offset < last)
            {
                match steps.recv().await {
                    Some(rows) => audit.steps.extend(rows),
                    None => archive_read = true,
                }
            }
            audit = tokio::task::spawn_blocking(move || {
                audit.check(page);
                audit
            })
            .await
            // The blocking pool cancels no task it started; a panic goes on unwinding here.
            .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
        }
        Ok(audit)
    };
    let ((), (), audit) = tokio::try_join!(
        read_records(log, partition, until, records_tx),
        read_archive,
        recompute
    )?;
    audit.finish(store, checkpoint).await
}

/// Reads the records of `partition` up to (not including) `until` into `pages`, a page
/// ahead.
async fn read_records<L: EventLog + ?Sized>(
    log: &L,
    partition: Partition,
    until: Offset,
    pages: mpsc::Sender<Vec<StoredRecord>>,
) -> Result<()> {
    read_ahead(
        |from| async move { Ok(log.read(partition, from, READ_BATCH).await?) },
        |record: &StoredRecord| record.position.offset,
        until,
        pages,
    )
    .await
}

/// Reads pages in offset order from offset 0 up to (not including) `until` and hands them
/// on, reading the next page while the one before waits to be taken. Stops early when the
/// pages run out or nobody takes them any more.
async fn read_ahead<T, F, Fut>(
    mut read: F,
    offset: fn(&T) -> Offset,
    until: Offset,
    pages: mpsc::Sender<Vec<T>>,
) -> Result<()>
where
    F: FnMut(Offset) -> Fut,
    Fut: Future<Output = Result<Vec<T>>>,
{
    let mut from = 0;
    while from < until {
        let mut page = read(from).await?;
        let Some(last) = page.last() else {
            break;
        };
        from = offset(last) + 1;
        page.retain(|item| offset(item) < until);
        if page.is_empty() || pages.send(page).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// One partition's chains, recomputed record by record and compared with the archive.
struct PartitionAudit {
    partition: Partition,
    records_checked: u64,
    /// The partition's running chain.
    running: Hash,
    /// Each case's chain, by the key its records were appended under: the key names the
    /// case even when the bytes no longer decode.
    cases: HashMap<String, CaseChain>,
    /// Archive rows read and not yet met by their record, in offset order.
    steps: VecDeque<StepHash>,
    first_mismatch: Option<Mismatch>,
}

impl PartitionAudit {
    fn new(partition: Partition) -> Self {
        Self {
            partition,
            records_checked: 0,
            running: GENESIS,
            cases: HashMap::new(),
            steps: VecDeque::new(),
            first_mismatch: None,
        }
    }

    /// Recomputes the chains over the next records of the partition; `steps` holds the
    /// archive rows up to the last of them.
    fn check(&mut self, records: Vec<StoredRecord>) {
        for record in records {
            self.records_checked += 1;
            self.running = chain(&self.running, &record.bytes);
            let offset = record.position.offset;
            // Rows of records missing from the log belong to no record.
            while self
                .steps
                .front()
                .is_some_and(|step| step.position.offset < offset)
            {
                self.steps.pop_front();
            }
            let archived = self
                .steps
                .front()
                .filter(|step| {
                    step.position.offset == offset && step.case_no.as_str() == record.key
                })
                .map(|step| step.hash);
            let broken = match self.cases.get_mut(&record.key) {
                Some(case) => case.link(offset, &record.bytes, archived),
                None => {
                    if CaseNo::parse(record.key.as_str()).is_err() {
                        continue;
                    }
                    let mut case = CaseChain::new();
                    let broken = case.link(offset, &record.bytes, archived);
                    self.cases.insert(record.key.clone(), case);
                    broken
                }
            };
            if let Some(broken) = broken {
                self.report(broken.mismatch(self.partition, record.key));
            }
        }
    }

    /// Keeps `mismatch` if it comes before the first one found so far.
    fn report(&mut self, mismatch: Mismatch) {
        if self
            .first_mismatch
            .as_ref()
            .is_none_or(|first| mismatch.position < first.position)
        {
            self.first_mismatch = Some(mismatch);
        }
    }

    /// Settles the cases the partition's archive never named (their records are
    /// mismatches only if the archive holds the case at all), then compares the running
    /// chain with the checkpoint's.
    async fn finish<S: ViewStore + ?Sized>(
        mut self,
        store: &S,
        checkpoint: Checkpoint,
    ) -> Result<VerifyReport> {
        let mut unsettled: Vec<(Broken, String)> = std::mem::take(&mut self.cases)
            .into_iter()
            .filter_map(|(case_no, case)| Some((case.unarchived?, case_no)))
            .collect();
        unsettled.sort_unstable_by_key(|(broken, _)| broken.offset);
        for (broken, case_no) in unsettled {
            if self
                .first_mismatch
                .as_ref()
                .is_some_and(|first| first.position.offset <= broken.offset)
            {
                break;
            }
            if !store.steps(&case_no).await?.is_empty() {
                self.report(broken.mismatch(self.partition, case_no));
                break;
            }
        }
        // A broken case chain comes before the end of the partition, where its running
        // chain is compared.
        if self.first_mismatch.is_none() && self.running != checkpoint.chain_hash {
            self.first_mismatch = Some(Mismatch {
                position: Position {
                    partition: checkpoint.partition,
                    offset: checkpoint.next_offset.saturating_sub(1),
                },
                case_no: String::new(),
                expected: checkpoint.chain_hash,
                actual: self.running,
                reason: "the partition's running chain differs from its checkpoint".to_owned(),
            });
        }
        Ok(VerifyReport {
            records_checked: self.records_checked,
            first_mismatch: self.first_mismatch,
        })
    }
}

/// A case's chain as recomputed so far.
struct CaseChain {
    head: Hash,
    /// Whether the archive was found to hold the case. Until then the chain is recomputed
    /// all the same, in case it turns out to.
    archived: bool,
    /// The first of the case's records the archive lacks, while the case is not known to
    /// be archived: a mismatch once it is. A case the views never had (one whose only
    /// records are refused actions, say) belongs to no case chain.
    unarchived: Option<Broken>,
}

impl CaseChain {
    fn new() -> Self {
        Self {
            head: GENESIS,
            archived: false,
            unarchived: None,
        }
    }

    /// Adds the record at `offset` to the chain and compares the new head with the hash
    /// the archive holds for the record, if it holds one for this case.
    fn link(&mut self, offset: Offset, bytes: &[u8], archived: Option<Hash>) -> Option<Broken> {
        self.head = chain(&self.head, bytes);
        let Some(expected) = archived else {
            let broken = Broken {
                offset,
                expected: GENESIS,
                actual: self.head,
                reason: "the views have no archive entry for this record",
            };
            if self.archived {
                return Some(broken);
            }
            self.unarchived.get_or_insert(broken);
            return None;
        };
        self.archived = true;
        // Records of the case the archive lacks, before this one, come first.
        self.unarchived.take().or_else(|| {
            (self.head != expected).then_some(Broken {
                offset,
                expected,
                actual: self.head,
                reason: "the record's bytes differ from those the views hashed",
            })
        })
    }
}

/// A link of a case chain that does not hold.
struct Broken {
    offset: Offset,
    expected: Hash,
    actual: Hash,
    reason: &'static str,
}

impl Broken {
    fn mismatch(self, partition: Partition, case_no: String) -> Mismatch {
        Mismatch {
            position: Position {
                partition,
                offset: self.offset,
            },
            case_no,
            expected: self.expected,
            actual: self.actual,
            reason: self.reason.to_owned(),
        }
    }
}

/// A case as it was at `at`: its recorded steps and actions up to then, folded afresh,
/// with time advanced to `at`. `None` if the case had no record by then.
pub async fn case_as_of<L, S>(
    log: &L,
    store: &S,
    policy: &Policy,
    case_no: &str,
    at: Timestamp,
) -> Result<Option<Case>>
where
    L: EventLog + ?Sized,
    S: ViewStore + ?Sized,
{
    let mut case: Option<Case> = None;
    for step in store.steps(case_no).await? {
        if step.recorded_at > at {
            break;
        }
        let Some(stored) = log
            .read(step.position.partition, step.position.offset, 1)
            .await?
            .into_iter()
            .next()
        else {
            continue;
        };
        let record = read_record(&stored.bytes, &stored.key);
        if matches!(record, Record::Unreadable { .. })
            && step.disposition != Disposition::Unreadable
        {
            // Readable when it was folded: the chain check names what became of it.
            continue;
        }
        // The archive holds the partition's time each record was met at; a refused action
        // was refused then too.
        let now = step.recorded_at;
        match case.as_mut() {
            Some(case) => {
                let _ = case.fold(&record, &stored.bytes, now, policy);
            }
            None => {
                case = record.opens().map(|mut opened| {
                    let _ = opened.fold(&record, &stored.bytes, now, policy);
                    opened
                });
            }
        }
    }
    if let Some(case) = case.as_mut() {
        case.advance(at, policy);
    }
    Ok(case)
}

/// Folds the whole log into memory under `policy` and returns every alert, as raised
/// under that policy. For what-if questions over the past; nothing is written.
pub async fn fold_all<L: EventLog + ?Sized>(log: &L, policy: &Policy) -> Result<Vec<Alert>> {
    let mut alerts = Vec::new();
    for partition in 0..log.partitions() {
        let until = log.high_water(partition).await?;
        let (pages_tx, mut pages) = mpsc::channel::<Vec<StoredRecord>>(1);
        let fold = async move {
            let mut cases = PartitionFold::default();
            while let Some(page) = pages.recv().await {
                for stored in page {
                    // A refused action was refused live too.
                    let _ = cases.fold(
                        &read_record(&stored.bytes, &stored.key),
                        &stored.bytes,
                        policy,
                    );
                }
            }
            Ok(cases)
        };
        let ((), cases) = tokio::try_join!(read_records(log, partition, until, pages_tx), fold)?;
        alerts.extend(cases.into_cases().flat_map(|case| case.alerts));
    }
    alerts.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(alerts)
}

#[cfg(test)]
mod tests;
