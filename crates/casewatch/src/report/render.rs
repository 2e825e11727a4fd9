//! Reports as tables, and tables as Markdown, CSV (UTF-8 with a BOM, so spreadsheets read
//! the Chinese headings) and printable HTML.

use std::fmt::Write as _;

use casewatch_domain::Timestamp;
use casewatch_domain::report::{
    CardLine, DailyReport, DispatchList, FigureRow, MonthlyBulletin, OverdueCase, WeeklyRanking,
};
use casewatch_domain::stats::RankRow;

/// A report laid out for people: a title, a line of what it covers, and its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Document {
    pub(crate) title: String,
    pub(crate) subtitle: String,
    pub(crate) tables: Vec<Table>,
}

/// One table of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    pub(crate) title: String,
    pub(crate) headers: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
    /// The leading columns that name the row (a rank, a code): never lined up as figures.
    pub(crate) labels: usize,
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_owned(), |rate| format!("{:.1}%", rate * 100.0))
}

fn decimal(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{value:.2}"))
}

/// A change of a count: `+3`, `−2`, `0`.
fn delta(now: i64, before: i64) -> String {
    match now - before {
        0 => "0".to_owned(),
        change if change > 0 => format!("+{change}"),
        change => format!("−{}", -change),
    }
}

/// A change of a rate in percentage points.
fn delta_points(now: Option<f64>, before: Option<f64>) -> String {
    match (now, before) {
        (Some(now), Some(before)) => format!("{:+.1}", (now - before) * 100.0),
        _ => "—".to_owned(),
    }
}

fn local(at: Option<Timestamp>) -> String {
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset");
    at.map_or_else(
        || "—".to_owned(),
        |at| {
            at.with_timezone(&china)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        },
    )
}

fn strings<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|cell| (*cell).to_owned()).collect()
}

/// The figure columns every figure table shares, this period beside the previous.
fn figure_table(title: &str, key: &str, rows: &[FigureRow]) -> Table {
    let mut headers = vec![key.to_owned()];
    headers.extend(strings([
        "受理 accepted",
        "较上期 Δ",
        "办结 completed",
        "按时办结率 on time",
        "较上期 Δpt",
        "超期办结 late",
        "在办超期 overdue open",
        "较上期 Δ",
        "超法定 past legal",
        "有效黄红牌 valid cards",
        "红灯在办 red open",
        "平均用时 avg days",
        "网办率 online",
        "窗口签批率 window sign-off",
    ]));
    let rows = rows
        .iter()
        .map(|row| {
            let (now, before) = (&row.counters, &row.previous);
            vec![
                if row.key.is_empty() {
                    "合计 total".to_owned()
                } else {
                    row.key.clone()
                },
                now.accepted.to_string(),
                delta(now.accepted, before.accepted),
                now.completed.to_string(),
                percent(row.rates.on_time),
                delta_points(row.rates.on_time, row.previous_rates.on_time),
                now.completed_overdue.to_string(),
                now.open_overdue_promised.to_string(),
                delta(now.open_overdue_promised, before.open_overdue_promised),
                now.open_overdue_legal.to_string(),
                now.valid_cards().to_string(),
                now.open_red.to_string(),
                decimal(row.rates.average_working_days),
                percent(row.rates.online),
                percent(row.rates.window_direct_signoff),
            ]
        })
        .collect();
    Table {
        title: title.to_owned(),
        headers,
        rows,
        labels: 1,
    }
}

fn ranking_table(title: &str, key: &str, rows: &[RankRow<String>]) -> Table {
    let mut headers = strings(["名次 rank"]);
    headers.push(key.to_owned());
    headers.extend(strings([
        "在手 in hand",
        "逾期 late",
        "逾期率 late rate",
        "有效黄红牌 valid cards",
        "预警率 alert rate",
        "按时办结率 on time",
        "在办超期 overdue open",
        "备注 note",
    ]));
    let rows = rows
        .iter()
        .map(|row| {
            vec![
                row.rank.to_string(),
                row.key.clone(),
                row.in_hand.to_string(),
                row.late.to_string(),
                percent(row.late_rate),
                row.counters.valid_cards().to_string(),
                percent(row.alert_rate),
                percent(row.on_time_rate),
                row.counters.open_overdue_promised.to_string(),
                if row.nothing_handled {
                    "无在手件 nothing handled".to_owned()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    Table {
        title: title.to_owned(),
        headers,
        rows,
        labels: 2,
    }
}

fn card_cells(card: &CardLine) -> Vec<String> {
    vec![
        card.alert_id.to_string(),
        format!("{:?}", card.level).to_lowercase(),
        format!("{:?}", card.state).to_lowercase(),
        local(Some(card.raised_at)),
        local(card.notice_issued_at),
        local(card.feedback_due),
        if card.feedback_received {
            "是 yes"
        } else {
            "否 no"
        }
        .to_owned(),
    ]
}

const CARD_HEADERS: [&str; 7] = [
    "预警 alert",
    "级别 level",
    "状态 state",
    "产生 raised",
    "督办 notice",
    "回告期限 feedback due",
    "已回告 answered",
];

fn cards_table(title: &str, cards: &[CardLine]) -> Table {
    let mut headers = strings(["区域 region", "部门 department"]);
    headers.extend(strings(CARD_HEADERS));
    let rows = cards
        .iter()
        .map(|card| {
            let mut row = vec![card.region_code.to_string(), card.dept_code.to_string()];
            row.extend(card_cells(card));
            row
        })
        .collect();
    Table {
        title: title.to_owned(),
        headers,
        rows,
        labels: 2,
    }
}

fn overdue_table(title: &str, cases: &[OverdueCase]) -> Table {
    let headers = strings([
        "区县 county",
        "部门 department",
        "办件编号 case",
        "事项 item",
        "受理 accepted",
        "承诺期限 promised due",
        "法定期限 legal due",
        "超期工作日 days overdue",
        "超法定 past legal",
        "黄红牌 cards",
    ]);
    let rows = cases
        .iter()
        .map(|case| {
            vec![
                case.county.to_string(),
                case.dept_code.to_string(),
                case.case_no.clone(),
                case.item_code.clone(),
                local(case.accepted_at),
                local(case.promised_due),
                local(case.legal_due),
                case.days_overdue.to_string(),
                if case.past_legal { "是 yes" } else { "否 no" }.to_owned(),
                case.cards
                    .iter()
                    .map(|card| format!("{} {:?}/{:?}", card.rule, card.level, card.state))
                    .collect::<Vec<_>>()
                    .join("; "),
            ]
        })
        .collect();
    Table {
        title: title.to_owned(),
        headers,
        rows,
        labels: 4,
    }
}

pub(crate) fn daily(report: &DailyReport) -> Document {
    Document {
        title: format!("日统计 Daily statistics — {}", report.region),
        subtitle: format!(
            "{} (较上期 against {})",
            report.period.label(),
            report.previous.label()
        ),
        tables: vec![
            figure_table(
                "按区域 By region",
                "区域 region",
                &[report.regions.clone(), vec![report.total.clone()]].concat(),
            ),
            figure_table(
                "按部门 By department",
                "部门 department",
                &report.departments,
            ),
        ],
    }
}

pub(crate) fn weekly(report: &WeeklyRanking) -> Document {
    Document {
        title: format!("周排名 Weekly ranking — {}", report.region),
        subtitle: report.period.label(),
        tables: vec![
            ranking_table(
                "部门排名 Departments",
                "部门 department",
                &report.departments,
            ),
            ranking_table("区县排名 Counties", "区县 county", &report.counties),
        ],
    }
}

pub(crate) fn dispatch(list: &DispatchList) -> Document {
    let totals = Table {
        title: "区县汇总 Totals by county".to_owned(),
        headers: strings([
            "区县 county",
            "在办超期 overdue open",
            "上期 previous",
            "较上期 Δ",
            "超法定 past legal",
            "上期 previous",
            "红灯在办 red open",
            "上期 previous",
            "受理 accepted",
            "办结 completed",
            "超期办结 late",
        ]),
        rows: list
            .totals
            .iter()
            .map(|totals| {
                let figures = &totals.figures.counters;
                vec![
                    totals.county.clone(),
                    totals.overdue_open.to_string(),
                    totals.previous_overdue_open.to_string(),
                    delta(totals.overdue_open, totals.previous_overdue_open),
                    totals.overdue_open_legal.to_string(),
                    totals.previous_overdue_open_legal.to_string(),
                    totals.open_red.to_string(),
                    totals.previous_open_red.to_string(),
                    figures.accepted.to_string(),
                    figures.completed.to_string(),
                    figures.completed_overdue.to_string(),
                ]
            })
            .collect(),
        labels: 1,
    };
    Document {
        title: format!("旬调度 Ten-day dispatch list — {}", list.region),
        subtitle: format!(
            "{} (截至 as of {}; 较上期 against {})",
            list.period.label(),
            local(Some(list.as_of)),
            list.previous.label()
        ),
        tables: vec![
            totals,
            overdue_table("超期在办件 Overdue open cases", &list.overdue_cases),
            cards_table("红牌在办 Open red cards", &list.red_cards),
        ],
    }
}

pub(crate) fn monthly(bulletin: &MonthlyBulletin) -> Document {
    let mut idle = Table {
        title: "无在手件（不参与排名）Nothing handled (not ranked)".to_owned(),
        headers: strings(["部门或区县 department or county"]),
        rows: bulletin
            .nothing_handled
            .iter()
            .map(|key| vec![key.clone()])
            .collect(),
        labels: 1,
    };
    if idle.rows.is_empty() {
        idle.rows.push(vec!["—".to_owned()]);
    }
    Document {
        title: format!("月通报 Monthly bulletin — {}", bulletin.region),
        subtitle: format!(
            "{} (截至 as of {}; 较上月 against {})",
            bulletin.period.label(),
            local(Some(bulletin.as_of)),
            bulletin.previous.label()
        ),
        tables: vec![
            figure_table(
                "按区域 By region",
                "区域 region",
                &[bulletin.regions.clone(), vec![bulletin.total.clone()]].concat(),
            ),
            figure_table(
                "按部门 By department",
                "部门 department",
                &bulletin.departments,
            ),
            ranking_table(
                "表扬 Best departments",
                "部门 department",
                &bulletin.best_departments,
            ),
            ranking_table(
                "通报 Worst departments",
                "部门 department",
                &bulletin.worst_departments,
            ),
            ranking_table("表扬 Best counties", "区县 county", &bulletin.best_counties),
            ranking_table(
                "通报 Worst counties",
                "区县 county",
                &bulletin.worst_counties,
            ),
            idle,
            cards_table(
                "红牌与升级 Red cards and escalations",
                &bulletin.red_cards_and_escalations,
            ),
            overdue_table(
                "月末超期在办件 Overdue open cases at month end",
                &bulletin.overdue_cases,
            ),
        ],
    }
}

fn markdown_cell(cell: &str) -> String {
    cell.replace('|', "\\|").replace('\n', " ")
}

/// The document as Markdown.
pub(crate) fn markdown(document: &Document) -> String {
    let mut out = format!("# {}\n\n{}\n", document.title, document.subtitle);
    for table in &document.tables {
        let _ = write!(out, "\n## {}\n\n", table.title);
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|cell| markdown_cell(cell)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        out.push_str(&line(&table.headers));
        out.push_str(&format!("|{}\n", "---|".repeat(table.headers.len())));
        if table.rows.is_empty() {
            out.push_str("\n(无 none)\n");
        }
        for row in &table.rows {
            out.push_str(&line(row));
        }
    }
    out
}

/// The document as CSV: UTF-8 with a byte-order mark, each table under a line with its
/// title and a blank line after it.
pub(crate) fn csv(document: &Document) -> anyhow::Result<Vec<u8>> {
    let mut writer = ::csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    writer.write_record([&document.title])?;
    writer.write_record([&document.subtitle])?;
    for table in &document.tables {
        writer.write_record([""])?;
        writer.write_record([&table.title])?;
        writer.write_record(&table.headers)?;
        for row in &table.rows {
            writer.write_record(row)?;
        }
    }
    Ok(writer.into_inner()?)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Cells longer than this (in characters) wrap: a case's cards, an alert's detail.
const WIDE: usize = 32;

/// Whether a cell beside the labels holds a figure (a count, a rate, a change, or `—` for
/// none), which lines up on the right.
fn numeric(cell: &str) -> bool {
    !cell.is_empty()
        && cell
            .chars()
            .all(|c| c.is_ascii_digit() || ".,%+−-—pt ".contains(c))
}

/// Page styles: screen and print, with the Chinese fonts the system has.
const STYLE: &str = "body{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\",\"WenQuanYi Micro Hei\",\"Microsoft YaHei\",sans-serif;margin:2em;color:#111}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;font-size:.85em;margin-bottom:1em}\
th,td{border:1px solid #999;padding:.25em .5em;text-align:left}\
td{white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}\
td.w{white-space:normal;min-width:18em}\
th{background:#eee;vertical-align:bottom;font-weight:600;min-width:3em}\
@media print{body{margin:0}h2{break-after:avoid}table{break-inside:auto;font-size:7.5pt}tr{break-inside:avoid}thead{display:table-header-group}}\
@page{size:A4 landscape;margin:12mm}";

/// The document as a printable HTML page (nothing fetched from elsewhere).
pub(crate) fn html(document: &Document) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p>{}</p>\n",
        escape(&document.title),
        escape(&document.title),
        escape(&document.subtitle)
    );
    for table in &document.tables {
        let _ = writeln!(out, "<h2>{}</h2>", escape(&table.title));
        out.push_str("<table>\n<thead><tr>");
        for header in &table.headers {
            let _ = write!(out, "<th>{}</th>", escape(header));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &table.rows {
            out.push_str("<tr>");
            for (column, cell) in row.iter().enumerate() {
                let class = if column >= table.labels && numeric(cell) {
                    " class=\"n\""
                } else if cell.chars().count() > WIDE {
                    " class=\"w\""
                } else {
                    ""
                };
                let _ = write!(out, "<td{class}>{}</td>", escape(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
