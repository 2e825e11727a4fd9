//! The working calendar at the edges of the years it ships, and past its end. What the
//! calendar must say is written here from the State Council's notices, not computed from
//! the shipped table, so a wrong date in the data fails these tests.

use casewatch_domain::calendar::WorkingCalendar;
use chrono::{Datelike, NaiveDate, Weekday};

use crate::support::*;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("valid date")
}

fn working_days_in(calendar: &WorkingCalendar, year: i32) -> usize {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid year");
    first
        .iter_days()
        .take_while(|day| day.year() == year)
        .filter(|day| calendar.is_working_day(*day))
        .count()
}

/// The working days of each year, counted by hand from its notice: 261 weekdays, less
/// the holidays falling on weekdays, plus the make-up days falling on weekends.
#[test]
fn each_shipped_year_has_the_working_days_its_notice_gives() {
    let calendar = WorkingCalendar::national();
    // 2025: 18 weekdays off (元旦 1, 春节 6, 清明 1, 劳动节 3, 端午 1, 国庆中秋 6) and
    // 5 weekends worked (26 January, 8 February, 27 April, 28 September, 11 October).
    assert_eq!(working_days_in(&calendar, 2025), 261 - 18 + 5);
    // 2026: 19 weekdays off (元旦 2, 春节 6, 清明 1, 劳动节 3, 端午 1, 中秋 1, 国庆 5) and
    // 6 weekends worked (4 January, 14 and 28 February, 9 May, 20 September, 10 October).
    assert_eq!(working_days_in(&calendar, 2026), 261 - 19 + 6);
}

#[test]
fn new_year_2025_follows_an_uncovered_2024() {
    let calendar = WorkingCalendar::national();
    assert!(!calendar.covers(2024));
    // Tuesday 31 December 2024 counts Monday to Friday; 1 January 2025 is 元旦.
    assert!(calendar.is_working_day(date("2024-12-31")));
    assert!(!calendar.is_working_day(date("2025-01-01")));
    assert!(calendar.is_working_day(date("2025-01-02")));
    // Accepted Tuesday 31 December 2024 with 2 working days: the day of acceptance does
    // not count, 元旦 adds nothing, so Thursday 2 and Friday 3 January are the two days.
    let mut s = Script::default();
    s.step("2024-12-31 10:00", accepted(2, 20));
    assert_eq!(s.promised_due(), Some(t("2025-01-03 17:30")));
}

#[test]
fn new_year_2026_and_its_make_up_sunday() {
    let calendar = WorkingCalendar::national();
    // 元旦 2026 is Thursday 1 to Saturday 3 January; Sunday 4 January is worked (元旦调休).
    for off in ["2026-01-01", "2026-01-02", "2026-01-03"] {
        assert!(!calendar.is_working_day(date(off)), "{off}");
    }
    assert_eq!(date("2026-01-04").weekday(), Weekday::Sun);
    assert!(calendar.is_working_day(date("2026-01-04")));
    // Over the holiday, only that Sunday's office hours count.
    assert_eq!(
        calendar.working_seconds(t("2025-12-31 17:30"), t("2026-01-05 09:00")),
        7 * 3600
    );
    // Accepted Wednesday 31 December 2025: 1 working day ends on the make-up Sunday, 2 on
    // Monday 5 January.
    let mut one = Script::default();
    one.step("2025-12-31 10:00", accepted(1, 20));
    assert_eq!(one.promised_due(), Some(t("2026-01-04 17:30")));
    let mut two = Script::default();
    two.step("2025-12-31 10:00", accepted(2, 20));
    assert_eq!(two.promised_due(), Some(t("2026-01-05 17:30")));
}

/// The shipped data ends with 2026. Until next year's notice is added, 2027 counts Monday
/// to Friday, 元旦 included; a case over it is timed by that fallback.
#[test]
fn a_case_running_into_a_year_without_data_counts_monday_to_friday() {
    let calendar = WorkingCalendar::national();
    assert!(calendar.covers(2026) && !calendar.covers(2027));
    assert!(calendar.is_working_day(date("2026-12-31")));
    assert!(calendar.is_working_day(date("2027-01-01")));
    assert!(!calendar.is_working_day(date("2027-01-02")));
    // Accepted Thursday 31 December 2026 with 3 working days: Friday 1, Monday 4 and
    // Tuesday 5 January 2027.
    let mut s = Script::default();
    s.step("2026-12-31 10:00", accepted(3, 20));
    assert_eq!(s.promised_due(), Some(t("2027-01-05 17:30")));
    s.tick("2027-01-05 17:30");
    assert!(s.alert(casewatch_domain::catalogue::RuleId::T2).is_none());
    s.tick("2027-01-06 09:00:01");
    assert!(s.alert(casewatch_domain::catalogue::RuleId::T2).is_some());
}
