//! The scripted month (issue 13): October 2026 in two counties of Hangzhou and three city
//! departments, National Day included, and the figures a supervision office would publish
//! for it, worked out by hand from the script and the rules of DOMAIN.md and the README —
//! never computed by the code under test. Every reader of the views (the domain's deltas,
//! the report functions over a store, the gRPC reports) is held to the same tables.
//!
//! # The calendar
//!
//! The national calendar of 2026: 中秋节 25–27 September, 国庆节 1–7 October, and the
//! make-up working days Sunday 20 September and Saturday 10 October. The working days
//! from 21 September on, numbered:
//!
//! | Sep | 21 (1) 22 (2) 23 (3) 24 (4) · 28 (5) 29 (6) 30 (7) |
//! |---|---|
//! | Oct | 8 (8) 9 (9) 10 Sat (10) · 12–16 (11–15) · 19–23 (16–20) · 26–30 (21–25) |
//! | Nov | 2 (26) 3 (27) 4 (28) |
//!
//! By the statute's counting the day of acceptance is not counted: a case accepted on
//! working day *k* with *n* working days is due at 17:30 on working day *k + n*. Office
//! hours are 09:00–12:00 and 13:30–17:30 (7 hours a day). The first 旬 (1–10 October)
//! holds only three working days; the last (21–31) is eleven days long.
//!
//! The clock ticks once a day at 18:00, from 21 September to Sunday 1 November. A case
//! is found past a limit (T2 on the promise, T3 on the law) by the first tick after it
//! used more than the limit: at 18:00 on the working day after its due day. T1 warns at
//! the tick that finds at most 2 promised days left (1 when the promise is at most 5
//! days): at 18:00 on working day *k + n − 2* (*k + n − 1*).
//!
//! # The cases
//!
//! Counties 上城区 `330102` and 西湖区 `330106` (`330106004`, a 街道 office of it, for
//! M10). Departments: [`Dept::Market`] (市场监管局), [`Dept::Labour`] (人社局) and
//! [`Dept::Housing`] (住建局), each with windows in both counties. Promised / legal
//! limits in working days; every completed case was reviewed and decided by another
//! person than its acceptor, and issued its certificate.
//!
//! | case | county | dept | accepted | limits | what happens |
//! |---|---|---|---|---|---|
//! | M01 | 330106 | labour | Mon 21 Sep 10:00 (1) | 10/20 | completed Fri 9 Oct 11:00 after 7 days 2 h: early |
//! | M02 | 330102 | market | Wed 30 Sep 10:00 (7) | 3/20 | due Sat 10 Oct 17:30; T1 Fri 9 Oct; completed Sat 10 Oct 15:00: on time (2 d 4½ h) |
//! | M03 | 330106 | market | Mon 28 Sep 09:30 (5) | 5/10 | left open: T1 Fri 9 Oct; T2 (yellow) and past promise Mon 12 Oct; T3 (red) and past the law Mon 19 Oct |
//! | M04 | 330102 | housing | Tue 22 Sep 10:00 (2) | 5/20 | completed Thu 24 Sep 11:00: early; September only |
//! | M05 | 330102 | market | Thu 8 Oct 09:30 (8) | 5/20 | completed Tue 13 Oct 16:00 after 3 d 5½ h: early |
//! | M06 | 330106 | housing | Thu 8 Oct 10:00 (8) | 3/10 | T1 Sat 10 Oct; T2 and past promise Tue 13 Oct; completed Thu 15 Oct 10:00: late |
//! | M07 | 330102 | labour | Fri 9 Oct 15:00 (9) | 10/20 | T1 Tue 20 Oct; notice Wed 21 Oct 09:00, feedback due 12:00, none: A1 makes it a yellow card at 18:00; completed Thu 22 Oct 15:00: on time (9 d 4½ h), the card resolved |
//! | M08 | 330106 | labour | Mon 12 Oct 09:00 (11) | 5/20 | T1 Fri 16 Oct; T2 and past promise Tue 20 Oct; appealed Wed 21 Oct, revoked Thu 22 Oct (counted on the 20th); completed Fri 23 Oct 10:00: late |
//! | M09 | 330102 | housing | Tue 13 Oct 10:00 (12) | 10/20 | left open: T1 Fri 23 Oct; T2 and past promise Wed 28 Oct; notice Thu 29 Oct, feedback due Fri 30 Oct 12:00, none: T3 raises the card to red at 18:00 |
//! | M10 | 330106004 | market | Wed 14 Oct 11:00 (13) | 5/20 | suspended Thu 15 Oct 10:00 (3 days asked) to Fri 16 Oct 15:00 (10½ h); completed Thu 22 Oct 15:00 after 4 d 1 h: on time (without the suspension it would be late) |
//! | M11 | 330106 | housing | — | — | submitted and rejected Fri 16 Oct |
//! | M12 | 330102 | labour | Mon 19 Oct 09:30 (16) | 3/5 | left open: T1 Wed 21 Oct; T2 and past promise Fri 23 Oct; T3 and past the law Tue 27 Oct |
//! | M13 | 330106 | market | Tue 20 Oct 10:00 (17) | 5/20 | completed Fri 23 Oct 11:00 after 2 d 2 h: early |
//! | M14 | 330102 | housing | Wed 21 Oct 14:00 (18) | 10/20 | open and in time at the month's end |
//! | M15 | 330106 | labour | Mon 26 Oct 09:00 (21) | 5/20 | completed the same day: early |
//! | M16 | 330102 | market | Tue 27 Oct 10:00 (22) | 5/20 | open and in time at the month's end |
//! | M17 | 330106 | housing | Thu 29 Oct 15:00 (24) | 3/10 | open and in time at the month's end |
//! | M18 | 330106 | market | Fri 30 Oct 09:00 (25) | 5/20 | withdrawn the same day |
//!
//! # October in figures
//!
//! Accepted 13, completed 9 (4 early, 3 on time, 2 late), rejected 1, withdrawn 1;
//! 7 warnings; 8 cards raised (one of them A1's warning made a card), 2 escalated,
//! 1 revoked; at the month's end 6 cases open, 3 past their promise (M03, M09, M12) and 2
//! past the law (M03, M12). [`FIGURES`] has every period by county and by department.

use std::collections::BTreeMap;
use std::fmt;

use casewatch_domain::Timestamp;
use casewatch_domain::alert::AlertState;
use casewatch_domain::catalogue::Level;
use casewatch_domain::ids::DeptCode;
use casewatch_domain::report::{
    DispatchList, DispatchTotals, FigureRow, Grouping, MonthlyBulletin, OverdueCase, Period,
    PeriodKind,
};
use casewatch_domain::stats::{Counters, RankRow};
use casewatch_proto::convert::{ProtoEnum, timestamp_to_pb};
use casewatch_proto::pb;
use casewatch_proto::pb::act_on_alert_request::Action;
use casewatch_proto::pb::case_event::{Resumed, Step, Suspended};
use casewatch_proto::pb::supervision_event as action;
use chrono::NaiveDate;

use crate::{
    CaseScript, Scripted, accepted_within, act, completed, daily_ticks, decided, in_arrival_order,
    local, rejected, reviewed, submitted, withdrawn,
};

/// 上城区.
pub const SHANGCHENG: &str = "330102";
/// 西湖区.
pub const XIHU: &str = "330106";
/// A 街道 office of 西湖区: its cases count in the county's rows.
pub const XIHU_TOWNSHIP: &str = "330106004";
/// The city the reports are about.
pub const HANGZHOU: &str = "330100";

/// The three city departments of the month, each with windows in both counties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dept {
    /// 市场监管局.
    Market,
    /// 人社局.
    Labour,
    /// 住建局.
    Housing,
}

impl Dept {
    pub const ALL: [Dept; 3] = [Dept::Market, Dept::Labour, Dept::Housing];

    /// How the tables name it.
    pub fn name(self) -> &'static str {
        match self {
            Dept::Market => "market",
            Dept::Labour => "labour",
            Dept::Housing => "housing",
        }
    }

    /// Its unified social credit code (统一社会信用代码).
    pub fn code(self) -> String {
        let number = match self {
            Dept::Market => 1,
            Dept::Labour => 2,
            Dept::Housing => 3,
        };
        DeptCode::with_check_char(&format!("11330100MB000000{number}"))
            .expect("a valid department body")
            .to_string()
    }

    /// The item (事项) its cases are about.
    pub(crate) fn item(self) -> &'static str {
        match self {
            Dept::Market => "330000-SCJG-0001",
            Dept::Labour => "330000-RSJ-0001",
            Dept::Housing => "330000-ZJJ-0001",
        }
    }

    /// The name of a department code of the month (any other code stays as it is).
    pub fn name_of(code: &str) -> String {
        Dept::ALL
            .into_iter()
            .find(|dept| dept.code() == code)
            .map_or_else(|| code.to_owned(), |dept| dept.name().to_owned())
    }
}

fn suspended(days: u32) -> Step {
    Step::Suspended(Suspended {
        reason: "等待现场核查".into(),
        requested_days: Some(days),
    })
}

fn resumed() -> Step {
    Step::Resumed(Resumed {
        reason: "核查完毕".into(),
    })
}

/// A case of `dept`'s item at its window in `region`.
pub(crate) fn case(case_no: &'static str, region: &'static str, dept: Dept) -> CaseScript {
    CaseScript::handled_by(case_no, region, dept.code(), dept.item())
}

fn notice(at: &str, event_id: &str, alert_id: &str, feedback_due: &str) -> Scripted {
    act(
        at,
        event_id,
        alert_id,
        Action::IssueNotice(action::IssueNotice {
            content: "请说明办理进度并限期办结".into(),
            feedback_due: Some(timestamp_to_pb(local(feedback_due))),
        }),
    )
}

/// The scripted month, in the order it reaches Casewatch: the steps of the cases in the
/// module's table (each reported a minute after it happened), three supervision actions,
/// and a clock tick every day at 18:00 from 21 September to 1 November 2026.
pub fn scripted_month() -> Vec<Scripted> {
    use Dept::{Housing, Labour, Market};
    let cases = [
        case("M01", XIHU, Labour)
            .step("2026-09-21 10:00", "clerk", accepted_within(10, 20))
            .step("2026-09-23 10:00", "reviewer", reviewed())
            .step("2026-10-09 10:00", "chief", decided())
            .step("2026-10-09 11:00", "clerk", completed()),
        case("M02", SHANGCHENG, Market)
            .step("2026-09-30 10:00", "clerk", accepted_within(3, 20))
            .step("2026-10-08 14:00", "reviewer", reviewed())
            .step("2026-10-10 10:00", "chief", decided())
            .step("2026-10-10 15:00", "clerk", completed()),
        case("M03", XIHU, Market)
            .step("2026-09-28 09:30", "clerk", accepted_within(5, 10))
            .step("2026-09-29 10:00", "reviewer", reviewed()),
        case("M04", SHANGCHENG, Housing)
            .step("2026-09-22 10:00", "clerk", accepted_within(5, 20))
            .step("2026-09-23 10:00", "reviewer", reviewed())
            .step("2026-09-24 10:00", "chief", decided())
            .step("2026-09-24 11:00", "clerk", completed()),
        case("M05", SHANGCHENG, Market)
            .step("2026-10-08 09:30", "clerk", accepted_within(5, 20))
            .step("2026-10-09 10:00", "reviewer", reviewed())
            .step("2026-10-13 14:00", "chief", decided())
            .step("2026-10-13 16:00", "clerk", completed()),
        case("M06", XIHU, Housing)
            .step("2026-10-08 10:00", "clerk", accepted_within(3, 10))
            .step("2026-10-09 10:00", "reviewer", reviewed())
            .step("2026-10-15 09:30", "chief", decided())
            .step("2026-10-15 10:00", "clerk", completed()),
        case("M07", SHANGCHENG, Labour)
            .step("2026-10-09 15:00", "clerk", accepted_within(10, 20))
            .step("2026-10-12 10:00", "reviewer", reviewed())
            .step("2026-10-22 14:00", "chief", decided())
            .step("2026-10-22 15:00", "clerk", completed()),
        case("M08", XIHU, Labour)
            .step("2026-10-12 09:00", "clerk", accepted_within(5, 20))
            .step("2026-10-13 10:00", "reviewer", reviewed())
            .step("2026-10-23 09:30", "chief", decided())
            .step("2026-10-23 10:00", "clerk", completed()),
        case("M09", SHANGCHENG, Housing)
            .step("2026-10-13 10:00", "clerk", accepted_within(10, 20))
            .step("2026-10-14 10:00", "reviewer", reviewed()),
        case("M10", XIHU_TOWNSHIP, Market)
            .step("2026-10-14 11:00", "clerk", accepted_within(5, 20))
            .step("2026-10-15 10:00", "clerk", suspended(3))
            .step("2026-10-16 15:00", "clerk", resumed())
            .step("2026-10-19 10:00", "reviewer", reviewed())
            .step("2026-10-22 11:00", "chief", decided())
            .step("2026-10-22 15:00", "clerk", completed()),
        case("M11", XIHU, Housing)
            .step("2026-10-16 09:00", "clerk", submitted())
            .step("2026-10-16 10:00", "clerk", rejected()),
        case("M12", SHANGCHENG, Labour)
            .step("2026-10-19 09:30", "clerk", accepted_within(3, 5))
            .step("2026-10-20 10:00", "reviewer", reviewed()),
        case("M13", XIHU, Market)
            .step("2026-10-20 10:00", "clerk", accepted_within(5, 20))
            .step("2026-10-21 10:00", "reviewer", reviewed())
            .step("2026-10-23 10:00", "chief", decided())
            .step("2026-10-23 11:00", "clerk", completed()),
        case("M14", SHANGCHENG, Housing)
            .step("2026-10-21 14:00", "clerk", accepted_within(10, 20))
            .step("2026-10-22 10:00", "reviewer", reviewed()),
        case("M15", XIHU, Labour)
            .step("2026-10-26 09:00", "clerk", accepted_within(5, 20))
            .step("2026-10-26 10:00", "reviewer", reviewed())
            .step("2026-10-26 11:00", "chief", decided())
            .step("2026-10-26 16:00", "clerk", completed()),
        case("M16", SHANGCHENG, Market)
            .step("2026-10-27 10:00", "clerk", accepted_within(5, 20))
            .step("2026-10-28 10:00", "reviewer", reviewed()),
        case("M17", XIHU, Housing).step("2026-10-29 15:00", "clerk", accepted_within(3, 10)),
        case("M18", XIHU, Market)
            .step("2026-10-30 09:00", "clerk", accepted_within(5, 20))
            .step("2026-10-30 16:00", "clerk", withdrawn()),
    ];
    let mut script: Vec<Scripted> = cases
        .into_iter()
        .flat_map(|case| case.inputs)
        .map(Scripted::Input)
        .collect();
    script.extend([
        notice(
            "2026-10-21 09:00",
            "M07-notice",
            "M07/T1/1",
            "2026-10-21 12:00",
        ),
        act(
            "2026-10-21 10:00",
            "M08-appeal",
            "M08/T2/1",
            Action::Appeal(action::Appeal {
                reason: "申请人要求延期提交材料".into(),
            }),
        ),
        act(
            "2026-10-22 10:00",
            "M08-revoke",
            "M08/T2/1",
            Action::DecideAppeal(action::DecideAppeal {
                decision: pb::AppealDecision::Revoke.into(),
                reason: "申诉成立".into(),
            }),
        ),
        notice(
            "2026-10-29 09:00",
            "M09-notice",
            "M09/T2/1",
            "2026-10-30 12:00",
        ),
    ]);
    script.extend(daily_ticks("2026-09-21 18:00", "2026-11-01 18:00"));
    in_arrival_order(script)
}

/// How the tables group their rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum By {
    /// By county (区县), a township's cases in its county.
    County,
    Department,
}

impl By {
    pub const BOTH: [By; 2] = [By::County, By::Department];

    /// The views' grouping.
    pub fn grouping(self) -> Grouping {
        match self {
            By::County => Grouping::Region(casewatch_domain::ids::RegionLevel::County),
            By::Department => Grouping::Department,
        }
    }

    fn parse(text: &str) -> By {
        match text {
            "county" => By::County,
            "dept" => By::Department,
            _ => panic!("no grouping `{text}`"),
        }
    }
}

impl fmt::Display for By {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            By::County => "county",
            By::Department => "department",
        })
    }
}

/// The figures the tables give for one row of a period: the period's flows, and the
/// gauges at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub accepted: i64,
    pub completed: i64,
    pub early: i64,
    pub on_time: i64,
    pub late: i64,
    pub rejected: i64,
    pub withdrawn: i64,
    pub warnings: i64,
    pub cards: i64,
    pub escalated: i64,
    pub revoked: i64,
    /// Open cases at the period's end.
    pub open: i64,
    /// Of them, past their promised limit…
    pub past_promised: i64,
    /// …and past their legal limit.
    pub past_legal: i64,
}

impl Figures {
    fn from_values(values: &[i64]) -> Figures {
        let [
            accepted,
            completed,
            early,
            on_time,
            late,
            rejected,
            withdrawn,
            warnings,
            cards,
            escalated,
            revoked,
            open,
            past_promised,
            past_legal,
        ] = values
            .try_into()
            .unwrap_or_else(|_| panic!("a row of 14 figures, got {values:?}"));
        Figures {
            accepted,
            completed,
            early,
            on_time,
            late,
            rejected,
            withdrawn,
            warnings,
            cards,
            escalated,
            revoked,
            open,
            past_promised,
            past_legal,
        }
    }
}

impl From<&Counters> for Figures {
    fn from(counters: &Counters) -> Self {
        Figures {
            accepted: counters.accepted,
            completed: counters.completed,
            early: counters.completed_early,
            on_time: counters.completed_on_time,
            late: counters.completed_overdue,
            rejected: counters.rejected,
            withdrawn: counters.withdrawn,
            warnings: counters.warnings_raised,
            cards: counters.cards_raised,
            escalated: counters.cards_escalated,
            revoked: counters.cards_revoked,
            open: counters.open_cases(),
            past_promised: counters.open_overdue_promised,
            past_legal: counters.open_overdue_legal,
        }
    }
}

impl From<&pb::Counters> for Figures {
    fn from(counters: &pb::Counters) -> Self {
        let value = |value: u64| i64::try_from(value).expect("a figure of the month fits");
        Figures {
            accepted: value(counters.accepted),
            completed: value(counters.completed),
            early: value(counters.completed_early),
            on_time: value(counters.completed_on_time),
            late: value(counters.completed_overdue),
            rejected: value(counters.rejected),
            withdrawn: value(counters.withdrawn),
            warnings: value(counters.warnings_raised),
            cards: value(counters.cards_raised),
            escalated: value(counters.cards_escalated),
            revoked: value(counters.cards_revoked),
            open: value(counters.open_green + counters.open_yellow + counters.open_red),
            past_promised: value(counters.open_overdue_promised),
            past_legal: value(counters.open_overdue_legal),
        }
    }
}

/// The month's figures, by hand from the script: every row of every period a report
/// shows (a row with no flow and no open case is not shown). `week` and `xun` name the
/// period by its first day, `month` by any day of it.
pub const FIGURES: &str = "
# period         by     key      acc done early on-time late rej wd  warn card esc rev  open >promise >law

# September (the month before), all of it in its last 旬.
month 2026-09-01 county 330102     2    1     1       0    0   0  0     0    0   0   0     1        0    0
month 2026-09-01 county 330106     2    0     0       0    0   0  0     0    0   0   0     2        0    0
month 2026-09-01 dept   market     2    0     0       0    0   0  0     0    0   0   0     2        0    0
month 2026-09-01 dept   labour     1    0     0       0    0   0  0     0    0   0   0     1        0    0
month 2026-09-01 dept   housing    1    1     1       0    0   0  0     0    0   0   0     0        0    0
xun   2026-09-21 county 330102     2    1     1       0    0   0  0     0    0   0   0     1        0    0
xun   2026-09-21 county 330106     2    0     0       0    0   0  0     0    0   0   0     2        0    0
xun   2026-09-21 dept   market     2    0     0       0    0   0  0     0    0   0   0     2        0    0
xun   2026-09-21 dept   labour     1    0     0       0    0   0  0     0    0   0   0     1        0    0
xun   2026-09-21 dept   housing    1    1     1       0    0   0  0     0    0   0   0     0        0    0

# October.
month 2026-10-01 county 330102     6    3     1       2    0   0  0     4    4   2   0     4        2    1
month 2026-10-01 county 330106     7    6     3       1    2   1  1     3    4   0   1     2        1    1
month 2026-10-01 dept   market     5    4     2       2    0   0  1     2    2   0   0     2        1    1
month 2026-10-01 dept   labour     4    4     2       1    1   0  0     3    4   1   1     1        1    1
month 2026-10-01 dept   housing    4    1     0       0    1   1  0     2    2   1   0     3        1    0

# 上旬 (1–10): National Day, then three working days.
xun   2026-10-01 county 330102     2    1     0       1    0   0  0     1    0   0   0     2        0    0
xun   2026-10-01 county 330106     1    1     1       0    0   0  0     2    0   0   0     2        0    0
xun   2026-10-01 dept   market     1    1     0       1    0   0  0     2    0   0   0     2        0    0
xun   2026-10-01 dept   labour     1    1     1       0    0   0  0     0    0   0   0     1        0    0
xun   2026-10-01 dept   housing    1    0     0       0    0   0  0     1    0   0   0     1        0    0

# 中旬 (11–20): M08's card was revoked on the 22nd but counts against the 20th.
xun   2026-10-11 county 330102     2    1     1       0    0   0  0     1    0   0   0     3        0    0
xun   2026-10-11 county 330106     3    1     0       0    1   1  0     1    4   0   1     4        2    1
xun   2026-10-11 dept   market     2    1     1       0    0   0  0     0    2   0   0     3        1    1
xun   2026-10-11 dept   labour     2    0     0       0    0   0  0     2    1   0   1     3        1    0
xun   2026-10-11 dept   housing    1    1     0       0    1   1  0     0    1   0   0     1        0    0

# 下旬 (21–31, eleven days).
xun   2026-10-21 county 330102     2    1     0       1    0   0  0     2    4   2   0     4        2    1
xun   2026-10-21 county 330106     3    4     2       1    1   0  1     0    0   0   0     2        1    1
xun   2026-10-21 dept   market     2    2     1       1    0   0  1     0    0   0   0     2        1    1
xun   2026-10-21 dept   labour     1    3     1       1    1   0  0     1    3   1   0     1        1    1
xun   2026-10-21 dept   housing    2    0     0       0    0   0  0     1    1   1   0     3        1    0

# The weeks, Monday to Sunday.
week  2026-09-28 county 330102     1    0     0       0    0   0  0     0    0   0   0     1        0    0
week  2026-09-28 county 330106     1    0     0       0    0   0  0     0    0   0   0     2        0    0
week  2026-09-28 dept   market     2    0     0       0    0   0  0     0    0   0   0     2        0    0
week  2026-09-28 dept   labour     0    0     0       0    0   0  0     0    0   0   0     1        0    0
week  2026-10-05 county 330102     2    1     0       1    0   0  0     1    0   0   0     2        0    0
week  2026-10-05 county 330106     1    1     1       0    0   0  0     2    0   0   0     2        0    0
week  2026-10-05 dept   market     1    1     0       1    0   0  0     2    0   0   0     2        0    0
week  2026-10-05 dept   labour     1    1     1       0    0   0  0     0    0   0   0     1        0    0
week  2026-10-05 dept   housing    1    0     0       0    0   0  0     1    0   0   0     1        0    0
week  2026-10-12 county 330102     1    1     1       0    0   0  0     0    0   0   0     2        0    0
week  2026-10-12 county 330106     2    1     0       0    1   1  0     1    2   0   0     3        1    0
week  2026-10-12 dept   market     1    1     1       0    0   0  0     0    1   0   0     2        1    0
week  2026-10-12 dept   labour     1    0     0       0    0   0  0     1    0   0   0     2        0    0
week  2026-10-12 dept   housing    1    1     0       0    1   1  0     0    1   0   0     1        0    0
week  2026-10-19 county 330102     2    1     0       1    0   0  0     3    2   1   0     3        1    0
week  2026-10-19 county 330106     1    3     1       1    1   0  0     0    2   0   1     1        1    1
week  2026-10-19 dept   market     1    2     1       1    0   0  0     0    1   0   0     1        1    1
week  2026-10-19 dept   labour     1    2     0       1    1   0  0     2    3   1   1     1        1    0
week  2026-10-19 dept   housing    1    0     0       0    0   0  0     1    0   0   0     2        0    0
week  2026-10-26 county 330102     1    0     0       0    0   0  0     0    2   1   0     4        2    1
week  2026-10-26 county 330106     3    1     1       0    0   0  1     0    0   0   0     2        1    1
week  2026-10-26 dept   market     2    0     0       0    0   0  1     0    0   0   0     2        1    1
week  2026-10-26 dept   labour     1    1     1       0    0   0  0     0    1   0   0     1        1    1
week  2026-10-26 dept   housing    1    0     0       0    0   0  0     0    1   1   0     3        1    0

# Days: a holiday (only the cases carried in), the first working days after National
# Day, the make-up Saturday and the Sunday after it, the days of the cards, the
# escalations and the revoke, and the month's last two days.
day   2026-10-01 county 330102     0    0     0       0    0   0  0     0    0   0   0     1        0    0
day   2026-10-01 county 330106     0    0     0       0    0   0  0     0    0   0   0     2        0    0
day   2026-10-01 dept   market     0    0     0       0    0   0  0     0    0   0   0     2        0    0
day   2026-10-01 dept   labour     0    0     0       0    0   0  0     0    0   0   0     1        0    0
day   2026-10-09 county 330102     1    0     0       0    0   0  0     1    0   0   0     3        0    0
day   2026-10-09 county 330106     0    1     1       0    0   0  0     1    0   0   0     2        0    0
day   2026-10-09 dept   market     0    0     0       0    0   0  0     2    0   0   0     3        0    0
day   2026-10-09 dept   labour     1    1     1       0    0   0  0     0    0   0   0     1        0    0
day   2026-10-09 dept   housing    0    0     0       0    0   0  0     0    0   0   0     1        0    0
day   2026-10-10 county 330102     0    1     0       1    0   0  0     0    0   0   0     2        0    0
day   2026-10-10 county 330106     0    0     0       0    0   0  0     1    0   0   0     2        0    0
day   2026-10-10 dept   market     0    1     0       1    0   0  0     0    0   0   0     2        0    0
day   2026-10-10 dept   labour     0    0     0       0    0   0  0     0    0   0   0     1        0    0
day   2026-10-10 dept   housing    0    0     0       0    0   0  0     1    0   0   0     1        0    0
day   2026-10-11 county 330102     0    0     0       0    0   0  0     0    0   0   0     2        0    0
day   2026-10-11 county 330106     0    0     0       0    0   0  0     0    0   0   0     2        0    0
day   2026-10-11 dept   market     0    0     0       0    0   0  0     0    0   0   0     2        0    0
day   2026-10-11 dept   labour     0    0     0       0    0   0  0     0    0   0   0     1        0    0
day   2026-10-11 dept   housing    0    0     0       0    0   0  0     0    0   0   0     1        0    0
day   2026-10-20 county 330102     0    0     0       0    0   0  0     1    0   0   0     3        0    0
day   2026-10-20 county 330106     1    0     0       0    0   0  0     0    1   0   1     4        2    1
day   2026-10-20 dept   market     1    0     0       0    0   0  0     0    0   0   0     3        1    1
day   2026-10-20 dept   labour     0    0     0       0    0   0  0     1    1   0   1     3        1    0
day   2026-10-20 dept   housing    0    0     0       0    0   0  0     0    0   0   0     1        0    0
day   2026-10-21 county 330102     1    0     0       0    0   0  0     1    1   1   0     4        0    0
day   2026-10-21 county 330106     0    0     0       0    0   0  0     0    0   0   0     4        2    1
day   2026-10-21 dept   market     0    0     0       0    0   0  0     0    0   0   0     3        1    1
day   2026-10-21 dept   labour     0    0     0       0    0   0  0     1    1   1   0     3        1    0
day   2026-10-21 dept   housing    1    0     0       0    0   0  0     0    0   0   0     2        0    0
day   2026-10-22 county 330102     0    1     0       1    0   0  0     0    0   0   0     3        0    0
day   2026-10-22 county 330106     0    1     0       1    0   0  0     0    0   0   0     3        2    1
day   2026-10-22 dept   market     0    1     0       1    0   0  0     0    0   0   0     2        1    1
day   2026-10-22 dept   labour     0    1     0       1    0   0  0     0    0   0   0     2        1    0
day   2026-10-22 dept   housing    0    0     0       0    0   0  0     0    0   0   0     2        0    0
day   2026-10-30 county 330102     0    0     0       0    0   0  0     0    0   1   0     4        2    1
day   2026-10-30 county 330106     1    0     0       0    0   0  1     0    0   0   0     2        1    1
day   2026-10-30 dept   market     1    0     0       0    0   0  1     0    0   0   0     2        1    1
day   2026-10-30 dept   labour     0    0     0       0    0   0  0     0    0   0   0     1        1    1
day   2026-10-30 dept   housing    0    0     0       0    0   0  0     0    0   1   0     3        1    0
day   2026-10-31 county 330102     0    0     0       0    0   0  0     0    0   0   0     4        2    1
day   2026-10-31 county 330106     0    0     0       0    0   0  0     0    0   0   0     2        1    1
day   2026-10-31 dept   market     0    0     0       0    0   0  0     0    0   0   0     2        1    1
day   2026-10-31 dept   labour     0    0     0       0    0   0  0     0    0   0   0     1        1    1
day   2026-10-31 dept   housing    0    0     0       0    0   0  0     0    0   0   0     3        1    0
";

/// The rankings of the month's weeks and of the month itself (the bulletin's best and
/// worst), by hand: rank, key, cases in hand (open at the start or accepted), late cases
/// (completed late, or open past the promise at the end) and valid cards (raised −
/// revoked). A department that handled nothing is last and marked.
pub const RANKINGS: &str = "
# period         by     rank key     in-hand late valid-cards
week  2026-09-28 county 1    330102  1       0    0
week  2026-09-28 county 1    330106  2       0    0
week  2026-09-28 dept   1    market  2       0    0
week  2026-09-28 dept   1    labour  1       0    0
week  2026-09-28 dept   3    housing 0       0    0    nothing-handled
# All on time and no card: a tie; a department that completed nothing comes after.
week  2026-10-05 county 1    330102  3       0    0
week  2026-10-05 county 1    330106  3       0    0
week  2026-10-05 dept   1    market  3       0    0
week  2026-10-05 dept   1    labour  2       0    0
week  2026-10-05 dept   3    housing 1       0    0
week  2026-10-12 county 1    330102  3       0    0
week  2026-10-12 county 2    330106  4       2    2
week  2026-10-12 dept   1    labour  2       0    0
week  2026-10-12 dept   2    market  3       1    1
week  2026-10-12 dept   3    housing 2       1    1
week  2026-10-19 county 1    330102  4       1    2
week  2026-10-19 county 2    330106  4       2    1
week  2026-10-19 dept   1    housing 2       0    0
week  2026-10-19 dept   2    market  3       1    1
week  2026-10-19 dept   3    labour  3       2    2
# Leaving late cases open does not help 上城区: M09 and M12 are late.
week  2026-10-26 county 1    330106  4       1    0
week  2026-10-26 county 2    330102  4       2    2
week  2026-10-26 dept   1    market  3       1    0
week  2026-10-26 dept   2    housing 3       1    1
week  2026-10-26 dept   3    labour  2       1    1
month 2026-10-01 county 1    330102  7       2    4
month 2026-10-01 county 2    330106  9       3    3
month 2026-10-01 dept   1    market  7       1    2
month 2026-10-01 dept   2    labour  5       2    3
month 2026-10-01 dept   3    housing 4       2    2
";

fn parse_kind(text: &str) -> PeriodKind {
    match text {
        "day" => PeriodKind::Day,
        "week" => PeriodKind::Week,
        "xun" => PeriodKind::Xun,
        "month" => PeriodKind::Month,
        _ => panic!("no period kind `{text}`"),
    }
}

/// The rows of a table: its period and grouping, and the rest of the line's words.
fn table(text: &'static str) -> impl Iterator<Item = (Period, By, Vec<&'static str>)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let day: NaiveDate = words[1]
                .parse()
                .unwrap_or_else(|error| panic!("`{line}`: {error}"));
            let period =
                Period::containing(parse_kind(words[0]), day).expect("a period of the month");
            (period, By::parse(words[2]), words[3..].to_vec())
        })
}

/// The periods and groupings [`FIGURES`] gives, in its order.
pub fn figure_tables() -> Vec<(Period, By)> {
    let mut tables: Vec<(Period, By)> = Vec::new();
    for (period, by, _) in table(FIGURES) {
        if !tables.contains(&(period, by)) {
            tables.push((period, by));
        }
    }
    tables
}

/// The expected rows of `period` by `by`, keyed by county code or department name.
pub fn expected_figures(period: &Period, by: By) -> BTreeMap<String, Figures> {
    table(FIGURES)
        .filter(|(row_period, row_by, _)| row_period == period && *row_by == by)
        .map(|(_, _, words)| {
            let values: Vec<i64> = words[1..]
                .iter()
                .map(|word| word.parse().expect("a figure"))
                .collect();
            (words[0].to_owned(), Figures::from_values(&values))
        })
        .collect()
}

/// Asserts that `rows` (keyed by county or department code, as the views key them) are
/// exactly the expected rows of `period` by `by`; `reader` names who read them.
pub fn assert_figures(
    reader: &str,
    period: &Period,
    by: By,
    rows: impl IntoIterator<Item = (String, Figures)>,
) {
    let observed: BTreeMap<String, Figures> = rows
        .into_iter()
        .map(|(key, figures)| (Dept::name_of(&key), figures))
        .collect();
    assert_eq!(
        observed,
        expected_figures(period, by),
        "{reader}: the figures of {} by {by}",
        period.label()
    );
}

/// The expected total of `period`: its county rows added up.
pub fn expected_total(period: &Period) -> Figures {
    let mut total = [0; 14];
    for (_, _, words) in table(FIGURES).filter(|(p, by, _)| p == period && *by == By::County) {
        for (sum, word) in total.iter_mut().zip(&words[1..]) {
            *sum += word.parse::<i64>().expect("a figure");
        }
    }
    Figures::from_values(&total)
}

/// One row of a ranking, as the tables give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub rank: u32,
    /// The county code or the department's name.
    pub key: String,
    pub in_hand: i64,
    pub late: i64,
    pub valid_cards: i64,
    pub nothing_handled: bool,
}

impl Standing {
    /// A ranking row of the views.
    pub fn of(row: &RankRow<String>) -> Self {
        Standing {
            rank: row.rank,
            key: Dept::name_of(&row.key),
            in_hand: row.in_hand,
            late: row.late,
            valid_cards: row.counters.valid_cards(),
            nothing_handled: row.nothing_handled,
        }
    }

    /// A ranking row read over gRPC.
    pub fn of_pb(row: &pb::RankingRow) -> Self {
        let counters = Figures::from(row.counters.as_ref().expect("counters"));
        Standing {
            rank: row.rank,
            key: Dept::name_of(&row.key),
            in_hand: i64::try_from(row.in_hand).expect("a small count"),
            late: i64::try_from(row.late).expect("a small count"),
            valid_cards: counters.cards - counters.revoked,
            nothing_handled: row.nothing_handled,
        }
    }
}

/// The periods and groupings [`RANKINGS`] ranks, in its order.
pub fn ranking_tables() -> Vec<(Period, By)> {
    let mut tables: Vec<(Period, By)> = Vec::new();
    for (period, by, _) in table(RANKINGS) {
        if !tables.contains(&(period, by)) {
            tables.push((period, by));
        }
    }
    tables
}

/// The expected ranking of `period` by `by`, best first.
pub fn expected_ranking(period: &Period, by: By) -> Vec<Standing> {
    table(RANKINGS)
        .filter(|(row_period, row_by, _)| row_period == period && *row_by == by)
        .map(|(_, _, words)| {
            let number = |index: usize| -> i64 { words[index].parse().expect("a number") };
            Standing {
                rank: u32::try_from(number(0)).expect("a rank"),
                key: words[1].to_owned(),
                in_hand: number(2),
                late: number(3),
                valid_cards: number(4),
                nothing_handled: words.get(5) == Some(&"nothing-handled"),
            }
        })
        .collect()
}

/// Asserts that a ranking read by `reader` is the expected one of `period` by `by`.
pub fn assert_ranking(reader: &str, period: &Period, by: By, observed: Vec<Standing>) {
    assert_eq!(
        observed,
        expected_ranking(period, by),
        "{reader}: the ranking of {} by {by}",
        period.label()
    );
}

/// A report's figure row: its key, this period's figures and the previous period's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureLine {
    pub key: String,
    pub now: Figures,
    pub previous: Figures,
}

impl FigureLine {
    pub fn of(row: &FigureRow) -> Self {
        FigureLine {
            key: row.key.clone(),
            now: Figures::from(&row.counters),
            previous: Figures::from(&row.previous),
        }
    }

    pub fn of_pb(row: &pb::FigureRow) -> Self {
        FigureLine {
            key: row.key.clone(),
            now: Figures::from(row.counters.as_ref().expect("counters")),
            previous: Figures::from(row.previous.as_ref().expect("previous counters")),
        }
    }
}

/// Asserts that a report's rows hold the figures of `period` beside those of
/// `previous`, as [`FIGURES`] gives them. A report shows a row for a key of either
/// period; its empty side is no row of that period.
pub fn assert_figure_lines(
    reader: &str,
    (period, previous): (&Period, &Period),
    by: By,
    lines: &[FigureLine],
) {
    let side = |pick: fn(&FigureLine) -> Figures| {
        lines
            .iter()
            .map(move |line| (line.key.clone(), pick(line)))
            .filter(|(_, figures)| *figures != Figures::default())
    };
    assert_figures(reader, period, by, side(|line| line.now));
    assert_figures(reader, previous, by, side(|line| line.previous));
}

/// An open case past its promise, as the dispatch list and the bulletin list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueLine {
    pub case_no: String,
    pub county: String,
    /// The department's name.
    pub dept: String,
    pub days_overdue: i64,
    pub past_legal: bool,
    /// The rules of its cards and warnings open at the list's instant.
    pub cards: Vec<String>,
}

impl OverdueLine {
    pub fn of(case: &OverdueCase) -> Self {
        OverdueLine {
            case_no: case.case_no.clone(),
            county: case.county.to_string(),
            dept: Dept::name_of(case.dept_code.as_str()),
            days_overdue: case.days_overdue,
            past_legal: case.past_legal,
            cards: case
                .cards
                .iter()
                .map(|card| card.rule.code().to_owned())
                .collect(),
        }
    }

    pub fn of_pb(case: &pb::OverdueCase) -> Self {
        OverdueLine {
            case_no: case.case_no.clone(),
            county: case.county.clone(),
            dept: Dept::name_of(&case.dept_code),
            days_overdue: i64::from(case.days_overdue),
            past_legal: case.past_legal,
            cards: case.cards.iter().map(|card| card.rule.clone()).collect(),
        }
    }
}

/// A card as a list names it: which, at what level and in what state, and whether a
/// notice (督办) was issued on it and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardState {
    pub alert_id: String,
    pub level: Level,
    pub state: AlertState,
    pub noticed: bool,
    pub feedback_received: bool,
}

impl CardState {
    pub fn of(card: &casewatch_domain::report::CardLine) -> Self {
        CardState {
            alert_id: card.alert_id.to_string(),
            level: card.level,
            state: card.state,
            noticed: card.notice_issued_at.is_some(),
            feedback_received: card.feedback_received,
        }
    }

    pub fn of_pb(card: &pb::CardLine) -> Self {
        CardState {
            alert_id: card.alert_id.clone(),
            level: pb::AlertLevel::try_from(card.level)
                .ok()
                .and_then(Level::from_pb)
                .expect("a known level"),
            state: pb::AlertState::try_from(card.state)
                .ok()
                .and_then(AlertState::from_pb)
                .expect("a known state"),
            noticed: card.notice_issued_at.is_some(),
            feedback_received: card.feedback_received,
        }
    }
}

/// A county's dispatch totals, each at the end of the 旬 and of the 旬 before: overdue
/// open cases, of them past the law, and open cases with a red light.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountyTotals {
    pub county: String,
    pub overdue_open: (i64, i64),
    pub overdue_open_legal: (i64, i64),
    pub open_red: (i64, i64),
}

impl CountyTotals {
    pub fn of(totals: &DispatchTotals) -> Self {
        CountyTotals {
            county: totals.county.clone(),
            overdue_open: (totals.overdue_open, totals.previous_overdue_open),
            overdue_open_legal: (
                totals.overdue_open_legal,
                totals.previous_overdue_open_legal,
            ),
            open_red: (totals.open_red, totals.previous_open_red),
        }
    }

    pub fn of_pb(totals: &pb::DispatchTotals) -> Self {
        let pair = |now: u64, before: u64| {
            (
                i64::try_from(now).expect("a small count"),
                i64::try_from(before).expect("a small count"),
            )
        };
        CountyTotals {
            county: totals.county.clone(),
            overdue_open: pair(totals.overdue_open, totals.previous_overdue_open),
            overdue_open_legal: pair(
                totals.overdue_open_legal,
                totals.previous_overdue_open_legal,
            ),
            open_red: pair(totals.open_red, totals.previous_open_red),
        }
    }

    fn quiet(county: &str) -> Self {
        CountyTotals {
            county: county.to_owned(),
            overdue_open: (0, 0),
            overdue_open_legal: (0, 0),
            open_red: (0, 0),
        }
    }
}

/// The ten-day dispatch list (旬调度) as the tables give it (its figure rows are held to
/// [`FIGURES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchLines {
    pub as_of: Timestamp,
    pub overdue: Vec<OverdueLine>,
    pub red_cards: Vec<CardState>,
    pub totals: Vec<CountyTotals>,
}

impl DispatchLines {
    pub fn of(list: &DispatchList) -> Self {
        DispatchLines {
            as_of: list.as_of,
            overdue: list.overdue_cases.iter().map(OverdueLine::of).collect(),
            red_cards: list.red_cards.iter().map(CardState::of).collect(),
            totals: list.totals.iter().map(CountyTotals::of).collect(),
        }
    }

    pub fn of_pb(list: &pb::DispatchList) -> Self {
        DispatchLines {
            as_of: instant(list.as_of.as_ref()),
            overdue: list.overdue_cases.iter().map(OverdueLine::of_pb).collect(),
            red_cards: list.red_cards.iter().map(CardState::of_pb).collect(),
            totals: list.totals.iter().map(CountyTotals::of_pb).collect(),
        }
    }
}

fn instant(at: Option<&prost_types::Timestamp>) -> Timestamp {
    casewatch_proto::convert::timestamp_from_pb(at.expect("an instant")).expect("a valid instant")
}

fn overdue(
    case_no: &str,
    county: &str,
    dept: Dept,
    days_overdue: i64,
    past_legal: bool,
    cards: &[&str],
) -> OverdueLine {
    OverdueLine {
        case_no: case_no.to_owned(),
        county: county.to_owned(),
        dept: dept.name().to_owned(),
        days_overdue,
        past_legal,
        cards: cards.iter().map(|rule| (*rule).to_owned()).collect(),
    }
}

fn card(alert_id: &str, level: Level, state: AlertState, noticed: bool) -> CardState {
    CardState {
        alert_id: alert_id.to_owned(),
        level,
        state,
        noticed,
        feedback_received: false,
    }
}

/// The open cases past their promise at the month's end (1 November 00:00), by county,
/// department and most days overdue: M12 due Thu 22 Oct (6 working days to the end),
/// M09 due Tue 27 Oct (3), M03 due Sat 10 Oct (15).
fn overdue_at_month_end() -> Vec<OverdueLine> {
    vec![
        overdue(
            "M12",
            SHANGCHENG,
            Dept::Labour,
            6,
            true,
            &["T1", "T2", "T3"],
        ),
        overdue("M09", SHANGCHENG, Dept::Housing, 3, false, &["T1", "T2"]),
        overdue("M03", XIHU, Dept::Market, 15, true, &["T1", "T2", "T3"]),
    ]
}

/// The dispatch list of the 旬 that starts on `first`, by hand. Each is as of the 旬's
/// end: the views run to 1 November.
pub fn expected_dispatch(first: NaiveDate) -> DispatchLines {
    match first.to_string().as_str() {
        // Nothing is past its promise yet: M03, due on the 10th, is found past it on the
        // 12th.
        "2026-10-01" => DispatchLines {
            as_of: local("2026-10-11 00:00"),
            overdue: Vec::new(),
            red_cards: Vec::new(),
            totals: vec![CountyTotals::quiet(SHANGCHENG), CountyTotals::quiet(XIHU)],
        },
        // M03 is 7 working days past its promise (12–16, 19, 20 October) and past the law;
        // M08 one day, its card not yet appealed.
        "2026-10-11" => DispatchLines {
            as_of: local("2026-10-21 00:00"),
            overdue: vec![
                overdue("M03", XIHU, Dept::Market, 7, true, &["T1", "T2", "T3"]),
                overdue("M08", XIHU, Dept::Labour, 1, false, &["T1", "T2"]),
            ],
            red_cards: vec![card("M03/T3/1", Level::Red, AlertState::Raised, false)],
            totals: vec![
                CountyTotals::quiet(SHANGCHENG),
                CountyTotals {
                    county: XIHU.to_owned(),
                    overdue_open: (2, 0),
                    overdue_open_legal: (1, 0),
                    open_red: (1, 0),
                },
            ],
        },
        // M09's yellow card went red when its notice went unanswered.
        "2026-10-21" => DispatchLines {
            as_of: local("2026-11-01 00:00"),
            overdue: overdue_at_month_end(),
            red_cards: vec![
                card("M12/T3/1", Level::Red, AlertState::Raised, false),
                card("M09/T2/1", Level::Red, AlertState::UnderNotice, true),
                card("M03/T3/1", Level::Red, AlertState::Raised, false),
            ],
            totals: vec![
                CountyTotals {
                    county: SHANGCHENG.to_owned(),
                    overdue_open: (2, 0),
                    overdue_open_legal: (1, 0),
                    open_red: (2, 0),
                },
                CountyTotals {
                    county: XIHU.to_owned(),
                    overdue_open: (1, 2),
                    overdue_open_legal: (1, 1),
                    open_red: (1, 1),
                },
            ],
        },
        _ => panic!("no 旬 of October starts on {first}"),
    }
}

/// Asserts that the dispatch list of the 旬 starting on `first`, read by `reader`, is
/// the expected one, and that its county totals' figures are [`FIGURES`]'s.
pub fn assert_dispatch(
    reader: &str,
    first: NaiveDate,
    observed: &DispatchLines,
    figures: &[FigureLine],
) {
    let xun = Period::containing(PeriodKind::Xun, first).expect("a 旬 of October");
    assert_eq!(
        *observed,
        expected_dispatch(first),
        "{reader}: the dispatch list of {}",
        xun.label()
    );
    let previous = xun.previous().expect("a 旬 before");
    assert_figure_lines(reader, (&xun, &previous), By::County, figures);
}

/// The monthly bulletin (月通报) of the city for October, as the tables give it (its
/// figure rows are held to [`FIGURES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulletinLines {
    pub as_of: Timestamp,
    pub best_counties: Vec<String>,
    pub worst_counties: Vec<String>,
    pub best_departments: Vec<String>,
    pub worst_departments: Vec<String>,
    pub nothing_handled: Vec<String>,
    pub red_cards_and_escalations: Vec<CardState>,
    pub overdue: Vec<OverdueLine>,
}

fn keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    keys.into_iter().map(|key| Dept::name_of(key)).collect()
}

impl BulletinLines {
    pub fn of(bulletin: &MonthlyBulletin) -> Self {
        let rows = |rows: &[RankRow<String>]| keys(rows.iter().map(|row| &row.key));
        BulletinLines {
            as_of: bulletin.as_of,
            best_counties: rows(&bulletin.best_counties),
            worst_counties: rows(&bulletin.worst_counties),
            best_departments: rows(&bulletin.best_departments),
            worst_departments: rows(&bulletin.worst_departments),
            nothing_handled: keys(&bulletin.nothing_handled),
            red_cards_and_escalations: bulletin
                .red_cards_and_escalations
                .iter()
                .map(CardState::of)
                .collect(),
            overdue: bulletin.overdue_cases.iter().map(OverdueLine::of).collect(),
        }
    }

    pub fn of_pb(bulletin: &pb::MonthlyBulletin) -> Self {
        let rows = |rows: &[pb::RankingRow]| keys(rows.iter().map(|row| &row.key));
        BulletinLines {
            as_of: instant(bulletin.as_of.as_ref()),
            best_counties: rows(&bulletin.best_counties),
            worst_counties: rows(&bulletin.worst_counties),
            best_departments: rows(&bulletin.best_departments),
            worst_departments: rows(&bulletin.worst_departments),
            nothing_handled: keys(&bulletin.nothing_handled),
            red_cards_and_escalations: bulletin
                .red_cards_and_escalations
                .iter()
                .map(CardState::of_pb)
                .collect(),
            overdue: bulletin
                .overdue_cases
                .iter()
                .map(OverdueLine::of_pb)
                .collect(),
        }
    }
}

/// October's bulletin, by hand: 上城区 ranks above 西湖区 (2 late of 7 in hand against 3
/// of 9); of the departments, two best and one worst. The month's red cards (M03's and
/// M12's T3) and escalations (M07's warning made a yellow card by A1, since resolved by
/// its on-time completion; M09's yellow card made red by T3) with their outcome.
pub fn expected_bulletin() -> BulletinLines {
    let names = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
    BulletinLines {
        as_of: local("2026-11-01 00:00"),
        best_counties: names(&[SHANGCHENG]),
        worst_counties: names(&[XIHU]),
        best_departments: names(&["market", "labour"]),
        worst_departments: names(&["housing"]),
        nothing_handled: Vec::new(),
        red_cards_and_escalations: vec![
            card("M03/T3/1", Level::Red, AlertState::Raised, false),
            card("M07/T1/1", Level::Yellow, AlertState::Resolved, true),
            card("M09/T2/1", Level::Red, AlertState::UnderNotice, true),
            card("M12/T3/1", Level::Red, AlertState::Raised, false),
        ],
        overdue: overdue_at_month_end(),
    }
}

/// Asserts that October's bulletin, read by `reader`, is the expected one, and that its
/// rows per county and per department and its total are [`FIGURES`]'s for October
/// beside September.
pub fn assert_bulletin(
    reader: &str,
    observed: &BulletinLines,
    regions: &[FigureLine],
    departments: &[FigureLine],
    total: &FigureLine,
) {
    assert_eq!(*observed, expected_bulletin(), "{reader}: the bulletin");
    let october = october();
    let september = october.previous().expect("a month before");
    assert_figure_lines(reader, (&october, &september), By::County, regions);
    assert_figure_lines(reader, (&october, &september), By::Department, departments);
    assert_eq!(
        (total.now, total.previous),
        (expected_total(&october), expected_total(&september)),
        "{reader}: the bulletin's total"
    );
}

/// October 2026.
pub fn october() -> Period {
    Period::containing(PeriodKind::Month, "2026-10-01".parse().expect("a date")).expect("a month")
}

/// The three 旬 of October, by their first days.
pub fn october_xun() -> [NaiveDate; 3] {
    ["2026-10-01", "2026-10-11", "2026-10-21"].map(|day| day.parse().expect("a date"))
}
