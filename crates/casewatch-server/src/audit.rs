//! `AuditService`: replay a case, read the log, see a case as it was, verify the hash
//! chains, re-run the rules over a period with other thresholds, and list the records the
//! projectors quarantined.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;

use casewatch_domain::access::Operation;
use casewatch_domain::alert::Alert;
use casewatch_domain::case::Case;
use casewatch_domain::record::Content;
use casewatch_domain::rulebook::ThresholdPatch;
use casewatch_projector::audit::{self, Mismatch, VerifyReport};
use casewatch_proto::convert::{date_field, timestamp_field, timestamp_to_pb};
use casewatch_proto::{decode_record, pb};
use casewatch_store::{Position, StepRow};
use futures::Stream;
use prost::Message;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::auth::{Caller, authorize};
use crate::monitor::reach;
use crate::views::{self, invalid};
use crate::{AppState, log_status, store_status};

pub(crate) struct Audit {
    state: AppState,
}

impl Audit {
    pub(crate) fn new(state: AppState) -> Self {
        Self { state }
    }
}

fn project_error(error: casewatch_projector::ProjectError) -> Status {
    match error {
        casewatch_projector::ProjectError::Log(error) => log_status(error),
        casewatch_projector::ProjectError::Store(error) => store_status(error),
        error @ (casewatch_projector::ProjectError::OtherLog { .. }
        | casewatch_projector::ProjectError::AheadOfLog { .. }
        | casewatch_projector::ProjectError::SavedPolicy { .. }) => {
            Status::failed_precondition(error.to_string())
        }
        // Only a projector's run gives up; an audit call answers each failure at once.
        error @ casewatch_projector::ProjectError::GaveUp { .. } => {
            Status::unavailable(error.to_string())
        }
    }
}

fn report(report: VerifyReport) -> pb::VerifyReport {
    pb::VerifyReport {
        records_checked: report.records_checked,
        first_mismatch: report
            .first_mismatch
            .map(|mismatch: Mismatch| pb::Mismatch {
                position: Some(pb::LogPosition {
                    partition: mismatch.position.partition,
                    offset: mismatch.position.offset,
                }),
                case_no: mismatch.case_no,
                expected_hash: mismatch.expected.to_vec(),
                actual_hash: mismatch.actual.to_vec(),
                reason: mismatch.reason,
            }),
    }
}

/// The case of `case_no` if the caller may audit it: unknown cases are not found, cases
/// outside the caller's scope refused.
async fn audited_case(
    state: &AppState,
    caller: &Caller,
    case_no: &str,
) -> Result<casewatch_store::CaseRow, Status> {
    let row = state
        .store
        .case(case_no)
        .await
        .map_err(store_status)?
        .ok_or_else(|| Status::not_found(format!("case `{case_no}` not found")))?;
    reach(caller, &row.case)?;
    Ok(row)
}

/// Whether a scoped caller may see a record of the log: a case step inside its reach, an
/// action on a case inside it (looked up once per case), or a clock tick. A caller of every
/// region and department sees everything, unreadable records included.
struct LogScope {
    caller: std::sync::Arc<Caller>,
    store: std::sync::Arc<dyn casewatch_store::ViewStore>,
    cases: HashMap<String, bool>,
}

impl LogScope {
    fn unrestricted(&self) -> bool {
        self.caller.grant.reaches_unplaced().is_ok()
    }

    async fn sees(&mut self, decoded: Option<&Content>) -> Result<bool, Status> {
        if self.unrestricted() {
            return Ok(true);
        }
        let case_no = match decoded {
            Some(Content::Step(event)) => {
                return Ok(self
                    .caller
                    .grant
                    .reaches(&event.region_code, &event.dept_code)
                    .is_ok());
            }
            Some(Content::Tick(_) | Content::Policy(_)) => return Ok(true),
            Some(Content::Action(action)) => action.alert_id.case_no.to_string(),
            None => return Ok(false),
        };
        if let Some(known) = self.cases.get(&case_no) {
            return Ok(*known);
        }
        let sees = self
            .store
            .case(&case_no)
            .await
            .map_err(store_status)?
            .is_some_and(|row| {
                self.caller
                    .grant
                    .reaches(&row.case.region_code, &row.case.dept_code)
                    .is_ok()
            });
        self.cases.insert(case_no, sees);
        Ok(sees)
    }
}

/// One archived record as a message, with the record read back from the log.
fn recorded_step(step: &StepRow, bytes: Vec<u8>) -> pb::RecordedStep {
    let event = match decode_record(&bytes) {
        Ok((_, Content::Step(event))) => Some(pb::recorded_step::Event::CaseEvent(event.into())),
        Ok((_, Content::Action(action))) => {
            Some(pb::recorded_step::Event::SupervisionEvent(action.into()))
        }
        Ok((_, Content::Tick(_) | Content::Policy(_))) | Err(_) => None,
    };
    pb::RecordedStep {
        position: Some(pb::LogPosition {
            partition: step.position.partition,
            offset: step.position.offset,
        }),
        recorded_at: Some(timestamp_to_pb(step.recorded_at)),
        record: bytes,
        event,
        hash: step.hash.to_vec(),
        previous_hash: step.previous_hash.to_vec(),
        disposition: pb::Disposition::from(step.disposition).into(),
        note: String::new(),
    }
}

type StepStream = Pin<Box<dyn Stream<Item = Result<pb::RecordedStep, Status>> + Send>>;
type RecordStream = Pin<Box<dyn Stream<Item = Result<pb::LogRecord, Status>> + Send>>;

/// Records a `ReadLog` call sends per read of the log.
const READ_BATCH: usize = 1000;
/// About how many bytes of records a page of `ListQuarantine` holds (at least one record).
const QUARANTINE_PAGE_BYTES: usize = 1 << 20;

/// A `ListQuarantine` page token: the position of the last record sent, `partition:offset`.
fn quarantine_token(position: Position) -> String {
    format!("{}:{}", position.partition, position.offset)
}

fn parse_quarantine_token(token: &str) -> Result<Option<Position>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let parsed = token.split_once(':').and_then(|(partition, offset)| {
        Some(Position {
            partition: partition.parse().ok()?,
            offset: offset.parse().ok()?,
        })
    });
    parsed.map(Some).ok_or_else(|| views::bad_page_token(token))
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for Audit {
    type ReplayCaseStream = StepStream;

    async fn replay_case(
        &self,
        request: Request<pb::ReplayCaseRequest>,
    ) -> Result<Response<Self::ReplayCaseStream>, Status> {
        let caller = authorize(&request, Operation::Audit)?;
        let case_no = request.into_inner().case_no;
        audited_case(&self.state, &caller, &case_no).await?;
        let stream = caller.open_stream()?;
        let steps = self
            .state
            .store
            .steps(&case_no)
            .await
            .map_err(store_status)?;
        if steps.is_empty() {
            return Err(Status::not_found(format!("case `{case_no}` not found")));
        }
        let log = self.state.log.clone();
        let (sender, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            let _open = stream;
            for step in steps {
                let read = log
                    .read(step.position.partition, step.position.offset, 1)
                    .await
                    .map_err(log_status);
                let message = read.map(|records| {
                    let bytes = records
                        .into_iter()
                        .next()
                        .filter(|record| record.position.offset == step.position.offset)
                        .map(|record| record.bytes)
                        .unwrap_or_default();
                    recorded_step(&step, bytes)
                });
                if sender.send(message).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    type ReadLogStream = RecordStream;

    async fn read_log(
        &self,
        request: Request<pb::ReadLogRequest>,
    ) -> Result<Response<Self::ReadLogStream>, Status> {
        let caller = authorize(&request, Operation::Audit)?;
        let request = request.into_inner();
        let log = self.state.log.clone();
        let partitions: Vec<u32> = if request.partitions.is_empty() {
            (0..log.partitions()).collect()
        } else {
            request.partitions.clone()
        };
        if let Some(bad) = partitions
            .iter()
            .find(|partition| **partition >= log.partitions())
        {
            return Err(Status::invalid_argument(format!(
                "partitions: partition {bad} does not exist (the log has {})",
                log.partitions()
            )));
        }
        let from_time = request
            .from_time
            .map(|at| timestamp_field("from_time", Some(at)))
            .transpose()
            .map_err(invalid)?;
        let kinds: BTreeSet<i32> = request.kinds.iter().copied().collect();
        // Only an explicit request narrows the records by region; the caller's scope
        // filters them below either way.
        let prefixes = if request.region_prefix.is_empty() {
            None
        } else {
            views::scoped_regions(&caller, &request.region_prefix)?
        };
        let case_no = request.case_no.clone();
        let limit = if request.limit == 0 {
            u64::MAX
        } else {
            request.limit
        };
        let starts: Vec<(u32, u64)> = partitions
            .iter()
            .map(|partition| {
                let from = request
                    .from_positions
                    .iter()
                    .find(|position| position.partition == *partition)
                    .map_or(0, |position| position.offset);
                (*partition, from)
            })
            .collect();
        let stream = caller.open_stream()?;
        let mut scope = LogScope {
            caller,
            store: self.state.store.clone(),
            cases: HashMap::new(),
        };
        let (sender, receiver) = mpsc::channel(256);
        tokio::spawn(async move {
            let _open = stream;
            let mut sent = 0u64;
            for (partition, mut next) in starts {
                loop {
                    let records = match log.read(partition, next, READ_BATCH).await {
                        Ok(records) => records,
                        Err(error) => {
                            let _ = sender.send(Err(log_status(error))).await;
                            return;
                        }
                    };
                    if records.is_empty() {
                        break;
                    }
                    for record in records {
                        next = record.position.offset + 1;
                        let envelope = pb::Record::decode(record.bytes.as_slice()).ok();
                        let kind = envelope.as_ref().map_or(0, |envelope| envelope.kind);
                        let recorded_at =
                            envelope.as_ref().and_then(|envelope| envelope.recorded_at);
                        let decoded = decode_record(&record.bytes).ok();
                        let keep = (kinds.is_empty() || kinds.contains(&kind))
                            && from_time.is_none_or(|from| {
                                decoded.as_ref().is_some_and(|(at, _)| *at >= from)
                            })
                            && (case_no.is_empty() || record.key == case_no)
                            && prefixes
                                .as_ref()
                                .is_none_or(|prefixes| match decoded.as_ref() {
                                    Some((_, Content::Step(event))) => {
                                        prefixes.iter().any(|prefix| {
                                            event.region_code.as_str().starts_with(prefix.as_str())
                                        })
                                    }
                                    _ => false,
                                });
                        if !keep {
                            continue;
                        }
                        match scope.sees(decoded.as_ref().map(|(_, record)| record)).await {
                            Ok(true) => {}
                            Ok(false) => continue,
                            Err(status) => {
                                let _ = sender.send(Err(status)).await;
                                return;
                            }
                        }
                        let message = pb::LogRecord {
                            position: Some(pb::LogPosition {
                                partition: record.position.partition,
                                offset: record.position.offset,
                            }),
                            record: record.bytes,
                            recorded_at,
                            kind,
                        };
                        if sender.send(Ok(message)).await.is_err() {
                            return;
                        }
                        sent += 1;
                        if sent >= limit {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn get_case_as_of(
        &self,
        request: Request<pb::GetCaseAsOfRequest>,
    ) -> Result<Response<pb::GetCaseAsOfResponse>, Status> {
        let caller = authorize(&request, Operation::Audit)?;
        let request = request.into_inner();
        let at = timestamp_field("at", request.at).map_err(invalid)?;
        let state = &self.state;
        let as_of = audit::case_as_of(
            &*state.log,
            &*state.store,
            &state.policy,
            &request.case_no,
            at,
        )
        .await
        .map_err(project_error)?
        .ok_or_else(|| {
            Status::not_found(format!("case `{}` had no record by then", request.case_no))
        })?;
        let case = as_of.case;
        reach(&caller, &case)?;
        let calendar = as_of.policy.calendars.for_region(&case.region_code);
        let row = casewatch_store::CaseRow {
            light: case.light(),
            promised_due: case.promised_due(calendar),
            legal_due: case.legal_due(calendar),
            used_seconds: case.used_seconds(calendar, at),
            paused: case.clock.is_paused(calendar, at),
            partition: state.log.partition_of(case.case_no.as_str()),
            chain_head: [0; 32],
            as_of: at,
            case,
        };
        Ok(Response::new(pb::GetCaseAsOfResponse {
            case_view: Some(views::case_view(&as_of.policy, &row, at)),
            alerts: row.case.alerts.iter().map(pb::Alert::from).collect(),
        }))
    }

    async fn verify_case(
        &self,
        request: Request<pb::VerifyCaseRequest>,
    ) -> Result<Response<pb::VerifyReport>, Status> {
        let caller = authorize(&request, Operation::Audit)?;
        let case_no = request.into_inner().case_no;
        audited_case(&self.state, &caller, &case_no).await?;
        let verified = audit::verify_case(&*self.state.log, &*self.state.store, &case_no)
            .await
            .map_err(project_error)?;
        if verified.records_checked == 0 {
            return Err(Status::not_found(format!("case `{case_no}` not found")));
        }
        Ok(Response::new(report(verified)))
    }

    async fn verify_log(
        &self,
        request: Request<pb::VerifyLogRequest>,
    ) -> Result<Response<pb::VerifyReport>, Status> {
        let caller = authorize(&request, Operation::Audit)?;
        let request = request.into_inner();
        let mut verified =
            audit::verify_log(&*self.state.log, &*self.state.store, &request.partitions)
                .await
                .map_err(project_error)?;
        // Every auditor learns where the chain breaks; only one who may see the case
        // learns which case it is.
        if let Some(mismatch) = &mut verified.first_mismatch
            && !mismatch.case_no.is_empty()
            && audited_case(&self.state, &caller, &mismatch.case_no)
                .await
                .is_err()
        {
            mismatch.case_no.clear();
            mismatch.reason = "the record belongs to a case outside your scope".to_owned();
        }
        Ok(Response::new(report(verified)))
    }

    async fn list_quarantine(
        &self,
        request: Request<pb::ListQuarantineRequest>,
    ) -> Result<Response<pb::ListQuarantineResponse>, Status> {
        let caller = authorize(&request, Operation::Audit)?;
        caller
            .grant
            .reaches_unplaced()
            .map_err(|denied| caller.denied(denied))?;
        let request = request.into_inner();
        let after = parse_quarantine_token(&request.page_token)?;
        let limit = views::page_size(request.page_size);
        let rows = self
            .state
            .store
            .quarantine(after, limit)
            .await
            .map_err(store_status)?;
        let fetched = rows.len();
        let mut size = 0;
        let mut records = Vec::with_capacity(rows.len());
        let mut last = None;
        for row in rows {
            if !records.is_empty() && size + row.bytes.len() > QUARANTINE_PAGE_BYTES {
                break;
            }
            size += row.bytes.len();
            last = Some(row.position);
            records.push(pb::QuarantinedRecord {
                position: Some(pb::LogPosition {
                    partition: row.position.partition,
                    offset: row.position.offset,
                }),
                reason: row.reason,
                record_length: row.bytes.len() as u64,
                record: row.bytes,
                case_no: row.case_no.map(String::from).unwrap_or_default(),
            });
        }
        // More may follow a full page, and do follow one cut at the byte budget.
        let more = fetched == limit as usize || records.len() < fetched;
        let next_page_token = match last {
            Some(last) if more => quarantine_token(last),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListQuarantineResponse {
            records,
            next_page_token,
        }))
    }

    async fn what_if(
        &self,
        request: Request<pb::WhatIfRequest>,
    ) -> Result<Response<pb::WhatIfResponse>, Status> {
        let caller = authorize(&request, Operation::Audit)?;
        let request = request.into_inner();
        let patch = match request.thresholds {
            Some(thresholds) => ThresholdPatch::try_from(thresholds)
                .map_err(|error| invalid(error.within("thresholds")))?,
            None => ThresholdPatch::default(),
        };
        let from = date_field("from", request.from).map_err(invalid)?;
        let to = date_field("to", request.to).map_err(invalid)?;
        let prefixes = views::scoped_regions(&caller, &request.region_prefix)?;
        let state = &self.state;
        // The trial thresholds replace the defaults of every rule book in force; its
        // overrides for regions and items still apply over them, as they do to the cases
        // actually judged.
        let trial_policy = state.policy.clone().with_trial(patch);
        // The cases re-run are chosen by what their steps say, the same under both rule
        // books: the day each was accepted (or, never accepted, submitted), in its region's
        // time.
        let in_period = |case: &Case| {
            let calendar = state
                .policy
                .policy()
                .calendars
                .for_region(&case.region_code);
            case.accepted_at
                .or(case.submitted_at)
                .map(|at| calendar.local_date(at))
                .is_some_and(|day| day >= from && day <= to)
                && prefixes.as_ref().is_none_or(|prefixes| {
                    prefixes
                        .iter()
                        .any(|prefix| case.region_code.as_str().starts_with(prefix.as_str()))
                })
                && caller
                    .grant
                    .reaches(&case.region_code, &case.dept_code)
                    .is_ok()
        };
        let alerts = |cases: Vec<Case>| {
            let mut alerts: Vec<Alert> = cases.into_iter().flat_map(|case| case.alerts).collect();
            alerts.sort_by(|a, b| a.id.cmp(&b.id));
            alerts
        };
        let trial = audit::fold_all(&*state.log, &trial_policy, &in_period)
            .await
            .map_err(project_error)?;
        let cases = trial.len();
        let would = alerts(trial);
        let actual = alerts(
            audit::fold_all(&*state.log, &state.policy, &in_period)
                .await
                .map_err(project_error)?,
        );
        let would_ids: BTreeSet<String> = would.iter().map(|alert| alert.id.to_string()).collect();
        let actual_ids: BTreeSet<String> =
            actual.iter().map(|alert| alert.id.to_string()).collect();
        let limit = if request.limit == 0 {
            1000
        } else {
            request.limit as usize
        };
        let truncated = would.len() > limit || actual.len() > limit;
        Ok(Response::new(pb::WhatIfResponse {
            counts: Some(pb::WhatIfCounts {
                cases: cases as u64,
                would_raise: would.len() as u64,
                actually_raised: actual.len() as u64,
                only_in_what_if: would_ids.difference(&actual_ids).count() as u64,
                only_in_actual: actual_ids.difference(&would_ids).count() as u64,
            }),
            only_in_what_if: would_ids
                .difference(&actual_ids)
                .take(limit)
                .cloned()
                .collect(),
            only_in_actual: actual_ids
                .difference(&would_ids)
                .take(limit)
                .cloned()
                .collect(),
            would_raise: would.iter().take(limit).map(pb::Alert::from).collect(),
            actually_raised: actual.iter().take(limit).map(pb::Alert::from).collect(),
            truncated,
        }))
    }
}
