//! `SupervisionEvent` and `ClockTick`: protobuf ↔ domain.

use casewatch_domain::ValidationError;
use casewatch_domain::access::Principal;
use casewatch_domain::ids::{AlertId, EventId};
use casewatch_domain::supervision::{ClockTick, SupervisionAction, SupervisionEvent};

use crate::convert::{ProtoEnum, enum_field, id_field, required, timestamp_field, timestamp_to_pb};
use crate::pb;
use crate::pb::supervision_event::{self as pb_action, Action as PbAction};

impl TryFrom<pb::SupervisionEvent> for SupervisionEvent {
    type Error = ValidationError;

    /// Parses the ids and enums, then runs the domain's [`SupervisionEvent::validate`].
    /// Errors name the field relative to the event: `issue_notice.feedback_due`.
    fn try_from(event: pb::SupervisionEvent) -> Result<Self, ValidationError> {
        let converted = SupervisionEvent {
            event_id: id_field("event_id", EventId::parse(event.event_id))?,
            alert_id: event
                .alert_id
                .parse::<AlertId>()
                .map_err(|error| ValidationError::new("alert_id", error.to_string()))?,
            principal: principal_from_pb(required("principal", event.principal)?)
                .map_err(|error| error.within("principal"))?,
            action: action_from_pb(required("action", event.action)?)?,
        };
        converted.validate()?;
        Ok(converted)
    }
}

impl From<SupervisionEvent> for pb::SupervisionEvent {
    fn from(event: SupervisionEvent) -> Self {
        pb::SupervisionEvent {
            event_id: event.event_id.into(),
            alert_id: event.alert_id.into(),
            principal: Some(pb::Principal::from(&event.principal)),
            action: Some(action_to_pb(event.action)),
        }
    }
}

impl From<&Principal> for pb::Principal {
    fn from(principal: &Principal) -> Self {
        pb::Principal {
            id: principal.id.clone(),
            name: principal.name.clone(),
            role: principal.role.to_pb(),
        }
    }
}

fn principal_from_pb(principal: pb::Principal) -> Result<Principal, ValidationError> {
    Ok(Principal {
        id: principal.id,
        name: principal.name,
        role: enum_field("role", principal.role)?,
    })
}

/// The name of the `action` oneof's field that is set, the prefix of error paths.
fn pb_action_name(action: &PbAction) -> &'static str {
    match action {
        PbAction::Acknowledge(_) => "acknowledge",
        PbAction::IssueNotice(_) => "issue_notice",
        PbAction::SubmitFeedback(_) => "submit_feedback",
        PbAction::Appeal(_) => "appeal",
        PbAction::DecideAppeal(_) => "decide_appeal",
        PbAction::Escalate(_) => "escalate",
        PbAction::Revoke(_) => "revoke",
        PbAction::Close(_) => "close",
    }
}

fn action_from_pb(action: PbAction) -> Result<SupervisionAction, ValidationError> {
    let name = pb_action_name(&action);
    let converted = match action {
        PbAction::Acknowledge(action) => Ok(SupervisionAction::Acknowledge { note: action.note }),
        PbAction::IssueNotice(action) => {
            timestamp_field("feedback_due", action.feedback_due).map(|feedback_due| {
                SupervisionAction::IssueNotice {
                    content: action.content,
                    feedback_due,
                }
            })
        }
        PbAction::SubmitFeedback(action) => {
            Ok(SupervisionAction::SubmitFeedback { text: action.text })
        }
        PbAction::Appeal(action) => Ok(SupervisionAction::Appeal {
            reason: action.reason,
        }),
        PbAction::DecideAppeal(action) => enum_field("decision", action.decision).map(|decision| {
            SupervisionAction::DecideAppeal {
                decision,
                reason: action.reason,
            }
        }),
        PbAction::Escalate(action) => Ok(SupervisionAction::Escalate {
            reason: action.reason,
        }),
        PbAction::Revoke(action) => Ok(SupervisionAction::Revoke {
            reason: action.reason,
        }),
        PbAction::Close(action) => Ok(SupervisionAction::Close { note: action.note }),
    };
    converted.map_err(|error| error.within(name))
}

fn action_to_pb(action: SupervisionAction) -> PbAction {
    match action {
        SupervisionAction::Acknowledge { note } => {
            PbAction::Acknowledge(pb_action::Acknowledge { note })
        }
        SupervisionAction::IssueNotice {
            content,
            feedback_due,
        } => PbAction::IssueNotice(pb_action::IssueNotice {
            content,
            feedback_due: Some(timestamp_to_pb(feedback_due)),
        }),
        SupervisionAction::SubmitFeedback { text } => {
            PbAction::SubmitFeedback(pb_action::SubmitFeedback { text })
        }
        SupervisionAction::Appeal { reason } => PbAction::Appeal(pb_action::Appeal { reason }),
        SupervisionAction::DecideAppeal { decision, reason } => {
            PbAction::DecideAppeal(pb_action::DecideAppeal {
                decision: decision.to_pb(),
                reason,
            })
        }
        SupervisionAction::Escalate { reason } => {
            PbAction::Escalate(pb_action::Escalate { reason })
        }
        SupervisionAction::Revoke { reason } => PbAction::Revoke(pb_action::Revoke { reason }),
        SupervisionAction::Close { note } => PbAction::Close(pb_action::Close { note }),
    }
}

/// `ActOnAlert` carries the same action messages as the log's `SupervisionEvent`; the
/// server builds the event from the request and the authenticated principal.
impl From<pb::act_on_alert_request::Action> for PbAction {
    fn from(action: pb::act_on_alert_request::Action) -> Self {
        use pb::act_on_alert_request::Action as Request;
        match action {
            Request::Acknowledge(action) => PbAction::Acknowledge(action),
            Request::IssueNotice(action) => PbAction::IssueNotice(action),
            Request::SubmitFeedback(action) => PbAction::SubmitFeedback(action),
            Request::Appeal(action) => PbAction::Appeal(action),
            Request::DecideAppeal(action) => PbAction::DecideAppeal(action),
            Request::Escalate(action) => PbAction::Escalate(action),
            Request::Revoke(action) => PbAction::Revoke(action),
            Request::Close(action) => PbAction::Close(action),
        }
    }
}

impl TryFrom<pb::ClockTick> for ClockTick {
    type Error = ValidationError;

    /// The tick's `source` is informational and not part of the domain: it is dropped.
    fn try_from(tick: pb::ClockTick) -> Result<Self, ValidationError> {
        Ok(ClockTick {
            at: timestamp_field("at", tick.at)?,
        })
    }
}

impl From<ClockTick> for pb::ClockTick {
    /// Leaves `source` empty; the server that appends the tick names itself.
    fn from(tick: ClockTick) -> Self {
        pb::ClockTick {
            at: Some(timestamp_to_pb(tick.at)),
            source: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> pb::SupervisionEvent {
        pb::SupervisionEvent {
            event_id: "act-1".into(),
            alert_id: "HZ/2026/0001/T2/1".into(),
            principal: Some(pb::Principal {
                id: "monitor-hz".into(),
                name: "李明".into(),
                role: pb::Role::Monitor.into(),
            }),
            action: Some(PbAction::IssueNotice(pb_action::IssueNotice {
                content: "三个工作日内回告".into(),
                feedback_due: Some(prost_types::Timestamp {
                    seconds: 1_767_225_600,
                    nanos: 0,
                }),
            })),
        }
    }

    fn error(event: pb::SupervisionEvent) -> String {
        SupervisionEvent::try_from(event)
            .expect_err("the event is invalid")
            .to_string()
    }

    #[test]
    fn a_valid_event_converts() {
        let event = SupervisionEvent::try_from(notice()).expect("valid event");
        assert_eq!(event.alert_id.to_string(), "HZ/2026/0001/T2/1");
    }

    #[test]
    fn errors_name_the_field() {
        let event = pb::SupervisionEvent {
            alert_id: "HZ/2026/0001/X9/1".into(),
            ..notice()
        };
        assert_eq!(error(event), "alert_id: unknown rule `X9`");
        let event = pb::SupervisionEvent {
            action: Some(PbAction::IssueNotice(pb_action::IssueNotice {
                content: "回告".into(),
                feedback_due: None,
            })),
            ..notice()
        };
        assert_eq!(error(event), "issue_notice.feedback_due: required");
        let event = pb::SupervisionEvent {
            principal: Some(pb::Principal {
                id: "monitor-hz".into(),
                name: String::new(),
                role: 0,
            }),
            ..notice()
        };
        assert_eq!(error(event), "principal.role: must be specified");
        let event = pb::SupervisionEvent {
            action: Some(PbAction::Revoke(pb_action::Revoke {
                reason: String::new(),
            })),
            ..notice()
        };
        assert_eq!(error(event), "revoke.reason: must not be empty");
        let event = pb::SupervisionEvent {
            action: None,
            ..notice()
        };
        assert_eq!(error(event), "action: required");
    }

    #[test]
    fn ticks_need_a_time() {
        let error = ClockTick::try_from(pb::ClockTick {
            at: None,
            source: "node-1".into(),
        })
        .expect_err("no time");
        assert_eq!(error.to_string(), "at: required");
    }

    #[test]
    fn requests_carry_the_log_s_actions() {
        let request = pb::act_on_alert_request::Action::Close(pb_action::Close {
            note: "已整改".into(),
        });
        assert_eq!(
            PbAction::from(request),
            PbAction::Close(pb_action::Close {
                note: "已整改".into()
            })
        );
    }
}
