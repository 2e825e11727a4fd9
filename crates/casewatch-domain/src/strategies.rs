//! Proptest strategies of valid domain values, for the property tests of the crates built on
//! this one (feature `strategies`). Every value generated passes the domain's own checks:
//! identifiers come from their `parse` constructors and events pass `validate()`.

use chrono::NaiveDate;
use proptest::collection::{btree_set, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;

use crate::Timestamp;
use crate::access::{Principal, Role};
use crate::catalogue::RuleId;
use crate::clock::DayCounting;
use crate::event::{
    Actor, AppealOutcome, AppealTarget, Applicant, ApplicantKind, CaseEvent, CaseType, Certificate,
    Channel, CompletionResult, Decision, FeeItem, Limit, LimitUnit, Material, ProcedureKind,
    RatingLevel, ReviewOutcome, Step,
};
use crate::ids::{AlertId, CaseNo, DeptCode, EventId, ItemCode, RegionCode};
use crate::rulebook::ThresholdPatch;
use crate::supervision::{AppealDecision, ClockTick, SupervisionAction, SupervisionEvent};

/// 2020-01-01T00:00:00Z, the earliest instant generated.
const FROM_SECONDS: i64 = 1_577_836_800;
/// 2030-01-01T00:00:00Z, the end of the instants generated.
const TO_SECONDS: i64 = 1_893_456_000;

/// An instant in 2020–2029, at a whole second or with nanoseconds.
pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    (
        FROM_SECONDS..TO_SECONDS,
        prop_oneof![Just(0_u32), 0_u32..1_000_000_000],
    )
        .prop_map(|(seconds, nanos)| {
            Timestamp::from_timestamp(seconds, nanos).expect("2020–2029 is within chrono's range")
        })
}

/// A calendar date in 2020–2039.
pub fn date() -> impl Strategy<Value = NaiveDate> {
    (2020_i32..2040, 1_u32..=12, 1_u32..=28).prop_map(|(year, month, day)| {
        NaiveDate::from_ymd_opt(year, month, day).expect("day 1..=28 exists in every month")
    })
}

/// A short text that is not blank (names, numbers, required reasons).
pub fn required_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9一-龥][A-Za-z0-9 ,.一-龥]{0,15}"
}

/// A short text that may be empty or blank.
pub fn optional_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 ,.一-龥]{0,16}"
}

/// A valid event id (printable ASCII).
pub fn event_id() -> impl Strategy<Value = EventId> {
    "[!-~]{1,40}".prop_map(|text| EventId::parse(text).expect("printable ASCII, 1..=40"))
}

/// A valid case number, sometimes with `/` and Chinese characters.
pub fn case_no() -> impl Strategy<Value = CaseNo> {
    "[A-Z杭州]{1,4}[-/][0-9]{4}[-/][0-9]{1,8}"
        .prop_map(|text| CaseNo::parse(text).expect("a short token without whitespace"))
}

/// A valid item code.
pub fn item_code() -> impl Strategy<Value = ItemCode> {
    "[A-Za-z0-9._-]{1,32}".prop_map(|text| ItemCode::parse(text).expect("allowed characters"))
}

/// A valid region code of 6, 9 or 12 digits.
pub fn region_code() -> impl Strategy<Value = RegionCode> {
    prop_oneof!["[1-6][0-9]{5}", "[1-6][0-9]{8}", "[1-6][0-9]{11}"]
        .prop_map(|text| RegionCode::parse(text).expect("6, 9 or 12 digits"))
}

/// A valid department code (统一社会信用代码) with its check character.
pub fn dept_code() -> impl Strategy<Value = DeptCode> {
    "[0-9A-HJ-NP-RTUW-Y]{17}".prop_map(|body| {
        DeptCode::with_check_char(&body).expect("17 characters of the credit code alphabet")
    })
}

/// Any unit of a time limit.
pub fn limit_unit() -> impl Strategy<Value = LimitUnit> {
    prop_oneof![
        Just(LimitUnit::WorkingDays),
        Just(LimitUnit::CalendarDays),
        Just(LimitUnit::Hours),
    ]
}

/// A valid time limit.
pub fn limit() -> impl Strategy<Value = Limit> {
    (1_u32..=crate::event::LIMIT_MAX, limit_unit())
        .prop_map(|(n, unit)| Limit::new(n, unit).expect("n within 1..=LIMIT_MAX"))
}

/// A rating level, 1 to 5.
pub fn rating_level() -> impl Strategy<Value = RatingLevel> {
    (1_u8..=5).prop_map(|level| RatingLevel::new(level).expect("1..=5"))
}

/// Any channel.
pub fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Window),
        Just(Channel::Web),
        Just(Channel::Mobile),
        Just(Channel::Post),
    ]
}

fn materials() -> impl Strategy<Value = Vec<Material>> {
    vec(
        (optional_text(), required_text()).prop_map(|(code, name)| Material { code, name }),
        0..4,
    )
}

fn applicant() -> impl Strategy<Value = Applicant> {
    (
        prop_oneof![
            Just(ApplicantKind::Person),
            Just(ApplicantKind::Organisation)
        ],
        required_text(),
        optional_text(),
        optional_text(),
    )
        .prop_map(|(kind, name, id_type, id_no)| Applicant {
            kind,
            name,
            id_type,
            id_no,
        })
}

fn case_type() -> impl Strategy<Value = CaseType> {
    prop_oneof![
        Just(CaseType::Immediate),
        Just(CaseType::Promised),
        Just(CaseType::Joint),
        Just(CaseType::Forwarded),
    ]
}

fn procedure_kind() -> impl Strategy<Value = ProcedureKind> {
    select(vec![
        ProcedureKind::Extension,
        ProcedureKind::Hearing,
        ProcedureKind::Inspection,
        ProcedureKind::Testing,
        ProcedureKind::Quarantine,
        ProcedureKind::Appraisal,
        ProcedureKind::ExpertReview,
        ProcedureKind::Tender,
        ProcedureKind::Auction,
        ProcedureKind::Other,
    ])
}

fn completion_result() -> impl Strategy<Value = CompletionResult> {
    select(vec![
        CompletionResult::IssuedCertificate,
        CompletionResult::Returned,
        CompletionResult::Voided,
        CompletionResult::Forwarded,
        CompletionResult::Completed,
    ])
}

fn certificate() -> impl Strategy<Value = Certificate> {
    (
        optional_text(),
        optional_text(),
        option::of(date()),
        optional_text(),
    )
        .prop_map(|(name, no, valid_to, issuer)| Certificate {
            name,
            no,
            valid_to,
            issuer,
        })
}

fn fee_item() -> impl Strategy<Value = FeeItem> {
    (required_text(), fen(), fen()).prop_map(|(fee_code, amount_fen, standard_fen)| FeeItem {
        fee_code,
        amount_fen,
        standard_fen,
    })
}

/// An amount of money up to [`FEN_MAX`](crate::event::FEN_MAX), its bounds included.
pub fn fen() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(crate::event::FEN_MAX),
        0..=crate::event::FEN_MAX,
    ]
}

/// Any step, every variant of [`Step`] included.
pub fn step() -> impl Strategy<Value = Step> {
    Union::new([
        (applicant(), channel(), materials())
            .prop_map(|(applicant, channel, materials)| Step::Submitted {
                applicant,
                channel,
                materials,
            })
            .boxed(),
        (
            case_type(),
            limit(),
            limit(),
            any::<bool>(),
            option::of(fen()),
            optional_text(),
        )
            .prop_map(
                |(
                    case_type,
                    legal_limit,
                    promised_limit,
                    fee_required,
                    fee_standard_fen,
                    accept_doc_no,
                )| Step::Accepted {
                    case_type,
                    legal_limit,
                    promised_limit,
                    fee_required,
                    fee_standard_fen,
                    accept_doc_no,
                },
            )
            .boxed(),
        optional_text()
            .prop_map(|reason| Step::Rejected { reason })
            .boxed(),
        (optional_text(), materials())
            .prop_map(|(reason, materials)| Step::CorrectionRequested { reason, materials })
            .boxed(),
        materials()
            .prop_map(|materials| Step::CorrectionReceived { materials })
            .boxed(),
        (
            required_text(),
            optional_text(),
            prop_oneof![
                Just(ReviewOutcome::Pass),
                Just(ReviewOutcome::Return),
                Just(ReviewOutcome::Other),
            ],
            optional_text(),
            option::of(limit()),
        )
            .prop_map(
                |(step_code, step_name, outcome, opinion, step_limit)| Step::Reviewed {
                    step_code,
                    step_name,
                    outcome,
                    opinion,
                    step_limit,
                },
            )
            .boxed(),
        (
            prop_oneof![Just(Decision::Grant), Just(Decision::Deny)],
            optional_text(),
            any::<bool>(),
        )
            .prop_map(|(decision, reason, window_direct_signoff)| Step::Decided {
                decision,
                reason,
                window_direct_signoff,
            })
            .boxed(),
        (
            required_text(),
            procedure_kind(),
            optional_text(),
            optional_text(),
            limit(),
        )
            .prop_map(
                |(proc_no, kind, basis, approver, approved)| Step::SpecialProcedureStarted {
                    proc_no,
                    kind,
                    basis,
                    approver,
                    approved,
                },
            )
            .boxed(),
        (required_text(), optional_text(), option::of(fen()))
            .prop_map(|(proc_no, result, fee_fen)| Step::SpecialProcedureEnded {
                proc_no,
                result,
                fee_fen,
            })
            .boxed(),
        (optional_text(), option::of(0_u32..=crate::event::LIMIT_MAX))
            .prop_map(|(reason, requested_days)| Step::Suspended {
                reason,
                requested_days,
            })
            .boxed(),
        optional_text()
            .prop_map(|reason| Step::Resumed { reason })
            .boxed(),
        (
            required_text(),
            vec(fee_item(), 1..4),
            optional_text(),
            optional_text(),
            any::<bool>(),
        )
            .prop_map(
                |(ticket_no, items, payer, collector, unified_ticket)| Step::FeeCharged {
                    ticket_no,
                    items,
                    payer,
                    collector,
                    unified_ticket,
                },
            )
            .boxed(),
        (completion_result(), option::of(certificate()), fen())
            .prop_map(|(result, certificate, fee_total_fen)| Step::Completed {
                result,
                certificate,
                fee_total_fen,
            })
            .boxed(),
        (optional_text(), optional_text())
            .prop_map(|(method, receiver)| Step::Delivered { method, receiver })
            .boxed(),
        optional_text()
            .prop_map(|reason| Step::Withdrawn { reason })
            .boxed(),
        channel()
            .prop_map(|channel| Step::Queried { channel })
            .boxed(),
        (
            required_text(),
            optional_text(),
            prop_oneof![Just(AppealTarget::Department), Just(AppealTarget::Person)],
            required_text(),
            channel(),
        )
            .prop_map(
                |(appeal_no, complainant, target, reason, channel)| Step::Appealed {
                    appeal_no,
                    complainant,
                    target,
                    reason,
                    channel,
                },
            )
            .boxed(),
        (
            required_text(),
            prop_oneof![
                Just(AppealOutcome::Upheld),
                Just(AppealOutcome::Dismissed),
                Just(AppealOutcome::Explained),
            ],
            optional_text(),
            option::of(rating_level()),
        )
            .prop_map(
                |(appeal_no, outcome, reply, satisfaction)| Step::AppealResolved {
                    appeal_no,
                    outcome,
                    reply,
                    satisfaction,
                },
            )
            .boxed(),
        (
            required_text(),
            rating_level(),
            vec(required_text(), 0..4),
            option::of(optional_text()),
        )
            .prop_map(|(rating_no, level, tags, text)| Step::Rated {
                rating_no,
                level,
                tags,
                text,
            })
            .boxed(),
        (required_text(), optional_text())
            .prop_map(|(rating_no, reply)| Step::RatingFollowedUp { rating_no, reply })
            .boxed(),
    ])
}

/// A valid case step with any [`Step`].
pub fn case_event() -> impl Strategy<Value = CaseEvent> {
    (
        event_id(),
        case_no(),
        1_u32..=crate::event::SEQ_MAX,
        item_code(),
        region_code(),
        dept_code(),
        timestamp(),
        required_text(),
        any::<u32>(),
        (required_text(), optional_text()).prop_map(|(id, name)| Actor { id, name }),
        step(),
    )
        .prop_map(
            |(
                event_id,
                case_no,
                seq,
                item_code,
                region_code,
                dept_code,
                occurred_at,
                source_system,
                source_version,
                actor,
                step,
            )| CaseEvent {
                event_id,
                case_no,
                seq,
                item_code,
                region_code,
                dept_code,
                occurred_at,
                source_system,
                source_version,
                actor,
                step,
            },
        )
}

/// Any rule.
pub fn rule_id() -> impl Strategy<Value = RuleId> {
    select(RuleId::ALL)
}

/// A valid alert id.
pub fn alert_id() -> impl Strategy<Value = AlertId> {
    (case_no(), rule_id(), 1_u32..1000).prop_map(|(case_no, rule, occurrence)| AlertId {
        case_no,
        rule,
        occurrence,
    })
}

/// Any role.
pub fn role() -> impl Strategy<Value = Role> {
    select(vec![
        Role::CountySystem,
        Role::Department,
        Role::Monitor,
        Role::Auditor,
        Role::Admin,
    ])
}

/// Any supervision action, every variant included.
pub fn supervision_action() -> impl Strategy<Value = SupervisionAction> {
    prop_oneof![
        optional_text().prop_map(|note| SupervisionAction::Acknowledge { note }),
        (required_text(), timestamp()).prop_map(|(content, feedback_due)| {
            SupervisionAction::IssueNotice {
                content,
                feedback_due,
            }
        }),
        required_text().prop_map(|text| SupervisionAction::SubmitFeedback { text }),
        required_text().prop_map(|reason| SupervisionAction::Appeal { reason }),
        (
            prop_oneof![
                Just(AppealDecision::Revoke),
                Just(AppealDecision::Return),
                Just(AppealDecision::Escalate),
            ],
            required_text(),
        )
            .prop_map(|(decision, reason)| SupervisionAction::DecideAppeal { decision, reason }),
        required_text().prop_map(|reason| SupervisionAction::Escalate { reason }),
        required_text().prop_map(|reason| SupervisionAction::Revoke { reason }),
        optional_text().prop_map(|note| SupervisionAction::Close { note }),
    ]
}

/// A valid supervision event with any action.
pub fn supervision_event() -> impl Strategy<Value = SupervisionEvent> {
    (
        event_id(),
        alert_id(),
        (required_text(), optional_text(), role()).prop_map(|(id, name, role)| Principal {
            id,
            name,
            role,
        }),
        supervision_action(),
    )
        .prop_map(|(event_id, alert_id, principal, action)| SupervisionEvent {
            event_id,
            alert_id,
            principal,
            action,
        })
}

/// A clock tick in 2020–2029.
pub fn clock_tick() -> impl Strategy<Value = ClockTick> {
    timestamp().prop_map(|at| ClockTick { at })
}

/// A threshold patch with any subset of fields set.
pub fn threshold_patch() -> impl Strategy<Value = ThresholdPatch> {
    let days = || option::of(0_u32..100);
    (
        (days(), days(), days(), days(), days(), days(), days()),
        (days(), days(), days(), days(), days()),
        (
            option::of(1_u8..=5),
            days(),
            option::of(btree_set(rule_id(), 0..4)),
            option::of(prop_oneof![
                Just(DayCounting::Statutory),
                Just(DayCounting::FromAcceptance)
            ]),
        ),
    )
        .prop_map(
            |(
                (
                    t1_days_left,
                    t1_short_days_left,
                    t1_short_limit_days,
                    t7_max_extension_days,
                    t7_max_extension_days_joint,
                    t7_max_extensions,
                    t8_notice_within_days,
                ),
                (
                    t8_max_notices,
                    c2_report_within_days,
                    c4_gap_grace_hours,
                    k1_accept_within_days,
                    k1_answer_within_days,
                ),
                (k2_min_level, k2_follow_up_within_days, disabled, day_counting),
            )| ThresholdPatch {
                day_counting,
                t1_days_left,
                t1_short_days_left,
                t1_short_limit_days,
                t7_max_extension_days,
                t7_max_extension_days_joint,
                t7_max_extensions,
                t8_notice_within_days,
                t8_max_notices,
                c2_report_within_days,
                c4_gap_grace_hours,
                k1_accept_within_days,
                k1_answer_within_days,
                k2_min_level,
                k2_follow_up_within_days,
                disabled,
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest! {
        #[test]
        fn generated_events_are_valid(event in case_event()) {
            prop_assert_eq!(event.validate(), Ok(()));
        }

        #[test]
        fn generated_supervision_events_are_valid(event in supervision_event()) {
            prop_assert_eq!(event.validate(), Ok(()));
        }
    }
}

/// How one valid encoding is damaged, for the tests that feed damaged bytes to decoders.
#[derive(Debug, Clone)]
pub enum Damage {
    /// A byte replaced.
    Flip {
        /// The byte's index (modulo the length).
        at: usize,
        /// The value it is replaced with.
        with: u8,
    },
    /// The end cut off.
    Truncate {
        /// How many bytes are kept (modulo the length).
        keep: usize,
    },
    /// Bytes pushed in.
    Insert {
        /// Where (modulo the length).
        at: usize,
        /// The bytes pushed in.
        bytes: Vec<u8>,
    },
}

/// One to `most` damages of at most `insert` bytes pushed in at a time.
pub fn damage(most: usize, insert: usize) -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, with)| Damage::Flip { at, with }),
        any::<usize>().prop_map(|keep| Damage::Truncate { keep }),
        (any::<usize>(), vec(any::<u8>(), 1..=insert))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
    ];
    vec(one, 1..=most)
}

/// `bytes` with `damage` done to them, positions taken modulo the length.
pub fn apply_damage(mut bytes: Vec<u8>, damage: &[Damage]) -> Vec<u8> {
    for step in damage {
        let len = bytes.len().max(1);
        match step {
            Damage::Flip { at, with } => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte = *with;
                }
            }
            Damage::Truncate { keep } => bytes.truncate(keep % len),
            Damage::Insert {
                at,
                bytes: inserted,
            } => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, inserted.iter().copied());
            }
        }
    }
    bytes
}
