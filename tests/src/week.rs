//! The scripted week (issue 16): Monday 2 to Sunday 8 March 2026 in three counties of
//! Hangzhou and the city's three departments, small enough that every counter and rate of
//! `GetStatistics` and every row of `GetRanking` can be worked out by hand. The suite that
//! reads it (`crates/casewatch/tests/end_to_end/figures.rs`) works the figures out beside
//! its assertions; they are never computed by the code under test.
//!
//! # The calendar
//!
//! March 2026 holds no holiday: Monday 2 to Friday 6 are working days, Saturday 7 and
//! Sunday 8 are not. Office hours are 09:00–12:00 and 13:30–17:30 (7 hours a day). By the
//! statute's counting the day of acceptance is not counted: against its limits a case has
//! used the office time from 09:00 on the working day after its acceptance, is past a limit
//! of *n* days once that exceeds 7*n* hours, and T1 warns once at most 7 hours are left (a
//! promise of at most 5 days). The clock ticks every day at 18:00, Monday to Sunday, and a
//! case is judged at each of its own steps and at each tick.
//!
//! # The cases
//!
//! Departments are the month's ([`Dept`]): market (市场监管局) with two items, food
//! trade `330000-SCJG-0001` and food production `330000-SCJG-0002`; labour (人社局) with
//! `330000-RSJ-0001`; housing (住建局) with `330000-ZJJ-0001`. Promised / legal limits in
//! working days; "used" is the working time from the acceptance instant to the completion.
//!
//! | case | office | dept | item | channel | what happens |
//! |---|---|---|---|---|---|
//! | W01 | 330106 | market | 0001 | web | accepted Mon 09:30 (5/20), reviewed, decided at the window, completed Mon 14:00: early, used 3 h; queried Tue 10:00, rated 1 Tue 11:00 |
//! | W02 | 330106 | market | 0002 | window | accepted Mon 10:00 (3/20), reviewed Tue; T1 Wed 18:00 (14 h used, 7 left); decided Thu 10:00, completed Thu 16:00: on time (19½ h of 21), the warning resolved, used 25½ h; rated 2 Thu 17:00 |
//! | W03 | 330106 | market | 0001 | mobile | accepted Mon 11:00 (2/3), reviewed Tue, left open: T1 Tue 18:00; T2 (yellow) Thu 18:00 (21 h of 14); escalated to red Fri 11:00; T3 (red) Fri 18:00 (28 h of 21) |
//! | W04 | 330106 | labour | RSJ | web | accepted Mon 14:00 (1/20), reviewed Tue; T2 at its decision Wed 10:00 (8 h of 7), revoked Fri 09:30; completed Thu 10:00: late, used 18½ h; rated 5 Thu 11:00; appealed Thu 14:00, answered Fri 10:00 |
//! | W05 | 330106 | labour | RSJ | window | accepted Fri 10:00 (10/20), open and in time; queried Fri 15:00, rated 4 Fri 16:00 |
//! | W06 | 330106 | labour | RSJ | window | submitted and rejected Tue |
//! | W07 | 330106 | market | 0002 | web | accepted Tue 09:30 (5/20), withdrawn Wed 10:00 |
//! | W08 | 330106004 | market | 0001 | window | accepted Mon 15:00 (10/20, no fee due); a 5000 fen ticket Tue 14:00: F1 (red); rated 3 Wed 10:00; closed by supervision Thu 10:00; open and in time |
//! | W09 | 330102 | market | 0002 | mobile | accepted Tue 09:00 (5/20), reviewed Wed, decided at the window, completed Thu 11:00: early (9 h of 35), used 16 h; rated 1 Fri 10:00 |
//! | W10 | 330102 | market | 0001 | window | accepted Wed 09:00 (2/20), reviewed Thu; T1 Thu 18:00, escalated to a yellow card Fri 10:00; open, not yet late (14 h of 14 by Sunday) |
//! | W11 | 330105 | housing | ZJJ | window | submitted and rejected Wed |
//!
//! Poor ratings (W04, W05) and the appeal (answered) stay within their 5 working days, so
//! K1 and K2 raise nothing.

use casewatch_proto::pb;
use casewatch_proto::pb::act_on_alert_request::Action;
use casewatch_proto::pb::case_event::{AppealResolved, Queried, Rated, Step};
use casewatch_proto::pb::supervision_event as action;

use crate::month::{Dept, SHANGCHENG, XIHU, XIHU_TOWNSHIP, case};
use crate::{
    CaseScript, Input, Scripted, accepted_within, act, appealed, completed, daily_ticks,
    decided_with, fee_charged, in_arrival_order, rejected, reviewed, submitted_via, withdrawn,
};

/// 拱墅区: a county whose only case of the week was rejected.
pub const GONGSHU: &str = "330105";

/// The market department's second item, food production (食品生产许可).
const FOOD_PRODUCTION: &str = "330000-SCJG-0002";

/// A case of the market department's second item.
fn food_production(case_no: &'static str, region: &'static str) -> CaseScript {
    CaseScript::handled_by(case_no, region, Dept::Market.code(), FOOD_PRODUCTION)
}

fn queried(channel: pb::Channel) -> Step {
    Step::Queried(Queried {
        channel: channel.into(),
    })
}

fn rated(rating_no: &str, level: u32) -> Step {
    Step::Rated(Rated {
        rating_no: rating_no.into(),
        level,
        tags: Vec::new(),
        text: None,
    })
}

fn appeal_resolved(appeal_no: &str) -> Step {
    Step::AppealResolved(AppealResolved {
        appeal_no: appeal_no.into(),
        outcome: pb::AppealOutcome::Explained.into(),
        reply: "已向申请人说明".into(),
        satisfaction: None,
    })
}

/// The scripted week, in the order it reaches Casewatch: the steps of the module's cases
/// (each reported a minute after it happened), four supervision actions, and a tick every
/// day at 18:00.
pub fn scripted_week() -> Vec<Scripted> {
    use Dept::{Housing, Labour, Market};
    use pb::Channel::{Mobile, Web, Window};
    let cases = [
        case("W01", XIHU, Market)
            .step("2026-03-02 09:00", "clerk", submitted_via(Web))
            .step("2026-03-02 09:30", "clerk", accepted_within(5, 20))
            .step("2026-03-02 10:30", "reviewer", reviewed())
            .step("2026-03-02 11:00", "chief", decided_with(true))
            .step("2026-03-02 14:00", "clerk", completed())
            .step("2026-03-03 10:00", "applicant", queried(Web))
            .step("2026-03-03 11:00", "applicant", rated("评-W01", 1)),
        food_production("W02", XIHU)
            .step("2026-03-02 09:00", "clerk", submitted_via(Window))
            .step("2026-03-02 10:00", "clerk", accepted_within(3, 20))
            .step("2026-03-03 10:00", "reviewer", reviewed())
            .step("2026-03-05 10:00", "chief", decided_with(false))
            .step("2026-03-05 16:00", "clerk", completed())
            .step("2026-03-05 17:00", "applicant", rated("评-W02", 2)),
        case("W03", XIHU, Market)
            .step("2026-03-02 10:30", "clerk", submitted_via(Mobile))
            .step("2026-03-02 11:00", "clerk", accepted_within(2, 3))
            .step("2026-03-03 10:00", "reviewer", reviewed()),
        case("W04", XIHU, Labour)
            .step("2026-03-02 13:30", "clerk", submitted_via(Web))
            .step("2026-03-02 14:00", "clerk", accepted_within(1, 20))
            .step("2026-03-03 10:00", "reviewer", reviewed())
            .step("2026-03-04 10:00", "chief", decided_with(false))
            .step("2026-03-05 10:00", "clerk", completed())
            .step("2026-03-05 11:00", "applicant", rated("评-W04", 5))
            .step("2026-03-05 14:00", "applicant", appealed("诉-W04"))
            .step("2026-03-06 10:00", "clerk", appeal_resolved("诉-W04")),
        case("W05", XIHU, Labour)
            .step("2026-03-06 09:30", "clerk", submitted_via(Window))
            .step("2026-03-06 10:00", "clerk", accepted_within(10, 20))
            .step("2026-03-06 15:00", "applicant", queried(Mobile))
            .step("2026-03-06 16:00", "applicant", rated("评-W05", 4)),
        case("W06", XIHU, Labour)
            .step("2026-03-03 09:00", "clerk", submitted_via(Window))
            .step("2026-03-03 10:00", "clerk", rejected()),
        food_production("W07", XIHU)
            .step("2026-03-03 09:00", "clerk", submitted_via(Web))
            .step("2026-03-03 09:30", "clerk", accepted_within(5, 20))
            .step("2026-03-04 10:00", "clerk", withdrawn()),
        case("W08", XIHU_TOWNSHIP, Market)
            .step("2026-03-02 14:30", "clerk", submitted_via(Window))
            .step("2026-03-02 15:00", "clerk", accepted_within(10, 20))
            .step("2026-03-03 14:00", "cashier", fee_charged("票-W08", 5000))
            .step("2026-03-04 10:00", "applicant", rated("评-W08", 3)),
        food_production("W09", SHANGCHENG)
            .step("2026-03-03 08:50", "clerk", submitted_via(Mobile))
            .step("2026-03-03 09:00", "clerk", accepted_within(5, 20))
            .step("2026-03-04 10:00", "reviewer", reviewed())
            .step("2026-03-05 10:00", "chief", decided_with(true))
            .step("2026-03-05 11:00", "clerk", completed())
            .step("2026-03-06 10:00", "applicant", rated("评-W09", 1)),
        case("W10", SHANGCHENG, Market)
            .step("2026-03-04 08:50", "clerk", submitted_via(Window))
            .step("2026-03-04 09:00", "clerk", accepted_within(2, 20))
            .step("2026-03-05 10:00", "reviewer", reviewed()),
        case("W11", GONGSHU, Housing)
            .step("2026-03-04 09:00", "clerk", submitted_via(Window))
            .step("2026-03-04 10:00", "clerk", rejected()),
    ];
    let mut script: Vec<Scripted> = cases
        .into_iter()
        .flat_map(|case| case.inputs)
        .map(Scripted::Input)
        .collect();
    script.extend([
        act(
            "2026-03-05 10:00",
            "W08-close",
            "W08/F1/1",
            Action::Close(action::Close {
                note: "已退费".into(),
            }),
        ),
        act(
            "2026-03-06 09:30",
            "W04-revoke",
            "W04/T2/1",
            Action::Revoke(action::Revoke {
                reason: "申请人要求延期领取".into(),
            }),
        ),
        act(
            "2026-03-06 10:00",
            "W10-escalate",
            "W10/T1/1",
            Action::Escalate(action::Escalate {
                reason: "临近承诺时限仍未审批".into(),
            }),
        ),
        act(
            "2026-03-06 11:00",
            "W03-escalate",
            "W03/T2/1",
            Action::Escalate(action::Escalate {
                reason: "超期未办结".into(),
            }),
        ),
    ]);
    script.extend(daily_ticks("2026-03-02 18:00", "2026-03-08 18:00"));
    in_arrival_order(script)
}

/// Two cases of the market department in 西湖区 accepted a minute apart across the
/// week's end in China time: `B-SUNDAY` on Sunday 8 March at 23:59 (15:59 UTC, still
/// Sunday), `B-MONDAY` on Monday 9 March at 00:00 (16:00 UTC on Sunday). Both stay open
/// and in time.
pub fn week_boundary() -> Vec<Input> {
    let cases = [
        case("B-SUNDAY", XIHU, Dept::Market).step(
            "2026-03-08 23:59",
            "clerk",
            accepted_within(5, 20),
        ),
        case("B-MONDAY", XIHU, Dept::Market).step(
            "2026-03-09 00:00",
            "clerk",
            accepted_within(5, 20),
        ),
    ];
    cases.into_iter().flat_map(|case| case.inputs).collect()
}
