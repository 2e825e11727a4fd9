//! What the types of a case step do not check: text lengths, required texts, list sizes,
//! the step number, amounts of money, and a step's time against when it was received.
//! Omissions that are supervision findings pass here and are judged by the rules.

use super::{
    CaseEvent, EARLIEST_STEP, FEN_MAX, LIMIT_MAX, LIST_MAX, Material, NAME_MAX, SEQ_MAX, Step,
    TEXT_MAX,
};
use crate::{Timestamp, ValidationError, china_standard_time, local_text};

/// Checks a text's length in characters; `required` also refuses an empty (or blank) text.
pub(crate) fn check_text(
    field: &str,
    text: &str,
    max: usize,
    required: bool,
) -> Result<(), ValidationError> {
    if required && text.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    let len = text.chars().count();
    if len > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters, got {len}"),
        ));
    }
    Ok(())
}

fn check_list<T>(
    field: &str,
    list: &[T],
    required: bool,
    mut each: impl FnMut(&T) -> Result<(), ValidationError>,
) -> Result<(), ValidationError> {
    if required && list.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if list.len() > LIST_MAX {
        return Err(ValidationError::new(
            field,
            format!("must have at most {LIST_MAX} entries, got {}", list.len()),
        ));
    }
    for (index, item) in list.iter().enumerate() {
        each(item).map_err(|error| error.within(&format!("{field}[{index}]")))?;
    }
    Ok(())
}

/// Checks an amount of money against [`FEN_MAX`].
fn check_fen(field: &str, fen: u64) -> Result<(), ValidationError> {
    if fen > FEN_MAX {
        return Err(ValidationError::new(
            field,
            format!("must be at most {FEN_MAX} fen, got {fen}"),
        ));
    }
    Ok(())
}

fn check_materials(field: &str, materials: &[Material]) -> Result<(), ValidationError> {
    check_list(field, materials, false, |material| {
        check_text("code", &material.code, NAME_MAX, false)?;
        check_text("name", &material.name, NAME_MAX, true)
    })
}

impl CaseEvent {
    /// Checks what the types do not: text lengths, required texts, list sizes, the step
    /// number, amounts of money. Errors name the field relative to the event (`accepted.accept_doc_no`).
    /// Omissions that are supervision findings (an empty rejection reason) pass here and
    /// are judged by the rules.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.seq == 0 || self.seq > SEQ_MAX {
            return Err(ValidationError::new(
                "seq",
                format!("must be 1 to {SEQ_MAX}, got {}", self.seq),
            ));
        }
        check_text("source_system", &self.source_system, NAME_MAX, true)?;
        check_text("actor.id", &self.actor.id, NAME_MAX, true)?;
        check_text("actor.name", &self.actor.name, NAME_MAX, false)?;
        self.validate_step()
            .map_err(|error| error.within(self.step.name()))
    }

    /// Checks the step's time against the moment Casewatch received it: a step cannot have
    /// happened later than that, beyond `skew` for a source whose clock runs a little
    /// ahead, nor before [`EARLIEST_STEP`], which no county system can mean. (A step
    /// reported late is a supervision finding, C2, not an input error.) Instants are stated
    /// in China Standard Time, the time of the counties.
    pub fn check_received(
        &self,
        received_at: Timestamp,
        skew: chrono::TimeDelta,
    ) -> Result<(), ValidationError> {
        let earliest = earliest_step();
        if self.occurred_at < earliest {
            return Err(ValidationError::new(
                "occurred_at",
                format!(
                    "`{}` is before `{}`, the earliest step Casewatch accepts",
                    local_text(self.occurred_at),
                    local_text(earliest)
                ),
            ));
        }
        match received_at.checked_add_signed(skew) {
            Some(latest) if self.occurred_at > latest => Err(ValidationError::new(
                "occurred_at",
                format!(
                    "`{}` is in the future: received at `{}`, allowing {} s of clock skew",
                    local_text(self.occurred_at),
                    local_text(received_at),
                    skew.num_seconds()
                ),
            )),
            _ => Ok(()),
        }
    }

    fn validate_step(&self) -> Result<(), ValidationError> {
        match &self.step {
            Step::Submitted {
                applicant,
                materials,
                ..
            } => {
                check_text("applicant.name", &applicant.name, NAME_MAX, true)?;
                check_text("applicant.id_type", &applicant.id_type, NAME_MAX, false)?;
                check_text("applicant.id_no", &applicant.id_no, NAME_MAX, false)?;
                check_materials("materials", materials)
            }
            Step::Accepted {
                accept_doc_no,
                fee_standard_fen,
                ..
            } => {
                check_text("accept_doc_no", accept_doc_no, NAME_MAX, false)?;
                fee_standard_fen.map_or(Ok(()), |fen| check_fen("fee_standard_fen", fen))
            }
            Step::Rejected { reason } | Step::Withdrawn { reason } | Step::Resumed { reason } => {
                check_text("reason", reason, TEXT_MAX, false)
            }
            Step::CorrectionRequested { reason, materials } => {
                check_text("reason", reason, TEXT_MAX, false)?;
                check_materials("materials", materials)
            }
            Step::CorrectionReceived { materials } => check_materials("materials", materials),
            Step::Reviewed {
                step_code,
                step_name,
                opinion,
                ..
            } => {
                check_text("step_code", step_code, NAME_MAX, true)?;
                check_text("step_name", step_name, NAME_MAX, false)?;
                check_text("opinion", opinion, TEXT_MAX, false)
            }
            Step::Decided { reason, .. } => check_text("reason", reason, TEXT_MAX, false),
            Step::SpecialProcedureStarted {
                proc_no,
                basis,
                approver,
                ..
            } => {
                check_text("proc_no", proc_no, NAME_MAX, true)?;
                check_text("basis", basis, TEXT_MAX, false)?;
                check_text("approver", approver, NAME_MAX, false)
            }
            Step::SpecialProcedureEnded {
                proc_no,
                result,
                fee_fen,
            } => {
                check_text("proc_no", proc_no, NAME_MAX, true)?;
                check_text("result", result, TEXT_MAX, false)?;
                fee_fen.map_or(Ok(()), |fen| check_fen("fee_fen", fen))
            }
            Step::Suspended {
                reason,
                requested_days,
            } => {
                check_text("reason", reason, TEXT_MAX, false)?;
                match requested_days {
                    Some(days) if *days > LIMIT_MAX => Err(ValidationError::new(
                        "requested_days",
                        format!("must be at most {LIMIT_MAX}, got {days}"),
                    )),
                    _ => Ok(()),
                }
            }
            Step::FeeCharged {
                ticket_no,
                items,
                payer,
                collector,
                ..
            } => {
                check_text("ticket_no", ticket_no, NAME_MAX, true)?;
                check_text("payer", payer, NAME_MAX, false)?;
                check_text("collector", collector, NAME_MAX, false)?;
                check_list("items", items, true, |item| {
                    check_text("fee_code", &item.fee_code, NAME_MAX, true)?;
                    check_fen("amount_fen", item.amount_fen)?;
                    check_fen("standard_fen", item.standard_fen)
                })
            }
            Step::Completed {
                certificate,
                fee_total_fen,
                ..
            } => {
                if let Some(certificate) = certificate {
                    check_text("certificate.name", &certificate.name, NAME_MAX, false)?;
                    check_text("certificate.no", &certificate.no, NAME_MAX, false)?;
                    check_text("certificate.issuer", &certificate.issuer, NAME_MAX, false)?;
                }
                check_fen("fee_total_fen", *fee_total_fen)
            }
            Step::Delivered { method, receiver } => {
                check_text("method", method, NAME_MAX, false)?;
                check_text("receiver", receiver, NAME_MAX, false)
            }
            Step::Queried { .. } => Ok(()),
            Step::Appealed {
                appeal_no,
                complainant,
                reason,
                ..
            } => {
                check_text("appeal_no", appeal_no, NAME_MAX, true)?;
                check_text("complainant", complainant, NAME_MAX, false)?;
                check_text("reason", reason, TEXT_MAX, true)
            }
            Step::AppealResolved {
                appeal_no, reply, ..
            } => {
                check_text("appeal_no", appeal_no, NAME_MAX, true)?;
                check_text("reply", reply, TEXT_MAX, false)
            }
            Step::Rated {
                rating_no,
                tags,
                text,
                ..
            } => {
                check_text("rating_no", rating_no, NAME_MAX, true)?;
                check_list("tags", tags, false, |tag| {
                    check_text("", tag, NAME_MAX, true)
                })?;
                check_text("text", text.as_deref().unwrap_or(""), TEXT_MAX, false)
            }
            Step::RatingFollowedUp { rating_no, reply } => {
                check_text("rating_no", rating_no, NAME_MAX, true)?;
                check_text("reply", reply, TEXT_MAX, false)
            }
        }
    }
}

/// The first instant of [`EARLIEST_STEP`] in China Standard Time.
fn earliest_step() -> Timestamp {
    EARLIEST_STEP
        .and_time(chrono::NaiveTime::MIN)
        .and_local_timezone(china_standard_time())
        .single()
        .expect("a fixed offset maps every local time once")
        .to_utc()
}
