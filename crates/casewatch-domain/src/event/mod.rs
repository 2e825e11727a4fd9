//! The case steps county and department systems report (the event catalogue of DOMAIN.md).

mod kind;
mod validate;

pub use kind::{StepKind, UnknownStepKind};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{CaseNo, DeptCode, EventId, ItemCode, RegionCode};
use crate::{Timestamp, ValidationError};

pub(crate) use validate::check_text;

/// Longest free text (reasons, opinions, replies) accepted, in characters.
pub const TEXT_MAX: usize = 2000;
/// The local date of the earliest step accepted: the beginning of the working calendars'
/// and the statistics' history.
pub const EARLIEST_STEP: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
/// Longest short text (names, numbers, codes inside a payload) accepted, in characters.
pub const NAME_MAX: usize = 200;
/// Most entries in a list (materials, fee items, tags) accepted.
pub const LIST_MAX: usize = 200;
/// Largest `n` of a time limit: about ten years of days.
pub const LIMIT_MAX: u32 = 3650;
/// Largest step number within one case.
pub const SEQ_MAX: u32 = 100_000;
/// Largest amount of money one field may carry, in fen: 1 000 000 000 yuan. Bounded so
/// that no sum the model keeps can overflow: a case's tickets, at most [`LIST_MAX`] items
/// on each of at most [`SEQ_MAX`] steps, stay below `i64::MAX`.
pub const FEN_MAX: u64 = 100_000_000_000;

const _: () = assert!(
    FEN_MAX as u128 * LIST_MAX as u128 * SEQ_MAX as u128 <= i64::MAX as u128,
    "the money of one case must fit in an i64"
);

/// The unit of a time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitUnit {
    /// 工作日: office hours of working days (the default for legal and promised limits).
    WorkingDays,
    /// 自然日: calendar days, counted around the clock.
    CalendarDays,
    /// Working hours: office hours, counted by the hour.
    Hours,
}

/// A time limit `{n, unit}` such as "20 working days". `n` is at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Limit {
    n: u32,
    unit: LimitUnit,
}

impl Limit {
    /// A limit of `n` units; `n` must be 1..=3650.
    pub fn new(n: u32, unit: LimitUnit) -> Result<Self, ValidationError> {
        if n == 0 {
            return Err(ValidationError::new("n", "must be > 0"));
        }
        if n > LIMIT_MAX {
            return Err(ValidationError::new(
                "n",
                format!("must be at most {LIMIT_MAX}, got {n}"),
            ));
        }
        Ok(Self { n, unit })
    }

    /// `n` working days.
    pub fn working_days(n: u32) -> Result<Self, ValidationError> {
        Self::new(n, LimitUnit::WorkingDays)
    }

    /// How many units.
    pub fn n(self) -> u32 {
        self.n
    }

    /// Which unit.
    pub fn unit(self) -> LimitUnit {
        self.unit
    }
}

/// Who performed a step at the source system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The source system's id of the person (staff number or account).
    pub id: String,
    /// The person's name.
    pub name: String,
}

/// One step of one case, as reported by a county or department system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    /// The sender's idempotency key.
    pub event_id: EventId,
    /// 办件编号.
    pub case_no: CaseNo,
    /// The step's position within its case at the source, from 1.
    pub seq: u32,
    /// 事项编码.
    pub item_code: ItemCode,
    /// 行政区划代码 of the handling office.
    pub region_code: RegionCode,
    /// 统一社会信用代码 of the handling department.
    pub dept_code: DeptCode,
    /// When the step happened at the source.
    pub occurred_at: Timestamp,
    /// The reporting system.
    pub source_system: String,
    /// The source's version of this record; re-sends carry higher versions.
    pub source_version: u32,
    /// Who performed the step.
    pub actor: Actor,
    /// What happened.
    pub step: Step,
}

/// What one case step did. The variants follow DOMAIN.md's catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// 申办: an application arrived.
    Submitted {
        /// Who applied.
        applicant: Applicant,
        /// How the application arrived (web and mobile count as online).
        channel: Channel,
        /// The materials handed in.
        materials: Vec<Material>,
    },
    /// 受理: the case was accepted; the clock starts.
    Accepted {
        /// How the case is handled (即办, 承诺, 联办, 上报).
        case_type: CaseType,
        /// The statutory limit (法定时限): past it, T3.
        legal_limit: Limit,
        /// The limit promised to the applicant (承诺时限): past it, T2; near it, T1.
        promised_limit: Limit,
        /// Whether the item charges a fee for this case.
        fee_required: bool,
        /// The fee's standard amount, in fen; missing while a fee is required draws C1.
        fee_standard_fen: Option<u64>,
        /// The acceptance notice's number (受理通知书编号); empty draws C1.
        accept_doc_no: String,
    },
    /// 不予受理: the application was refused; terminal. An empty reason is recorded and
    /// draws rule T9 rather than being refused, so that the omission stays visible.
    Rejected {
        /// Why the application was not accepted.
        reason: String,
    },
    /// 补正告知: the applicant was told to supplement materials; pauses the clock after
    /// acceptance.
    CorrectionRequested {
        /// What is wrong with the materials.
        reason: String,
        /// The materials to supplement, all at once (一次性告知).
        materials: Vec<Material>,
    },
    /// 补正受理: the supplemented materials arrived; resumes the clock.
    CorrectionReceived {
        /// The materials supplemented.
        materials: Vec<Material>,
    },
    /// 承办/审核: one review step.
    Reviewed {
        /// The review step's code, which an item's required steps name (P2).
        step_code: String,
        /// Its name, for people.
        step_name: String,
        /// Whether it passed; only a passed review counts as done.
        outcome: ReviewOutcome,
        /// The reviewer's opinion (审核意见).
        opinion: String,
        /// The step's own limit, counted from the previous handling step or the
        /// acceptance (T4).
        step_limit: Option<Limit>,
    },
    /// 批准/决定.
    Decided {
        /// Granted or denied.
        decision: Decision,
        /// Why; required on a denial (T9).
        reason: String,
        /// Signed off at the window (窗口直接签批): exempt from the separation of
        /// acceptance and decision (P3).
        window_direct_signoff: bool,
    },
    /// 特别程序开始: an extension moves the due dates; other procedures pause the clock,
    /// each pause capped at the approved length.
    SpecialProcedureStarted {
        /// The procedure's number, which its end names.
        proc_no: String,
        /// An extension (延长审批), or a procedure whose time is not counted.
        kind: ProcedureKind,
        /// The legal basis invoked.
        basis: String,
        /// Who approved it; an extension without one extends nothing (T7).
        approver: String,
        /// The length approved: an extension's addition, or the cap on the pause.
        approved: Limit,
    },
    /// 特别程序结果: resumes the clock.
    SpecialProcedureEnded {
        /// The number of the procedure ended.
        proc_no: String,
        /// What it found; empty draws T6.
        result: String,
        /// What it cost (a testing fee, say), in fen.
        fee_fen: Option<u64>,
    },
    /// 挂起: pauses the clock.
    Suspended {
        /// Why the case is suspended.
        reason: String,
        /// Working days asked for; past them (or past the legal limit's length when
        /// none), the clock runs again and T6 fires.
        requested_days: Option<u32>,
    },
    /// 解挂: resumes the clock.
    Resumed {
        /// Why handling resumes.
        reason: String,
    },
    /// 收费 (一票制).
    FeeCharged {
        /// The ticket's number.
        ticket_no: String,
        /// Its lines, each under a fee code (F2 checks each against its standard).
        items: Vec<FeeItem>,
        /// Who paid.
        payer: String,
        /// Who collected.
        collector: String,
        /// Collected through the unified ticket (一票制); otherwise F3.
        unified_ticket: bool,
    },
    /// 办结: the clock stops.
    Completed {
        /// How the case ended.
        result: CompletionResult,
        /// The certificate issued, required when the result is one (C1).
        certificate: Option<Certificate>,
        /// The fees charged in total, in fen; unlike the tickets' sum, F2.
        fee_total_fen: u64,
    },
    /// 领取/送达.
    Delivered {
        /// How the result was handed over (collected, posted, …).
        method: String,
        /// Who received it.
        receiver: String,
    },
    /// 撤回: terminal.
    Withdrawn {
        /// Why the applicant withdrew.
        reason: String,
    },
    /// 查询: the applicant looked the case up.
    Queried {
        /// Where the applicant asked.
        channel: Channel,
    },
    /// 申述/投诉: opens a complaint clock.
    Appealed {
        /// The appeal's number, which its resolution names.
        appeal_no: String,
        /// Who complains.
        complainant: String,
        /// Whether it is about the department or a person.
        target: AppealTarget,
        /// What the complaint is.
        reason: String,
        /// Where it was made.
        channel: Channel,
    },
    /// 申述办结: closes that complaint clock.
    AppealResolved {
        /// The number of the appeal resolved.
        appeal_no: String,
        /// How it was resolved.
        outcome: AppealOutcome,
        /// The answer given to the complainant.
        reply: String,
        /// The complainant's satisfaction with the answer, 1 (best) to 5, if asked.
        satisfaction: Option<RatingLevel>,
    },
    /// 好差评: the applicant rated the service.
    Rated {
        /// The rating's number, which its follow-up names.
        rating_no: String,
        /// 1 (very satisfied) to 5 (very dissatisfied); 4 and 5 need a follow-up (K2).
        level: RatingLevel,
        /// The evaluation tags the applicant chose.
        tags: Vec<String>,
        /// The applicant's own words, if any.
        text: Option<String>,
    },
    /// 差评整改回访: the department followed up a poor rating (closes rule K2's clock).
    RatingFollowedUp {
        /// The number of the rating followed up.
        rating_no: String,
        /// What the department did or answered.
        reply: String,
    },
}

/// The applicant (申请人).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    /// A person or an organisation.
    pub kind: ApplicantKind,
    /// The person's or organisation's name.
    pub name: String,
    /// The kind of identity document, e.g. `resident_id`, `credit_code`, `passport`.
    pub id_type: String,
    /// The document's number.
    pub id_no: String,
}

/// Whether the applicant is a person or an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicantKind {
    /// A natural person (自然人).
    Person,
    /// A legal person or other organisation (法人).
    Organisation,
}

/// How an application or a query reached the office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 窗口.
    Window,
    /// 网上.
    Web,
    /// 移动端.
    Mobile,
    /// 邮寄.
    Post,
}

impl Channel {
    /// Web and mobile count as online (网办) in the statistics.
    pub fn is_online(self) -> bool {
        matches!(self, Channel::Web | Channel::Mobile)
    }
}

/// One submitted material (材料).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    /// The material's code in the item's list, possibly empty.
    pub code: String,
    /// Its name.
    pub name: String,
}

/// How a case is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseType {
    /// 即办件: completed on the day of acceptance.
    Immediate,
    /// 承诺件: completed within the promised limit.
    Promised,
    /// 联办件: handled jointly by several departments.
    Joint,
    /// 上报件: forwarded to a higher authority.
    Forwarded,
}

/// The outcome of a review step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// Passed (通过): the step counts as done.
    Pass,
    /// Returned to the previous step (退回).
    Return,
    /// Any other outcome.
    Other,
}

/// The decision on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// 准予.
    Grant,
    /// 不予.
    Deny,
}

/// The kind of a special procedure (特别程序).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureKind {
    /// 延长审批: moves the due dates by the approved length instead of pausing.
    Extension,
    /// 听证: a hearing.
    Hearing,
    /// 现场勘查: an on-site inspection.
    Inspection,
    /// 检验/检测: testing.
    Testing,
    /// 检疫: quarantine.
    Quarantine,
    /// 鉴定: an appraisal.
    Appraisal,
    /// 专家评审: an expert review.
    ExpertReview,
    /// 招标: a tender.
    Tender,
    /// 拍卖: an auction.
    Auction,
    /// Any other procedure whose time the law does not count.
    Other,
}

/// One line of a fee ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeItem {
    /// The fee's code (收费项目编码), which the rule book's standards name.
    pub fee_code: String,
    /// The amount charged, in fen.
    pub amount_fen: u64,
    /// The standard the ticket states, in fen; the rule book's standard wins.
    pub standard_fen: u64,
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletionResult {
    /// 出证: a certificate was issued; the certificate's data is required.
    IssuedCertificate,
    /// 退回.
    Returned,
    /// 作废.
    Voided,
    /// 转报.
    Forwarded,
    /// 办结 without a certificate.
    Completed,
}

/// The certificate (证照) issued on completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The certificate's name (证照名称); required (C1).
    pub name: String,
    /// Its number (证照编号); required (C1).
    pub no: String,
    /// The last day it is valid, if it expires.
    pub valid_to: Option<chrono::NaiveDate>,
    /// Who issued it.
    pub issuer: String,
}

/// Whom an appeal complains about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppealTarget {
    /// The department as a whole.
    Department,
    /// A member of its staff.
    Person,
}

/// How an appeal was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppealOutcome {
    /// The complaint was founded and the matter corrected.
    Upheld,
    /// The complaint was unfounded.
    Dismissed,
    /// Settled by explanation or mediation.
    Explained,
}

/// A rating (好差评) from 1 (very satisfied) to 5 (very dissatisfied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct RatingLevel(u8);

impl RatingLevel {
    /// A level of 1..=5.
    pub fn new(level: u8) -> Result<Self, ValidationError> {
        if (1..=5).contains(&level) {
            Ok(Self(level))
        } else {
            Err(ValidationError::new(
                "",
                format!("must be 1 to 5, got {level}"),
            ))
        }
    }

    /// The level, 1..=5.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for RatingLevel {
    type Error = ValidationError;
    fn try_from(level: u8) -> Result<Self, ValidationError> {
        Self::new(level)
    }
}

impl From<RatingLevel> for u8 {
    fn from(level: RatingLevel) -> u8 {
        level.0
    }
}

impl Step {
    /// The step's name in the catalogue, as used in logs and statistics.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Steps of the handling itself, as opposed to after-care (delivery, queries, appeals,
    /// ratings) that may legitimately follow the end of a case.
    pub fn is_handling(&self) -> bool {
        !matches!(
            self,
            Step::Submitted { .. }
                | Step::Delivered { .. }
                | Step::Queried { .. }
                | Step::Appealed { .. }
                | Step::AppealResolved { .. }
                | Step::Rated { .. }
                | Step::RatingFollowedUp { .. }
                | Step::FeeCharged { .. }
        )
    }
}

impl CaseEvent {
    /// A fingerprint of what the step says, for telling a re-send (same content) from a
    /// conflict (same `(case_no, seq)`, different content). The idempotency key and the
    /// source's record version are left out: re-sends carry new ones.
    pub fn content_fingerprint(&self) -> u64 {
        #[derive(Serialize)]
        struct Content<'a> {
            case_no: &'a CaseNo,
            seq: u32,
            item_code: &'a ItemCode,
            region_code: &'a RegionCode,
            dept_code: &'a DeptCode,
            occurred_at: &'a Timestamp,
            source_system: &'a str,
            actor: &'a Actor,
            step: &'a Step,
        }
        let content = Content {
            case_no: &self.case_no,
            seq: self.seq,
            item_code: &self.item_code,
            region_code: &self.region_code,
            dept_code: &self.dept_code,
            occurred_at: &self.occurred_at,
            source_system: &self.source_system,
            actor: &self.actor,
            step: &self.step,
        };
        let mut hasher = Sha256::new();
        serde_json::to_writer(HashWriter(&mut hasher), &content)
            .expect("serialising plain data into a hasher cannot fail");
        let digest = hasher.finalize();
        u64::from_be_bytes(
            digest[..8]
                .try_into()
                .expect("a SHA-256 digest has 8 bytes"),
        )
    }
}

/// Feeds serialised bytes straight into a hasher, without an intermediate buffer.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
