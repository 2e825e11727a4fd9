//! The past read again from the log: the policy in force as the views hold it, a case as
//! it was at an instant, and the whole log folded in memory for what-if questions.

use std::collections::HashSet;
use std::sync::Arc;

use casewatch_domain::Timestamp;
use casewatch_domain::case::{Case, Disposition, Policy};
use casewatch_domain::ids::CaseNo;
use casewatch_domain::policy::PolicyInForce;
use casewatch_domain::record::{PartitionFold, Record};
use casewatch_log::{EventLog, Offset, StoredRecord};
use casewatch_proto::read_record;
use casewatch_store::ViewStore;
use tokio::sync::mpsc;

use super::{READ_BATCH, read_records};
use crate::Result;

/// The policy in force as the views hold it: as the first partition folded the policy
/// records (every partition folds the same ones), or `start` when it has folded none.
pub async fn policy_in_force<S>(store: &S, start: &PolicyInForce) -> Result<PolicyInForce>
where
    S: ViewStore + ?Sized,
{
    match store.partition_policy(0).await? {
        Some(snapshot) => {
            PolicyInForce::restore(snapshot).map_err(|error| crate::ProjectError::SavedPolicy {
                partition: 0,
                error,
            })
        }
        None => Ok(start.clone()),
    }
}

/// A case as it was at an instant, and the policy in force then.
#[derive(Debug, Clone)]
pub struct CaseAsOf {
    pub case: Case,
    pub policy: Arc<Policy>,
}

/// A case as it was at `at`, as the views held it then: the records of its partition from
/// its first one on, up to the first recorded after `at`, folded afresh — its own steps and
/// actions, and the clock ticks between them, which raise the alerts that come with time
/// when they came — and then time advanced to `at`. `None` if the case had no record by
/// then.
///
/// A record that reads no longer although it was folded as readable is left out: its
/// chain's verification names what became of it. An unreadable record tells no time; it
/// counts with the records before it.
///
/// The partition's policy starts as `start` (its policy before any policy record), and the
/// changes of policy the partition folded before the case's first record apply to it as
/// they did then; those after, as the records come.
pub async fn case_as_of<L, S>(
    log: &L,
    store: &S,
    start: &PolicyInForce,
    case_no: &str,
    at: Timestamp,
) -> Result<Option<CaseAsOf>>
where
    L: EventLog + ?Sized,
    S: ViewStore + ?Sized,
{
    let steps = store.steps(case_no).await?;
    let (Some(first), Ok(typed)) = (steps.first(), CaseNo::parse(case_no)) else {
        return Ok(None);
    };
    let partition = first.position.partition;
    let mut policy = start.clone();
    for row in store.policy_records(partition).await? {
        if row.position.offset < first.position.offset {
            // A refused change is refused again: the same changes come before it.
            let _ = policy.receive(row.change, row.recorded_at);
        }
    }
    let folded_readable: HashSet<Offset> = steps
        .iter()
        .filter(|step| step.disposition != Disposition::Unreadable)
        .map(|step| step.position.offset)
        .collect();
    let mut fold = PartitionFold::of_case(typed).with_policy(policy);
    let mut from = first.position.offset;
    'pages: loop {
        let page = log.read(partition, from, READ_BATCH).await?;
        let Some(last) = page.last() else {
            break;
        };
        from = last.position.offset + 1;
        for stored in page {
            let record = read_record(&stored.bytes, &stored.key);
            if record.clock_after(None).is_some_and(|time| time > at) {
                break 'pages;
            }
            if matches!(record, Record::Unreadable { .. })
                && folded_readable.contains(&stored.position.offset)
            {
                continue;
            }
            // A refused action was refused then too.
            let _ = fold.fold(&record, &stored.bytes);
        }
    }
    let (policy, mut cases) = fold.into_cases_as_of(at);
    Ok(cases.next().map(|case| CaseAsOf { case, policy }))
}

/// Folds the whole log into memory, each partition from policy `start` and the policy
/// records on it, and returns the cases `select` keeps, as folded (their alerts as that
/// policy raises them), in case number order within each partition. For what-if questions
/// over the past (`start` with a trial); nothing is written.
pub async fn fold_all<L, F>(log: &L, start: &PolicyInForce, select: F) -> Result<Vec<Case>>
where
    L: EventLog + ?Sized,
    F: Fn(&Case) -> bool,
{
    let mut selected = Vec::new();
    for partition in 0..log.partitions() {
        let until = log.high_water(partition).await?;
        let (pages_tx, mut pages) = mpsc::channel::<Vec<StoredRecord>>(1);
        let fold = async move {
            let mut cases = PartitionFold::default().with_policy(start.clone());
            while let Some(page) = pages.recv().await {
                for stored in page {
                    // A refused action was refused live too.
                    let _ = cases.fold(&read_record(&stored.bytes, &stored.key), &stored.bytes);
                }
            }
            Ok(cases)
        };
        let ((), cases) = tokio::try_join!(read_records(log, partition, until, pages_tx), fold)?;
        selected.extend(cases.into_cases().filter(|case| select(case)));
    }
    Ok(selected)
}
