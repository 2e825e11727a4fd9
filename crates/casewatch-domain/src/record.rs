//! What a record of the log says, and the one way it reaches a case.
//!
//! Every fold of the log — the projector's, the auditor's case as of a date and what-if,
//! the views' conformance suite — reads a record into a [`Record`], finds the case it
//! concerns with [`Record::case_no`], opens a case with [`Record::opens`] and hands it the
//! record with [`Case::fold`]. The partition's time after a record is
//! [`Record::clock_after`]. So a record means the same wherever it is folded.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Timestamp;
use crate::alert::LifecycleError;
use crate::case::{Case, Effects, Policy};
use crate::event::CaseEvent;
use crate::ids::CaseNo;
use crate::policy::{PolicyChange, PolicyInForce};
use crate::supervision::{ClockTick, SupervisionEvent};

/// What a readable record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A step reported by a county or department system.
    Step(CaseEvent),
    /// An action by staff or a department on an alert.
    Action(SupervisionEvent),
    /// The passing of time.
    Tick(ClockTick),
    /// A change of the rule book or a working calendar.
    Policy(PolicyChange),
}

impl Content {
    /// The case a step or an action is about; `None` for a tick or a change of policy.
    pub fn case_no(&self) -> Option<&CaseNo> {
        match self {
            Content::Step(event) => Some(&event.case_no),
            Content::Action(action) => Some(&action.alert_id.case_no),
            Content::Tick(_) | Content::Policy(_) => None,
        }
    }
}

/// What one record of a partition says: the input of every fold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a record is read, folded and dropped one at a time; most are readable"
)]
pub enum Record {
    /// A record that reads.
    Read {
        /// When the log took it.
        recorded_at: Timestamp,
        /// What it says.
        content: Content,
    },
    /// A record that cannot be folded. It is quarantined, and alerts (C5) the case its key
    /// names when the partition knows that case: its own claims are not trusted.
    Unreadable {
        /// The case its key names, if the key is a case number.
        keyed: Option<CaseNo>,
        /// Why it cannot be read.
        reason: String,
    },
}

impl Record {
    /// A record as a decoder read it under the key the log stored it with. A step or an
    /// action must be keyed by the case it is about, so that it lies in that case's
    /// partition and chain: a foreign producer's misrouted record cannot fork a case across
    /// partitions. Anything else is unreadable, for the reason given.
    pub fn keyed(read: Result<(Timestamp, Content), String>, key: &str) -> Self {
        let unreadable = |reason| Record::Unreadable {
            keyed: CaseNo::parse(key).ok(),
            reason,
        };
        match read {
            Err(reason) => unreadable(reason),
            Ok((_, content)) if content.case_no().is_some_and(|case| case.as_str() != key) => {
                let case_no = content.case_no().expect("checked above");
                unreadable(format!(
                    "the record is about case `{case_no}` but keyed `{key}`"
                ))
            }
            Ok((recorded_at, content)) => Record::Read {
                recorded_at,
                content,
            },
        }
    }

    /// The case the record concerns: a step's or an action's, or the case an unreadable
    /// record's key names. `None` for a tick, which concerns every case of its partition.
    pub fn case_no(&self) -> Option<&CaseNo> {
        match self {
            Record::Read { content, .. } => content.case_no(),
            Record::Unreadable { keyed, .. } => keyed.as_ref(),
        }
    }

    /// The case a record opens when its partition does not know the case yet: only a
    /// reported step opens one; an action or an unreadable record of an unknown case is
    /// about nothing the partition holds.
    pub fn opens(&self) -> Option<Case> {
        match self {
            Record::Read {
                content: Content::Step(event),
                ..
            } => Some(Case::new(event)),
            _ => None,
        }
    }

    /// The change of policy a record carries; `None` for anything else.
    pub fn policy(&self) -> Option<&PolicyChange> {
        match self {
            Record::Read {
                content: Content::Policy(change),
                ..
            } => Some(change),
            _ => None,
        }
    }

    /// The instant a tick lets time pass to; `None` for anything else.
    pub fn tick(&self) -> Option<Timestamp> {
        match self {
            Record::Read {
                content: Content::Tick(tick),
                ..
            } => Some(tick.at),
            _ => None,
        }
    }

    /// The partition's time after this record, from its time before: the newest tick or
    /// record time so far. An unreadable record's claims are not trusted: it leaves the
    /// time as it was.
    pub fn clock_after(&self, clock: Option<Timestamp>) -> Option<Timestamp> {
        let Record::Read {
            recorded_at,
            content,
        } = self
        else {
            return clock;
        };
        let at = match content {
            Content::Tick(tick) => tick.at.max(*recorded_at),
            Content::Step(_) | Content::Action(_) | Content::Policy(_) => *recorded_at,
        };
        Some(clock.map_or(at, |clock| clock.max(at)))
    }
}

impl Case {
    /// Folds one record of the case's partition into the case: a step or an action about
    /// it, an unreadable record keyed by it, or a tick. `bytes` are the record as the log
    /// holds it (an unreadable record is remembered by them) and `now` is the partition's
    /// time after it ([`Record::clock_after`]). An action the case refuses is the error:
    /// it was refused when it was first folded too, and changes nothing.
    pub fn fold(
        &mut self,
        record: &Record,
        bytes: &[u8],
        now: Timestamp,
        policy: &Policy,
    ) -> Result<Effects, LifecycleError> {
        match record {
            Record::Read {
                recorded_at,
                content: Content::Step(event),
            } => Ok(self.handle_step(event, *recorded_at, policy)),
            Record::Read {
                recorded_at,
                content: Content::Action(action),
            } => self.handle_supervision(action, *recorded_at, policy),
            Record::Read {
                content: Content::Tick(tick),
                ..
            } => Ok(self.advance(tick.at, policy)),
            // A change of policy is the partition's: the case is judged by it from the next
            // record on.
            Record::Read {
                content: Content::Policy(_),
                ..
            } => Ok(Effects::default()),
            Record::Unreadable { reason, .. } => {
                Ok(self.handle_unreadable(bytes, reason, now, policy))
            }
        }
    }
}

/// The cases of one partition folded record by record, without a projector's cache,
/// archive or views: for questions over the past (what-if, a case as it was) and for
/// checking the projector against the domain.
#[derive(Debug, Clone, Default)]
pub struct PartitionFold {
    cases: BTreeMap<CaseNo, Case>,
    clock: Option<Timestamp>,
    /// The policy the partition's records are judged by, changed by its policy records.
    policy: PolicyInForce,
    /// The one case folded, when not every case is: the records of the others only tell
    /// the time.
    only: Option<CaseNo>,
}

impl PartitionFold {
    /// A fold of one case of a partition, from any record up to its first on: the
    /// partition's records about other cases only move the partition's time.
    pub fn of_case(case_no: CaseNo) -> Self {
        Self {
            only: Some(case_no),
            ..Self::default()
        }
    }

    /// This fold starting from `policy` rather than the shipped one (a partition's saved
    /// state, or a what-if trial).
    pub fn with_policy(self, policy: PolicyInForce) -> Self {
        Self { policy, ..self }
    }

    /// Folds the partition's next record into the case it concerns (a step of a case not
    /// seen yet opens it), or, for a tick, into every case time can change, under the
    /// policy in force once the partition's time reaches the record. Returns what each
    /// fold did; an action its case refuses is an error, as it was when first folded. A
    /// record about no case held changes nothing; a change of policy changes the policy
    /// (or nothing, refused), and the next tick judges by it.
    pub fn fold(&mut self, record: &Record, bytes: &[u8]) -> Vec<Result<Effects, LifecycleError>> {
        self.clock = record.clock_after(self.clock);
        let Some(now) = self.clock else {
            return Vec::new();
        };
        self.policy.reach(now);
        if let Some(change) = record.policy() {
            // A refused change changes nothing, as it did when first folded.
            let _ = self.policy.receive(change.clone(), now);
            return Vec::new();
        }
        let policy = Arc::clone(self.policy.policy());
        let concerned: Vec<&mut Case> = match record.case_no() {
            None => self
                .cases
                .values_mut()
                .filter(|case| case.is_time_sensitive())
                .collect(),
            Some(case_no) if self.only.as_ref().is_some_and(|only| only != case_no) => Vec::new(),
            Some(case_no) => {
                if !self.cases.contains_key(case_no)
                    && let Some(case) = record.opens()
                {
                    self.cases.insert(case_no.clone(), case);
                }
                self.cases.get_mut(case_no).into_iter().collect()
            }
        };
        concerned
            .into_iter()
            .map(|case| case.fold(record, bytes, now, &policy))
            .collect()
    }

    /// The partition's cases, by case number, given up.
    pub fn into_cases(self) -> impl Iterator<Item = Case> {
        self.cases.into_values()
    }

    /// The policy in force at `at`, and the partition's cases with time let pass to `at`
    /// under it, by case number, given up.
    pub fn into_cases_as_of(mut self, at: Timestamp) -> (Arc<Policy>, impl Iterator<Item = Case>) {
        self.policy.reach(at);
        let policy = Arc::clone(self.policy.policy());
        let judged_by = Arc::clone(&policy);
        let cases = self.cases.into_values().map(move |mut case| {
            case.advance(at, &judged_by);
            case
        });
        (policy, cases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn tick(text: &str) -> Content {
        Content::Tick(ClockTick { at: at(text) })
    }

    /// An acknowledgement of `case`'s first T2 alert.
    fn acknowledgement(case: &str) -> Content {
        let alert_id: crate::ids::AlertId = format!("{case}/T2/1").parse().expect("valid id");
        Content::Action(SupervisionEvent {
            event_id: "ack-1".parse().expect("valid id"),
            alert_id,
            principal: crate::access::Principal {
                id: "staff".to_owned(),
                name: String::new(),
                role: crate::access::Role::Monitor,
            },
            action: crate::supervision::SupervisionAction::Acknowledge {
                note: String::new(),
            },
        })
    }

    #[test]
    fn a_record_keyed_by_another_case_is_unreadable_and_concerns_the_case_of_its_key() {
        let recorded_at = at("2026-10-09T09:00:00+08:00");
        let keyed = Record::keyed(Ok((recorded_at, acknowledgement("CASE-A"))), "CASE-A");
        assert_eq!(keyed.case_no().map(CaseNo::as_str), Some("CASE-A"));
        let misrouted = Record::keyed(Ok((recorded_at, acknowledgement("CASE-A"))), "CASE-B");
        assert_eq!(
            misrouted,
            Record::Unreadable {
                keyed: Some(CaseNo::parse("CASE-B").expect("valid")),
                reason: "the record is about case `CASE-A` but keyed `CASE-B`".to_owned(),
            }
        );
        assert_eq!(misrouted.case_no().map(CaseNo::as_str), Some("CASE-B"));
        assert!(misrouted.opens().is_none(), "only a step opens a case");
        assert_eq!(
            misrouted.clock_after(None),
            None,
            "nor does it tell the time"
        );
    }

    #[test]
    fn a_tick_is_keyed_by_anything_and_concerns_no_one_case() {
        let record = Record::keyed(
            Ok((
                at("2026-10-09T09:00:00+08:00"),
                tick("2026-10-09T10:00:00+08:00"),
            )),
            "tick",
        );
        assert_eq!(record.case_no(), None);
        assert_eq!(record.tick(), Some(at("2026-10-09T10:00:00+08:00")));
    }

    #[test]
    fn the_partition_s_time_never_runs_back_and_ignores_what_cannot_be_read() {
        let later = at("2026-10-09T10:00:00+08:00");
        let earlier = at("2026-10-09T09:00:00+08:00");
        let read = |recorded_at, content| Record::Read {
            recorded_at,
            content,
        };
        // A tick moves time to its instant, or to when it was recorded if that is later.
        assert_eq!(
            read(earlier, tick("2026-10-09T10:00:00+08:00")).clock_after(None),
            Some(later)
        );
        assert_eq!(
            read(later, tick("2026-10-09T09:00:00+08:00")).clock_after(None),
            Some(later)
        );
        assert_eq!(
            read(earlier, tick("2026-10-09T09:00:00+08:00")).clock_after(Some(later)),
            Some(later),
            "time never runs back"
        );
        let unreadable = Record::Unreadable {
            keyed: None,
            reason: "undecodable".to_owned(),
        };
        assert_eq!(unreadable.clock_after(Some(earlier)), Some(earlier));
        assert_eq!(unreadable.clock_after(None), None);
    }
}
