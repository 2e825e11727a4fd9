//! Audit over the log: verify the hash chains the views hold, fold a case as it was at an
//! instant, and re-run the rules over the past with other thresholds. All of it reads the
//! log as it is; none of it writes or pushes anything.

use std::collections::{BTreeMap, HashMap};

use casewatch_domain::Timestamp;
use casewatch_domain::alert::Alert;
use casewatch_domain::case::{Case, Policy};
use casewatch_domain::ids::CaseNo;
use casewatch_log::{EventLog, Partition, StoredRecord};
use casewatch_proto::{DecodedRecord, decode_record};
use casewatch_store::{Hash, Position, StepRow, ViewStore};

use crate::{GENESIS, Result, chain};

/// Records read from the log per call.
const READ_BATCH: usize = 2000;

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

/// Reads a partition from `from` up to (not including) `until`, batch by batch.
async fn for_each_record<L: EventLog + ?Sized>(
    log: &L,
    partition: Partition,
    from: u64,
    until: u64,
    mut each: impl FnMut(&StoredRecord) -> bool,
) -> Result<()> {
    let mut next = from;
    while next < until {
        let records = log.read(partition, next, READ_BATCH).await?;
        if records.is_empty() {
            break;
        }
        for record in &records {
            if record.position.offset >= until || !each(record) {
                return Ok(());
            }
            next = record.position.offset + 1;
        }
    }
    Ok(())
}

fn position(record: &StoredRecord) -> Position {
    Position {
        partition: record.position.partition,
        offset: record.position.offset,
    }
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
    let mut report = VerifyReport::default();
    let checkpoints = store.checkpoints().await?;
    // The archive hashes by position, loaded per case as its records come up.
    let mut archives: HashMap<CaseNo, BTreeMap<Position, StepRow>> = HashMap::new();
    let mut heads: HashMap<CaseNo, Hash> = HashMap::new();
    let mut mismatches: Vec<Mismatch> = Vec::new();
    for checkpoint in checkpoints
        .iter()
        .filter(|checkpoint| partitions.is_empty() || partitions.contains(&checkpoint.partition))
    {
        let mut running = GENESIS;
        let mut records: Vec<StoredRecord> = Vec::new();
        for_each_record(
            log,
            checkpoint.partition,
            0,
            checkpoint.next_offset,
            |record| {
                records.push(record.clone());
                true
            },
        )
        .await?;
        let mut partition_mismatch = None;
        for record in &records {
            report.records_checked += 1;
            running = chain(&running, &record.bytes);
            // The key names the case even when the bytes no longer decode.
            let Ok(case_no) = CaseNo::parse(record.key.as_str()) else {
                continue;
            };
            if !archives.contains_key(&case_no) {
                let steps = store.steps(case_no.as_str()).await?;
                archives.insert(
                    case_no.clone(),
                    steps
                        .into_iter()
                        .map(|step| (step.position, step))
                        .collect(),
                );
            }
            // An action on a case the views never had (refused) belongs to no case chain;
            // the partition's chain still covers it.
            if archives[&case_no].is_empty() {
                continue;
            }
            let head = heads.entry(case_no.clone()).or_insert(GENESIS);
            *head = chain(head, &record.bytes);
            let stored = archives[&case_no].get(&position(record));
            match stored {
                Some(step) if step.hash == *head => {}
                Some(step) => mismatches.push(Mismatch {
                    position: position(record),
                    case_no: case_no.to_string(),
                    expected: step.hash,
                    actual: *head,
                    reason: "the record's bytes differ from those the views hashed".to_owned(),
                }),
                None => mismatches.push(Mismatch {
                    position: position(record),
                    case_no: case_no.to_string(),
                    expected: GENESIS,
                    actual: *head,
                    reason: "the views have no archive entry for this record".to_owned(),
                }),
            }
        }
        if running != checkpoint.chain_hash {
            partition_mismatch = Some(Mismatch {
                position: Position {
                    partition: checkpoint.partition,
                    offset: checkpoint.next_offset.saturating_sub(1),
                },
                case_no: String::new(),
                expected: checkpoint.chain_hash,
                actual: running,
                reason: "the partition's running chain differs from its checkpoint".to_owned(),
            });
        }
        mismatches.extend(partition_mismatch);
    }
    report.first_mismatch = mismatches
        .into_iter()
        .min_by_key(|mismatch| mismatch.position);
    Ok(report)
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
        let Some(record) = log
            .read(step.position.partition, step.position.offset, 1)
            .await?
            .into_iter()
            .next()
        else {
            continue;
        };
        match decode_record(&record.bytes) {
            Ok((recorded_at, DecodedRecord::Case(event))) => {
                case.get_or_insert_with(|| Case::new(&event)).handle_step(
                    &event,
                    recorded_at,
                    policy,
                );
            }
            Ok((recorded_at, DecodedRecord::Supervision(action))) => {
                if let Some(case) = case.as_mut() {
                    // A refused action was refused then too.
                    let _ = case.handle_supervision(&action, recorded_at, policy);
                }
            }
            Ok((_, DecodedRecord::Tick(_))) | Err(_) => {}
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
        let mut cases: HashMap<CaseNo, Case> = HashMap::new();
        let mut records = Vec::new();
        for_each_record(log, partition, 0, until, |record| {
            records.push(record.bytes.clone());
            true
        })
        .await?;
        for bytes in records {
            match decode_record(&bytes) {
                Ok((recorded_at, DecodedRecord::Case(event))) => {
                    cases
                        .entry(event.case_no.clone())
                        .or_insert_with(|| Case::new(&event))
                        .handle_step(&event, recorded_at, policy);
                }
                Ok((recorded_at, DecodedRecord::Supervision(action))) => {
                    if let Some(case) = cases.get_mut(&action.alert_id.case_no) {
                        let _ = case.handle_supervision(&action, recorded_at, policy);
                    }
                }
                Ok((_, DecodedRecord::Tick(tick))) => {
                    for case in cases.values_mut().filter(|case| case.is_time_sensitive()) {
                        case.advance(tick.at, policy);
                    }
                }
                Err(_) => {}
            }
        }
        alerts.extend(cases.into_values().flat_map(|case| case.alerts));
    }
    alerts.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(alerts)
}
