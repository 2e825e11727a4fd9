//! `PolicyService`: the policy in force and its history as the views hold them, and
//! changes checked here and appended to every partition of the log, where the projector
//! folds them.

use std::sync::Arc;

use casewatch_domain::access::Operation;
use casewatch_domain::policy::{PolicyChange, PolicyContent, PolicyError};
use casewatch_domain::{ValidationError, china_standard_time};
use casewatch_log::{Destination, NewRecord};
use casewatch_proto::convert::{
    ProtoEnum, date_to_pb, enum_field, optional_timestamp_field, timestamp_to_pb,
};
use casewatch_proto::{encode_record, pb};
use casewatch_store::PolicyOutcome;
use prost::Message;
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};

use crate::auth::authorize;
use crate::views::invalid;
use crate::{AppState, log_status, store_status};

/// The partition whose folds of the policy records the views answer with; every
/// partition folds the same changes in the same order.
const FIRST: u32 = 0;

pub(crate) struct Policies {
    state: AppState,
    /// One change at a time from this node: each is checked against the one before it.
    applying: Arc<Mutex<()>>,
}

impl Policies {
    pub(crate) fn new(state: AppState) -> Self {
        Self {
            state,
            applying: Arc::new(Mutex::new(())),
        }
    }
}

fn refused(error: PolicyError) -> Status {
    match error {
        PolicyError::StaleVersion { .. } => {
            Status::failed_precondition(format!("version: {error}"))
        }
        PolicyError::Calendar(_) => invalid(ValidationError::new("document", error.to_string())),
        PolicyError::NoReason => invalid(ValidationError::new("reason", "must be given")),
        PolicyError::NoAuthor => Status::internal(error.to_string()),
    }
}

#[tonic::async_trait]
impl pb::policy_service_server::PolicyService for Policies {
    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::PolicyView>, Status> {
        authorize(&request, Operation::ReadPolicy)?;
        let in_force = self.state.policy_in_force().await?;
        let sources = in_force.sources();
        let mut view = pb::PolicyView {
            rule_book_version: sources.rule_book.version,
            calendar_version: sources.calendar_version,
            pending: in_force
                .pending()
                .iter()
                .map(pb::PolicyEvent::from)
                .collect(),
            calendar_ends: in_force
                .policy()
                .calendars
                .national()
                .data_ends(
                    self.state
                        .clock
                        .now()
                        .with_timezone(&china_standard_time())
                        .date_naive(),
                )
                .map(date_to_pb),
            ..pb::PolicyView::default()
        };
        for part in sources.parts() {
            match &part {
                PolicyContent::RuleBook(_) => view.rule_book = part.document(),
                PolicyContent::NationalCalendar { .. } => {
                    view.national_calendar = part.document();
                }
                PolicyContent::RegionCalendar { changes, .. } => {
                    view.regions.push(pb::RegionCalendarDocument {
                        region: changes.region.to_string(),
                        document: part.document(),
                    });
                }
            }
        }
        Ok(Response::new(view))
    }

    async fn list_policy_history(
        &self,
        request: Request<pb::ListPolicyHistoryRequest>,
    ) -> Result<Response<pb::ListPolicyHistoryResponse>, Status> {
        authorize(&request, Operation::Audit)?;
        let rows = self
            .state
            .store
            .policy_records(FIRST)
            .await
            .map_err(store_status)?;
        let records = rows
            .into_iter()
            .map(|row| {
                let (outcome, reason) = match row.outcome {
                    PolicyOutcome::Applied => (pb::PolicyOutcome::Applied, String::new()),
                    PolicyOutcome::Held => (pb::PolicyOutcome::Held, String::new()),
                    PolicyOutcome::Refused(reason) => (pb::PolicyOutcome::Refused, reason),
                };
                pb::PolicyRecord {
                    position: Some(pb::LogPosition {
                        partition: row.position.partition,
                        offset: row.position.offset,
                    }),
                    recorded_at: Some(timestamp_to_pb(row.recorded_at)),
                    change: Some(pb::PolicyEvent::from(&row.change)),
                    outcome: outcome.into(),
                    reason,
                }
            })
            .collect();
        Ok(Response::new(pb::ListPolicyHistoryResponse { records }))
    }

    async fn apply_policy(
        &self,
        request: Request<pb::ApplyPolicyRequest>,
    ) -> Result<Response<pb::ApplyPolicyResponse>, Status> {
        let caller = authorize(&request, Operation::ChangePolicy)?;
        let request = request.into_inner();
        let now = self.state.clock.now();
        let event = pb::PolicyEvent {
            part: enum_field::<casewatch_domain::policy::PolicyPart>("part", request.part)
                .map_err(invalid)?
                .to_pb(),
            version: request.version,
            document: request.document,
            author: caller.principal().id.clone(),
            reason: request.reason,
            applies_from: Some(timestamp_to_pb(
                optional_timestamp_field("applies_from", request.applies_from)
                    .map_err(invalid)?
                    .unwrap_or(now),
            )),
        };
        let change = PolicyChange::try_from(event.clone()).map_err(invalid)?;
        caller
            .grant
            .may_change(&change.content)
            .map_err(|denied| caller.denied(denied))?;
        let _one_at_a_time = self.applying.lock().await;
        // Checked against the policy in force and the changes held, as every partition
        // will check it when it folds it.
        let mut trial = self.state.policy_in_force().await?;
        trial.receive(change, now).map_err(refused)?;
        if request.dry_run {
            return Ok(Response::new(pb::ApplyPolicyResponse {
                change: Some(event),
                positions: Vec::new(),
            }));
        }
        let payload = event.encode_to_vec();
        let key = format!("policy/{}/{}", event.part().as_str_name(), event.version);
        let records = (0..self.state.log.partitions())
            .map(|partition| NewRecord {
                destination: Destination::Partition(partition),
                bytes: encode_record(pb::RecordKind::PolicyEvent, now, &payload),
                idempotency_key: Some(format!("{key}/{partition}")),
                headers: casewatch_telemetry::inject_current(),
            })
            .collect();
        let appended = self.state.log.append(records).await.map_err(log_status)?;
        Ok(Response::new(pb::ApplyPolicyResponse {
            change: Some(event),
            positions: appended
                .iter()
                .map(|appended| pb::LogPosition {
                    partition: appended.position.partition,
                    offset: appended.position.offset,
                })
                .collect(),
        }))
    }
}
