//! Messages built from the views, and view filters built from requests.

use casewatch_domain::Timestamp;
use casewatch_domain::alert::{AlertState, Cause};
use casewatch_domain::case::{CaseStatus, Light};
use casewatch_domain::catalogue::{Category, Level, RuleId};
use casewatch_domain::clock::whole_units;
use casewatch_domain::event::LimitUnit;
use casewatch_proto::convert::{ProtoEnum, optional_enum_field, timestamp_field};
use casewatch_proto::pb;
use casewatch_store::{AlertFilter, CaseRow, CommittedAlert, OverdueFilter};
use tonic::Status;

use crate::auth::Caller;
use casewatch_domain::case::Policy;

/// An invalid request field as a status naming it.
pub(crate) fn invalid(error: casewatch_domain::ValidationError) -> Status {
    Status::invalid_argument(error.to_string())
}

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// The page size of a list request: the default for 0, capped.
pub(crate) fn page_size(requested: u32) -> u32 {
    match requested {
        0 => DEFAULT_PAGE,
        size => size.min(MAX_PAGE),
    }
}

/// A `page_token` that is not one this service gave.
pub(crate) fn bad_page_token(token: &str) -> Status {
    Status::invalid_argument(format!(
        "page_token: `{token}` is not a token this service gave"
    ))
}

fn optional(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// A case as a message, its working time used counted to `at` (never before the case's own
/// time): the moment it is read, or the instant an auditor asks about.
pub(crate) fn case_view(policy: &Policy, row: &CaseRow, at: Timestamp) -> pb::CaseView {
    let case = &row.case;
    let calendar = policy.calendars.for_region(&case.region_code);
    let used_working = case.clock.used(
        casewatch_domain::clock::Measure::Working,
        calendar,
        at.max(row.as_of),
    );
    let last = row.case.applied_through;
    pb::CaseView {
        case_no: case.case_no.to_string(),
        item_code: case.item_code.to_string(),
        region_code: case.region_code.to_string(),
        dept_code: case.dept_code.to_string(),
        status: case.status.to_pb(),
        case_type: case.case_type.map_or(0, ProtoEnum::to_pb),
        light: row.light.to_pb(),
        accepted_at: case
            .accepted_at
            .map(casewatch_proto::convert::timestamp_to_pb),
        ended_at: case.ended_at.map(casewatch_proto::convert::timestamp_to_pb),
        promised_limit: case.promised_limit.map(Into::into),
        legal_limit: case.legal_limit.map(Into::into),
        used_working_days: u32::try_from(whole_units(
            used_working,
            LimitUnit::WorkingDays,
            calendar,
        ))
        .unwrap_or(u32::MAX),
        used_working_seconds: u64::try_from(used_working).unwrap_or(0),
        promised_due: row
            .promised_due
            .map(casewatch_proto::convert::timestamp_to_pb),
        legal_due: row.legal_due.map(casewatch_proto::convert::timestamp_to_pb),
        paused: row.paused,
        open_alert_count: u32::try_from(
            case.alerts
                .iter()
                .filter(|alert| alert.state.is_open())
                .count(),
        )
        .unwrap_or(u32::MAX),
        chain_head: row.chain_head.to_vec(),
        last_seq: last,
        last_position: None,
        submitted_at: case
            .submitted_at
            .map(casewatch_proto::convert::timestamp_to_pb),
        channel: case.channel.map_or(0, ProtoEnum::to_pb),
        past_promised: case.counted_overdue.promised,
        past_legal: case.counted_overdue.legal,
    }
}

/// An alert change as the message subscribers and lists see, with its cursor.
pub(crate) fn alert(committed: &CommittedAlert) -> pb::Alert {
    let change = &committed.row.change;
    let kind = match change.cause {
        Cause::Raised => pb::AlertChangeKind::Raised,
        Cause::Action { .. } => pb::AlertChangeKind::Acted,
        Cause::AutoResolved => pb::AlertChangeKind::Resolved,
        Cause::Escalated { .. } => pb::AlertChangeKind::Escalated,
    };
    pb::Alert {
        cursor: committed.cursor,
        change: kind.into(),
        ..pb::Alert::from(&change.alert)
    }
}

/// The overdue filter of a case list.
pub(crate) fn overdue_filter(value: i32) -> Result<Option<OverdueFilter>, Status> {
    match pb::OverdueFilter::try_from(value) {
        Ok(pb::OverdueFilter::Unspecified) => Ok(None),
        Ok(pb::OverdueFilter::PastPromised) => Ok(Some(OverdueFilter::PastPromised)),
        Ok(pb::OverdueFilter::PastLegal) => Ok(Some(OverdueFilter::PastLegal)),
        Err(_) => Err(Status::invalid_argument(format!(
            "overdue: unknown value {value}"
        ))),
    }
}

/// A region prefix from a request: the significant digits of a region code, or digits.
pub(crate) fn region_prefix(text: &str) -> Result<Option<String>, Status> {
    if text.is_empty() {
        return Ok(None);
    }
    if !text.chars().all(|ch| ch.is_ascii_digit()) || text.len() > 12 {
        return Err(Status::invalid_argument(format!(
            "region_prefix: must be up to 12 digits, got `{text}`"
        )));
    }
    // A full code stands for its region: `330100` means every code starting `3301`.
    Ok(Some(
        casewatch_domain::ids::RegionCode::parse(text)
            .map_or_else(|_| text.to_owned(), |code| code.significant().to_owned()),
    ))
}

/// The region prefixes a caller may read within a requested prefix: `None` for every
/// region. A request wholly outside the caller's scope is refused.
pub(crate) fn scoped_regions(
    caller: &Caller,
    requested: &str,
) -> Result<Option<Vec<String>>, Status> {
    let requested = region_prefix(requested)?;
    let scope = &caller.grant.scope;
    if scope.is_everywhere() {
        return Ok(requested.map(|prefix| vec![prefix]));
    }
    caller
        .grant
        .region_prefixes(requested.as_deref())
        .map(Some)
        .map_err(|denied| caller.denied(denied))
}

/// The department a caller may read: its own when it speaks for one (asking for another
/// is refused), otherwise the one requested, if any.
pub(crate) fn scoped_dept(caller: &Caller, requested: &str) -> Result<Option<String>, Status> {
    match caller.grant.dept_filter() {
        None => Ok(optional(requested)),
        Some(own) if requested.is_empty() || requested == own.as_str() => Ok(Some(own.to_string())),
        Some(_) => Err(
            caller.denied(casewatch_domain::access::Denied::OtherDepartment {
                principal: caller.principal().id.clone(),
                dept: requested.to_owned(),
            }),
        ),
    }
}

/// The view filter of a subscription, within the caller's reach.
pub(crate) fn subscription_filter(
    caller: &Caller,
    filter: &pb::AlertFilter,
) -> Result<AlertFilter, Status> {
    Ok(AlertFilter {
        region_prefixes: scoped_regions(caller, &filter.region_prefix)?,
        dept_code: scoped_dept(caller, &filter.dept_code)?,
        min_level: optional_enum_field::<Level>("min_level", filter.min_level).map_err(invalid)?,
        categories: enums::<Category>("categories", &filter.categories)?,
        states: enums::<AlertState>("states", &filter.states)?,
        ..AlertFilter::default()
    })
}

/// The view filter of a list request, within the caller's reach.
pub(crate) fn list_filter(
    caller: &Caller,
    request: &pb::ListAlertsRequest,
) -> Result<AlertFilter, Status> {
    let mut states = enums::<AlertState>("states", &request.states)?;
    if request.open_only && states.is_empty() {
        states = [
            AlertState::Raised,
            AlertState::Acknowledged,
            AlertState::UnderNotice,
            AlertState::FeedbackReceived,
            AlertState::Appealed,
            AlertState::AppealEscalated,
            AlertState::Returned,
        ]
        .to_vec();
    }
    let rules = request
        .rules
        .iter()
        .map(|code| {
            code.parse::<RuleId>()
                .map_err(|error| Status::invalid_argument(format!("rules: {error}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(AlertFilter {
        region_prefixes: scoped_regions(caller, &request.region_prefix)?,
        dept_code: scoped_dept(caller, &request.dept_code)?,
        item_code: optional(&request.item_code),
        case_no: optional(&request.case_no),
        rules,
        categories: enums::<Category>("categories", &request.categories)?,
        states,
        min_level: optional_enum_field::<Level>("min_level", request.min_level).map_err(invalid)?,
        raised_from: request
            .raised_from
            .map(|at| timestamp_field("raised_from", Some(at)))
            .transpose()
            .map_err(invalid)?,
        raised_to: request
            .raised_to
            .map(|at| timestamp_field("raised_to", Some(at)))
            .transpose()
            .map_err(invalid)?,
    })
}

fn enums<T: ProtoEnum>(field: &str, values: &[i32]) -> Result<Vec<T>, Status> {
    values
        .iter()
        .enumerate()
        .filter_map(|(index, value)| {
            optional_enum_field::<T>(&format!("{field}[{index}]"), *value)
                .map_err(invalid)
                .transpose()
        })
        .collect()
}

/// A case status from a request's filter.
pub(crate) fn status_filter(value: i32) -> Result<Option<CaseStatus>, Status> {
    optional_enum_field::<CaseStatus>("status", value).map_err(invalid)
}

/// A light from a request's filter.
pub(crate) fn light_filter(value: i32) -> Result<Option<Light>, Status> {
    optional_enum_field::<Light>("light", value).map_err(invalid)
}
