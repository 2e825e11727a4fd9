//! Alerts (预警 and 红黄牌) and their lifecycle over supervision actions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::access::{Principal, Role};
use crate::catalogue::{Category, Level, RuleId};
use crate::ids::{AlertId, DeptCode, EventId, ItemCode, RegionCode};
use crate::supervision::{ActionKind, AppealDecision, SupervisionAction};

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
    /// Working days, rounded up.
    WorkingDays,
    /// Calendar days, rounded up.
    CalendarDays,
    /// Hours of office time.
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
    /// The number, in `unit`.
    pub value: i64,
    /// What the number counts.
    pub unit: QuantityUnit,
}

impl Quantity {
    /// `value` counted in `unit`.
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
    /// What the department is told to do.
    pub content: String,
    /// When the notice was issued.
    pub issued_at: Timestamp,
    /// The principal id of the monitor who issued it.
    pub issued_by: String,
    /// When the department's feedback (回告) is due.
    pub feedback_due: Timestamp,
    /// Whether the notice's missed due date already raised the alert a level (once per
    /// notice).
    pub overdue_escalated: bool,
}

/// The calendar version of an alert stored before alerts recorded theirs.
fn shipped_calendar() -> u32 {
    1
}

/// One alert raised on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The case, rule and occurrence that name the alert.
    pub id: AlertId,
    /// What the alert is about, from its rule.
    pub category: Category,
    /// How serious it is now: its rule's level, or higher once escalated.
    pub level: Level,
    /// Where it stands in its lifecycle.
    pub state: AlertState,
    /// The region of the case's office.
    pub region_code: RegionCode,
    /// The department answering for the case.
    pub dept_code: DeptCode,
    /// The case's item (事项).
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
    /// The version of the calendar that timed its case when it was raised (alerts stored
    /// before versions were recorded were timed by the shipped one, 1).
    #[serde(default = "shipped_calendar")]
    pub calendar_version: u32,
    /// When the rule raised it (the case's time then).
    pub raised_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The latest supervision notice (督办) on it, if any.
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
        /// What they did.
        action: ActionKind,
        /// Who acted.
        principal: Principal,
    },
    /// The condition cleared by itself.
    AutoResolved,
    /// Time passed a threshold and a rule raised the level (K1, T3 or A1).
    Escalated {
        /// The rule whose threshold was passed.
        rule: RuleId,
    },
}

/// One change of one alert, as the views and subscribers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertChange {
    /// The alert after the change.
    pub alert: Alert,
    /// The state and level before the change (`None` when the change raised the alert).
    pub previous: Option<(AlertState, Level)>,
    /// What made the change.
    pub cause: Cause,
    /// When it happened.
    pub at: Timestamp,
}

/// Why a supervision action was refused. The action stays on the log as history; the
/// views record the refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// No alert of the case has this id.
    #[error("alert `{0}` does not exist")]
    UnknownAlert(AlertId),
    /// The principal's role may not take this action (a department may not close).
    #[error("a {role} may not {action} an alert")]
    NotPermitted {
        /// The principal's role.
        role: Role,
        /// The action refused.
        action: ActionKind,
    },
    /// The action does not apply in the alert's state (feedback with no notice open).
    #[error("cannot {action} an alert that is {state:?}")]
    InvalidState {
        /// The action refused.
        action: ActionKind,
        /// The alert's state.
        state: AlertState,
    },
    /// An escalation of an alert already serious (严重违规).
    #[error("the alert is already at the highest level")]
    AtTopLevel,
    /// A second appeal: an alert takes one.
    #[error("the alert was already appealed once")]
    AlreadyAppealed,
    /// A notice whose feedback is due no later than it is issued.
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
