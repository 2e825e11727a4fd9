//! Adversarial sequences for the projector: valid records in hostile orders and mixes —
//! steps out of order, re-sent, rewritten with other content, with gaps, of cases nobody
//! submitted; money and limits at their legal bounds and past them; instants at the edges
//! of what a record can carry; actions on alerts and cases that do not exist, and revokes
//! and escalations of cards that do; clock ticks at any time; unreadable records between
//! them — folded in batches of any size by projectors that restart between batches while
//! the log grows.
//!
//! Whatever comes, the projector does not panic, accounts for every record exactly once
//! (a step in the archive, a refused action or a quarantined record), keeps its gauges,
//! counters and valid cards from going negative, raises well-formed alerts, and ends with
//! the views of a clean rebuild of the same log.
//!
//! The default run is short, for CI; `PROPTEST_CASES=2000 cargo test --release -p
//! casewatch-projector --test projector adversarial::` (`make fuzz`) is the long one.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use casewatch_domain::Timestamp;
use casewatch_domain::access::{Principal, Role};
use casewatch_domain::case::{Disposition, Overdue};
use casewatch_domain::catalogue::RuleId;
use casewatch_domain::event::{
    Actor, CaseEvent, CaseType, CompletionResult, FEN_MAX, FeeItem, LIMIT_MAX, Limit,
    ProcedureKind, Step,
};
use casewatch_domain::ids::{AlertId, CaseNo, DeptCode, EventId, ItemCode, RegionCode};
use casewatch_domain::record::Content;
use casewatch_domain::stats::Counters;
use casewatch_domain::strategies;
use casewatch_domain::supervision::{SupervisionAction, SupervisionEvent};
use casewatch_log::{
    Appended, Destination, EventLog, LogError, NewRecord, Offset, Partition, Position, StoredRecord,
};
use casewatch_proto::{RECORD_FORMAT_VERSION, decode_record, encode_record, pb};
use casewatch_store::sqlite::SqliteStore;
use casewatch_store::{AlertFilter, CaseFilter, CaseRow, ViewStore};
use chrono::{NaiveDate, TimeDelta};
use proptest::prelude::*;
use proptest::sample::select;
use prost::Message;
use tokio::sync::watch;

use crate::common;

const PARTITIONS: u32 = 2;
/// Case numbers the steps use; actions also name one more, a case no step ever opens.
const CASES: usize = 4;
/// Step numbers stay small, so that re-sends, rewrites and gaps are common.
const SEQ_MAX: u32 = 6;

/// 256 cases (about ten seconds in a debug build), or `PROPTEST_CASES` for a long run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        max_shrink_iters: 10_000,
        ..ProptestConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_projector_survives_any_sequence_and_ends_as_a_clean_rebuild(
        ops in proptest::collection::vec(op(), 1..48),
        sessions in proptest::collection::vec(session(), 0..5),
    ) {
        runtime().block_on(check(&ops, &sessions))?;
    }
}

// The projector's own regressions the fuzzing found, as plain cases (the domain's and the
// store's have theirs beside their code).

fn submitted(case: usize, seq: u32) -> Op {
    Op::Step {
        case,
        seq,
        step: Step::Queried {
            channel: casewatch_domain::event::Channel::Web,
        },
        occurred_at: base(),
        recorded_at: base(),
        actor: 0,
    }
}

fn holds(ops: &[Op], sessions: &[Session]) {
    if let Err(error) = runtime().block_on(check(ops, sessions)) {
        panic!("{error}");
    }
}

/// A projector restarted between a case's step and its unreadable record tells the time
/// from its checkpoint: the record is alerted as in a run without the restart.
#[test]
fn a_restart_keeps_the_partition_s_time() {
    let invalid = Op::Step {
        case: 2,
        seq: 2,
        step: Step::Completed {
            result: CompletionResult::Completed,
            certificate: None,
            fee_total_fen: FEN_MAX + 1,
        },
        occurred_at: base(),
        recorded_at: base(),
        actor: 0,
    };
    let restart = Session {
        append: 1,
        batch: 1,
        rounds: 1,
    };
    holds(&[submitted(2, 1), invalid], &[restart]);
}

/// A copy of a case's step on another partition, without its key, cannot fork the case
/// across partitions: it is quarantined.
#[test]
fn a_step_not_keyed_by_its_case_is_quarantined() {
    let copy = Op::Corrupt {
        corruption: Corruption::Damaged {
            of: 0,
            damage: Vec::new(),
        },
        key: None,
    };
    for case in 0..CASES {
        holds(&[submitted(case, 3), copy.clone(), submitted(case, 1)], &[]);
    }
}

/// A step held ahead of a gap is archived as applied once the gap fills, in the same
/// batch or a later one.
#[test]
fn a_held_step_is_archived_as_applied_when_its_gap_fills() {
    let one_at_a_time = Session {
        append: 1,
        batch: 1,
        rounds: 1,
    };
    holds(&[submitted(2, 2), submitted(2, 1)], &[]);
    holds(&[submitted(2, 2), submitted(2, 1)], &[one_at_a_time]);
}

// ---------------------------------------------------------------------------------------
// What the sequences are made of.

/// One thing that lands on the log.
#[derive(Debug, Clone)]
enum Op {
    /// A case step.
    Step {
        case: usize,
        seq: u32,
        step: Step,
        occurred_at: Timestamp,
        recorded_at: Timestamp,
        actor: u8,
    },
    /// An earlier record sent again: a step with a new event id and source version (its
    /// content unchanged), anything else byte for byte.
    Resend { of: usize },
    /// An action on an alert that may or may not exist, of a case that may not.
    Action {
        case: usize,
        rule: RuleId,
        occurrence: u32,
        role: Role,
        action: SupervisionAction,
        recorded_at: Timestamp,
    },
    /// The passing of time, on every partition or one.
    Tick {
        at: Timestamp,
        partition: Option<Partition>,
    },
    /// Bytes the projector cannot read, keyed by a case or sent to a partition.
    Corrupt {
        corruption: Corruption,
        key: Option<usize>,
    },
}

/// How a record is unreadable.
#[derive(Debug, Clone)]
enum Corruption {
    /// Not a record at all.
    Garbage(Vec<u8>),
    /// An earlier record with bytes flipped, cut off or pushed in (it may still decode).
    Damaged {
        of: usize,
        damage: Vec<strategies::Damage>,
    },
    /// A well-formed case event of a known case number whose content is invalid.
    Invalid { case: usize, recorded_at: Timestamp },
    /// An earlier record in an envelope of a format this build does not read.
    FutureFormat { of: usize },
}

/// A stretch of the run: `append` more operations reach the log, then a fresh projector
/// (a restart) folds `rounds` rounds of batches of `batch` records.
#[derive(Debug, Clone)]
struct Session {
    append: usize,
    batch: usize,
    rounds: usize,
}

fn session() -> impl Strategy<Value = Session> {
    (0_usize..16, 1_usize..9, 0_usize..5).prop_map(|(append, batch, rounds)| Session {
        append,
        batch,
        rounds,
    })
}

/// 2026-03-02T00:00:00+08:00, a Monday.
fn base() -> Timestamp {
    Timestamp::from_timestamp(1_772_380_800, 0).expect("a valid instant")
}

/// The earliest instant a record can carry: 0001-01-01T00:00:00Z.
fn earliest() -> Timestamp {
    Timestamp::from_timestamp(-62_135_596_800, 0).expect("a valid instant")
}

/// The latest instant a record can carry: 9999-12-31T23:59:59.999999999Z.
fn latest() -> Timestamp {
    Timestamp::from_timestamp(253_402_300_799, 999_999_999).expect("a valid instant")
}

/// Mostly within two months of [`base`], sometimes at the edges of what a record holds.
fn instant() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        16 => (0_i64..60 * 24 * 60).prop_map(|minutes| base() + TimeDelta::minutes(minutes)),
        1 => Just(earliest()),
        1 => Just(latest()),
    ]
}

/// Money at its bounds and around them: up to [`FEN_MAX`] it is legal, past it the record
/// does not convert and is quarantined.
fn fen() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        0_u64..1_000_000,
        Just(FEN_MAX),
        Just(FEN_MAX + 1),
        Just(i64::MAX as u64),
        Just(u64::MAX / 2 + 1),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

/// A limit at its bounds or anywhere between, in any unit.
fn limit() -> impl Strategy<Value = Limit> {
    (
        prop_oneof![Just(1), Just(LIMIT_MAX), 1..=LIMIT_MAX],
        strategies::limit_unit(),
    )
        .prop_map(|(n, unit)| Limit::new(n, unit).expect("n within 1..=LIMIT_MAX"))
}

/// Steps whose money and limits sit at the bounds.
fn bounded_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (limit(), limit(), any::<bool>(), proptest::option::of(fen())).prop_map(
            |(legal_limit, promised_limit, fee_required, fee_standard_fen)| Step::Accepted {
                case_type: CaseType::Promised,
                legal_limit,
                promised_limit,
                fee_required,
                fee_standard_fen,
                accept_doc_no: String::new(),
            }
        ),
        proptest::collection::vec((fen(), fen()), 1..8).prop_map(|amounts| Step::FeeCharged {
            ticket_no: "T-1".to_owned(),
            items: amounts
                .into_iter()
                .map(|(amount_fen, standard_fen)| FeeItem {
                    fee_code: "F-1".to_owned(),
                    amount_fen,
                    standard_fen,
                })
                .collect(),
            payer: String::new(),
            collector: String::new(),
            unified_ticket: true,
        }),
        fen().prop_map(|fee_total_fen| Step::Completed {
            result: CompletionResult::Completed,
            certificate: None,
            fee_total_fen,
        }),
        (
            select(vec![ProcedureKind::Extension, ProcedureKind::Hearing]),
            limit()
        )
            .prop_map(|(kind, approved)| Step::SpecialProcedureStarted {
                proc_no: "P-1".to_owned(),
                kind,
                basis: String::new(),
                approver: String::new(),
                approved,
            }),
        proptest::option::of(fen()).prop_map(|fee_fen| Step::SpecialProcedureEnded {
            proc_no: "P-1".to_owned(),
            result: "done".to_owned(),
            fee_fen,
        }),
        proptest::option::of(limit()).prop_map(|step_limit| Step::Reviewed {
            step_code: "review".to_owned(),
            step_name: String::new(),
            outcome: casewatch_domain::event::ReviewOutcome::Pass,
            opinion: String::new(),
            step_limit,
        }),
        prop_oneof![Just(LIMIT_MAX), 0..=LIMIT_MAX].prop_map(|days| Step::Suspended {
            reason: String::new(),
            requested_days: Some(days),
        }),
    ]
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Corruption::Garbage),
        (any::<usize>(), strategies::damage(2, 5))
            .prop_map(|(of, damage)| Corruption::Damaged { of, damage }),
        (0..CASES, instant())
            .prop_map(|(case, recorded_at)| Corruption::Invalid { case, recorded_at }),
        any::<usize>().prop_map(|of| Corruption::FutureFormat { of }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (
            0..CASES,
            1..=SEQ_MAX,
            prop_oneof![strategies::step(), bounded_step()],
            instant(),
            instant(),
            0_u8..2,
        )
            .prop_map(|(case, seq, step, occurred_at, recorded_at, actor)| Op::Step {
                case,
                seq,
                step,
                occurred_at,
                recorded_at,
                actor,
            }),
        2 => any::<usize>().prop_map(|of| Op::Resend { of }),
        3 => (
            0..=CASES,
            strategies::rule_id(),
            1_u32..=2,
            strategies::role(),
            strategies::supervision_action(),
            instant(),
        )
            .prop_map(|(case, rule, occurrence, role, action, recorded_at)| Op::Action {
                case,
                rule,
                occurrence,
                role,
                action,
                recorded_at,
            }),
        // Supervision's verdicts on the cards hostile steps raise most (C3, P1): revokes and
        // escalations of cards that exist, at any later time, are common, not a lucky draw.
        2 => (
            0..CASES,
            prop_oneof![Just(RuleId::C3), Just(RuleId::P1)],
            1_u32..=2,
            prop_oneof![
                strategies::required_text()
                    .prop_map(|reason| SupervisionAction::Revoke { reason }),
                strategies::required_text()
                    .prop_map(|reason| SupervisionAction::Escalate { reason }),
            ],
            instant(),
        )
            .prop_map(|(case, rule, occurrence, action, recorded_at)| Op::Action {
                case,
                rule,
                occurrence,
                role: Role::Monitor,
                action,
                recorded_at,
            }),
        3 => (instant(), proptest::option::of(0..PARTITIONS))
            .prop_map(|(at, partition)| Op::Tick { at, partition }),
        2 => (corruption(), proptest::option::of(0..CASES))
            .prop_map(|(corruption, key)| Op::Corrupt { corruption, key }),
    ]
}

// ---------------------------------------------------------------------------------------
// From operations to records.

fn case_no(case: usize) -> CaseNo {
    CaseNo::parse(format!("330106-ADV-{case}")).expect("a case number")
}

fn region(case: usize) -> RegionCode {
    let code = if case.is_multiple_of(2) {
        "330106"
    } else {
        "330206001"
    };
    RegionCode::parse(code).expect("a region code")
}

fn dept(case: usize) -> DeptCode {
    DeptCode::with_check_char(&format!("11330100MB{:07}", case % 3)).expect("a credit code")
}

fn item(case: usize) -> ItemCode {
    ItemCode::parse(format!("ITEM-{}", case % 2)).expect("an item code")
}

fn event(
    index: usize,
    case: usize,
    seq: u32,
    step: Step,
    occurred_at: Timestamp,
    actor: u8,
) -> CaseEvent {
    CaseEvent {
        event_id: EventId::parse(format!("e-{index}")).expect("an event id"),
        case_no: case_no(case),
        seq,
        item_code: item(case),
        region_code: region(case),
        dept_code: dept(case),
        occurred_at,
        source_system: "adversary".to_owned(),
        source_version: 1,
        actor: Actor {
            id: format!("staff-{actor}"),
            name: String::new(),
        },
        step,
    }
}

fn case_record(event: CaseEvent, recorded_at: Timestamp) -> Vec<u8> {
    let payload = pb::CaseEvent::from(event).encode_to_vec();
    encode_record(pb::RecordKind::CaseEvent, recorded_at, &payload)
}

/// The records the operations append, in order. An operation that refers to an earlier
/// one when there is none appends nothing.
fn records(ops: &[Op]) -> Vec<Vec<NewRecord>> {
    let mut sent: Vec<Vec<NewRecord>> = Vec::with_capacity(ops.len());
    let mut events: Vec<Option<(CaseEvent, Timestamp)>> = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        let earlier = |of: usize| (index > 0).then(|| of % index);
        let keyed = |key: &CaseNo, bytes: Vec<u8>| {
            vec![NewRecord {
                destination: Destination::Key(key.to_string()),
                bytes,
                idempotency_key: None,
                headers: Vec::new(),
            }]
        };
        let (records, event) = match op {
            Op::Step {
                case,
                seq,
                step,
                occurred_at,
                recorded_at,
                actor,
            } => {
                let event = event(index, *case, *seq, step.clone(), *occurred_at, *actor);
                let bytes = case_record(event.clone(), *recorded_at);
                (keyed(&event.case_no, bytes), Some((event, *recorded_at)))
            }
            Op::Resend { of } => match earlier(*of) {
                Some(of) => match &events[of] {
                    Some((event, recorded_at)) => {
                        let resent = CaseEvent {
                            event_id: EventId::parse(format!("e-{index}")).expect("an event id"),
                            source_version: event.source_version + 1,
                            ..event.clone()
                        };
                        let bytes = case_record(resent.clone(), *recorded_at);
                        (keyed(&resent.case_no, bytes), Some((resent, *recorded_at)))
                    }
                    None => (sent[of].clone(), None),
                },
                None => (Vec::new(), None),
            },
            Op::Action {
                case,
                rule,
                occurrence,
                role,
                action,
                recorded_at,
            } => {
                let alert_id = AlertId {
                    case_no: case_no(*case),
                    rule: *rule,
                    occurrence: *occurrence,
                };
                let action = SupervisionEvent {
                    event_id: EventId::parse(format!("a-{index}")).expect("an event id"),
                    alert_id: alert_id.clone(),
                    principal: Principal {
                        id: format!("{role}-1"),
                        name: String::new(),
                        role: *role,
                    },
                    action: action.clone(),
                };
                let payload = pb::SupervisionEvent::from(action).encode_to_vec();
                let bytes = encode_record(pb::RecordKind::SupervisionEvent, *recorded_at, &payload);
                (keyed(&alert_id.case_no, bytes), None)
            }
            Op::Tick { at, partition } => {
                let bytes = casewatch_proto::encode_tick(*at, "adversary");
                let partitions = partition.map_or_else(|| (0..PARTITIONS).collect(), |p| vec![p]);
                let records = partitions
                    .into_iter()
                    .map(|partition| NewRecord {
                        destination: Destination::Partition(partition),
                        bytes: bytes.clone(),
                        idempotency_key: None,
                        headers: Vec::new(),
                    })
                    .collect();
                (records, None)
            }
            Op::Corrupt { corruption, key } => {
                let bytes = match corruption {
                    Corruption::Garbage(bytes) => Some(bytes.clone()),
                    Corruption::Damaged { of, damage } => earlier(*of)
                        .and_then(|of| sent[of].first())
                        .map(|record| strategies::apply_damage(record.bytes.clone(), damage)),
                    Corruption::Invalid { case, recorded_at } => {
                        let mut payload = pb::CaseEvent::from(event(
                            index,
                            *case,
                            1,
                            Step::Queried {
                                channel: casewatch_domain::event::Channel::Web,
                            },
                            base(),
                            0,
                        ));
                        payload.seq = 0;
                        Some(encode_record(
                            pb::RecordKind::CaseEvent,
                            *recorded_at,
                            &payload.encode_to_vec(),
                        ))
                    }
                    Corruption::FutureFormat { of } => earlier(*of)
                        .and_then(|of| sent[of].first())
                        .and_then(|record| pb::Record::decode(record.bytes.as_slice()).ok())
                        .map(|record| {
                            pb::Record {
                                format_version: RECORD_FORMAT_VERSION + 1,
                                ..record
                            }
                            .encode_to_vec()
                        }),
                };
                let records = bytes
                    .map(|bytes| NewRecord {
                        destination: match key {
                            Some(case) => Destination::Key(case_no(*case).to_string()),
                            None => Destination::Partition(
                                u32::try_from(index).unwrap_or(0) % PARTITIONS,
                            ),
                        },
                        bytes,
                        idempotency_key: None,
                        headers: Vec::new(),
                    })
                    .into_iter()
                    .collect();
                (records, None)
            }
        };
        sent.push(records);
        events.push(event);
    }
    sent
}

// ---------------------------------------------------------------------------------------
// A log in memory.

/// A log whose partitions are vectors in memory: what the projector reads is what was
/// appended, at once, with no disk in the way.
struct MemoryLog {
    partitions: Vec<Mutex<Vec<StoredRecord>>>,
    appended: watch::Sender<u64>,
}

impl MemoryLog {
    fn new(partitions: u32) -> Self {
        Self {
            partitions: (0..partitions).map(|_| Mutex::new(Vec::new())).collect(),
            appended: watch::channel(0).0,
        }
    }

    fn partition(
        &self,
        partition: Partition,
    ) -> casewatch_log::Result<std::sync::MutexGuard<'_, Vec<StoredRecord>>> {
        self.partitions
            .get(partition as usize)
            .map(|records| records.lock().unwrap_or_else(PoisonError::into_inner))
            .ok_or(LogError::NoSuchPartition {
                partition,
                partitions: self.partitions(),
            })
    }

    /// Every record, by partition, in offset order.
    fn all(&self) -> Vec<StoredRecord> {
        (0..self.partitions())
            .flat_map(|partition| {
                self.partition(partition)
                    .map(|records| records.clone())
                    .unwrap_or_default()
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl EventLog for MemoryLog {
    fn partitions(&self) -> u32 {
        u32::try_from(self.partitions.len()).unwrap_or(u32::MAX)
    }

    async fn identity(&self) -> casewatch_log::Result<String> {
        Ok("memory log".to_owned())
    }

    async fn append(&self, records: Vec<NewRecord>) -> casewatch_log::Result<Vec<Appended>> {
        let mut appended = Vec::with_capacity(records.len());
        for record in records {
            let (partition, key) = match record.destination {
                Destination::Key(key) => (self.partition_of(&key), key),
                Destination::Partition(partition) => (partition, String::new()),
            };
            let mut stored = self.partition(partition)?;
            let position = Position {
                partition,
                offset: stored.len() as Offset,
            };
            stored.push(StoredRecord {
                position,
                key,
                bytes: record.bytes,
                headers: record.headers,
            });
            appended.push(Appended {
                position,
                duplicate: false,
            });
        }
        self.appended
            .send_modify(|count| *count += appended.len() as u64);
        Ok(appended)
    }

    async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> casewatch_log::Result<Vec<StoredRecord>> {
        let stored = self.partition(partition)?;
        let from = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(stored.len());
        Ok(stored[from..].iter().take(max).cloned().collect())
    }

    async fn high_water(&self, partition: Partition) -> casewatch_log::Result<Offset> {
        Ok(self.partition(partition)?.len() as Offset)
    }

    async fn wait_for(
        &self,
        partition: Partition,
        offset: Offset,
        timeout: Duration,
    ) -> casewatch_log::Result<Offset> {
        let mut appended = self.appended.subscribe();
        let reached = |log: &MemoryLog| {
            log.partition(partition)
                .map(|records| records.len() as Offset)
                .unwrap_or(0)
        };
        let _ = tokio::time::timeout(timeout, appended.wait_for(|_| reached(self) > offset)).await;
        self.high_water(partition).await
    }
}

// ---------------------------------------------------------------------------------------
// The run and its invariants.

async fn check(ops: &[Op], sessions: &[Session]) -> Result<(), TestCaseError> {
    let batches = records(ops);
    let log = Arc::new(MemoryLog::new(PARTITIONS));
    let store = Arc::new(SqliteStore::open_in_memory().await.expect("a store"));
    let mut pending = batches.into_iter();
    for session in sessions {
        for records in pending.by_ref().take(session.append) {
            log.append(records).await.expect("the records append");
        }
        let mut projector =
            common::projector(log.clone(), store.clone(), PARTITIONS, session.batch).await;
        for _ in 0..session.rounds {
            projector.step().await.expect("a round folds");
        }
    }
    for records in pending {
        log.append(records).await.expect("the records append");
    }
    common::catch_up(log.clone(), store.clone(), PARTITIONS, 5).await;

    let rebuilt = Arc::new(SqliteStore::open_in_memory().await.expect("a store"));
    common::catch_up(log.clone(), rebuilt.clone(), PARTITIONS, 1000).await;

    for partition in 0..PARTITIONS {
        let high_water = log.high_water(partition).await.expect("a high water");
        let checkpoint = store.checkpoint(partition).await.expect("a checkpoint");
        prop_assert_eq!(
            checkpoint.map_or(0, |checkpoint| checkpoint.next_offset),
            high_water,
            "partition {} is folded to its end",
            partition
        );
    }
    prop_assert_eq!(
        store.checkpoints().await.expect("checkpoints"),
        rebuilt.checkpoints().await.expect("checkpoints"),
        "the partitions' chains"
    );
    every_record_is_accounted_for_once(&log, &store).await?;
    statistics_never_go_negative(&store).await?;
    alerts_are_well_formed(&store).await?;
    prop_assert_eq!(
        store.digest().await.expect("a digest"),
        rebuilt.digest().await.expect("a digest"),
        "the views after restarts differ from a clean rebuild"
    );
    Ok(())
}

/// Every case step has its archive row, every action on a case the partition knows has
/// one, every unreadable record is quarantined, and nothing else is in either: ticks and
/// actions on unknown cases leave no row (the actions a refusal, which the digest covers).
/// An unreadable record keyed by a case the partition knows is also in that case's
/// archive, and the case has one C5 alert per distinct such record.
async fn every_record_is_accounted_for_once(
    log: &MemoryLog,
    store: &SqliteStore,
) -> Result<(), TestCaseError> {
    let mut archived = BTreeSet::new();
    let mut quarantined = BTreeSet::new();
    let mut known: HashSet<(Partition, String)> = HashSet::new();
    let mut unreadable: BTreeMap<String, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for record in log.all() {
        let position = casewatch_store::Position {
            partition: record.position.partition,
            offset: record.position.offset,
        };
        let knows = |case_no: &str| known.contains(&(position.partition, case_no.to_owned()));
        // A record is readable when it decodes and is keyed by the case it is about.
        match decode_record(&record.bytes) {
            Ok((_, Content::Step(event))) if event.case_no.as_str() == record.key => {
                known.insert((position.partition, record.key.clone()));
                archived.insert(position);
            }
            Ok((_, Content::Action(action))) if action.alert_id.case_no.as_str() == record.key => {
                if knows(&record.key) {
                    archived.insert(position);
                }
            }
            Ok((_, Content::Tick(_))) => {}
            _ => {
                quarantined.insert(position);
                if knows(&record.key) {
                    archived.insert(position);
                    unreadable
                        .entry(record.key.clone())
                        .or_default()
                        .insert(record.bytes.clone());
                }
            }
        }
    }
    let mut rows = BTreeSet::new();
    for partition in 0..PARTITIONS {
        for step in store
            .step_hashes(partition, 0, u32::MAX)
            .await
            .expect("the archive reads")
        {
            prop_assert!(
                rows.insert(step.position),
                "{:?} archived twice",
                step.position
            );
        }
    }
    prop_assert_eq!(rows, archived, "archive rows");
    let rows: Vec<casewatch_store::Position> = store
        .quarantine(None, u32::MAX)
        .await
        .expect("the quarantine reads")
        .into_iter()
        .map(|row| row.position)
        .collect();
    prop_assert_eq!(
        rows.iter().copied().collect::<BTreeSet<_>>().len(),
        rows.len(),
        "a record quarantined twice"
    );
    prop_assert_eq!(
        rows.into_iter().collect::<BTreeSet<_>>(),
        quarantined,
        "quarantine rows"
    );

    // Held steps are exactly those the cases still hold; unreadable records raised C5.
    for row in cases(store).await {
        let c5 = row
            .case
            .alerts
            .iter()
            .filter(|alert| alert.rule() == RuleId::C5)
            .count();
        prop_assert_eq!(
            c5,
            unreadable
                .get(row.case.case_no.as_str())
                .map_or(0, BTreeSet::len),
            "C5 alerts of `{}`",
            row.case.case_no
        );
        let held: BTreeSet<u32> = store
            .steps(row.case.case_no.as_str())
            .await
            .expect("the archive reads")
            .into_iter()
            .filter(|step| step.disposition == Disposition::Held)
            .filter_map(|step| step.seq)
            .collect();
        prop_assert_eq!(
            held,
            row.case.held.keys().copied().collect::<BTreeSet<_>>(),
            "held steps of `{}`",
            row.case.case_no
        );
    }
    Ok(())
}

async fn cases(store: &SqliteStore) -> Vec<CaseRow> {
    store
        .list_cases(&CaseFilter::default(), None, u32::MAX)
        .await
        .expect("the cases read")
}

/// Counters are never negative, nor are valid cards (raised − revoked, a revoke counting
/// against the day its card was raised), on any row, nor summed per region, department and
/// item, nor in all, up to any day; the open-case gauges (each light, past the promise,
/// past the law), kept as changes per day, never sum to less than zero up to any day, and
/// sum to the open cases each counts at the end.
async fn statistics_never_go_negative(store: &SqliteStore) -> Result<(), TestCaseError> {
    let first = NaiveDate::from_ymd_opt(1, 1, 1).expect("a date");
    let last = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date");
    let mut gauges: BTreeMap<(String, String, String), [i64; 5]> = BTreeMap::new();
    let mut valid_cards: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    let mut valid_cards_in_all = 0;
    let mut rows = store
        .statistics(first, last, None)
        .await
        .expect("the statistics read");
    rows.sort_by_key(|(key, _)| key.day);
    for (key, counters) in &rows {
        let Counters {
            open_green,
            open_yellow,
            open_red,
            open_overdue_promised,
            open_overdue_legal,
            ..
        } = *counters;
        let others = Counters {
            open_green: 0,
            open_yellow: 0,
            open_red: 0,
            open_overdue_promised: 0,
            open_overdue_legal: 0,
            ..*counters
        };
        prop_assert!(
            others.values().iter().all(|value| *value >= 0),
            "a negative counter on {:?}: {:?}",
            key,
            counters
        );
        prop_assert!(
            counters.valid_cards() >= 0,
            "more cards revoked than raised on {:?}: {:?}",
            key,
            counters
        );
        let group = (
            key.region_code.to_string(),
            key.dept_code.to_string(),
            key.item_code.to_string(),
        );
        let valid = valid_cards.entry(group.clone()).or_default();
        *valid += counters.valid_cards();
        valid_cards_in_all += counters.valid_cards();
        prop_assert!(
            *valid >= 0 && valid_cards_in_all >= 0,
            "valid cards below zero up to {:?}: {} of its group, {} in all",
            key,
            *valid,
            valid_cards_in_all
        );
        let sums = gauges.entry(group).or_default();
        let changes = [
            open_green,
            open_yellow,
            open_red,
            open_overdue_promised,
            open_overdue_legal,
        ];
        for (sum, change) in sums.iter_mut().zip(changes) {
            *sum += change;
            prop_assert!(*sum >= 0, "a gauge below zero up to {:?}: {:?}", key, sums);
        }
    }
    let mut open: BTreeMap<(String, String, String), [i64; 5]> = BTreeMap::new();
    for row in cases(store).await {
        let case = &row.case;
        prop_assert_eq!(
            case.counted_light,
            case.is_open().then(|| case.light()),
            "the light counted for `{}`",
            case.case_no
        );
        prop_assert!(
            case.is_open() || case.counted_overdue == Overdue::default(),
            "`{}` is closed but still counted overdue",
            case.case_no
        );
        let key = (
            case.region_code.to_string(),
            case.dept_code.to_string(),
            case.item_code.to_string(),
        );
        let counted = open.entry(key).or_default();
        if let Some(light) = case.counted_light {
            counted[light as usize] += 1;
        }
        counted[3] += i64::from(case.counted_overdue.promised);
        counted[4] += i64::from(case.counted_overdue.legal);
    }
    gauges.retain(|_, sums| sums.iter().any(|sum| *sum != 0));
    open.retain(|_, counted| counted.iter().any(|count| *count != 0));
    prop_assert_eq!(gauges, open, "the gauges at the end are the open cases");
    Ok(())
}

/// Every alert belongs to a case row and equals the case's copy; ids are numbered from 1
/// per case and rule, one per subject; category and level follow the rule (levels only go
/// up); changes start with the raise and end at the current state, in cursor order.
async fn alerts_are_well_formed(store: &SqliteStore) -> Result<(), TestCaseError> {
    let current = store
        .list_alerts(&AlertFilter::default(), None, u32::MAX)
        .await
        .expect("the alerts read");
    let mut from_cases = BTreeMap::new();
    for row in cases(store).await {
        let mut occurrences: BTreeMap<RuleId, Vec<u32>> = BTreeMap::new();
        let mut subjects = BTreeSet::new();
        for alert in &row.case.alerts {
            prop_assert_eq!(&alert.id.case_no, &row.case.case_no);
            prop_assert_eq!(&alert.region_code, &row.case.region_code);
            prop_assert_eq!(&alert.dept_code, &row.case.dept_code);
            prop_assert_eq!(&alert.item_code, &row.case.item_code);
            prop_assert_eq!(alert.category, alert.rule().category());
            prop_assert!(alert.level >= alert.rule().level(), "{:?}", alert);
            prop_assert!(alert.raised_at <= alert.updated_at, "{:?}", alert);
            prop_assert!(
                subjects.insert((alert.rule(), alert.subject.clone())),
                "two alerts of one rule about one subject: {:?}",
                alert
            );
            occurrences
                .entry(alert.rule())
                .or_default()
                .push(alert.id.occurrence);
            from_cases.insert(alert.id.to_string(), alert.clone());
        }
        for (rule, numbers) in occurrences {
            let expected: Vec<u32> = (1..=u32::try_from(numbers.len()).unwrap_or(0)).collect();
            prop_assert_eq!(
                numbers,
                expected,
                "occurrences of {} on `{}`",
                rule,
                row.case.case_no
            );
        }
    }
    let stored: BTreeMap<String, _> = current
        .iter()
        .map(|committed| {
            (
                committed.row.change.alert.id.to_string(),
                committed.row.change.alert.clone(),
            )
        })
        .collect();
    prop_assert_eq!(&stored, &from_cases, "the alerts are the cases' alerts");

    let changes = store
        .alert_changes_after(0, &AlertFilter::default(), u32::MAX)
        .await
        .expect("the alert changes read");
    let mut last_cursor = 0;
    let mut seen = BTreeMap::new();
    for committed in &changes {
        prop_assert!(committed.cursor > last_cursor, "cursors grow");
        last_cursor = committed.cursor;
        let change = &committed.row.change;
        let id = change.alert.id.to_string();
        let first = !seen.contains_key(&id);
        prop_assert_eq!(
            first,
            change.previous.is_none(),
            "only the first change raises: {:?}",
            change
        );
        seen.insert(id, change.alert.clone());
    }
    prop_assert_eq!(seen, stored, "the last change of each alert is its state");
    Ok(())
}
