//! The reports of `casewatch_domain::report` as messages.

use casewatch_domain::report::{
    CardLine, DispatchList, DispatchTotals, FigureRow, MonthlyBulletin, OverdueCase, Period,
};
use casewatch_domain::stats::RankRow;
use casewatch_proto::convert::{ProtoEnum, date_to_pb, timestamp_to_pb};
use casewatch_proto::pb;

use crate::views::{counters, rates};

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn period(period: &Period) -> pb::ReportPeriod {
    pb::ReportPeriod {
        first: Some(date_to_pb(period.first)),
        last: Some(date_to_pb(period.last)),
        label: period.label(),
    }
}

fn figure_row(row: &FigureRow) -> pb::FigureRow {
    pb::FigureRow {
        key: row.key.clone(),
        counters: Some(counters(&row.counters)),
        rates: Some(rates(&row.rates)),
        previous: Some(counters(&row.previous)),
        previous_rates: Some(rates(&row.previous_rates)),
    }
}

fn card_line(card: &CardLine) -> pb::CardLine {
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

fn overdue_case(case: &OverdueCase) -> pb::OverdueCase {
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
        cards: case.cards.iter().map(card_line).collect(),
    }
}

/// A ranking row as a message.
pub(crate) fn ranking_row(row: &RankRow<String>) -> pb::RankingRow {
    pb::RankingRow {
        rank: row.rank,
        key: row.key.clone(),
        on_time_rate: row.on_time_rate,
        alert_rate: row.alert_rate,
        counters: Some(counters(&row.counters)),
        in_hand: unsigned(row.in_hand),
        late: unsigned(row.late),
        late_rate: row.late_rate,
        nothing_handled: row.nothing_handled,
    }
}

fn dispatch_totals(totals: &DispatchTotals) -> pb::DispatchTotals {
    pb::DispatchTotals {
        county: totals.county.clone(),
        overdue_open: unsigned(totals.overdue_open),
        overdue_open_legal: unsigned(totals.overdue_open_legal),
        open_red: unsigned(totals.open_red),
        previous_overdue_open: unsigned(totals.previous_overdue_open),
        previous_overdue_open_legal: unsigned(totals.previous_overdue_open_legal),
        previous_open_red: unsigned(totals.previous_open_red),
        figures: Some(figure_row(&totals.figures)),
    }
}

/// A dispatch list as a message.
pub(crate) fn dispatch_list(list: &DispatchList) -> pb::DispatchList {
    pb::DispatchList {
        region: list.region.to_string(),
        period: Some(period(&list.period)),
        previous: Some(period(&list.previous)),
        as_of: Some(timestamp_to_pb(list.as_of)),
        overdue_cases: list.overdue_cases.iter().map(overdue_case).collect(),
        red_cards: list.red_cards.iter().map(card_line).collect(),
        totals: list.totals.iter().map(dispatch_totals).collect(),
    }
}

/// A monthly bulletin as a message.
pub(crate) fn monthly_bulletin(bulletin: &MonthlyBulletin) -> pb::MonthlyBulletin {
    let rows = |rows: &[RankRow<String>]| rows.iter().map(ranking_row).collect();
    pb::MonthlyBulletin {
        region: bulletin.region.to_string(),
        period: Some(period(&bulletin.period)),
        previous: Some(period(&bulletin.previous)),
        as_of: Some(timestamp_to_pb(bulletin.as_of)),
        regions: bulletin.regions.iter().map(figure_row).collect(),
        departments: bulletin.departments.iter().map(figure_row).collect(),
        total: Some(figure_row(&bulletin.total)),
        best_departments: rows(&bulletin.best_departments),
        worst_departments: rows(&bulletin.worst_departments),
        best_counties: rows(&bulletin.best_counties),
        worst_counties: rows(&bulletin.worst_counties),
        nothing_handled: bulletin.nothing_handled.clone(),
        red_cards_and_escalations: bulletin
            .red_cards_and_escalations
            .iter()
            .map(card_line)
            .collect(),
        overdue_cases: bulletin.overdue_cases.iter().map(overdue_case).collect(),
    }
}
