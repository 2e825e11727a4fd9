//! The partition's cases in memory, and when ticks must visit them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeBounds;

use casewatch_domain::Timestamp;
use casewatch_domain::case::{Case, Effects, Policy};
use casewatch_domain::ids::CaseNo;
use casewatch_domain::policy::PolicyInForce;
use casewatch_store::Hash;

/// A case in memory with the head of its hash chain.
#[derive(Debug, Clone)]
pub(crate) struct CaseEntry {
    pub(crate) case: Case,
    pub(crate) chain_head: Hash,
    /// Up to when ticks need not visit the case (its horizon when a tick last visited
    /// it); `None` when unknown: it changed since, or was never visited.
    pub(crate) quiet_until: Option<Timestamp>,
}

impl CaseEntry {
    pub(crate) fn new(case: Case, chain_head: Hash) -> Self {
        Self {
            case,
            chain_head,
            quiet_until: None,
        }
    }

    /// The instant after which ticks must visit the case; `None` when time cannot change
    /// it.
    pub(crate) fn due_after(&self) -> Option<Timestamp> {
        self.case
            .is_time_sensitive()
            .then(|| self.quiet_until.unwrap_or(Timestamp::MIN_UTC))
    }

    /// Lets time pass to `at`, and notes until when ticks need not visit again.
    pub(crate) fn advance(&mut self, at: Timestamp, policy: &Policy) -> Effects {
        let (effects, horizon) = self.case.advance_with_horizon(at, policy);
        self.quiet_until = Some(horizon.unwrap_or(Timestamp::MAX_UTC));
        effects
    }
}

/// Cases by the instant after which ticks must visit them ([`CaseEntry::due_after`]), so
/// that a tick finds the few cases it can change without looking at the others.
#[derive(Debug, Default)]
pub(crate) struct Agenda(BTreeMap<Timestamp, BTreeSet<CaseNo>>);

impl Agenda {
    /// Files a case due after `next` rather than after `previous` (`None`: not filed).
    pub(crate) fn refile(
        &mut self,
        case_no: &CaseNo,
        previous: Option<Timestamp>,
        next: Option<Timestamp>,
    ) {
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
    pub(crate) fn due(&self, range: impl RangeBounds<Timestamp>) -> impl Iterator<Item = &CaseNo> {
        self.0.range(range).flat_map(|(_, cases)| cases)
    }
}

/// The state of one partition.
#[derive(Debug)]
pub(crate) struct PartitionState {
    pub(crate) partition: u32,
    pub(crate) next_offset: u64,
    pub(crate) chain: Hash,
    /// The partition's time: the newest tick or record time folded so far.
    pub(crate) clock: Option<Timestamp>,
    /// The policy in force at the checkpoint, and the changes held.
    pub(crate) policy: PolicyInForce,
    pub(crate) cases: HashMap<CaseNo, CaseEntry>,
    /// When ticks must visit the time-sensitive ones of `cases`.
    pub(crate) agenda: Agenda,
}

impl PartitionState {
    /// Puts a case into the partition's cache, in place of the one it had.
    pub(crate) fn put(&mut self, case_no: CaseNo, entry: CaseEntry) {
        let filed = self.cases.get(&case_no).and_then(CaseEntry::due_after);
        self.agenda.refile(&case_no, filed, entry.due_after());
        self.cases.insert(case_no, entry);
    }
}
