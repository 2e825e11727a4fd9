//! `IngestService`: county systems append case steps. Each event is converted and checked
//! at the edge; the valid ones are appended in one group and acknowledged only once
//! durable. A bad event gets its own error and never fails its neighbours or the stream.

use std::pin::Pin;

use casewatch_domain::event::CaseEvent;
use casewatch_log::{Destination, LogError, NewRecord};
use casewatch_proto::pb::append_result::Outcome;
use casewatch_proto::pb::event_error::Code;
use casewatch_proto::{encode_record, pb};
use futures::{Stream, StreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, warn};

use crate::{IngestState, log_status};

pub(crate) struct Ingest {
    state: IngestState,
}

impl Ingest {
    pub(crate) fn new(state: IngestState) -> Self {
        Self { state }
    }
}

fn refused(
    event_id: String,
    code: Code,
    field: &str,
    message: impl Into<String>,
) -> pb::AppendResult {
    pb::AppendResult {
        event_id,
        outcome: Some(Outcome::Error(pb::EventError {
            code: code.into(),
            field: field.to_owned(),
            message: message.into(),
        })),
    }
}

/// Appends one request's events; the response has one result per event, in order.
pub(crate) async fn append(
    state: &IngestState,
    request: pb::AppendRequest,
) -> Result<pb::AppendResponse, Status> {
    let count = request.events.len();
    if count > state.options.max_events_per_request {
        return Err(Status::resource_exhausted(format!(
            "a request may carry at most {} events, this one has {count}",
            state.options.max_events_per_request
        )));
    }
    let recorded_at = state.clock.now();
    // The caller's trace travels beside each record, so the projector's batch span links
    // to the push that caused it.
    let trace = casewatch_telemetry::inject_current();
    let mut results: Vec<Option<pb::AppendResult>> = Vec::with_capacity(count);
    let mut records = Vec::with_capacity(count);
    let mut waiting = Vec::with_capacity(count);
    for event in request.events {
        let event_id = event.event_id.clone();
        let payload = event.encode_to_vec();
        match CaseEvent::try_from(event) {
            Ok(event) => {
                waiting.push((results.len(), event_id));
                results.push(None);
                records.push(NewRecord {
                    destination: Destination::Key(event.case_no.to_string()),
                    bytes: encode_record(pb::RecordKind::CaseEvent, recorded_at, &payload),
                    idempotency_key: Some(format!("{}/{}", event.case_no, event.event_id)),
                    headers: trace.clone(),
                });
            }
            Err(error) => {
                debug!(%event_id, %error, "event refused");
                results.push(Some(refused(
                    event_id,
                    Code::InvalidArgument,
                    error.field(),
                    error.message(),
                )));
            }
        }
    }
    if !records.is_empty() {
        match state.log.append(records).await {
            Ok(appended) => {
                for ((index, event_id), appended) in waiting.into_iter().zip(appended) {
                    results[index] = Some(pb::AppendResult {
                        event_id,
                        outcome: Some(Outcome::Appended(pb::Appended {
                            position: Some(pb::LogPosition {
                                partition: appended.position.partition,
                                offset: appended.position.offset,
                            }),
                            duplicate: appended.duplicate,
                        })),
                    });
                }
            }
            Err(error @ (LogError::Unavailable(_) | LogError::Closed)) => {
                warn!(%error, events = waiting.len(), "append failed");
                for (index, event_id) in waiting {
                    results[index] =
                        Some(refused(event_id, Code::Unavailable, "", error.to_string()));
                }
            }
            Err(error) => return Err(log_status(error)),
        }
    }
    Ok(pb::AppendResponse {
        request_id: request.request_id,
        results: results
            .into_iter()
            .map(|result| result.expect("every event has a result by now"))
            .collect(),
    })
}

type AppendStream = Pin<Box<dyn Stream<Item = Result<pb::AppendResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::ingest_service_server::IngestService for Ingest {
    async fn append(
        &self,
        request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        append(&self.state, request.into_inner())
            .await
            .map(Response::new)
    }

    type AppendStreamStream = AppendStream;

    async fn append_stream(
        &self,
        request: Request<Streaming<pb::AppendRequest>>,
    ) -> Result<Response<Self::AppendStreamStream>, Status> {
        let state = self.state.clone();
        let requests = request.into_inner();
        // One request at a time, in order: the responses answer the requests in order, and
        // a slow log slows the sender down instead of filling memory.
        let responses = requests.then(move |request| {
            let state = state.clone();
            async move {
                match request {
                    Ok(request) => append(&state, request).await,
                    Err(status) => Err(status),
                }
            }
        });
        Ok(Response::new(Box::pin(responses)))
    }
}
