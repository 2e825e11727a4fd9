//! `MonitorService`: the live board for monitoring staff and departments — cases, alerts,
//! a resumable alert feed, supervision actions (through the log), statistics, rankings.

use std::pin::Pin;
use std::sync::Arc;

use casewatch_domain::access::Operation;
use casewatch_domain::alert::LifecycleError;
use casewatch_domain::case::Case;
use casewatch_domain::ids::{AlertId, RegionCode, RegionLevel};
use casewatch_domain::record::Content;
use casewatch_domain::report::Grouping;
use casewatch_domain::stats::Counters;
use casewatch_domain::supervision::SupervisionEvent;
use casewatch_log::{Destination, NewRecord, Position};
use casewatch_proto::convert::{date_field, date_to_pb, optional_enum_field};
use casewatch_proto::{decode_record, encode_record, pb};
use casewatch_store::{CaseFilter, CommittedAlert, ViewStore};
use chrono::NaiveDate;
use futures::Stream;
use prost::Message;
use tokio::sync::{OwnedSemaphorePermit, broadcast, mpsc};
use tonic::{Request, Response, Status};

use crate::auth::{Caller, authorize};
use crate::reports::{self, Reach};
use crate::views::{self, invalid};
use crate::{AppState, await_consistency, log_status, store_status};

/// Alerts per page of a catch-up read, and the feed's buffer towards one subscriber.
const CATCH_UP_PAGE: u32 = 500;
const FEED_BUFFER: usize = 256;

pub(crate) struct Monitor {
    state: AppState,
}

impl Monitor {
    pub(crate) fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// Where a feed starts.
#[derive(Debug, Clone, Copy)]
enum FeedStart {
    /// After the newest change committed when the feed is joined.
    Now,
    /// After this cursor (0: from the first change).
    After(u64),
}

impl FeedStart {
    fn of(request: &pb::AlertFilter) -> Result<Self, Status> {
        match (request.from_beginning, request.after_cursor) {
            (true, 0) => Ok(Self::After(0)),
            (true, _) => Err(Status::invalid_argument(
                "after_cursor: must be 0 with `from_beginning`",
            )),
            (false, 0) => Ok(Self::Now),
            (false, cursor) => Ok(Self::After(cursor)),
        }
    }
}

/// The views' alert changes after `start` that pass `filter`, then the live ones, in
/// cursor order with none missed and none repeated. The live feed is joined before the
/// catch-up read, so a change committed in between is in one or the other; a subscriber
/// that falls behind the live feed catches up from the views again. The feed ends as soon
/// as its subscriber is gone, releasing its stream.
fn alert_feed(
    state: AppState,
    filter: casewatch_store::AlertFilter,
    start: FeedStart,
    stream: OwnedSemaphorePermit,
) -> mpsc::Receiver<Result<pb::Alert, Status>> {
    let (sender, receiver) = mpsc::channel(FEED_BUFFER);
    tokio::spawn(async move {
        // The subscriber's stream is counted until the feed ends.
        let _open = stream;
        let mut live = state.alerts.subscribe();
        let feed = async {
            let mut cursor = match start {
                FeedStart::After(cursor) => cursor,
                FeedStart::Now => newest_cursor(&state).await?,
            };
            loop {
                loop {
                    let page = state
                        .store
                        .alert_changes_after(cursor, &filter, CATCH_UP_PAGE)
                        .await
                        .map_err(store_status)?;
                    if page.is_empty() {
                        break;
                    }
                    for change in page {
                        cursor = change.cursor;
                        if sender.send(Ok(views::alert(&change))).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                loop {
                    let change: Arc<CommittedAlert> = match live.recv().await {
                        Ok(change) => change,
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::debug!(
                                missed,
                                "alert subscriber lagged; catching up from the views"
                            );
                            break;
                        }
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    };
                    if change.cursor <= cursor {
                        continue;
                    }
                    cursor = change.cursor;
                    if filter.matches(&change.row.change.alert)
                        && sender.send(Ok(views::alert(&change))).await.is_err()
                    {
                        return Ok(());
                    }
                }
            }
        };
        tokio::select! {
            () = state.shutdown.cancelled() => {}
            () = sender.closed() => {}
            ended = feed => {
                if let Err(status) = ended {
                    let _ = sender.send(Err(status)).await;
                }
            }
        }
    });
    receiver
}

/// The cursor of the newest alert change the views hold (0 when there is none).
async fn newest_cursor(state: &AppState) -> Result<u64, Status> {
    let newest = state
        .store
        .list_alerts(&casewatch_store::AlertFilter::default(), None, 1)
        .await
        .map_err(store_status)?;
    Ok(newest.first().map_or(0, |alert| alert.cursor))
}

/// Refuses a case outside the caller's scope or department.
pub(crate) fn reach(caller: &Caller, case: &Case) -> Result<(), Status> {
    caller
        .grant
        .reaches(&case.region_code, &case.dept_code)
        .map_err(|denied| caller.denied(denied))
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<pb::Alert, Status>> + Send>>;

#[tonic::async_trait]
impl pb::monitor_service_server::MonitorService for Monitor {
    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::GetCaseResponse>, Status> {
        let caller = authorize(&request, Operation::ReadCases)?;
        let request = request.into_inner();
        await_consistency(&self.state, request.consistency.as_ref()).await?;
        let row = self
            .state
            .store
            .case(&request.case_no)
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("case `{}` not found", request.case_no)))?;
        reach(&caller, &row.case)?;
        Ok(Response::new(pb::GetCaseResponse {
            case_view: Some(views::case_view(
                self.state.policy_in_force().await?.policy(),
                &row,
                self.state.clock.now(),
            )),
            alerts: row.case.alerts.iter().map(pb::Alert::from).collect(),
        }))
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        let caller = authorize(&request, Operation::ReadCases)?;
        let request = request.into_inner();
        await_consistency(&self.state, request.consistency.as_ref()).await?;
        let filter = CaseFilter {
            region_prefixes: views::scoped_regions(&caller, &request.region_prefix)?,
            dept_code: views::scoped_dept(&caller, &request.dept_code)?,
            item_code: (!request.item_code.is_empty()).then(|| request.item_code.clone()),
            status: views::status_filter(request.status)?,
            light: views::light_filter(request.light)?,
            overdue: views::overdue_filter(request.overdue)?,
        };
        let limit = views::page_size(request.page_size);
        let after = (!request.page_token.is_empty()).then_some(request.page_token.as_str());
        let rows = self
            .state
            .store
            .list_cases(&filter, after, limit)
            .await
            .map_err(store_status)?;
        let next_page_token = if rows.len() == limit as usize {
            rows.last()
                .map(|row| row.case.case_no.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let now = self.state.clock.now();
        let policy = self.state.policy_in_force().await?;
        Ok(Response::new(pb::ListCasesResponse {
            cases: rows
                .iter()
                .map(|row| views::case_view(policy.policy(), row, now))
                .collect(),
            next_page_token,
        }))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let caller = authorize(&request, Operation::ReadAlerts)?;
        let request = request.into_inner();
        await_consistency(&self.state, request.consistency.as_ref()).await?;
        let filter = views::list_filter(&caller, &request)?;
        let before = if request.page_token.is_empty() {
            None
        } else {
            Some(
                request
                    .page_token
                    .parse::<u64>()
                    .map_err(|_| views::bad_page_token(&request.page_token))?,
            )
        };
        let limit = views::page_size(request.page_size);
        let alerts = self
            .state
            .store
            .list_alerts(&filter, before, limit)
            .await
            .map_err(store_status)?;
        let next_page_token = if alerts.len() == limit as usize {
            alerts
                .last()
                .map(|alert| alert.cursor.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListAlertsResponse {
            alerts: alerts.iter().map(views::alert).collect(),
            next_page_token,
        }))
    }

    type SubscribeAlertsStream = AlertStream;

    async fn subscribe_alerts(
        &self,
        request: Request<pb::AlertFilter>,
    ) -> Result<Response<Self::SubscribeAlertsStream>, Status> {
        let caller = authorize(&request, Operation::ReadAlerts)?;
        let request = request.into_inner();
        let filter = views::subscription_filter(&caller, &request)?;
        let start = FeedStart::of(&request)?;
        let stream = caller.open_stream()?;
        let receiver = alert_feed(self.state.clone(), filter, start, stream);
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn act_on_alert(
        &self,
        request: Request<pb::ActOnAlertRequest>,
    ) -> Result<Response<pb::ActOnAlertResponse>, Status> {
        let caller = authorize(&request, Operation::ActOnAlerts)?;
        let principal = pb::Principal::from(caller.principal());
        let request = request.into_inner();
        let action = request
            .action
            .ok_or_else(|| Status::invalid_argument("action: required"))?;
        let event = pb::SupervisionEvent {
            event_id: request.event_id,
            alert_id: request.alert_id,
            principal: Some(principal),
            action: Some(action.into()),
        };
        let payload = event.encode_to_vec();
        let domain = SupervisionEvent::try_from(event).map_err(invalid)?;
        let alert_id: &AlertId = &domain.alert_id;
        // Refuse what the alert's lifecycle would refuse, against the views as they are:
        // a person gets the reason now rather than a refusal recorded later.
        let row = self
            .state
            .store
            .case(alert_id.case_no.as_str())
            .await
            .map_err(store_status)?
            .ok_or_else(|| Status::not_found(format!("alert `{alert_id}` not found")))?;
        reach(&caller, &row.case)?;
        let now = self.state.clock.now();
        let mut trial: Case = row.case.clone();
        let policy = self.state.policy_in_force().await?;
        match trial.handle_supervision(&domain, now, policy.policy()) {
            Ok(_) => {}
            // A retry of an action already applied: answered with the original, appended
            // nothing.
            Err(LifecycleError::AlreadyApplied(_)) => {
                let position = self.action_position(&domain).await?;
                let alert = self
                    .projected_alert(alert_id, position, request.await_projection)
                    .await?;
                return Ok(acted(position, true, alert));
            }
            Err(error) => return Err(lifecycle_status(error)),
        }
        let appended = self
            .state
            .log
            .append(vec![NewRecord {
                destination: Destination::Key(alert_id.case_no.to_string()),
                bytes: encode_record(pb::RecordKind::SupervisionEvent, now, &payload),
                idempotency_key: Some(format!("{}/{}", alert_id.case_no, domain.event_id)),
                headers: casewatch_telemetry::inject_current(),
            }])
            .await
            .map_err(log_status)?
            .pop()
            .expect("one record appended, one position");
        let alert = self
            .projected_alert(alert_id, appended.position, request.await_projection)
            .await?;
        Ok(acted(appended.position, appended.duplicate, alert))
    }

    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::GetStatisticsResponse>, Status> {
        let caller = authorize(&request, Operation::ReadStatistics)?;
        let request = request.into_inner();
        await_consistency(&self.state, request.consistency.as_ref()).await?;
        let from = date_field("from", request.from).map_err(invalid)?;
        let to = date_field("to", request.to).map_err(invalid)?;
        if to < from {
            return Err(Status::invalid_argument("to: must not be before `from`"));
        }
        let level = optional_enum_field::<RegionLevel>("region_level", request.region_level)
            .map_err(invalid)?
            .unwrap_or(RegionLevel::County);
        let grouping = match pb::StatisticsGroupBy::try_from(request.group_by) {
            Ok(pb::StatisticsGroupBy::RegionLevel) => Grouping::Region(level),
            Ok(pb::StatisticsGroupBy::Department) => Grouping::Department,
            Ok(pb::StatisticsGroupBy::Item) => Grouping::Item,
            Ok(pb::StatisticsGroupBy::Unspecified) | Err(_) => {
                return Err(Status::invalid_argument("group_by: must be specified"));
            }
        };
        let reach = reach_of(&caller, &request.region_prefix)?;
        let rows = reports::statistics(self.state.store.as_ref(), &reach, from, to, grouping)
            .await
            .map_err(report_status)?;
        let message = |key: String, counters: &Counters| pb::StatisticsRow {
            key,
            counters: Some(counters.into()),
            rates: Some((&counters.rates()).into()),
        };
        let total = casewatch_domain::report::total(rows.values());
        Ok(Response::new(pb::GetStatisticsResponse {
            rows: rows
                .iter()
                .map(|(key, counters)| message(key.clone(), counters))
                .collect(),
            total: Some(message(String::new(), &total)),
        }))
    }

    async fn get_ranking(
        &self,
        request: Request<pb::GetRankingRequest>,
    ) -> Result<Response<pb::GetRankingResponse>, Status> {
        let caller = authorize(&request, Operation::ReadRankings)?;
        let request = request.into_inner();
        await_consistency(&self.state, request.consistency.as_ref()).await?;
        let day = date_field("week", request.week).map_err(invalid)?;
        let grouping = match pb::RankingKind::try_from(request.kind) {
            Ok(pb::RankingKind::Counties) => Grouping::Region(RegionLevel::County),
            Ok(pb::RankingKind::Departments) => Grouping::Department,
            Ok(pb::RankingKind::Unspecified) | Err(_) => {
                return Err(Status::invalid_argument("kind: must be specified"));
            }
        };
        // A ranking compares departments with each other: every department of the
        // caller's regions is in it.
        let reach = Reach {
            prefixes: views::scoped_regions(&caller, &request.region_prefix)?,
            dept: None,
        };
        let (week, rows) = reports::ranking(self.state.store.as_ref(), &reach, day, grouping)
            .await
            .map_err(report_status)?;
        Ok(Response::new(pb::GetRankingResponse {
            week_start: Some(date_to_pb(week.first)),
            rows: rows.iter().map(Into::into).collect(),
        }))
    }

    async fn get_daily_report(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::DailyReport>, Status> {
        let ask = self.report_ask(request, Operation::ReadStatistics).await?;
        let report = reports::daily(self.store(), &ask.region, &ask.reach, ask.day).await;
        reply(report)
    }

    async fn get_weekly_ranking(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::WeeklyRanking>, Status> {
        let ask = self.report_ask(request, Operation::ReadRankings).await?;
        let report = reports::weekly(self.store(), &ask.region, &ask.reach, ask.day).await;
        reply(report)
    }

    async fn get_dispatch_list(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::DispatchList>, Status> {
        let ask = self.report_ask(request, Operation::ReadStatistics).await?;
        let in_force = self.state.policy_in_force().await?;
        let policy = in_force.policy();
        let report =
            reports::dispatch_list(self.store(), policy, &ask.region, &ask.reach, ask.day).await;
        reply(report)
    }

    async fn get_monthly_bulletin(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::MonthlyBulletin>, Status> {
        let ask = self.report_ask(request, Operation::ReadStatistics).await?;
        let in_force = self.state.policy_in_force().await?;
        let policy = in_force.policy();
        let report =
            reports::monthly_bulletin(self.store(), policy, &ask.region, &ask.reach, ask.day).await;
        reply(report)
    }
}

/// What a report request asks for, within the caller's reach.
struct ReportAsk {
    region: RegionCode,
    reach: Reach,
    day: NaiveDate,
}

impl Monitor {
    /// Where an action already applied to its alert lies on the log: the case's archived
    /// supervision records, read back until one carries the action's `event_id`.
    async fn action_position(&self, action: &SupervisionEvent) -> Result<Position, Status> {
        let case_no = action.alert_id.case_no.as_str();
        let archived = self.store().steps(case_no).await.map_err(store_status)?;
        for step in archived.iter().filter(|step| step.seq.is_none()) {
            let position = step.position;
            let records = self
                .state
                .log
                .read(position.partition, position.offset, 1)
                .await
                .map_err(log_status)?;
            let Some(record) = records.first() else {
                continue;
            };
            if let Ok((_, Content::Action(found))) = decode_record(&record.bytes)
                && found.event_id == action.event_id
                && found.alert_id == action.alert_id
            {
                return Ok(Position {
                    partition: position.partition,
                    offset: position.offset,
                });
            }
        }
        Err(Status::internal(format!(
            "action `{}` is applied to alert `{}` but not found in its case's records",
            action.event_id, action.alert_id
        )))
    }

    /// The alert once the views hold the record at `position`, when the caller waits for
    /// it; `None` otherwise, or when the wait ran out.
    async fn projected_alert(
        &self,
        alert_id: &AlertId,
        position: Position,
        await_projection: bool,
    ) -> Result<Option<pb::Alert>, Status> {
        if !await_projection {
            return Ok(None);
        }
        let folded = self
            .state
            .progress
            .wait_for(
                position.partition,
                position.offset,
                self.state.options.max_consistency_wait,
            )
            .await;
        if !folded {
            return Ok(None);
        }
        let row = self
            .store()
            .case(alert_id.case_no.as_str())
            .await
            .map_err(store_status)?;
        Ok(row.and_then(|row| row.case.alert(alert_id).map(pb::Alert::from)))
    }

    fn store(&self) -> &dyn ViewStore {
        self.state.store.as_ref()
    }

    /// A report request read: the caller authorized for `operation`, the consistency it
    /// asks for awaited.
    async fn report_ask(
        &self,
        request: Request<pb::GetReportRequest>,
        operation: Operation,
    ) -> Result<ReportAsk, Status> {
        let caller = authorize(&request, operation)?;
        let request = request.into_inner();
        await_consistency(&self.state, request.consistency.as_ref()).await?;
        report_request(&caller, &request, operation)
    }
}

/// A report as its message.
fn reply<R, M>(report: Result<R, reports::ReportError>) -> Result<Response<M>, Status>
where
    M: for<'a> From<&'a R>,
{
    Ok(Response::new(M::from(&report.map_err(report_status)?)))
}

/// The rows a caller may read within a requested region prefix: its scope, and its own
/// department only when it speaks for one.
fn reach_of(caller: &Caller, region_prefix: &str) -> Result<Reach, Status> {
    Ok(Reach {
        prefixes: views::scoped_regions(caller, region_prefix)?,
        dept: caller.grant.dept_filter().map(ToString::to_string),
    })
}

/// The region, reach and day of a report request. A ranking compares departments with
/// each other, so it holds every department of the caller's regions; the other reports
/// hold only a department's own rows when the caller speaks for one.
fn report_request(
    caller: &Caller,
    request: &pb::GetReportRequest,
    operation: Operation,
) -> Result<ReportAsk, Status> {
    if request.region.is_empty() {
        return Err(Status::invalid_argument("region: required"));
    }
    let region = RegionCode::parse(&request.region)
        .map_err(|error| Status::invalid_argument(format!("region: {error}")))?;
    let mut reach = reach_of(caller, &request.region)?;
    if operation == Operation::ReadRankings {
        reach.dept = None;
    }
    let day = date_field("date", request.date).map_err(invalid)?;
    Ok(ReportAsk { region, reach, day })
}

/// The answer to an action: where it lies, whether it was a re-send, and the alert after it.
fn acted(
    position: Position,
    duplicate: bool,
    alert: Option<pb::Alert>,
) -> Response<pb::ActOnAlertResponse> {
    Response::new(pb::ActOnAlertResponse {
        position: Some(pb::LogPosition {
            partition: position.partition,
            offset: position.offset,
        }),
        duplicate,
        alert,
        refusal: String::new(),
    })
}

/// The status of an action the alert's lifecycle refuses.
fn lifecycle_status(error: LifecycleError) -> Status {
    match error {
        LifecycleError::UnknownAlert(_) => Status::not_found(error.to_string()),
        LifecycleError::NotPermitted { .. } => Status::permission_denied(error.to_string()),
        LifecycleError::InvalidState { .. }
        | LifecycleError::AtTopLevel
        | LifecycleError::AlreadyAppealed
        | LifecycleError::DueBeforeNotice
        | LifecycleError::AlreadyApplied(_) => Status::failed_precondition(error.to_string()),
    }
}

fn report_status(error: reports::ReportError) -> Status {
    match error {
        reports::ReportError::Store(error) => store_status(error),
        reports::ReportError::OutOfRange(_) => Status::invalid_argument(error.to_string()),
    }
}
