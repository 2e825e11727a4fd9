//! Supervision events: what staff and departments do about an alert. They are history too,
//! so they travel on the log like case steps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::access::Principal;
use crate::event::{NAME_MAX, TEXT_MAX, check_text};
use crate::ids::{AlertId, EventId};
use crate::{Timestamp, ValidationError};

/// How a monitor decides a department's appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppealDecision {
    /// 撤销: the card is withdrawn and counted apart from valid ones.
    Revoke,
    /// 打回: the appeal is refused; the alert stands.
    Return,
    /// 上报: the appeal goes to the level above.
    Escalate,
}

/// What a person does about an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SupervisionAction {
    /// 签收.
    Acknowledge {
        /// A remark, possibly empty.
        note: String,
    },
    /// 督办: a notice with the date by which the department must answer.
    IssueNotice {
        /// What the department is told to do.
        content: String,
        /// When its feedback (回告) is due; past it, the alert goes up a level (A1).
        feedback_due: Timestamp,
    },
    /// 回告: the department's answer to a notice.
    SubmitFeedback {
        /// The answer.
        text: String,
    },
    /// 申诉: the department contests the alert.
    Appeal {
        /// Why the department holds the alert wrong.
        reason: String,
    },
    /// The decision on an appeal.
    DecideAppeal {
        /// Revoke, return or escalate.
        decision: AppealDecision,
        /// Why.
        reason: String,
    },
    /// Raises the alert one level.
    Escalate {
        /// Why.
        reason: String,
    },
    /// 撤销 without an appeal (raised in error).
    Revoke {
        /// Why the alert was raised in error.
        reason: String,
    },
    /// 办结: supervision is satisfied.
    Close {
        /// A remark, possibly empty.
        note: String,
    },
}

/// The kind of a supervision action, without its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// [`SupervisionAction::Acknowledge`] (签收).
    Acknowledge,
    /// [`SupervisionAction::IssueNotice`] (督办).
    IssueNotice,
    /// [`SupervisionAction::SubmitFeedback`] (回告).
    SubmitFeedback,
    /// [`SupervisionAction::Appeal`] (申诉).
    Appeal,
    /// [`SupervisionAction::DecideAppeal`].
    DecideAppeal,
    /// [`SupervisionAction::Escalate`].
    Escalate,
    /// [`SupervisionAction::Revoke`] (撤销).
    Revoke,
    /// [`SupervisionAction::Close`] (办结).
    Close,
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionKind::Acknowledge => "acknowledge",
            ActionKind::IssueNotice => "issue a notice on",
            ActionKind::SubmitFeedback => "submit feedback on",
            ActionKind::Appeal => "appeal",
            ActionKind::DecideAppeal => "decide the appeal of",
            ActionKind::Escalate => "escalate",
            ActionKind::Revoke => "revoke",
            ActionKind::Close => "close",
        })
    }
}

impl SupervisionAction {
    /// The kind of action.
    pub fn kind(&self) -> ActionKind {
        match self {
            SupervisionAction::Acknowledge { .. } => ActionKind::Acknowledge,
            SupervisionAction::IssueNotice { .. } => ActionKind::IssueNotice,
            SupervisionAction::SubmitFeedback { .. } => ActionKind::SubmitFeedback,
            SupervisionAction::Appeal { .. } => ActionKind::Appeal,
            SupervisionAction::DecideAppeal { .. } => ActionKind::DecideAppeal,
            SupervisionAction::Escalate { .. } => ActionKind::Escalate,
            SupervisionAction::Revoke { .. } => ActionKind::Revoke,
            SupervisionAction::Close { .. } => ActionKind::Close,
        }
    }
}

/// A person's action on one alert, as recorded on the log (keyed by the alert's case, so it
/// lands in the case's partition after the steps that raised the alert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisionEvent {
    /// The caller's idempotency key.
    pub event_id: EventId,
    /// The alert acted on; its case number keys the record.
    pub alert_id: AlertId,
    /// Who acted.
    pub principal: Principal,
    /// What they did.
    pub action: SupervisionAction,
}

impl SupervisionEvent {
    /// Checks text lengths and required texts; errors name the field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_text("principal.id", &self.principal.id, NAME_MAX, true)?;
        check_text("principal.name", &self.principal.name, NAME_MAX, false)?;
        match &self.action {
            SupervisionAction::Acknowledge { note } => {
                check_text("acknowledge.note", note, TEXT_MAX, false)
            }
            SupervisionAction::IssueNotice { content, .. } => {
                check_text("issue_notice.content", content, TEXT_MAX, true)
            }
            SupervisionAction::SubmitFeedback { text } => {
                check_text("submit_feedback.text", text, TEXT_MAX, true)
            }
            SupervisionAction::Appeal { reason } => {
                check_text("appeal.reason", reason, TEXT_MAX, true)
            }
            SupervisionAction::DecideAppeal { reason, .. } => {
                check_text("decide_appeal.reason", reason, TEXT_MAX, true)
            }
            SupervisionAction::Escalate { reason } => {
                check_text("escalate.reason", reason, TEXT_MAX, true)
            }
            SupervisionAction::Revoke { reason } => {
                check_text("revoke.reason", reason, TEXT_MAX, true)
            }
            SupervisionAction::Close { note } => check_text("close.note", note, TEXT_MAX, false),
        }
    }
}

/// The passing of time on one partition of the log. The projector never reads the wall
/// clock: "now" is the newest tick or record time it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockTick {
    /// The partition's time from now on (it never runs back).
    pub at: Timestamp,
}
