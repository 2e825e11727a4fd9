//! The reports of `casewatch_domain::report` as messages, and back: a server sends them,
//! and `casewatch report --server` reads them into the same reports it renders from views.
//! Rates are not read back: they follow from the counters.

use casewatch_domain::ValidationError;
use casewatch_domain::alert::AlertState;
use casewatch_domain::catalogue::{Level, RuleId};
use casewatch_domain::ids::{AlertId, DeptCode, RegionCode};
use casewatch_domain::report::{
    CardLine, DailyReport, DispatchList, DispatchTotals, FigureRow, MonthlyBulletin, OverdueCase,
    Period, PeriodKind, WeeklyRanking,
};
use casewatch_domain::stats::{Counters, RankRow, Rates};

use crate::convert::{
    ProtoEnum, date_field, date_to_pb, enum_field, id_field, optional_timestamp_field, required,
    timestamp_field, timestamp_to_pb,
};
use crate::pb;

type Result<T> = std::result::Result<T, ValidationError>;

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn signed(field: &str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| ValidationError::new(field, "too large"))
}

/// Applies `read` to each element of a repeated field, naming the element in errors.
fn each<P, T>(field: &str, items: Vec<P>, read: impl Fn(P) -> Result<T>) -> Result<Vec<T>> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| read(item).map_err(|error| error.within(&format!("{field}[{index}]"))))
        .collect()
}

/// A required message field read by `read`.
fn message<P, T>(field: &str, value: Option<P>, read: impl FnOnce(P) -> Result<T>) -> Result<T> {
    read(required(field, value)?).map_err(|error| error.within(field))
}

fn region(field: &str, text: &str) -> Result<RegionCode> {
    id_field(field, RegionCode::parse(text))
}

fn dept(field: &str, text: &str) -> Result<DeptCode> {
    id_field(field, DeptCode::parse(text))
}

/// The fields of `Counters` and their message's, both ways: one list, so that a counter
/// added to one side and not the other fails to compile.
macro_rules! counters {
    ($($name:ident),+ $(,)?) => {
        impl From<&Counters> for pb::Counters {
            /// Negative sums, impossible for totals, read as 0.
            fn from(counters: &Counters) -> Self {
                pb::Counters { $($name: unsigned(counters.$name),)+ }
            }
        }

        impl TryFrom<pb::Counters> for Counters {
            type Error = ValidationError;
            fn try_from(counters: pb::Counters) -> Result<Self> {
                Ok(Counters { $($name: signed(stringify!($name), counters.$name)?,)+ })
            }
        }
    };
}

counters!(
    accepted,
    completed,
    completed_early,
    completed_on_time,
    completed_overdue,
    rejected,
    withdrawn,
    used_working_seconds,
    open_green,
    open_yellow,
    open_red,
    warnings_raised,
    cards_raised,
    cards_revoked,
    cards_escalated,
    alerts_closed,
    queries,
    appeals,
    rating_1,
    rating_2,
    rating_3,
    rating_4,
    rating_5,
    decisions,
    direct_decisions,
    online_accepted,
    fees_charged_fen,
    fee_anomalies,
    open_overdue_promised,
    open_overdue_legal,
    used_working_millidays,
);

impl From<&Rates> for pb::Rates {
    fn from(rates: &Rates) -> Self {
        pb::Rates {
            on_time_rate: rates.on_time,
            alert_rate: rates.alert,
            window_direct_signoff_rate: rates.window_direct_signoff,
            online_rate: rates.online,
            average_working_days: rates.average_working_days,
        }
    }
}

fn counters_field(field: &str, value: Option<pb::Counters>) -> Result<Counters> {
    message(field, value, Counters::try_from)
}

impl From<&Period> for pb::ReportPeriod {
    fn from(period: &Period) -> Self {
        pb::ReportPeriod {
            first: Some(date_to_pb(period.first)),
            last: Some(date_to_pb(period.last)),
            label: period.label(),
        }
    }
}

/// A period of `kind`: the one its first day lies in, which must end on its last day.
fn period(kind: PeriodKind, period: pb::ReportPeriod) -> Result<Period> {
    let first = date_field("first", period.first)?;
    let last = date_field("last", period.last)?;
    Period::containing(kind, first)
        .filter(|found| found.first == first && found.last == last)
        .ok_or_else(|| ValidationError::new("", format!("{first} to {last} is not a {kind:?}")))
}

fn period_field(field: &str, kind: PeriodKind, value: Option<pb::ReportPeriod>) -> Result<Period> {
    message(field, value, |value| period(kind, value))
}

impl From<&FigureRow> for pb::FigureRow {
    fn from(row: &FigureRow) -> Self {
        pb::FigureRow {
            key: row.key.clone(),
            counters: Some((&row.counters).into()),
            rates: Some((&row.rates).into()),
            previous: Some((&row.previous).into()),
            previous_rates: Some((&row.previous_rates).into()),
        }
    }
}

impl TryFrom<pb::FigureRow> for FigureRow {
    type Error = ValidationError;
    fn try_from(row: pb::FigureRow) -> Result<Self> {
        Ok(FigureRow::new(
            row.key,
            counters_field("counters", row.counters)?,
            counters_field("previous", row.previous)?,
        ))
    }
}

fn figure_rows(field: &str, rows: Vec<pb::FigureRow>) -> Result<Vec<FigureRow>> {
    each(field, rows, FigureRow::try_from)
}

impl From<&RankRow<String>> for pb::RankingRow {
    fn from(row: &RankRow<String>) -> Self {
        pb::RankingRow {
            rank: row.rank,
            key: row.key.clone(),
            on_time_rate: row.on_time_rate,
            alert_rate: row.alert_rate,
            counters: Some((&row.counters).into()),
            in_hand: unsigned(row.in_hand),
            late: unsigned(row.late),
            late_rate: row.late_rate,
            nothing_handled: row.nothing_handled,
        }
    }
}

impl TryFrom<pb::RankingRow> for RankRow<String> {
    type Error = ValidationError;
    fn try_from(row: pb::RankingRow) -> Result<Self> {
        Ok(RankRow {
            key: row.key,
            rank: row.rank,
            in_hand: signed("in_hand", row.in_hand)?,
            late: signed("late", row.late)?,
            late_rate: row.late_rate,
            on_time_rate: row.on_time_rate,
            alert_rate: row.alert_rate,
            nothing_handled: row.nothing_handled,
            counters: counters_field("counters", row.counters)?,
        })
    }
}

fn ranking_rows(field: &str, rows: Vec<pb::RankingRow>) -> Result<Vec<RankRow<String>>> {
    each(field, rows, RankRow::try_from)
}

impl From<&CardLine> for pb::CardLine {
    fn from(card: &CardLine) -> Self {
        pb::CardLine {
            alert_id: card.alert_id.to_string(),
            rule: card.rule.code().to_owned(),
            level: card.level.to_pb(),
            state: card.state.to_pb(),
            region_code: card.region_code.to_string(),
            dept_code: card.dept_code.to_string(),
            raised_at: Some(timestamp_to_pb(card.raised_at)),
            notice_issued_at: card.notice_issued_at.map(timestamp_to_pb),
            feedback_due: card.feedback_due.map(timestamp_to_pb),
            feedback_received: card.feedback_received,
            detail: card.detail.clone(),
        }
    }
}

impl TryFrom<pb::CardLine> for CardLine {
    type Error = ValidationError;
    fn try_from(card: pb::CardLine) -> Result<Self> {
        let parsed = |field: &str, error: &dyn std::fmt::Display| {
            ValidationError::new(field, error.to_string())
        };
        Ok(CardLine {
            alert_id: card
                .alert_id
                .parse::<AlertId>()
                .map_err(|error| parsed("alert_id", &error))?,
            rule: card
                .rule
                .parse::<RuleId>()
                .map_err(|error| parsed("rule", &error))?,
            level: enum_field::<Level>("level", card.level)?,
            state: enum_field::<AlertState>("state", card.state)?,
            region_code: region("region_code", &card.region_code)?,
            dept_code: dept("dept_code", &card.dept_code)?,
            raised_at: timestamp_field("raised_at", card.raised_at)?,
            notice_issued_at: optional_timestamp_field("notice_issued_at", card.notice_issued_at)?,
            feedback_due: optional_timestamp_field("feedback_due", card.feedback_due)?,
            feedback_received: card.feedback_received,
            detail: card.detail,
        })
    }
}

fn card_lines(field: &str, cards: Vec<pb::CardLine>) -> Result<Vec<CardLine>> {
    each(field, cards, CardLine::try_from)
}

impl From<&OverdueCase> for pb::OverdueCase {
    fn from(case: &OverdueCase) -> Self {
        pb::OverdueCase {
            case_no: case.case_no.clone(),
            region_code: case.region_code.to_string(),
            county: case.county.to_string(),
            dept_code: case.dept_code.to_string(),
            item_code: case.item_code.clone(),
            accepted_at: case.accepted_at.map(timestamp_to_pb),
            promised_due: case.promised_due.map(timestamp_to_pb),
            legal_due: case.legal_due.map(timestamp_to_pb),
            past_legal: case.past_legal,
            days_overdue: u32::try_from(case.days_overdue).unwrap_or(u32::MAX),
            cards: case.cards.iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::OverdueCase> for OverdueCase {
    type Error = ValidationError;
    fn try_from(case: pb::OverdueCase) -> Result<Self> {
        Ok(OverdueCase {
            region_code: region("region_code", &case.region_code)?,
            county: region("county", &case.county)?,
            dept_code: dept("dept_code", &case.dept_code)?,
            accepted_at: optional_timestamp_field("accepted_at", case.accepted_at)?,
            promised_due: optional_timestamp_field("promised_due", case.promised_due)?,
            legal_due: optional_timestamp_field("legal_due", case.legal_due)?,
            past_legal: case.past_legal,
            days_overdue: i64::from(case.days_overdue),
            cards: card_lines("cards", case.cards)?,
            case_no: case.case_no,
            item_code: case.item_code,
        })
    }
}

fn overdue_cases(field: &str, cases: Vec<pb::OverdueCase>) -> Result<Vec<OverdueCase>> {
    each(field, cases, OverdueCase::try_from)
}

impl From<&DispatchTotals> for pb::DispatchTotals {
    fn from(totals: &DispatchTotals) -> Self {
        pb::DispatchTotals {
            county: totals.county.clone(),
            overdue_open: unsigned(totals.overdue_open),
            overdue_open_legal: unsigned(totals.overdue_open_legal),
            open_red: unsigned(totals.open_red),
            previous_overdue_open: unsigned(totals.previous_overdue_open),
            previous_overdue_open_legal: unsigned(totals.previous_overdue_open_legal),
            previous_open_red: unsigned(totals.previous_open_red),
            figures: Some((&totals.figures).into()),
        }
    }
}

impl TryFrom<pb::DispatchTotals> for DispatchTotals {
    type Error = ValidationError;
    fn try_from(totals: pb::DispatchTotals) -> Result<Self> {
        Ok(DispatchTotals {
            overdue_open: signed("overdue_open", totals.overdue_open)?,
            overdue_open_legal: signed("overdue_open_legal", totals.overdue_open_legal)?,
            open_red: signed("open_red", totals.open_red)?,
            previous_overdue_open: signed("previous_overdue_open", totals.previous_overdue_open)?,
            previous_overdue_open_legal: signed(
                "previous_overdue_open_legal",
                totals.previous_overdue_open_legal,
            )?,
            previous_open_red: signed("previous_open_red", totals.previous_open_red)?,
            figures: message("figures", totals.figures, FigureRow::try_from)?,
            county: totals.county,
        })
    }
}

impl From<&DailyReport> for pb::DailyReport {
    fn from(report: &DailyReport) -> Self {
        pb::DailyReport {
            region: report.region.to_string(),
            period: Some((&report.period).into()),
            previous: Some((&report.previous).into()),
            regions: report.regions.iter().map(Into::into).collect(),
            departments: report.departments.iter().map(Into::into).collect(),
            total: Some((&report.total).into()),
        }
    }
}

impl TryFrom<pb::DailyReport> for DailyReport {
    type Error = ValidationError;
    fn try_from(report: pb::DailyReport) -> Result<Self> {
        Ok(DailyReport {
            region: region("region", &report.region)?,
            period: period_field("period", PeriodKind::Day, report.period)?,
            previous: period_field("previous", PeriodKind::Day, report.previous)?,
            regions: figure_rows("regions", report.regions)?,
            departments: figure_rows("departments", report.departments)?,
            total: message("total", report.total, FigureRow::try_from)?,
        })
    }
}

impl From<&WeeklyRanking> for pb::WeeklyRanking {
    fn from(ranking: &WeeklyRanking) -> Self {
        pb::WeeklyRanking {
            region: ranking.region.to_string(),
            period: Some((&ranking.period).into()),
            departments: ranking.departments.iter().map(Into::into).collect(),
            counties: ranking.counties.iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::WeeklyRanking> for WeeklyRanking {
    type Error = ValidationError;
    fn try_from(ranking: pb::WeeklyRanking) -> Result<Self> {
        Ok(WeeklyRanking {
            region: region("region", &ranking.region)?,
            period: period_field("period", PeriodKind::Week, ranking.period)?,
            departments: ranking_rows("departments", ranking.departments)?,
            counties: ranking_rows("counties", ranking.counties)?,
        })
    }
}

impl From<&DispatchList> for pb::DispatchList {
    fn from(list: &DispatchList) -> Self {
        pb::DispatchList {
            region: list.region.to_string(),
            period: Some((&list.period).into()),
            previous: Some((&list.previous).into()),
            as_of: Some(timestamp_to_pb(list.as_of)),
            overdue_cases: list.overdue_cases.iter().map(Into::into).collect(),
            red_cards: list.red_cards.iter().map(Into::into).collect(),
            totals: list.totals.iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::DispatchList> for DispatchList {
    type Error = ValidationError;
    fn try_from(list: pb::DispatchList) -> Result<Self> {
        Ok(DispatchList {
            region: region("region", &list.region)?,
            period: period_field("period", PeriodKind::Xun, list.period)?,
            previous: period_field("previous", PeriodKind::Xun, list.previous)?,
            as_of: timestamp_field("as_of", list.as_of)?,
            overdue_cases: overdue_cases("overdue_cases", list.overdue_cases)?,
            red_cards: card_lines("red_cards", list.red_cards)?,
            totals: each("totals", list.totals, DispatchTotals::try_from)?,
        })
    }
}

impl From<&MonthlyBulletin> for pb::MonthlyBulletin {
    fn from(bulletin: &MonthlyBulletin) -> Self {
        let rows = |rows: &[RankRow<String>]| rows.iter().map(Into::into).collect();
        pb::MonthlyBulletin {
            region: bulletin.region.to_string(),
            period: Some((&bulletin.period).into()),
            previous: Some((&bulletin.previous).into()),
            as_of: Some(timestamp_to_pb(bulletin.as_of)),
            regions: bulletin.regions.iter().map(Into::into).collect(),
            departments: bulletin.departments.iter().map(Into::into).collect(),
            total: Some((&bulletin.total).into()),
            best_departments: rows(&bulletin.best_departments),
            worst_departments: rows(&bulletin.worst_departments),
            best_counties: rows(&bulletin.best_counties),
            worst_counties: rows(&bulletin.worst_counties),
            nothing_handled: bulletin.nothing_handled.clone(),
            red_cards_and_escalations: bulletin
                .red_cards_and_escalations
                .iter()
                .map(Into::into)
                .collect(),
            overdue_cases: bulletin.overdue_cases.iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<pb::MonthlyBulletin> for MonthlyBulletin {
    type Error = ValidationError;
    fn try_from(bulletin: pb::MonthlyBulletin) -> Result<Self> {
        Ok(MonthlyBulletin {
            region: region("region", &bulletin.region)?,
            period: period_field("period", PeriodKind::Month, bulletin.period)?,
            previous: period_field("previous", PeriodKind::Month, bulletin.previous)?,
            as_of: timestamp_field("as_of", bulletin.as_of)?,
            regions: figure_rows("regions", bulletin.regions)?,
            departments: figure_rows("departments", bulletin.departments)?,
            total: message("total", bulletin.total, FigureRow::try_from)?,
            best_departments: ranking_rows("best_departments", bulletin.best_departments)?,
            worst_departments: ranking_rows("worst_departments", bulletin.worst_departments)?,
            best_counties: ranking_rows("best_counties", bulletin.best_counties)?,
            worst_counties: ranking_rows("worst_counties", bulletin.worst_counties)?,
            nothing_handled: bulletin.nothing_handled,
            red_cards_and_escalations: card_lines(
                "red_cards_and_escalations",
                bulletin.red_cards_and_escalations,
            )?,
            overdue_cases: overdue_cases("overdue_cases", bulletin.overdue_cases)?,
        })
    }
}
