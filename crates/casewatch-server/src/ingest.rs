//! `IngestService`: county systems append case steps. Each event is converted and checked
//! at the edge; the valid ones are appended in one group and acknowledged only once
//! durable. A bad event gets its own error and never fails its neighbours or the stream.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use casewatch_domain::Timestamp;
use casewatch_domain::access::{Denied, Operation};
use casewatch_domain::event::CaseEvent;
use casewatch_log::{Appended, Destination, Headers, LogError, NewRecord};
use casewatch_proto::convert::decode_failure;
use casewatch_proto::pb::append_result::Outcome;
use casewatch_proto::pb::event_error::Code;
use casewatch_proto::{encode_record, pb, received};
use futures::{Stream, StreamExt};
use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, warn};

use crate::auth::{Caller, authorize};
use crate::{IngestState, log_status};

pub(crate) struct Ingest {
    state: IngestState,
    capacity: Arc<Capacity>,
}

impl Ingest {
    pub(crate) fn new(state: IngestState) -> Self {
        let total = u32::try_from(kib(state.options.max_inflight_bytes))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        let capacity = Arc::new(Capacity {
            permits: Semaphore::new(total as usize),
            total,
        });
        Self { state, capacity }
    }
}

/// The bytes of requests being appended, in KiB, across every caller: a flood waits
/// (streams) or is refused (unary calls) instead of growing the server's memory.
struct Capacity {
    permits: Semaphore,
    total: u32,
}

fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

/// The KiB of a request's events, as the capacity counts them.
fn weight(request: &received::AppendRequest) -> u32 {
    let bytes: usize = request.events.iter().map(Vec::len).sum();
    u32::try_from(kib(bytes).max(1)).unwrap_or(u32::MAX)
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

/// The log record of a case event as ingest appends it: the event's bytes inside the record
/// envelope, in the partition of its case, idempotent by `case_no/event_id` and the event's
/// bytes. Only a re-send of the same bytes is a duplicate: a corrected event under the same
/// `event_id` is appended, and the views keep it as a conflict (C3).
pub fn case_event_record(
    case_no: &str,
    event_id: &str,
    payload: &[u8],
    recorded_at: Timestamp,
    headers: Headers,
) -> NewRecord {
    NewRecord {
        destination: Destination::Key(case_no.to_owned()),
        bytes: encode_record(pb::RecordKind::CaseEvent, recorded_at, payload),
        idempotency_key: Some(format!("{case_no}/{event_id}/{}", content_key(payload))),
        headers,
    }
}

/// The first 64 bits of the SHA-256 of an event's bytes, in hex: what tells a re-send from
/// a correction in the idempotency key.
fn content_key(payload: &[u8]) -> String {
    hex::encode(&Sha256::digest(payload)[..8])
}

/// One request's events, checked at the edge: the records of the valid ones, and the
/// results known before the log is asked (the refusals).
struct Checked {
    request_id: String,
    results: Vec<Option<pb::AppendResult>>,
    /// For each record, in order: its event's index in `results`, and the event's id.
    waiting: Vec<(usize, String)>,
    records: Vec<NewRecord>,
}

/// Converts and checks one request's events — the conversion, the time of the step, and the
/// caller's scope; refuses the request as a whole only when it carries too many.
fn check(
    state: &IngestState,
    caller: &Caller,
    request: received::AppendRequest,
) -> Result<Checked, Status> {
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
    let mut checked = Checked {
        request_id: request.request_id,
        results: Vec::with_capacity(count),
        waiting: Vec::with_capacity(count),
        records: Vec::with_capacity(count),
    };
    let mut denied = None;
    for (index, payload) in request.events.into_iter().enumerate() {
        let event = match pb::CaseEvent::decode(payload.as_slice()) {
            Ok(event) => event,
            Err(error) => {
                debug!(index, %error, "undecodable event refused");
                let failure = decode_failure(&error.to_string());
                checked.results.push(Some(refused(
                    String::new(),
                    Code::InvalidArgument,
                    failure.as_ref().map_or("", |failure| failure.field()),
                    format!(
                        "event {index} is not a decodable casewatch.v1.CaseEvent: {}",
                        failure
                            .as_ref()
                            .map_or_else(|| error.to_string(), ToString::to_string)
                    ),
                )));
                continue;
            }
        };
        let event_id = event.event_id.clone();
        let converted = CaseEvent::try_from(event).and_then(|event| {
            event.check_received(recorded_at, state.options.max_clock_skew)?;
            Ok(event)
        });
        match converted {
            Ok(event) => {
                if let Err(reason) = caller.grant.reaches(&event.region_code, &event.dept_code) {
                    let field = match reason {
                        Denied::OtherDepartment { .. } => "dept_code",
                        Denied::OutsideScope { .. }
                        | Denied::Role { .. }
                        | Denied::Unplaced { .. }
                        | Denied::PolicyBeyondScope { .. } => "region_code",
                    };
                    let message = reason.to_string();
                    denied.get_or_insert((0, reason)).0 += 1;
                    checked.results.push(Some(refused(
                        event_id,
                        Code::PermissionDenied,
                        field,
                        message,
                    )));
                    continue;
                }
                checked.waiting.push((checked.results.len(), event_id));
                checked.results.push(None);
                checked.records.push(case_event_record(
                    event.case_no.as_str(),
                    event.event_id.as_str(),
                    &payload,
                    recorded_at,
                    trace.clone(),
                ));
            }
            Err(error) => {
                debug!(%event_id, %error, "event refused");
                checked.results.push(Some(refused(
                    event_id,
                    Code::InvalidArgument,
                    error.field(),
                    error.message(),
                )));
            }
        }
    }
    if let Some((events, reason)) = denied {
        let principal = caller.principal();
        warn!(principal = %principal.id, role = %principal.role, events, %reason, "events refused outside the caller's scope");
    }
    Ok(checked)
}

/// Why the log did not take a group of records.
enum Failure {
    /// For now: each event is answered `UNAVAILABLE` and may be sent again.
    Unavailable(String),
    /// The whole request fails.
    Status(Status),
}

impl Checked {
    /// The response, once the log has answered for this request's records.
    fn answer(
        mut self,
        outcome: Result<&[Appended], &Failure>,
    ) -> Result<pb::AppendResponse, Status> {
        match outcome {
            Ok(appended) => {
                for ((index, event_id), appended) in self.waiting.into_iter().zip(appended) {
                    self.results[index] = Some(pb::AppendResult {
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
            Err(Failure::Unavailable(reason)) => {
                for (index, event_id) in self.waiting {
                    self.results[index] = Some(refused(event_id, Code::Unavailable, "", reason));
                }
            }
            Err(Failure::Status(status)) => return Err(status.clone()),
        }
        Ok(pb::AppendResponse {
            request_id: self.request_id,
            results: self
                .results
                .into_iter()
                .map(|result| result.expect("every event has a result by now"))
                .collect(),
        })
    }
}

/// How a call waits for room under the limits.
#[derive(Debug, Clone, Copy)]
enum Admission {
    /// A stream waits: the sender is slowed down, and reads nothing more meanwhile.
    Wait,
    /// A unary call waits a little for the server's capacity (the queue is fair, so it gets
    /// in behind the streams' waiting requests) and is refused with `RESOURCE_EXHAUSTED`
    /// after [`UNARY_CAPACITY_WAIT`]; with room, it is refused at once if its caller is over
    /// its rate.
    Brief,
}

/// How long a unary append waits for room in the server's capacity before it is refused.
const UNARY_CAPACITY_WAIT: Duration = Duration::from_secs(2);

/// Room for `events` weighing `weight` KiB, in the server's capacity (released when the log
/// has answered) and in the caller's event rate, in the order each admission says.
async fn admit<'a>(
    capacity: &'a Capacity,
    caller: &Caller,
    events: usize,
    weight: u32,
    admission: Admission,
) -> Result<Option<SemaphorePermit<'a>>, Status> {
    if events == 0 {
        return Ok(None);
    }
    // A request larger than the whole capacity waits for all of it, not for ever.
    let weight = weight.min(capacity.total);
    match admission {
        // Capacity first: a call refused for want of it has not spent any of its rate.
        Admission::Brief => {
            let permit =
                tokio::time::timeout(UNARY_CAPACITY_WAIT, capacity.permits.acquire_many(weight))
                    .await
                    .map_err(|_| {
                        Status::resource_exhausted(
                            "the server is at its capacity for appends in flight: retry shortly",
                        )
                    })?
                    .map_err(|_| Status::unavailable("the server is stopping"))?;
            caller.admit_events_now(events)?;
            Ok(Some(permit))
        }
        // The caller's rate first: a stream over its rate waits without holding capacity
        // other callers could use.
        Admission::Wait => {
            caller.admit_events(events).await?;
            let permit = capacity
                .permits
                .acquire_many(weight)
                .await
                .map_err(|_| Status::unavailable("the server is stopping"))?;
            Ok(Some(permit))
        }
    }
}

/// Appends the events of several requests with one call to the log (one group commit for
/// all of them, in the order given) and answers each request. A request that failed to
/// arrive, or is refused whole, is answered with its error and ends the list there.
async fn append_together(
    state: &IngestState,
    capacity: &Capacity,
    caller: &Caller,
    requests: Vec<Result<received::AppendRequest, Status>>,
    admission: Admission,
) -> Vec<Result<pb::AppendResponse, Status>> {
    let weight = requests
        .iter()
        .flatten()
        .map(weight)
        .fold(0u32, u32::saturating_add);
    let mut checked = Vec::with_capacity(requests.len());
    let mut refusal = None;
    for request in requests {
        match request.and_then(|request| check(state, caller, request)) {
            Ok(request) => checked.push(request),
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    let records: Vec<NewRecord> = checked
        .iter_mut()
        .flat_map(|request| std::mem::take(&mut request.records))
        .collect();
    let admitted = match admit(capacity, caller, records.len(), weight, admission).await {
        Ok(permit) => permit,
        Err(status) => return vec![Err(status)],
    };
    let outcome = if records.is_empty() {
        Ok(Vec::new())
    } else {
        let count = records.len();
        state
            .log
            .append(records)
            .await
            .map_err(|error| match error {
                LogError::Unavailable(_) | LogError::Closed => {
                    warn!(%error, events = count, "append failed");
                    Failure::Unavailable(error.to_string())
                }
                error => Failure::Status(log_status(error)),
            })
    };
    drop(admitted);
    let mut answers = Vec::with_capacity(checked.len() + 1);
    let mut from = 0;
    for request in checked {
        let until = from + request.waiting.len();
        answers.push(request.answer(match &outcome {
            Ok(appended) => Ok(&appended[from..until]),
            Err(failure) => Err(failure),
        }));
        from = until;
    }
    answers.extend(refusal.map(Err));
    answers
}

/// Requests of one `AppendStream` appended together, at most.
const STREAM_COALESCE: usize = 16;

type AppendStream = Pin<Box<dyn Stream<Item = Result<pb::AppendResponse, Status>> + Send>>;

#[tonic::async_trait]
impl received::ingest_service_server::IngestService for Ingest {
    async fn append(
        &self,
        request: Request<received::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        let caller = authorize(&request, Operation::AppendSteps)?;
        append_together(
            &self.state,
            &self.capacity,
            &caller,
            vec![Ok(request.into_inner())],
            Admission::Brief,
        )
        .await
        .pop()
        .expect("one answer per request")
        .map(Response::new)
    }

    type AppendStreamStream = AppendStream;

    async fn append_stream(
        &self,
        request: Request<Streaming<received::AppendRequest>>,
    ) -> Result<Response<Self::AppendStreamStream>, Status> {
        let caller = authorize(&request, Operation::AppendSteps)?;
        let stream = caller.open_stream()?;
        let state = self.state.clone();
        let capacity = self.capacity.clone();
        // At shutdown the stream stops reading: what it has read is answered, then it ends.
        // A request that cannot be read is the caller's fault, and answered as such.
        let requests = request
            .into_inner()
            .map(|request| request.map_err(crate::fault::caller_fault))
            .take_until(self.state.shutdown.clone().cancelled_owned());
        // The requests that have arrived while the previous ones were being appended (up
        // to `STREAM_COALESCE`) are appended together, in order, with one call to the log, so
        // that one stream fills a group commit. The responses answer the requests in order;
        // a slow log, a full server or a caller over its rate slow the sender down instead
        // of filling memory.
        let responses = requests
            .ready_chunks(STREAM_COALESCE)
            .then(move |requests| {
                let (state, capacity, caller) = (state.clone(), capacity.clone(), caller.clone());
                async move {
                    futures::stream::iter(
                        append_together(&state, &capacity, &caller, requests, Admission::Wait)
                            .await,
                    )
                }
            })
            .flatten()
            // The caller's stream is counted until the last response has gone.
            .map(move |response| {
                let _open = &stream;
                response
            });
        Ok(Response::new(Box::pin(responses)))
    }
}
