//! `CaseEvent`: protobuf ↔ domain.

use casewatch_domain::ValidationError;
use casewatch_domain::event::{
    Actor, Applicant, CaseEvent, Certificate, FeeItem, Material, RatingLevel, Step,
};
use casewatch_domain::ids::{CaseNo, DeptCode, EventId, ItemCode, RegionCode};

use crate::convert::{
    ProtoEnum, date_from_pb, date_to_pb, enum_field, id_field, limit_field, optional_limit_field,
    rating_field, required, timestamp_field, timestamp_to_pb,
};
use crate::pb;
use crate::pb::case_event::{self as pb_step, Step as PbStep};

impl TryFrom<pb::CaseEvent> for CaseEvent {
    type Error = ValidationError;

    /// Parses the identifiers and enums, then runs the domain's [`CaseEvent::validate`].
    /// Errors name the field relative to the event: `accepted.promised_limit.n`.
    fn try_from(event: pb::CaseEvent) -> Result<Self, ValidationError> {
        let converted = CaseEvent {
            event_id: id_field("event_id", EventId::parse(event.event_id))?,
            case_no: id_field("case_no", CaseNo::parse(event.case_no))?,
            seq: event.seq,
            item_code: id_field("item_code", ItemCode::parse(event.item_code))?,
            region_code: id_field("region_code", RegionCode::parse(event.region_code))?,
            dept_code: id_field("dept_code", DeptCode::parse(event.dept_code))?,
            occurred_at: timestamp_field("occurred_at", event.occurred_at)?,
            source_system: event.source_system,
            source_version: event.source_version,
            actor: required("actor", event.actor).map(|actor| Actor {
                id: actor.id,
                name: actor.name,
            })?,
            step: step_from_pb(required("step", event.step)?)?,
        };
        converted.validate()?;
        Ok(converted)
    }
}

impl From<CaseEvent> for pb::CaseEvent {
    fn from(event: CaseEvent) -> Self {
        pb::CaseEvent {
            event_id: event.event_id.into(),
            case_no: event.case_no.into(),
            seq: event.seq,
            item_code: event.item_code.into(),
            region_code: event.region_code.into(),
            dept_code: event.dept_code.into(),
            occurred_at: Some(timestamp_to_pb(event.occurred_at)),
            source_system: event.source_system,
            source_version: event.source_version,
            actor: Some(pb::Actor {
                id: event.actor.id,
                name: event.actor.name,
            }),
            step: Some(step_to_pb(event.step)),
        }
    }
}

/// The name of the `step` oneof's field that is set; equal to the domain's [`Step::name`],
/// so conversion errors and [`CaseEvent::validate`] name fields alike.
pub(crate) fn pb_step_name(step: &PbStep) -> &'static str {
    match step {
        PbStep::Submitted(_) => "submitted",
        PbStep::Accepted(_) => "accepted",
        PbStep::Rejected(_) => "rejected",
        PbStep::CorrectionRequested(_) => "correction_requested",
        PbStep::CorrectionReceived(_) => "correction_received",
        PbStep::Reviewed(_) => "reviewed",
        PbStep::Decided(_) => "decided",
        PbStep::SpecialProcedureStarted(_) => "special_procedure_started",
        PbStep::SpecialProcedureEnded(_) => "special_procedure_ended",
        PbStep::Suspended(_) => "suspended",
        PbStep::Resumed(_) => "resumed",
        PbStep::FeeCharged(_) => "fee_charged",
        PbStep::Completed(_) => "completed",
        PbStep::Delivered(_) => "delivered",
        PbStep::Withdrawn(_) => "withdrawn",
        PbStep::Queried(_) => "queried",
        PbStep::Appealed(_) => "appealed",
        PbStep::AppealResolved(_) => "appeal_resolved",
        PbStep::Rated(_) => "rated",
        PbStep::RatingFollowedUp(_) => "rating_followed_up",
    }
}

fn step_from_pb(step: PbStep) -> Result<Step, ValidationError> {
    let name = pb_step_name(&step);
    step_content_from_pb(step).map_err(|error| error.within(name))
}

/// The step with errors relative to the step's own message.
fn step_content_from_pb(step: PbStep) -> Result<Step, ValidationError> {
    Ok(match step {
        PbStep::Submitted(step) => {
            let applicant = required("applicant", step.applicant)?;
            Step::Submitted {
                applicant: Applicant {
                    kind: enum_field("applicant.kind", applicant.kind)?,
                    name: applicant.name,
                    id_type: applicant.id_type,
                    id_no: applicant.id_no,
                },
                channel: enum_field("channel", step.channel)?,
                materials: materials_from_pb(step.materials),
            }
        }
        PbStep::Accepted(step) => Step::Accepted {
            case_type: enum_field("case_type", step.case_type)?,
            legal_limit: limit_field("legal_limit", step.legal_limit)?,
            promised_limit: limit_field("promised_limit", step.promised_limit)?,
            fee_required: step.fee_required,
            fee_standard_fen: step.fee_standard_fen,
            accept_doc_no: step.accept_doc_no,
        },
        PbStep::Rejected(step) => Step::Rejected {
            reason: step.reason,
        },
        PbStep::CorrectionRequested(step) => Step::CorrectionRequested {
            reason: step.reason,
            materials: materials_from_pb(step.materials),
        },
        PbStep::CorrectionReceived(step) => Step::CorrectionReceived {
            materials: materials_from_pb(step.materials),
        },
        PbStep::Reviewed(step) => Step::Reviewed {
            step_code: step.step_code,
            step_name: step.step_name,
            outcome: enum_field("outcome", step.outcome)?,
            opinion: step.opinion,
            step_limit: optional_limit_field("step_limit", step.step_limit)?,
        },
        PbStep::Decided(step) => Step::Decided {
            decision: enum_field("decision", step.decision)?,
            reason: step.reason,
            window_direct_signoff: step.window_direct_signoff,
        },
        PbStep::SpecialProcedureStarted(step) => Step::SpecialProcedureStarted {
            proc_no: step.proc_no,
            kind: enum_field("kind", step.kind)?,
            basis: step.basis,
            approver: step.approver,
            approved: limit_field("approved", step.approved)?,
        },
        PbStep::SpecialProcedureEnded(step) => Step::SpecialProcedureEnded {
            proc_no: step.proc_no,
            result: step.result,
            fee_fen: step.fee_fen,
        },
        PbStep::Suspended(step) => Step::Suspended {
            reason: step.reason,
            requested_days: step.requested_days,
        },
        PbStep::Resumed(step) => Step::Resumed {
            reason: step.reason,
        },
        PbStep::FeeCharged(step) => Step::FeeCharged {
            ticket_no: step.ticket_no,
            items: step
                .items
                .into_iter()
                .map(|item| FeeItem {
                    fee_code: item.fee_code,
                    amount_fen: item.amount_fen,
                    standard_fen: item.standard_fen,
                })
                .collect(),
            payer: step.payer,
            collector: step.collector,
            unified_ticket: step.unified_ticket,
        },
        PbStep::Completed(step) => Step::Completed {
            result: enum_field("result", step.result)?,
            certificate: step
                .certificate
                .map(|certificate| {
                    certificate_from_pb(certificate).map_err(|error| error.within("certificate"))
                })
                .transpose()?,
            fee_total_fen: step.fee_total_fen,
        },
        PbStep::Delivered(step) => Step::Delivered {
            method: step.method,
            receiver: step.receiver,
        },
        PbStep::Withdrawn(step) => Step::Withdrawn {
            reason: step.reason,
        },
        PbStep::Queried(step) => Step::Queried {
            channel: enum_field("channel", step.channel)?,
        },
        PbStep::Appealed(step) => Step::Appealed {
            appeal_no: step.appeal_no,
            complainant: step.complainant,
            target: enum_field("target", step.target)?,
            reason: step.reason,
            channel: enum_field("channel", step.channel)?,
        },
        PbStep::AppealResolved(step) => Step::AppealResolved {
            appeal_no: step.appeal_no,
            outcome: enum_field("outcome", step.outcome)?,
            reply: step.reply,
            satisfaction: step
                .satisfaction
                .map(|level| rating_field("satisfaction", level))
                .transpose()?,
        },
        PbStep::Rated(step) => Step::Rated {
            rating_no: step.rating_no,
            level: rating_field("level", step.level)?,
            tags: step.tags,
            text: step.text,
        },
        PbStep::RatingFollowedUp(step) => Step::RatingFollowedUp {
            rating_no: step.rating_no,
            reply: step.reply,
        },
    })
}

fn materials_from_pb(materials: Vec<pb::Material>) -> Vec<Material> {
    materials
        .into_iter()
        .map(|material| Material {
            code: material.code,
            name: material.name,
        })
        .collect()
}

fn materials_to_pb(materials: Vec<Material>) -> Vec<pb::Material> {
    materials
        .into_iter()
        .map(|material| pb::Material {
            code: material.code,
            name: material.name,
        })
        .collect()
}

fn certificate_from_pb(certificate: pb::Certificate) -> Result<Certificate, ValidationError> {
    Ok(Certificate {
        name: certificate.name,
        no: certificate.no,
        valid_to: certificate
            .valid_to
            .map(|date| date_from_pb(&date).map_err(|error| error.within("valid_to")))
            .transpose()?,
        issuer: certificate.issuer,
    })
}

fn rating_to_pb(level: RatingLevel) -> u32 {
    u32::from(level.get())
}

fn step_to_pb(step: Step) -> PbStep {
    match step {
        Step::Submitted {
            applicant,
            channel,
            materials,
        } => PbStep::Submitted(pb_step::Submitted {
            applicant: Some(pb::Applicant {
                kind: applicant.kind.to_pb(),
                name: applicant.name,
                id_type: applicant.id_type,
                id_no: applicant.id_no,
            }),
            channel: channel.to_pb(),
            materials: materials_to_pb(materials),
        }),
        Step::Accepted {
            case_type,
            legal_limit,
            promised_limit,
            fee_required,
            fee_standard_fen,
            accept_doc_no,
        } => PbStep::Accepted(pb_step::Accepted {
            case_type: case_type.to_pb(),
            legal_limit: Some(legal_limit.into()),
            promised_limit: Some(promised_limit.into()),
            fee_required,
            fee_standard_fen,
            accept_doc_no,
        }),
        Step::Rejected { reason } => PbStep::Rejected(pb_step::Rejected { reason }),
        Step::CorrectionRequested { reason, materials } => {
            PbStep::CorrectionRequested(pb_step::CorrectionRequested {
                reason,
                materials: materials_to_pb(materials),
            })
        }
        Step::CorrectionReceived { materials } => {
            PbStep::CorrectionReceived(pb_step::CorrectionReceived {
                materials: materials_to_pb(materials),
            })
        }
        Step::Reviewed {
            step_code,
            step_name,
            outcome,
            opinion,
            step_limit,
        } => PbStep::Reviewed(pb_step::Reviewed {
            step_code,
            step_name,
            outcome: outcome.to_pb(),
            opinion,
            step_limit: step_limit.map(Into::into),
        }),
        Step::Decided {
            decision,
            reason,
            window_direct_signoff,
        } => PbStep::Decided(pb_step::Decided {
            decision: decision.to_pb(),
            reason,
            window_direct_signoff,
        }),
        Step::SpecialProcedureStarted {
            proc_no,
            kind,
            basis,
            approver,
            approved,
        } => PbStep::SpecialProcedureStarted(pb_step::SpecialProcedureStarted {
            proc_no,
            kind: kind.to_pb(),
            basis,
            approver,
            approved: Some(approved.into()),
        }),
        Step::SpecialProcedureEnded {
            proc_no,
            result,
            fee_fen,
        } => PbStep::SpecialProcedureEnded(pb_step::SpecialProcedureEnded {
            proc_no,
            result,
            fee_fen,
        }),
        Step::Suspended {
            reason,
            requested_days,
        } => PbStep::Suspended(pb_step::Suspended {
            reason,
            requested_days,
        }),
        Step::Resumed { reason } => PbStep::Resumed(pb_step::Resumed { reason }),
        Step::FeeCharged {
            ticket_no,
            items,
            payer,
            collector,
            unified_ticket,
        } => PbStep::FeeCharged(pb_step::FeeCharged {
            ticket_no,
            items: items
                .into_iter()
                .map(|item| pb::FeeItem {
                    fee_code: item.fee_code,
                    amount_fen: item.amount_fen,
                    standard_fen: item.standard_fen,
                })
                .collect(),
            payer,
            collector,
            unified_ticket,
        }),
        Step::Completed {
            result,
            certificate,
            fee_total_fen,
        } => PbStep::Completed(pb_step::Completed {
            result: result.to_pb(),
            certificate: certificate.map(|certificate| pb::Certificate {
                name: certificate.name,
                no: certificate.no,
                valid_to: certificate.valid_to.map(date_to_pb),
                issuer: certificate.issuer,
            }),
            fee_total_fen,
        }),
        Step::Delivered { method, receiver } => {
            PbStep::Delivered(pb_step::Delivered { method, receiver })
        }
        Step::Withdrawn { reason } => PbStep::Withdrawn(pb_step::Withdrawn { reason }),
        Step::Queried { channel } => PbStep::Queried(pb_step::Queried {
            channel: channel.to_pb(),
        }),
        Step::Appealed {
            appeal_no,
            complainant,
            target,
            reason,
            channel,
        } => PbStep::Appealed(pb_step::Appealed {
            appeal_no,
            complainant,
            target: target.to_pb(),
            reason,
            channel: channel.to_pb(),
        }),
        Step::AppealResolved {
            appeal_no,
            outcome,
            reply,
            satisfaction,
        } => PbStep::AppealResolved(pb_step::AppealResolved {
            appeal_no,
            outcome: outcome.to_pb(),
            reply,
            satisfaction: satisfaction.map(rating_to_pb),
        }),
        Step::Rated {
            rating_no,
            level,
            tags,
            text,
        } => PbStep::Rated(pb_step::Rated {
            rating_no,
            level: rating_to_pb(level),
            tags,
            text,
        }),
        Step::RatingFollowedUp { rating_no, reply } => {
            PbStep::RatingFollowedUp(pb_step::RatingFollowedUp { rating_no, reply })
        }
    }
}

#[cfg(test)]
mod tests {
    use casewatch_domain::strategies;
    use proptest::prelude::*;

    use super::*;

    fn accepted() -> pb::CaseEvent {
        pb::CaseEvent {
            event_id: "ev-000001".into(),
            case_no: "HZ-2026-000001".into(),
            seq: 2,
            item_code: "ITEM-1".into(),
            region_code: "330106".into(),
            dept_code: "91440300708461136T".into(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            source_system: "county-a".into(),
            source_version: 1,
            actor: Some(pb::Actor {
                id: "w001".into(),
                name: "王芳".into(),
            }),
            step: Some(PbStep::Accepted(pb_step::Accepted {
                case_type: pb::CaseType::Promised.into(),
                legal_limit: Some(pb::Limit {
                    n: 20,
                    unit: pb::LimitUnit::WorkingDays.into(),
                }),
                promised_limit: Some(pb::Limit {
                    n: 10,
                    unit: pb::LimitUnit::WorkingDays.into(),
                }),
                fee_required: false,
                fee_standard_fen: None,
                accept_doc_no: "受字〔2026〕1号".into(),
            })),
        }
    }

    fn with_step(step: PbStep) -> pb::CaseEvent {
        pb::CaseEvent {
            step: Some(step),
            ..accepted()
        }
    }

    fn error(event: pb::CaseEvent) -> String {
        CaseEvent::try_from(event)
            .expect_err("the event is invalid")
            .to_string()
    }

    fn accepted_step(edit: impl FnOnce(&mut pb_step::Accepted)) -> pb::CaseEvent {
        let mut step = match accepted().step {
            Some(PbStep::Accepted(step)) => step,
            _ => unreachable!("the fixture is an acceptance"),
        };
        edit(&mut step);
        with_step(PbStep::Accepted(step))
    }

    #[test]
    fn a_valid_event_converts() {
        let event = CaseEvent::try_from(accepted()).expect("valid event");
        assert_eq!(event.case_no.as_str(), "HZ-2026-000001");
        assert_eq!(event.step.name(), "accepted");
    }

    #[test]
    fn envelope_errors_name_the_field() {
        let event = pb::CaseEvent {
            region_code: "3301".into(),
            ..accepted()
        };
        assert_eq!(
            error(event),
            "region_code: must be 6, 9 or 12 digits, got 4 characters"
        );
        let event = pb::CaseEvent {
            dept_code: "91440300708461136U".into(),
            ..accepted()
        };
        assert_eq!(
            error(event),
            "dept_code: check character is `U`, expected `T`"
        );
        let event = pb::CaseEvent {
            event_id: String::new(),
            ..accepted()
        };
        assert_eq!(error(event), "event_id: must not be empty");
        let event = pb::CaseEvent {
            occurred_at: None,
            ..accepted()
        };
        assert_eq!(error(event), "occurred_at: required");
        let event = pb::CaseEvent {
            actor: None,
            ..accepted()
        };
        assert_eq!(error(event), "actor: required");
        let event = pb::CaseEvent {
            step: None,
            ..accepted()
        };
        assert_eq!(error(event), "step: required");
        let event = pb::CaseEvent {
            seq: 0,
            ..accepted()
        };
        assert_eq!(error(event), "seq: must be 1 to 100000, got 0");
    }

    #[test]
    fn step_errors_are_prefixed_with_the_step_name() {
        let event = accepted_step(|step| {
            if let Some(limit) = step.promised_limit.as_mut() {
                limit.n = 0;
            }
        });
        assert_eq!(error(event), "accepted.promised_limit.n: must be > 0");
        let event = accepted_step(|step| step.legal_limit = None);
        assert_eq!(error(event), "accepted.legal_limit: required");
        let event = accepted_step(|step| step.case_type = 0);
        assert_eq!(error(event), "accepted.case_type: must be specified");
        let event = accepted_step(|step| step.case_type = 99);
        assert_eq!(
            error(event),
            "accepted.case_type: must be specified, got unknown value 99"
        );
    }

    #[test]
    fn payload_errors_from_validate_keep_their_paths() {
        let item = |fee_code: &str| pb::FeeItem {
            fee_code: fee_code.into(),
            amount_fen: 1000,
            standard_fen: 1000,
        };
        let event = with_step(PbStep::FeeCharged(pb_step::FeeCharged {
            ticket_no: "T-1".into(),
            items: vec![item("F01"), item("F02"), item(" ")],
            payer: String::new(),
            collector: String::new(),
            unified_ticket: true,
        }));
        assert_eq!(
            error(event),
            "fee_charged.items[2].fee_code: must not be empty"
        );
        let event = with_step(PbStep::Rated(pb_step::Rated {
            rating_no: "R-1".into(),
            level: 9,
            tags: vec![],
            text: None,
        }));
        assert_eq!(error(event), "rated.level: must be 1 to 5, got 9");
        let event = with_step(PbStep::Completed(pb_step::Completed {
            result: pb::CompletionResult::IssuedCertificate.into(),
            certificate: Some(pb::Certificate {
                name: "食品经营许可证".into(),
                no: "JY1".into(),
                valid_to: Some(pb::Date {
                    year: 2031,
                    month: 2,
                    day: 29,
                }),
                issuer: String::new(),
            }),
            fee_total_fen: 0,
        }));
        assert_eq!(
            error(event),
            "completed.certificate.valid_to: must be a calendar date, got 2031-02-29"
        );
    }

    proptest! {
        #[test]
        fn oneof_names_are_the_step_names(event in strategies::case_event()) {
            let expected = event.step.name();
            let step = step_to_pb(event.step);
            prop_assert_eq!(pb_step_name(&step), expected);
        }
    }
}
