//! Audit over the log: verify the hash chains the views hold, fold a case as it was at an
//! instant, and re-run the rules over the past with other thresholds. All of it reads the
//! log as it is; none of it writes or pushes anything.

use std::collections::{HashMap, VecDeque};

use casewatch_domain::ids::CaseNo;
use casewatch_log::{EventLog, Offset, Partition, StoredRecord};
use casewatch_store::{ChainLink, Checkpoint, Hash, Position, StepHash, ViewStore};
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
/// compares every link (the hash after each record and the one before it) and the head.
pub async fn verify_case<L, S>(log: &L, store: &S, case_no: &str) -> Result<VerifyReport>
where
    L: EventLog + ?Sized,
    S: ViewStore + ?Sized,
{
    let steps = store.steps(case_no).await?;
    let mut report = VerifyReport::default();
    let mut case = CaseChain::new();
    for step in &steps {
        report.records_checked += 1;
        let archived = StepHash {
            position: step.position,
            case_no: step.case_no.clone(),
            hash: step.hash,
            previous_hash: step.previous_hash,
        };
        let broken = match read_at(log, step.position).await? {
            None => Some(Broken::missing(step.position.offset, step.hash)),
            Some(record) => case.link_archived(&record, &archived),
        };
        if let Some(broken) = broken {
            report.first_mismatch = Some(broken.mismatch(step.position.partition, case_no));
            return Ok(report);
        }
    }
    if let Some(row) = store.case(case_no).await?
        && row.chain_head != case.head
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
            actual: case.head,
            reason: "the case's chain head differs from its archive".to_owned(),
        });
    }
    Ok(report)
}

/// The record at `position`, if the log still holds one there.
async fn read_at<L: EventLog + ?Sized>(
    log: &L,
    position: Position,
) -> Result<Option<StoredRecord>> {
    Ok(log
        .read(position.partition, position.offset, 1)
        .await?
        .into_iter()
        .next()
        .filter(|record| record.position.offset == position.offset))
}

/// Verifies partitions up to their checkpoints: recomputes each partition's running chain
/// and every case's chain from the log, and names the first record whose recomputed hash
/// differs from the one the views hold, or that the log no longer holds where the views
/// found it.
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
/// the hashes the views hold for them (the archive's and the chain links) in offset order.
/// The log and the hashes are each read a page ahead while the chains of the page before
/// are recomputed on a blocking thread.
async fn verify_partition<L, S>(log: &L, store: &S, checkpoint: Checkpoint) -> Result<VerifyReport>
where
    L: EventLog + ?Sized,
    S: ViewStore + ?Sized,
{
    let partition = checkpoint.partition;
    let until = checkpoint.next_offset;
    let (records_tx, mut records) = mpsc::channel::<Vec<StoredRecord>>(1);
    let (steps_tx, steps) = mpsc::channel::<Vec<StepHash>>(1);
    let (links_tx, links) = mpsc::channel::<Vec<ChainLink>>(1);
    let read_archive = read_ahead(
        |from| async move { Ok(store.step_hashes(partition, from, ARCHIVE_PAGE).await?) },
        |step: &StepHash| step.position.offset,
        until,
        steps_tx,
    );
    let read_links = read_ahead(
        |from| async move { Ok(store.chain_links(partition, from, ARCHIVE_PAGE).await?) },
        |link: &ChainLink| link.position.offset,
        until,
        links_tx,
    );
    let recompute = async move {
        let mut audit = PartitionAudit::new(partition);
        let mut steps = Ahead::new(steps, |step: &StepHash| step.position.offset);
        let mut links = Ahead::new(links, |link: &ChainLink| link.position.offset);
        while let Some(page) = records.recv().await {
            // Pages are never empty.
            let last = page.last().map_or(0, |record| record.position.offset);
            steps.fill(&mut audit.steps, last).await;
            links.fill(&mut audit.links, last).await;
            audit = tokio::task::spawn_blocking(move || {
                audit.check(page);
                audit
            })
            .await
            // The blocking pool cancels no task it started; a panic goes on unwinding here.
            .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
        }
        // Hashes of records the log no longer holds, if it ends early: the first of them
        // is enough.
        steps.fill(&mut audit.steps, 0).await;
        links.fill(&mut audit.links, 0).await;
        Ok(audit)
    };
    let ((), (), (), audit) = tokio::try_join!(
        read_records(log, partition, until, records_tx),
        read_archive,
        read_links,
        recompute
    )?;
    audit.finish(store, checkpoint).await
}

/// Rows the views hold for a partition's records, received a page at a time in offset
/// order.
struct Ahead<T> {
    pages: mpsc::Receiver<Vec<T>>,
    offset: fn(&T) -> Offset,
    /// Whether every page has been received.
    done: bool,
}

impl<T> Ahead<T> {
    fn new(pages: mpsc::Receiver<Vec<T>>, offset: fn(&T) -> Offset) -> Self {
        Self {
            pages,
            offset,
            done: false,
        }
    }

    /// Receives pages into `rows` until they hold a row at or after `offset` or the pages
    /// run out.
    async fn fill(&mut self, rows: &mut VecDeque<T>, offset: Offset) {
        while !self.done && rows.back().is_none_or(|row| (self.offset)(row) < offset) {
            match self.pages.recv().await {
                Some(page) => rows.extend(page),
                None => self.done = true,
            }
        }
    }
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

/// One partition's chains, recomputed record by record and compared with the hashes the
/// views hold: a case's archive row for each record of a case it knows, a chain link for
/// each other record. A record the views hold no hash for (views folded before chain links
/// were kept, or a row removed) is checked through its case's chain, if the archive holds
/// the case, and through the checkpoint.
struct PartitionAudit {
    partition: Partition,
    records_checked: u64,
    /// The partition's running chain.
    running: Hash,
    /// The offset after the last record read.
    next_offset: Offset,
    /// Each case's chain, by the case its records name (for a record the archive holds) or
    /// the key they were appended under (for one it does not): the key names the case even
    /// when the bytes no longer decode.
    cases: HashMap<String, CaseChain>,
    /// Archive rows read and not yet met by their record, in offset order.
    steps: VecDeque<StepHash>,
    /// Chain links read and not yet met by their record, in offset order.
    links: VecDeque<ChainLink>,
    first_mismatch: Option<Mismatch>,
}

/// The front row of `rows` if it lies at `offset`.
fn pop_at<T>(rows: &mut VecDeque<T>, offset: Offset, at: fn(&T) -> Offset) -> Option<T> {
    rows.front()
        .is_some_and(|row| at(row) == offset)
        .then(|| rows.pop_front())
        .flatten()
}

/// The front row of `rows` if it lies before `offset`.
fn pop_before<T>(rows: &mut VecDeque<T>, offset: Offset, at: fn(&T) -> Offset) -> Option<T> {
    rows.front()
        .is_some_and(|row| at(row) < offset)
        .then(|| rows.pop_front())
        .flatten()
}

fn step_offset(step: &StepHash) -> Offset {
    step.position.offset
}

fn link_offset(link: &ChainLink) -> Offset {
    link.position.offset
}

impl PartitionAudit {
    fn new(partition: Partition) -> Self {
        Self {
            partition,
            records_checked: 0,
            running: GENESIS,
            next_offset: 0,
            cases: HashMap::new(),
            steps: VecDeque::new(),
            links: VecDeque::new(),
            first_mismatch: None,
        }
    }

    /// Recomputes the chains over the next records of the partition; `steps` and `links`
    /// hold the views' rows up to the last of them.
    fn check(&mut self, records: Vec<StoredRecord>) {
        for record in records {
            self.records_checked += 1;
            self.running = chain(&self.running, &record.bytes);
            let offset = record.position.offset;
            self.next_offset = offset + 1;
            self.report_missing(offset);
            let step = pop_at(&mut self.steps, offset, step_offset);
            let link = pop_at(&mut self.links, offset, link_offset);
            let broken = match (step, link) {
                (Some(step), _) => {
                    let case_no = step.case_no.to_string();
                    self.cases
                        .entry(case_no.clone())
                        .or_insert_with(CaseChain::new)
                        .link_archived(&record, &step)
                        .map(|broken| (broken, case_no))
                }
                (None, Some(link)) => (self.running != link.hash).then(|| {
                    let broken = Broken {
                        offset,
                        expected: link.hash,
                        actual: self.running,
                        reason: "the record's bytes differ from those the partition's chain \
                                 hashed"
                            .to_owned(),
                    };
                    (broken, String::new())
                }),
                (None, None) => self.check_unhashed(&record),
            };
            if let Some((broken, case_no)) = broken {
                self.report(broken.mismatch(self.partition, case_no));
            }
        }
    }

    /// A record the views hold no hash for: a link of its case's chain, if its key names
    /// a case.
    fn check_unhashed(&mut self, record: &StoredRecord) -> Option<(Broken, String)> {
        CaseNo::parse(record.key.as_str()).ok()?;
        self.cases
            .entry(record.key.clone())
            .or_insert_with(CaseChain::new)
            .link_unarchived(record.position.offset, &record.bytes)
            .map(|broken| (broken, record.key.clone()))
    }

    /// Reports the rows of records before `offset` that the log did not hold.
    fn report_missing(&mut self, offset: Offset) {
        while let Some(step) = pop_before(&mut self.steps, offset, step_offset) {
            let missing = Broken::missing(step.position.offset, step.hash);
            self.report(missing.mismatch(self.partition, step.case_no.to_string()));
        }
        while let Some(link) = pop_before(&mut self.links, offset, link_offset) {
            let missing = Broken::missing(link.position.offset, link.hash);
            self.report(missing.mismatch(self.partition, String::new()));
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

    /// Reports the rows of records the log no longer holds and a log that ends before the
    /// checkpoint; settles the cases the partition's archive never named (their records
    /// are mismatches only if the archive holds the case at all); then compares the
    /// running chain with the checkpoint's.
    async fn finish<S: ViewStore + ?Sized>(
        mut self,
        store: &S,
        checkpoint: Checkpoint,
    ) -> Result<VerifyReport> {
        self.report_missing(Offset::MAX);
        if self.next_offset < checkpoint.next_offset {
            self.report(Mismatch {
                position: Position {
                    partition: self.partition,
                    offset: self.next_offset,
                },
                case_no: String::new(),
                expected: checkpoint.chain_hash,
                actual: self.running,
                reason: format!(
                    "the log ends at offset {}, before the views' checkpoint at {}",
                    self.next_offset, checkpoint.next_offset
                ),
            });
        }
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
    /// The first of the case's records the views hold no hash for, while the case is not
    /// known to be archived: a mismatch once it is. A case the views never had (one whose
    /// only records are refused actions, say) belongs to no case chain.
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

    /// Adds `record`, which the archive holds as `step`, to the chain, and compares the
    /// archive's hashes before and after it with the recomputed ones.
    fn link_archived(&mut self, record: &StoredRecord, step: &StepHash) -> Option<Broken> {
        let offset = record.position.offset;
        if record.key != step.case_no.as_str() {
            return Some(Broken {
                offset,
                expected: step.hash,
                actual: GENESIS,
                reason: format!(
                    "the record at this position is keyed `{}`, not by the case the views \
                     archived there",
                    record.key
                ),
            });
        }
        let previous = self.head;
        self.head = chain(&previous, &record.bytes);
        self.archived = true;
        // Records of the case the archive lacks, before this one, come first.
        if let Some(unarchived) = self.unarchived.take() {
            return Some(unarchived);
        }
        if step.previous_hash != previous {
            return Some(Broken {
                offset,
                expected: step.previous_hash,
                actual: previous,
                reason: "the archive's hash before this record differs from the case's chain"
                    .to_owned(),
            });
        }
        (self.head != step.hash).then(|| Broken {
            offset,
            expected: step.hash,
            actual: self.head,
            reason: "the record's bytes differ from those the views hashed".to_owned(),
        })
    }

    /// Adds the record at `offset`, which the views hold no hash for, to the chain: a
    /// mismatch if the archive holds the case, and one to settle later if it is not known
    /// to yet.
    fn link_unarchived(&mut self, offset: Offset, bytes: &[u8]) -> Option<Broken> {
        self.head = chain(&self.head, bytes);
        let broken = Broken {
            offset,
            expected: GENESIS,
            actual: self.head,
            reason: "the views have no archive entry for this record".to_owned(),
        };
        if self.archived {
            return Some(broken);
        }
        self.unarchived.get_or_insert(broken);
        None
    }
}

/// A link of a chain that does not hold.
struct Broken {
    offset: Offset,
    expected: Hash,
    actual: Hash,
    reason: String,
}

impl Broken {
    /// The record at `offset`, hashed `expected` by the views, is not on the log.
    fn missing(offset: Offset, expected: Hash) -> Self {
        Self {
            offset,
            expected,
            actual: GENESIS,
            reason: "the record is missing from the log".to_owned(),
        }
    }

    fn mismatch(self, partition: Partition, case_no: impl Into<String>) -> Mismatch {
        Mismatch {
            position: Position {
                partition,
                offset: self.offset,
            },
            case_no: case_no.into(),
            expected: self.expected,
            actual: self.actual,
            reason: self.reason,
        }
    }
}

mod past;
#[cfg(test)]
mod tests;

pub use past::{CaseAsOf, case_as_of, fold_all, policy_in_force};
