//! Alerts (预警 and 红黄牌) and their lifecycle over supervision actions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::{CaseNo, DeptCode, EventId, ItemCode, RegionCode};
use crate::supervision::{ActionKind, AppealDecision, Principal, Role, SupervisionAction};

/// How serious an alert is. Ordered: a warning is below a yellow card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 预警.
    Warning,
    /// 黄牌.
    Yellow,
    /// 红牌.
    Red,
    /// 严重违规.
    Serious,
}

impl Level {
    /// The next level up, or `None` at the top.
    pub fn raised(self) -> Option<Level> {
        match self {
            Level::Warning => Some(Level::Yellow),
            Level::Yellow => Some(Level::Red),
            Level::Red => Some(Level::Serious),
            Level::Serious => None,
        }
    }

    /// Whether an alert of this level is a card (黄牌 or worse) rather than a warning.
    pub fn is_card(self) -> bool {
        self >= Level::Yellow
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 时效.
    Time,
    /// 流程.
    Procedure,
    /// 内容.
    Content,
    /// 收费.
    Fee,
    /// 廉政.
    Integrity,
    /// 投诉.
    Complaint,
    /// 督办: the follow-up of other alerts.
    Supervision,
}

macro_rules! rules {
    ($($(#[$doc:meta])* $id:ident => $category:ident, $level:ident;)*) => {
        /// The supervision rules of DOMAIN.md.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum RuleId {
            $($(#[$doc])* $id,)*
        }

        impl RuleId {
            /// Every rule, in catalogue order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$id,)*];

            /// The rule's code, e.g. `T2`.
            pub fn code(self) -> &'static str {
                match self {
                    $(RuleId::$id => stringify!($id),)*
                }
            }

            /// The category of the alerts the rule raises.
            pub fn category(self) -> Category {
                match self {
                    $(RuleId::$id => Category::$category,)*
                }
            }

            /// The level of the alerts the rule raises.
            pub fn level(self) -> Level {
                match self {
                    $(RuleId::$id => Level::$level,)*
                }
            }
        }

    };
}

rules! {
    /// 临近到期: an open case with ≤ 2 promised working days left (≤ 1 when the limit is ≤ 5).
    T1 => Time, Warning;
    /// 超承诺时限: used time beyond the promised limit.
    T2 => Time, Yellow;
    /// 超法定时限: used time beyond the legal limit; also a yellow card past its feedback
    /// due date turning red.
    T3 => Time, Red;
    /// 环节超时: one step over its own limit while the case is still in time.
    T4 => Time, Warning;
    /// 即办件未当日办结: an immediate case not completed on its acceptance day.
    T5 => Time, Yellow;
    /// 特别程序超时: a special procedure open past its approved length, or ended without a
    /// result; also a suspension (挂起) past its requested days, or past the legal limit's
    /// length when none were requested.
    T6 => Time, Yellow;
    /// 延期不当: an extension too long, more than one extension, or one without an approver.
    T7 => Procedure, Yellow;
    /// 补正不当: a correction notice after 5 working days, or more than one (一次性告知).
    T8 => Procedure, Yellow;
    /// 无理由不予受理/不予许可: a rejection or denial without a reason.
    T9 => Procedure, Yellow;
    /// 程序倒置: decision or completion before acceptance, a step after a terminal step, or a
    /// step dated before the previous one.
    P1 => Procedure, Red;
    /// 缺少必经环节: a step the item requires missing at completion.
    P2 => Procedure, Yellow;
    /// 受审不分离: the same person accepts and decides where the item requires separation.
    P3 => Integrity, Warning;
    /// 挂起期间办理: activity while suspended, or completion while a special procedure is open.
    P4 => Procedure, Yellow;
    /// 违规收费: a fee charged on an item that charges none.
    F1 => Fee, Red;
    /// 超标收费: an amount above its standard, or a completion total unlike the tickets' sum.
    F2 => Fee, Red;
    /// 未执行一票制: a fee collected outside the unified ticket.
    F3 => Fee, Yellow;
    /// 内容缺失: required content missing, or a promised limit above the legal limit.
    C1 => Content, Warning;
    /// 迟报/补录: a step reported more than 1 working day after it happened.
    C2 => Content, Warning;
    /// 数据篡改: the same (case, seq) re-sent with different content.
    C3 => Content, Red;
    /// 数据缺失: a gap in a case's step numbers still open after the grace period.
    C4 => Content, Warning;
    /// 记录不可读: a record of this case on the log could not be read (undecodable,
    /// invalid, or not keyed by its case); it is quarantined.
    C5 => Content, Red;
    /// 投诉未答复: an appeal not accepted within 5 working days (yellow), not answered
    /// within 10 (red).
    K1 => Complaint, Yellow;
    /// 差评未整改: a rating of 4–5 not followed up within 5 working days.
    K2 => Complaint, Yellow;
    /// 督办超期: no feedback by a notice's due date; the alert goes up one level.
    A1 => Supervision, Yellow;
}

impl RuleId {
    /// Whether the rule reports a fault of the system rather than of a department (C5: a
    /// record Casewatch could not read). Its alerts are for operators and auditors: they
    /// count in no department's statistics and light no case.
    pub fn is_system(self) -> bool {
        self == RuleId::C5
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for RuleId {
    type Err = AlertIdError;
    fn from_str(code: &str) -> Result<Self, AlertIdError> {
        RuleId::ALL
            .iter()
            .copied()
            .find(|rule| rule.code() == code)
            .ok_or_else(|| AlertIdError(format!("unknown rule `{code}`")))
    }
}

/// Why a text is not an alert id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AlertIdError(String);

/// An alert's id: the case, the rule and the how-many-th time the rule fired on the case.
/// Deterministic, so supervision actions point at the same alert after a rebuild. Written
/// `{case_no}/{rule}/{occurrence}`, e.g. `HZ-2026-0001/T2/1`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AlertId {
    pub case_no: CaseNo,
    pub rule: RuleId,
    pub occurrence: u32,
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.case_no, self.rule, self.occurrence)
    }
}

impl fmt::Debug for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlertId({self})")
    }
}

impl FromStr for AlertId {
    type Err = AlertIdError;
    fn from_str(text: &str) -> Result<Self, AlertIdError> {
        // The case number may itself contain `/`, so split from the right.
        let mut parts = text.rsplitn(3, '/');
        let (Some(occurrence), Some(rule), Some(case_no)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(AlertIdError(format!(
                "`{text}` is not of the form case_no/rule/occurrence"
            )));
        };
        let occurrence = occurrence
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                AlertIdError(format!(
                    "occurrence `{occurrence}` is not a positive number"
                ))
            })?;
        let case_no = CaseNo::parse(case_no)
            .map_err(|error| AlertIdError(format!("case number `{case_no}`: {error}")))?;
        Ok(AlertId {
            case_no,
            rule: rule.parse()?,
            occurrence,
        })
    }
}

impl TryFrom<String> for AlertId {
    type Error = AlertIdError;
    fn try_from(text: String) -> Result<Self, AlertIdError> {
        text.parse()
    }
}

impl From<AlertId> for String {
    fn from(id: AlertId) -> String {
        id.to_string()
    }
}

/// Where an alert stands in its lifecycle (DOMAIN.md "Supervision events").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Raised by a rule; nobody has acted yet.
    Raised,
    /// 签收: seen by staff or the department.
    Acknowledged,
    /// 督办: a supervision notice awaits the department's feedback.
    UnderNotice,
    /// 回告: the department answered the notice.
    FeedbackReceived,
    /// 办结: supervision closed the alert.
    Closed,
    /// 申诉: the department contests the alert.
    Appealed,
    /// The appeal went to the level above for decision.
    AppealEscalated,
    /// 撤销: the appeal was upheld; the card does not count as valid.
    Revoked,
    /// 打回: the appeal was refused; the alert stands and stays open.
    Returned,
    /// The condition cleared by itself (a warned case completed in time).
    Resolved,
}

impl AlertState {
    /// Whether the alert still needs attention.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            AlertState::Closed | AlertState::Revoked | AlertState::Resolved
        )
    }
}

/// The unit of a measured value or threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantityUnit {
    WorkingDays,
    CalendarDays,
    Hours,
    /// Whole days between two dates.
    Days,
    /// Money, in fen (分).
    Fen,
    /// A count of things (notices, extensions, missing fields, steps).
    Count,
    /// A step number within the case.
    Seq,
    /// A rating level, 1..=5.
    Rating,
}

/// A value with its unit: what a rule measured, or the threshold it compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quantity {
    pub value: i64,
    pub unit: QuantityUnit,
}

impl Quantity {
    pub fn new(value: i64, unit: QuantityUnit) -> Self {
        Self { value, unit }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            QuantityUnit::WorkingDays => "working days",
            QuantityUnit::CalendarDays => "calendar days",
            QuantityUnit::Hours => "working hours",
            QuantityUnit::Days => "days",
            QuantityUnit::Fen => "fen",
            QuantityUnit::Count => "",
            QuantityUnit::Seq => "seq",
            QuantityUnit::Rating => "rating",
        };
        match self.unit {
            QuantityUnit::Seq | QuantityUnit::Rating => write!(f, "{unit} {}", self.value),
            QuantityUnit::Count => write!(f, "{}", self.value),
            _ => write!(f, "{} {unit}", self.value),
        }
    }
}

/// A supervision notice (督办) on an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub content: String,
    pub issued_at: Timestamp,
    pub issued_by: String,
    pub feedback_due: Timestamp,
    /// Whether the notice's missed due date already raised the alert a level (once per
    /// notice).
    pub overdue_escalated: bool,
}

/// One alert raised on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: AlertId,
    pub category: Category,
    pub level: Level,
    pub state: AlertState,
    pub region_code: RegionCode,
    pub dept_code: DeptCode,
    pub item_code: ItemCode,
    /// What the rule measured (used time, amount, count).
    pub measured: Quantity,
    /// What it compared against.
    pub threshold: Quantity,
    /// What the alert is about within its case (a procedure, appeal, rating, fee code or
    /// step number); empty when it is about the case as a whole. A rule fires once per
    /// subject.
    pub subject: String,
    /// A short human explanation of this occurrence.
    pub detail: String,
    /// The case step that triggered the alert, when a step did.
    pub seq: Option<u32>,
    /// The version of the rule book that raised it.
    pub rules_version: u32,
    pub raised_at: Timestamp,
    pub updated_at: Timestamp,
    pub notice: Option<Notice>,
    /// Whether the department already appealed once (an alert takes one appeal).
    pub appealed: bool,
    /// When the alert became a card (raised as one, or escalated from a warning): the
    /// day its card is counted on, and the day a revoke of it is counted against.
    #[serde(default)]
    pub carded_at: Option<Timestamp>,
    /// The `event_id`s of the supervision actions applied to it, in order: a re-sent
    /// action is recognised and applied once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<EventId>,
}

impl Alert {
    /// The rule that raised the alert.
    pub fn rule(&self) -> RuleId {
        self.id.rule
    }
}

/// What moved an alert from one state or level to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// A rule raised the alert.
    Raised,
    /// A person acted on it.
    Action {
        action: ActionKind,
        principal: Principal,
    },
    /// The condition cleared by itself.
    AutoResolved,
    /// Time passed a threshold and a rule raised the level (K1, T3 or A1).
    Escalated { rule: RuleId },
}

/// One change of one alert, as the views and subscribers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertChange {
    /// The alert after the change.
    pub alert: Alert,
    /// The state and level before the change (`None` when the change raised the alert).
    pub previous: Option<(AlertState, Level)>,
    pub cause: Cause,
    pub at: Timestamp,
}

/// Why a supervision action was refused. The action stays on the log as history; the
/// views record the refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("alert `{0}` does not exist")]
    UnknownAlert(AlertId),
    #[error("a {role} may not {action} an alert")]
    NotPermitted { role: Role, action: ActionKind },
    #[error("cannot {action} an alert that is {state:?}")]
    InvalidState {
        action: ActionKind,
        state: AlertState,
    },
    #[error("the alert is already at the highest level")]
    AtTopLevel,
    #[error("the alert was already appealed once")]
    AlreadyAppealed,
    #[error("the feedback due date must be after the notice")]
    DueBeforeNotice,
    /// The same action was applied before: a re-send is applied once.
    #[error("action `{0}` was already applied to this alert")]
    AlreadyApplied(EventId),
}

impl Alert {
    /// Applies a person's action, returning the change, or why it is refused.
    pub fn act(
        &mut self,
        action: &SupervisionAction,
        principal: &Principal,
        at: Timestamp,
    ) -> Result<AlertChange, LifecycleError> {
        use AlertState as S;
        let name = action.kind();
        let allowed = match action {
            SupervisionAction::Acknowledge { .. } => {
                matches!(
                    principal.role,
                    Role::Monitor | Role::Department | Role::Admin
                )
            }
            SupervisionAction::SubmitFeedback { .. } | SupervisionAction::Appeal { .. } => {
                matches!(principal.role, Role::Department | Role::Admin)
            }
            SupervisionAction::IssueNotice { .. }
            | SupervisionAction::DecideAppeal { .. }
            | SupervisionAction::Escalate { .. }
            | SupervisionAction::Revoke { .. }
            | SupervisionAction::Close { .. } => {
                matches!(principal.role, Role::Monitor | Role::Admin)
            }
        };
        if !allowed {
            return Err(LifecycleError::NotPermitted {
                role: principal.role,
                action: name,
            });
        }
        let invalid = || LifecycleError::InvalidState {
            action: name,
            state: self.state,
        };
        if !self.state.is_open() {
            return Err(invalid());
        }
        // An alert's history never runs back, even when a late-reported step resolves it.
        let at = at.max(self.updated_at);
        let previous = (self.state, self.level);
        match action {
            SupervisionAction::Acknowledge { .. } => {
                if self.state != S::Raised {
                    return Err(invalid());
                }
                self.state = S::Acknowledged;
            }
            SupervisionAction::IssueNotice {
                content,
                feedback_due,
            } => {
                if !matches!(
                    self.state,
                    S::Raised | S::Acknowledged | S::FeedbackReceived | S::Returned
                ) {
                    return Err(invalid());
                }
                if *feedback_due <= at {
                    return Err(LifecycleError::DueBeforeNotice);
                }
                self.notice = Some(Notice {
                    content: content.clone(),
                    issued_at: at,
                    issued_by: principal.id.clone(),
                    feedback_due: *feedback_due,
                    overdue_escalated: false,
                });
                self.state = S::UnderNotice;
            }
            SupervisionAction::SubmitFeedback { .. } => {
                let noticed = self.state == S::UnderNotice
                    || (self.state == S::Returned && self.notice.is_some());
                if !noticed {
                    return Err(invalid());
                }
                self.state = S::FeedbackReceived;
            }
            SupervisionAction::Appeal { .. } => {
                if self.appealed {
                    return Err(LifecycleError::AlreadyAppealed);
                }
                if matches!(self.state, S::Appealed | S::AppealEscalated) {
                    return Err(invalid());
                }
                self.appealed = true;
                self.state = S::Appealed;
            }
            SupervisionAction::DecideAppeal { decision, .. } => {
                self.state = match (self.state, decision) {
                    (S::Appealed | S::AppealEscalated, AppealDecision::Revoke) => S::Revoked,
                    (S::Appealed | S::AppealEscalated, AppealDecision::Return) => S::Returned,
                    (S::Appealed, AppealDecision::Escalate) => S::AppealEscalated,
                    _ => return Err(invalid()),
                };
            }
            SupervisionAction::Escalate { .. } => {
                self.level = self.level.raised().ok_or(LifecycleError::AtTopLevel)?;
            }
            SupervisionAction::Revoke { .. } => self.state = S::Revoked,
            SupervisionAction::Close { .. } => self.state = S::Closed,
        }
        self.updated_at = at;
        Ok(AlertChange {
            alert: self.clone(),
            previous: Some(previous),
            cause: Cause::Action {
                action: name,
                principal: principal.clone(),
            },
            at,
        })
    }

    /// Resolves the alert because its condition cleared; `None` if it is no longer open.
    pub(crate) fn resolve(&mut self, at: Timestamp) -> Option<AlertChange> {
        if !self.state.is_open() {
            return None;
        }
        let at = at.max(self.updated_at);
        let previous = (self.state, self.level);
        self.state = AlertState::Resolved;
        self.updated_at = at;
        Some(AlertChange {
            alert: self.clone(),
            previous: Some(previous),
            cause: Cause::AutoResolved,
            at,
        })
    }

    /// Raises the alert to `level` because `rule` says time ran out; `None` if it is closed
    /// or already there.
    /// Raises the alert to `level` because `rule` says so; `measurement` is what the rule
    /// measured and the threshold it passed for this level, where it measures one (the
    /// raise's measurement no longer explains the new level).
    pub(crate) fn escalate_to(
        &mut self,
        level: Level,
        rule: RuleId,
        at: Timestamp,
        measurement: Option<(Quantity, Quantity)>,
    ) -> Option<AlertChange> {
        if !self.state.is_open() || self.level >= level {
            return None;
        }
        let at = at.max(self.updated_at);
        let previous = (self.state, self.level);
        if let Some((measured, threshold)) = measurement {
            self.measured = measured;
            self.threshold = threshold;
        }
        self.level = level;
        self.updated_at = at;
        Some(AlertChange {
            alert: self.clone(),
            previous: Some(previous),
            cause: Cause::Escalated { rule },
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_round_trip_even_with_slashes_in_the_case_number() {
        let id: AlertId = "HZ/2026/0001/T2/3".parse().expect("valid id");
        assert_eq!(id.case_no.as_str(), "HZ/2026/0001");
        assert_eq!(id.rule, RuleId::T2);
        assert_eq!(id.occurrence, 3);
        assert_eq!(id.to_string(), "HZ/2026/0001/T2/3");
        assert!("HZ/X9/1".parse::<AlertId>().is_err());
        assert!("HZ/T2/0".parse::<AlertId>().is_err());
        assert!("T2/1".parse::<AlertId>().is_err());
    }

    #[test]
    fn rules_have_the_catalogue_levels() {
        assert_eq!(RuleId::ALL.len(), 24);
        assert_eq!(RuleId::T3.level(), Level::Red);
        assert_eq!(
            (RuleId::C5.category(), RuleId::C5.level()),
            (Category::Content, Level::Red)
        );
        assert_eq!(RuleId::P3.category(), Category::Integrity);
        assert!(Level::Warning < Level::Yellow && Level::Red < Level::Serious);
    }
}
