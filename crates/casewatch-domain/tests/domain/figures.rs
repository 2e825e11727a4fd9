//! The published figures, pinned with exact numbers: how cards, revokes, extensions,
//! suspensions, due instants, overdue gauges and average working days count. Each test
//! names what it proves and says which wrong figure it guards against.
//!
//! Times are local (+08:00). March 2026 has no holidays; office hours are 09:00–12:00 and
//! 13:30–17:30, seven hours a working day. Under the statute's counting the day of
//! acceptance is not counted: a case accepted on Monday 2 March with n working days is
//! due at 17:30 on the n-th working day after that Monday.

use casewatch_domain::access::Role;
use casewatch_domain::alert::{Cause, Quantity, QuantityUnit};
use casewatch_domain::calendar::{Calendars, OfficePeriod, RegionCalendar};
use casewatch_domain::case::Light;
use casewatch_domain::catalogue::{Level, RuleId};
use casewatch_domain::clock::DayCounting;
use casewatch_domain::event::{Decision, ProcedureKind, Step};
use casewatch_domain::ids::RegionCode;
use casewatch_domain::supervision::{AppealDecision, SupervisionAction};
use chrono::{NaiveDate, NaiveTime};

use crate::support::*;

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a valid date")
}

fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("a valid time of day")
}

fn working(n: i64) -> Quantity {
    Quantity::new(n, QuantityUnit::WorkingDays)
}

/// Accepted Monday 2 March 09:00, promised 10 and legal 20 working days (due Monday 16
/// March 17:30 and Monday 30 March 17:30); on Friday 13 March T1 warns.
fn warned() -> Script {
    let mut script = Script::default();
    script
        .step("2026-03-02 09:00", accepted(10, 20))
        .tick("2026-03-13 10:00");
    assert_eq!(
        script.alert(RuleId::T1).expect("T1 warns").level,
        Level::Warning
    );
    script
}

/// The department appeals the card on Tuesday 17 March and a monitor revokes it on
/// Wednesday 18 March; the card was raised on Monday 16 March. Checks the figures.
fn appeal_revoke_and_check(mut script: Script) {
    script
        .act(
            RuleId::T1,
            Role::Department,
            "2026-03-17 09:00",
            SupervisionAction::Appeal {
                reason: "系统误判".into(),
            },
        )
        .act(
            RuleId::T1,
            Role::Monitor,
            "2026-03-18 10:00",
            SupervisionAction::DecideAppeal {
                decision: AppealDecision::Revoke,
                reason: "申诉成立".into(),
            },
        );
    let totals = script.totals();
    assert_eq!(
        (
            totals.warnings_raised,
            totals.cards_raised,
            totals.cards_escalated,
            totals.cards_revoked
        ),
        (1, 1, 1, 1),
        "{totals:?}"
    );
    assert_eq!(totals.valid_cards(), 0);
    assert_eq!(totals.rates().alert, Some(0.0));
    // The warning on the Friday, the card and its revoke both on the Monday it became one.
    assert_eq!(script.on(day("2026-03-13")).warnings_raised, 1);
    assert_eq!(script.days_of(|c| c.cards_raised), vec![day("2026-03-16")]);
    assert_eq!(script.days_of(|c| c.cards_revoked), vec![day("2026-03-16")]);
    let monday = script.on(day("2026-03-16"));
    assert_eq!((monday.cards_raised, monday.cards_revoked), (1, 1));
    assert_eq!(monday.valid_cards(), 0);
    // The day of the revoke, taken alone, has no card to take away.
    let wednesday = script.on(day("2026-03-18"));
    assert_eq!(wednesday.cards_revoked, 0);
    assert_eq!(wednesday.valid_cards(), 0);
    // No day's valid cards, nor any running total, goes below zero.
    for date in script.days_of(|c| c.cards_raised + c.cards_revoked + c.accepted) {
        assert!(script.on(date).valid_cards() >= 0, "{date}");
        assert!(script.through(date).valid_cards() >= 0, "{date}");
    }
}

/// Guards against a warning raised a level by A1 not counting as a card raised (so that
/// its revoke left valid cards at −1 and the alert rate negative), and against a revoke
/// counted on the day of the decision rather than the day the card was raised.
#[test]
fn a_warning_carded_by_a1_counts_one_card_and_its_revoke_on_the_day_it_became_one() {
    let mut script = warned();
    script
        .act(
            RuleId::T1,
            Role::Monitor,
            "2026-03-13 11:00",
            SupervisionAction::IssueNotice {
                content: "请说明进度".into(),
                feedback_due: t("2026-03-16 12:00"),
            },
        )
        .tick("2026-03-16 12:30");
    let alert = script.alert(RuleId::T1).expect("raised");
    assert_eq!(alert.level, Level::Yellow);
    assert_eq!(alert.carded_at, Some(t("2026-03-16 12:30")));
    assert!(
        script
            .changes
            .iter()
            .any(|change| change.cause == Cause::Escalated { rule: RuleId::A1 })
    );
    appeal_revoke_and_check(script);
}

/// Guards against a warning escalated by hand to a yellow card not counting as a card
/// raised, and against its revoke counted on another day than the card.
#[test]
fn a_warning_carded_by_hand_counts_one_card_and_its_revoke_on_the_day_it_became_one() {
    let mut script = warned();
    script.act(
        RuleId::T1,
        Role::Monitor,
        "2026-03-16 09:30",
        SupervisionAction::Escalate {
            reason: "进度滞后".into(),
        },
    );
    let alert = script.alert(RuleId::T1).expect("raised");
    assert_eq!(alert.level, Level::Yellow);
    assert_eq!(alert.carded_at, Some(t("2026-03-16 09:30")));
    appeal_revoke_and_check(script);
}

/// Guards against a revoked warning being counted as a revoked card (valid cards −1).
#[test]
fn revoking_a_warning_that_never_became_a_card_revokes_no_card() {
    let mut script = warned();
    script
        .act(
            RuleId::T1,
            Role::Department,
            "2026-03-13 11:00",
            SupervisionAction::Appeal {
                reason: "已在办理".into(),
            },
        )
        .act(
            RuleId::T1,
            Role::Monitor,
            "2026-03-13 14:00",
            SupervisionAction::DecideAppeal {
                decision: AppealDecision::Revoke,
                reason: "申诉成立".into(),
            },
        );
    let totals = script.totals();
    assert_eq!(
        (
            totals.warnings_raised,
            totals.cards_raised,
            totals.cards_escalated,
            totals.cards_revoked
        ),
        (1, 0, 0, 0),
        "{totals:?}"
    );
    assert_eq!(totals.rates().alert, Some(0.0));
}

/// Accepted Monday 2 March 09:00 with promised 10 and legal 20 working days, then an
/// extension on Tuesday 3 March.
fn extended(approved: u32, approver: &str) -> Script {
    let mut script = Script::default();
    script.step("2026-03-02 09:00", accepted(10, 20));
    assert_eq!(script.promised_due(), Some(t("2026-03-16 17:30")));
    assert_eq!(script.legal_due(), Some(t("2026-03-30 17:30")));
    script.step(
        "2026-03-03 10:00",
        procedure(
            "E-1",
            ProcedureKind::Extension,
            working_days(approved),
            approver,
        ),
    );
    script
}

/// Guards against an extension without an approver moving the due dates (and so hiding
/// the case from T3 past its legal limit).
#[test]
fn an_extension_without_an_approver_extends_nothing_and_the_legal_limit_still_bites() {
    let mut script = extended(5, "");
    let t7 = script.alert(RuleId::T7).expect("T7 raised");
    assert_eq!((t7.level, t7.subject.as_str()), (Level::Yellow, "E-1"));
    assert!(script.case().extensions.is_empty());
    assert_eq!(script.promised_due(), Some(t("2026-03-16 17:30")));
    assert_eq!(script.legal_due(), Some(t("2026-03-30 17:30")));
    script.tick("2026-03-30 17:00");
    assert_eq!(script.raised(RuleId::T3), 0);
    script.tick("2026-03-31 09:30");
    let t3 = script.alert(RuleId::T3).expect("T3 raised");
    assert_eq!((t3.level, t3.threshold), (Level::Red, working(20)));
}

/// Guards against a second extension moving the due dates again after the one the law
/// allows.
#[test]
fn a_second_extension_after_an_approved_one_extends_nothing_further() {
    let mut script = extended(5, "局长");
    assert_eq!(script.raised(RuleId::T7), 0);
    // Five working days later each: the legal limit over the Qingming holiday
    // (Saturday 4 to Monday 6 April).
    assert_eq!(script.promised_due(), Some(t("2026-03-23 17:30")));
    assert_eq!(script.legal_due(), Some(t("2026-04-07 17:30")));
    script.step(
        "2026-03-04 10:00",
        procedure("E-2", ProcedureKind::Extension, working_days(3), "局长"),
    );
    let t7 = script.alert(RuleId::T7).expect("T7 raised");
    assert_eq!(
        (t7.subject.as_str(), t7.measured),
        ("E-2", Quantity::new(2, QuantityUnit::Count))
    );
    assert_eq!(script.raised(RuleId::T7), 1);
    assert_eq!(script.case().extensions, vec![working_days(5)]);
    assert_eq!(script.promised_due(), Some(t("2026-03-23 17:30")));
    assert_eq!(script.legal_due(), Some(t("2026-04-07 17:30")));
}

/// Guards against an extension beyond the statutory length (12 days > 10) moving the due
/// dates.
#[test]
fn an_extension_longer_than_allowed_extends_nothing() {
    let script = extended(12, "局长");
    let t7 = script.alert(RuleId::T7).expect("T7 raised");
    assert_eq!((t7.measured, t7.threshold), (working(12), working(10)));
    assert!(script.case().extensions.is_empty());
    assert_eq!(script.promised_due(), Some(t("2026-03-16 17:30")));
    assert_eq!(script.legal_due(), Some(t("2026-03-30 17:30")));
}

/// Guards against the fix for improper extensions also refusing a proper one: a single
/// approved extension of the full 10 days moves both due dates by 10 working days.
#[test]
fn one_approved_extension_of_ten_days_moves_both_due_dates_by_ten_working_days() {
    let script = extended(10, "局长");
    assert_eq!(script.raised(RuleId::T7), 0);
    assert_eq!(script.case().extensions, vec![working_days(10)]);
    assert_eq!(script.promised_due(), Some(t("2026-03-30 17:30")));
    // 30 working days after Monday 2 March, over the Qingming holiday.
    assert_eq!(script.legal_due(), Some(t("2026-04-14 17:30")));
}

fn decided_at_window(window_direct_signoff: bool) -> Step {
    Step::Decided {
        decision: Decision::Grant,
        reason: "符合条件".into(),
        window_direct_signoff,
    }
}

/// Guards against P3 (受审不分离) firing on a window direct sign-off (窗口直接签批), the
/// practice the separation rule makes room for, while still firing when the acceptor
/// decides an ordinary promised case.
#[test]
fn the_acceptor_deciding_breaches_separation_only_off_the_window() {
    let mut at_window = Script::default();
    at_window
        .step_by("clerk-1", "2026-03-02 09:00", accepted(10, 20))
        .step_by("clerk-1", "2026-03-02 09:30", decided_at_window(true));
    assert_eq!(at_window.raised(RuleId::P3), 0);
    let totals = at_window.totals();
    assert_eq!((totals.decisions, totals.direct_decisions), (1, 1));
    assert_eq!(totals.rates().window_direct_signoff, Some(1.0));

    let mut promised = Script::default();
    promised
        .step_by("clerk-1", "2026-03-02 09:00", accepted(10, 20))
        .step_by("clerk-1", "2026-03-02 09:30", decided_at_window(false));
    let p3 = promised.alert(RuleId::P3).expect("P3 raised");
    assert_eq!(p3.level, Level::Warning);
    assert_eq!(promised.totals().warnings_raised, 1);
}

/// Accepted Wednesday 30 September 10:00 with 3 working days promised and 20 legal, and
/// completed on Saturday 10 October 15:00 (a make-up working day after National Day).
fn national_day_case(mut script: Script) -> Script {
    script.step("2026-09-30 10:00", accepted(3, 20));
    script
}

/// Guards against due instants counted from the acceptance instant, against the statute
/// (期间开始之日不计算在内): three working days after Wednesday 30 September are Thursday
/// 8, Friday 9 and Saturday 10 October (National Day, 1–7 October, adds nothing), so the
/// case is due at 17:30 on the Saturday and a completion at 15:00 that day is on time.
#[test]
fn three_working_days_after_30_september_end_at_the_close_of_saturday_10_october() {
    let mut script = national_day_case(Script::default());
    assert_eq!(script.promised_due(), Some(t("2026-10-10 17:30")));
    script.step("2026-10-10 15:00", completed());
    let totals = script.totals();
    assert_eq!(totals.completed, 1);
    assert_eq!(totals.completed_overdue, 0);
    assert_eq!(totals.completed_on_time + totals.completed_early, 1);
    assert_eq!(script.raised(RuleId::T2), 0);
    assert_eq!(totals.rates().on_time, Some(1.0));
}

/// Guards against the rule book's `day_counting` setting being ignored: counted from the
/// acceptance instant, 21 office hours from Wednesday 10:00 end on Saturday 10 October at
/// 10:00, and the same 15:00 completion is overdue.
#[test]
fn counting_from_acceptance_makes_the_same_completion_overdue() {
    let script = Script::default().rules(|book| {
        book.defaults.day_counting = DayCounting::FromAcceptance;
    });
    let mut script = national_day_case(script);
    assert_eq!(script.case().day_counting, DayCounting::FromAcceptance);
    assert_eq!(script.promised_due(), Some(t("2026-10-10 10:00")));
    script.step("2026-10-10 15:00", completed());
    let totals = script.totals();
    assert_eq!(
        (
            totals.completed,
            totals.completed_overdue,
            totals.completed_on_time,
            totals.completed_early
        ),
        (1, 1, 0, 0)
    );
    assert_eq!(script.raised(RuleId::T2), 1);
    assert_eq!(totals.rates().on_time, Some(0.0));
}

/// Guards against a record Casewatch could not read (C5, a system fault) counting as a red
/// card of the department and turning its case red on the board.
#[test]
fn an_unreadable_record_raises_c5_outside_the_departments_figures() {
    let mut script = Script::default();
    script.step("2026-03-02 09:00", accepted(10, 20));
    let before = script.deltas.len();
    script.unreadable(b"\xff\x00not a record", "undecodable", "2026-03-03 10:00");
    let c5 = script.alert(RuleId::C5).expect("C5 raised");
    assert_eq!(c5.level, Level::Red);
    assert!(
        script.deltas[before..]
            .iter()
            .all(|delta| delta.counters.is_zero()),
        "{:?}",
        &script.deltas[before..]
    );
    let totals = script.totals();
    assert_eq!((totals.cards_raised, totals.warnings_raised), (0, 0));
    assert_eq!(totals.valid_cards(), 0);
    assert_eq!(script.case().light(), Light::Green);
    assert_eq!(
        (totals.open_green, totals.open_yellow, totals.open_red),
        (1, 0, 0)
    );
}

/// Guards against a suspension (挂起) left open stopping the clock for ever: suspended on
/// Tuesday 3 March with 2 days requested, the clock runs again from Thursday, T6 fires
/// once, and T2 fires when the promise, moved by the 2 days, runs out.
#[test]
fn a_suspension_stops_the_clock_only_for_the_days_requested() {
    let mut script = Script::default();
    script.step("2026-03-02 09:00", accepted(5, 20));
    assert_eq!(script.promised_due(), Some(t("2026-03-09 17:30")));
    script.step(
        "2026-03-03 09:00",
        Step::Suspended {
            reason: "等待外部数据".into(),
            requested_days: Some(2),
        },
    );
    // Known while suspended: the five days move by the two suspended ones.
    assert_eq!(script.promised_due(), Some(t("2026-03-11 17:30")));
    let used = |script: &Script, at: &str| script.case().used_seconds(script.calendar(), t(at));
    assert_eq!(used(&script, "2026-03-04 17:30"), 0);
    assert_eq!(used(&script, "2026-03-05 12:00"), 3 * 3600);
    assert_eq!(used(&script, "2026-03-06 17:30"), 2 * 7 * 3600);

    script.tick("2026-03-05 09:00");
    assert_eq!(script.raised(RuleId::T6), 0);
    script.tick("2026-03-05 10:00").tick("2026-03-09 10:00");
    assert_eq!(script.raised(RuleId::T6), 1);
    let t6 = script.alert(RuleId::T6).expect("T6 raised");
    assert_eq!(t6.subject, "suspension 1");
    assert_eq!((t6.measured, t6.threshold), (working(3), working(2)));

    script.tick("2026-03-11 17:00");
    assert_eq!(script.raised(RuleId::T2), 0);
    script.tick("2026-03-12 10:00");
    assert_eq!(script.raised(RuleId::T2), 1);
    assert_eq!(script.raised(RuleId::T6), 1);
}

/// Guards against a suspension without requested days having no cap: it stops the clock
/// for the legal limit's length (20 working days, Tuesday 3 to Monday 30 March), no more.
#[test]
fn a_suspension_without_requested_days_is_capped_at_the_legal_limits_length() {
    let mut script = Script::default();
    script
        .step("2026-03-02 09:00", accepted(5, 20))
        .step("2026-03-03 09:00", suspended());
    // Five working days after the cap: 31 March to 3 April and, after Qingming, 7 April.
    assert_eq!(script.promised_due(), Some(t("2026-04-07 17:30")));
    script.tick("2026-03-30 17:00");
    assert_eq!(script.raised(RuleId::T6), 0);
    script.tick("2026-03-31 10:00");
    let t6 = script.alert(RuleId::T6).expect("T6 raised");
    assert_eq!(t6.subject, "suspension 1");
    assert_eq!(t6.threshold, working(20));
    script.tick("2026-04-07 17:00");
    assert_eq!(script.raised(RuleId::T2), 0);
    script.tick("2026-04-08 10:00");
    assert_eq!(script.raised(RuleId::T2), 1);
}

/// Guards against late cases disappearing from the figures while they stay open: an open
/// case past its promise counts on the overdue gauge, past its legal limit on the legal
/// one too, until completion moves it to `completed_overdue`.
#[test]
fn an_open_case_past_its_limits_stays_on_the_overdue_gauges_until_completed() {
    let mut script = Script::default();
    // Promised 2 (due Wednesday 4 March 17:30), legal 4 (due Friday 6 March 17:30).
    script
        .step("2026-03-02 09:00", accepted(2, 4))
        .tick("2026-03-05 10:00");
    let totals = script.totals();
    assert_eq!(
        (totals.open_overdue_promised, totals.open_overdue_legal),
        (1, 0)
    );
    script.tick("2026-03-09 10:00");
    let totals = script.totals();
    assert_eq!(
        (totals.open_overdue_promised, totals.open_overdue_legal),
        (1, 1)
    );
    // The gauges at the end of the weekend, before the legal limit was found passed.
    let sunday = script.through(day("2026-03-08"));
    assert_eq!(
        (sunday.open_overdue_promised, sunday.open_overdue_legal),
        (1, 0)
    );

    script.step("2026-03-09 11:00", completed());
    let totals = script.totals();
    assert_eq!(
        (totals.open_overdue_promised, totals.open_overdue_legal),
        (0, 0)
    );
    assert_eq!((totals.completed, totals.completed_overdue), (1, 1));
    assert_eq!(totals.open_cases(), 0);
    let case = script.case();
    assert_eq!(case.overdue_promised_at, Some(t("2026-03-05 10:00")));
    assert_eq!(case.overdue_legal_at, Some(t("2026-03-09 10:00")));
}

/// Guards against the overdue gauges depending on which ticks a projector visits a case
/// at: a tick older than the case's time (another partition's, or one a restarted
/// projector visits again) found the case within its limits and took back an overdue
/// finding a later tick had made, so a restarted projector's views differed from a
/// rebuild's. What a later instant found stays found.
#[test]
fn an_older_tick_does_not_take_back_an_overdue_finding() {
    let mut script = Script::default();
    // Promised 2 (due Wednesday 4 March 17:30), legal 4 (due Friday 6 March 17:30).
    script
        .step("2026-03-02 09:00", accepted(2, 4))
        .tick("2026-03-09 10:00")
        .tick("2026-03-03 10:00");
    let case = script.case();
    assert_eq!(case.overdue_promised_at, Some(t("2026-03-09 10:00")));
    assert_eq!(case.overdue_legal_at, Some(t("2026-03-09 10:00")));
    let totals = script.totals();
    assert_eq!(
        (totals.open_overdue_promised, totals.open_overdue_legal),
        (1, 1)
    );
}

/// Guards against the average working days dividing every case's working time by the
/// national 7-hour day: a case in a region of 7½-hour days (08:30–12:00, 13:30–17:30) that
/// used 15 working hours used 2 of its region's days, as did a national case that used 14.
#[test]
fn average_working_days_count_each_case_in_its_own_regions_days() {
    let region = RegionCode::parse("330106").expect("valid region");
    let calendars = Calendars::default()
        .with_regions(&[RegionCalendar {
            region: region.clone(),
            office_hours: Some(vec![
                OfficePeriod {
                    start: hm(8, 30),
                    end: hm(12, 0),
                },
                OfficePeriod {
                    start: hm(13, 30),
                    end: hm(17, 30),
                },
            ]),
            holidays: Vec::new(),
            workdays: Vec::new(),
            years: Vec::new(),
        }])
        .expect("valid office hours");
    assert_eq!(calendars.for_region(&region).day_seconds(), 27_000);

    let mut regional = Script::default();
    regional.policy.calendars = calendars.clone();
    regional
        .step("2026-03-02 08:30", accepted(10, 20))
        .step("2026-03-03 17:30", completed());
    let figures = regional.totals();
    assert_eq!(figures.used_working_seconds, 15 * 3600);
    assert_eq!(figures.used_working_millidays, 2000);
    assert_eq!(figures.rates().average_working_days, Some(2.0));

    let mut national = Script::new("HZ-2026-0002");
    national.policy.calendars = calendars;
    national.region = RegionCode::parse("440300").expect("valid region");
    national
        .step("2026-03-02 09:00", accepted(10, 20))
        .step("2026-03-03 17:30", completed());
    assert_eq!(national.calendar().day_seconds(), 7 * 3600);
    let other = national.totals();
    assert_eq!(other.used_working_seconds, 14 * 3600);
    assert_eq!(other.used_working_millidays, 2000);

    let mut both = figures;
    both += &other;
    assert_eq!(both.completed, 2);
    assert_eq!(both.rates().average_working_days, Some(2.0));
}

/// A period's figures: its flows summed over its days, its gauges as at its end.
#[test]
fn a_periods_figures_keep_its_flows_and_take_the_gauges_at_its_end() {
    use casewatch_domain::stats::Counters;
    let flows = Counters {
        accepted: 3,
        completed: 2,
        open_green: 9,
        ..Counters::default()
    };
    let at_end = Counters {
        accepted: 70,
        open_green: 1,
        open_yellow: 2,
        open_red: 4,
        open_overdue_promised: 5,
        open_overdue_legal: 6,
        ..Counters::default()
    };
    let period = flows.with_gauges(&at_end);
    assert_eq!((period.accepted, period.completed), (3, 2));
    assert_eq!(
        (
            period.open_green,
            period.open_yellow,
            period.open_red,
            period.open_overdue_promised,
            period.open_overdue_legal
        ),
        (1, 2, 4, 5, 6)
    );
    assert_eq!(period.open_cases(), 1 + 2 + 4);
}

/// Two offices alike in cases in hand, late cases and cards: the one that completed more
/// of its cases on time ranks first.
#[test]
fn equal_late_and_alert_rates_rank_by_the_higher_on_time_rate() {
    use casewatch_domain::stats::{Counters, Standing, rank};
    let office = |key, on_time| Standing {
        key,
        counters: Counters {
            accepted: 4,
            completed: on_time + 1,
            completed_on_time: on_time,
            completed_overdue: 1,
            ..Counters::default()
        },
        open_at_start: 0,
    };
    // A: 2 of 3 completed on time; B: 1 of 2. Both: 4 in hand, 1 late, no card.
    let rows = rank(vec![office("B", 1), office("A", 2)]);
    let order: Vec<_> = rows.iter().map(|row| (row.key, row.rank)).collect();
    assert_eq!(order, [("A", 1), ("B", 2)]);
}

/// A case found past its promised limit by a tick comes off the overdue gauge when an
/// approved extension arrives at that same instant and puts the limit ahead again.
#[test]
fn an_extension_at_the_instant_a_case_was_found_late_takes_it_off_the_gauge() {
    let mut script = Script::default();
    // Promised 3 days from Monday: due Thursday 5 March 17:30.
    script
        .step("2026-03-02 09:00", accepted(3, 20))
        .tick("2026-03-06 10:00");
    assert_eq!(script.totals().open_overdue_promised, 1);
    script.step(
        "2026-03-06 10:00",
        procedure("E-1", ProcedureKind::Extension, working_days(10), "局长"),
    );
    assert_eq!(script.totals().open_overdue_promised, 0);
}
