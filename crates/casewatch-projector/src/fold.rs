//! The fold of one batch of a partition's records: each record read once, handed to the
//! domain, and its results gathered into one [`ViewBatch`] for the views.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use casewatch_domain::Timestamp;
use casewatch_domain::case::{Disposition, Effects};
use casewatch_domain::ids::CaseNo;
use casewatch_domain::log::{GENESIS, Hash, Position, chain};
use casewatch_domain::policy::{PolicyChange, PolicyInForce};
use casewatch_domain::record::{Content, Record};
use casewatch_domain::stats::{Counters, StatKey};
use casewatch_log::StoredRecord;
use casewatch_proto::read_record;
use casewatch_store::{
    AlertChangeRow, CaseRow, ChainLink, Checkpoint, PolicyOutcome, PolicyRecordRow, QuarantineRow,
    RecordKind, RefusalRow, StepRow, ViewBatch,
};
use tracing::{error, warn};

use crate::cache::{Agenda, CaseEntry, PartitionState};
use crate::calendar_years;

/// What a batch changes in the partition's state, to be kept once it is committed.
pub(crate) struct Folded {
    /// The cases it touched, to put back into the cache.
    pub(crate) cases: HashMap<CaseNo, CaseEntry>,
    pub(crate) next_offset: u64,
    /// The partition's chain and time after it.
    pub(crate) chain: Hash,
    pub(crate) clock: Option<Timestamp>,
    pub(crate) quarantined: Quarantined,
    /// The years the calendars of the cases it wrote have no data for.
    pub(crate) uncovered_years: BTreeSet<i32>,
    /// The partition's policy after it, when it changed.
    pub(crate) policy: Option<PolicyInForce>,
}

/// The records a batch quarantined.
#[derive(Debug, Default)]
pub(crate) struct Quarantined {
    /// Of cases the partition knows, which were alerted (C5).
    pub(crate) alerted: u64,
    /// Of no case the partition knows: only operators can be told.
    pub(crate) unplaced: u64,
}

/// Folds a batch of records without touching the partition's state: the cases it changes
/// are copied, so a failed commit leaves the cache as the views are.
pub(crate) fn fold_batch(state: &PartitionState, records: &[StoredRecord]) -> (ViewBatch, Folded) {
    let mut fold = BatchFold {
        state,
        policy: state.policy.clone(),
        policy_changed: false,
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
    /// The partition's policy as the batch changes it.
    policy: PolicyInForce,
    policy_changed: bool,
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

    /// Folds one record. A tick lets time pass on the partition's cases; anything else
    /// reaches the case it concerns through the domain's one entry,
    /// [`Case::fold`](casewatch_domain::case::Case::fold).
    fn record(&mut self, stored: &StoredRecord) {
        let position = stored.position;
        self.chain = chain(&self.chain, &stored.bytes);
        self.batch.checkpoint.next_offset = position.offset + 1;
        let record = read_record(&stored.bytes, &stored.key);
        self.clock = record.clock_after(self.clock);
        if let Some(now) = self.clock
            && self.policy.reach(now)
        {
            self.retime();
        }
        if let (
            Record::Read {
                recorded_at,
                content: Content::Policy(change),
            },
            Some(now),
        ) = (&record, self.clock)
        {
            self.link(position);
            let row = PolicyRecordRow {
                position,
                recorded_at: *recorded_at,
                change: change.clone(),
                outcome: self.change_policy(change, now, position),
            };
            self.batch.policy_records.push(row);
            return;
        }
        if let Record::Unreadable { reason, keyed } = &record {
            self.batch.quarantine.push(QuarantineRow {
                position,
                reason: reason.clone(),
                bytes: stored.bytes.clone(),
                case_no: keyed.clone(),
            });
        }
        if let Some(at) = record.tick() {
            self.link(position);
            return self.tick(at, position);
        }
        let (Some(case_no), Some(now)) = (record.case_no().cloned(), self.clock) else {
            return self.unplaced(stored, &record);
        };
        if self.case(&case_no).is_none() {
            let Some(case) = record.opens() else {
                return self.unplaced(stored, &record);
            };
            self.add(case_no.clone(), CaseEntry::new(case, GENESIS));
        }
        let policy = Arc::clone(self.policy.policy());
        let (entry, filed) = self.change(&case_no).expect("the batch holds the case");
        let previous_hash = entry.chain_head;
        entry.chain_head = chain(&previous_hash, &stored.bytes);
        let hash = entry.chain_head;
        let outcome = entry.case.fold(&record, &stored.bytes, now, &policy);
        self.refile(&case_no, filed);
        self.touched.insert(case_no.clone());
        let effects = outcome.unwrap_or_else(|error| {
            self.refuse(&record, position, error.to_string());
            Effects::default()
        });
        let (seq, kind, recorded_at, disposition) = match &record {
            Record::Read {
                recorded_at,
                content: Content::Step(event),
            } => {
                let disposition = self.archive_pending(&case_no, event.seq, &effects, position);
                (
                    Some(event.seq),
                    RecordKind::Step(event.step.kind()),
                    *recorded_at,
                    disposition,
                )
            }
            Record::Read { recorded_at, .. } => (
                None,
                RecordKind::Supervision,
                *recorded_at,
                Disposition::Applied,
            ),
            Record::Unreadable { reason, .. } => {
                warn!(
                    partition = position.partition,
                    offset = position.offset,
                    %case_no,
                    %reason,
                    "unreadable record quarantined; its case is alerted (C5)"
                );
                self.quarantined.alerted += 1;
                (None, RecordKind::Unreadable, now, Disposition::Unreadable)
            }
        };
        self.batch.steps.push(StepRow {
            case_no: case_no.clone(),
            position,
            seq,
            kind,
            recorded_at,
            disposition,
            hash,
            previous_hash,
        });
        self.absorb(&case_no, effects, position);
    }

    /// A step's disposition, and the steps held for a gap it adds to or releases from the
    /// views' list of held steps.
    fn archive_pending(
        &mut self,
        case_no: &CaseNo,
        seq: u32,
        effects: &Effects,
        position: Position,
    ) -> Disposition {
        let disposition = effects
            .steps
            .iter()
            .find(|step| step.seq == seq)
            .map_or(Disposition::Duplicate, |step| step.disposition);
        if disposition == Disposition::Held {
            self.batch
                .pending_added
                .push((case_no.clone(), seq, position));
        }
        for step in &effects.steps {
            if step.seq != seq && step.disposition == Disposition::Applied {
                self.batch.pending_removed.push((case_no.clone(), step.seq));
            }
        }
        disposition
    }

    /// A change of policy: in force from here on, held until its instant, or refused
    /// (changing nothing); returns which, for the policy's history.
    fn change_policy(
        &mut self,
        change: &PolicyChange,
        now: Timestamp,
        position: Position,
    ) -> PolicyOutcome {
        match self.policy.receive(change.clone(), now) {
            Ok(true) => {
                self.retime();
                PolicyOutcome::Applied
            }
            Ok(false) => {
                self.policy_changed = true;
                PolicyOutcome::Held
            }
            Err(error) => {
                warn!(
                    partition = position.partition,
                    offset = position.offset,
                    %error,
                    "change of policy refused"
                );
                PolicyOutcome::Refused(error.to_string())
            }
        }
    }

    /// The policy changed: every case that time can change is judged afresh at the next
    /// tick (its horizon was worked out under the old policy) and written again (its due
    /// instants may have moved).
    fn retime(&mut self) {
        self.policy_changed = true;
        let state = self.state;
        for case_no in state.agenda.due(..) {
            if !self.cases.contains_key(case_no) {
                self.add(case_no.clone(), state.cases[case_no].clone());
            }
        }
        let waiting: Vec<CaseNo> = self.agenda.due(..).cloned().collect();
        for case_no in waiting {
            let (_, filed) = self.change(&case_no).expect("filed from the batch's cases");
            self.refile(&case_no, filed);
            self.touched.insert(case_no);
        }
    }

    /// An action the domain refused, recorded with why.
    fn refuse(&mut self, record: &Record, position: Position, reason: String) {
        if let Record::Read {
            content: Content::Action(action),
            ..
        } = record
        {
            self.batch.refusals.push(RefusalRow {
                position,
                alert_id: action.alert_id.to_string(),
                principal: action.principal.id.clone(),
                reason,
            });
        }
    }

    /// Links a record no case's archive holds into the partition's chain: verification
    /// then checks it on its own, not only through the checkpoint after it.
    fn link(&mut self, position: Position) {
        self.batch.links.push(ChainLink {
            position,
            hash: self.chain,
        });
    }

    /// A record about no case the partition knows: an action is refused; an unreadable
    /// record is only quarantined, and only operators can act on it.
    fn unplaced(&mut self, stored: &StoredRecord, record: &Record) {
        let position = stored.position;
        self.link(position);
        match record {
            Record::Read { .. } => {
                let case_no = record
                    .case_no()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                self.refuse(record, position, format!("case `{case_no}` is unknown"));
            }
            Record::Unreadable { reason, .. } => {
                error!(
                    partition = position.partition,
                    offset = position.offset,
                    key = %stored.key,
                    %reason,
                    "unreadable record of no known case quarantined"
                );
                self.quarantined.unplaced += 1;
            }
        }
    }

    /// Time passes on the partition: every case time can change by now is visited (the
    /// others are quiet until past `at`). A tick that changes nothing visible leaves a
    /// case as it was, so only cases it changed are written; the copies of the others
    /// carry their new horizon back to the cache.
    fn tick(&mut self, at: Timestamp, position: Position) {
        let policy = Arc::clone(self.policy.policy());
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
            let effects = entry.advance(at, &policy);
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
        let policy = Arc::clone(self.policy.policy());
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
        let policy = self.policy_changed.then_some(self.policy);
        self.batch.policy = policy.as_ref().map(PolicyInForce::snapshot);
        let folded = Folded {
            cases: self.cases,
            next_offset: self.batch.checkpoint.next_offset,
            chain: self.chain,
            clock: self.clock,
            quarantined: self.quarantined,
            uncovered_years,
            policy,
        };
        (self.batch, folded)
    }
}
