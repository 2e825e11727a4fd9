//! Tests of the working calendars.

use super::*;
use crate::testing::at;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("valid date")
}

#[test]
fn the_shipped_data_covers_2025_and_2026() {
    let calendar = WorkingCalendar::national();
    assert!(calendar.covers(2025) && calendar.covers(2026));
    assert_eq!(calendar.day_seconds(), 7 * 3600);
    // National Day 2026 runs 1–7 October; Saturday 10 October is a make-up working day.
    assert!(!calendar.is_working_day(date("2026-10-01")));
    assert!(!calendar.is_working_day(date("2026-10-07")));
    assert!(calendar.is_working_day(date("2026-10-08")));
    assert!(calendar.is_working_day(date("2026-10-10")));
    // Spring Festival 2026: 15–23 February off, Saturdays 14 and 28 February worked.
    assert!(calendar.is_working_day(date("2026-02-14")));
    assert!(!calendar.is_working_day(date("2026-02-23")));
    assert!(calendar.is_working_day(date("2026-02-28")));
    // 2025: 28 January to 4 February off; Sunday 26 January worked.
    assert!(calendar.is_working_day(date("2025-01-26")));
    assert!(!calendar.is_working_day(date("2025-02-04")));
}

#[test]
fn a_case_accepted_the_day_before_national_day() {
    let calendar = WorkingCalendar::national();
    // Accepted Wednesday 30 September 2026 at 09:00: that day is one working day, then
    // nothing until Thursday 8 October, and Saturday 10 October counts.
    let accepted = at("2026-09-30T09:00:00+08:00");
    let day = calendar.day_seconds();
    assert_eq!(
        calendar.add_working_seconds(accepted, day),
        at("2026-09-30T17:30:00+08:00")
    );
    assert_eq!(
        calendar.add_working_seconds(accepted, 2 * day),
        at("2026-10-08T17:30:00+08:00")
    );
    assert_eq!(
        calendar.add_working_seconds(accepted, 4 * day),
        at("2026-10-10T17:30:00+08:00")
    );
    assert_eq!(
        calendar.working_seconds(accepted, at("2026-10-09T12:00:00+08:00")),
        2 * day + 3 * 3600
    );
}

#[test]
fn a_make_up_sunday_counts() {
    let calendar = WorkingCalendar::national();
    // Sunday 20 September 2026 is a working day (国庆节调休); Sunday 13th is not.
    let sunday = calendar.working_seconds(
        at("2026-09-20T00:00:00+08:00"),
        at("2026-09-21T00:00:00+08:00"),
    );
    assert_eq!(sunday, 7 * 3600);
    let ordinary_sunday = calendar.working_seconds(
        at("2026-09-13T00:00:00+08:00"),
        at("2026-09-14T00:00:00+08:00"),
    );
    assert_eq!(ordinary_sunday, 0);
}

#[test]
fn after_hours_actions_add_no_time() {
    let calendar = WorkingCalendar::national();
    // From 18:00 Monday to 08:30 Tuesday, and over the lunch break: nothing.
    assert_eq!(
        calendar.working_seconds(
            at("2026-03-02T18:00:00+08:00"),
            at("2026-03-03T08:30:00+08:00")
        ),
        0
    );
    assert_eq!(
        calendar.working_seconds(
            at("2026-03-02T12:00:00+08:00"),
            at("2026-03-02T13:30:00+08:00")
        ),
        0
    );
    // An hour added at 17:00 ends at 09:30 the next morning.
    assert_eq!(
        calendar.add_working_seconds(at("2026-03-02T17:00:00+08:00"), 3600),
        at("2026-03-03T09:30:00+08:00")
    );
    // An hour added at 21:00 Friday ends Monday 10:00.
    assert_eq!(
        calendar.add_working_seconds(at("2026-03-06T21:00:00+08:00"), 3600),
        at("2026-03-09T10:00:00+08:00")
    );
}

#[test]
fn the_close_of_the_working_day() {
    let calendar = WorkingCalendar::national();
    assert_eq!(
        calendar.close_of_working_day(at("2026-03-02T10:00:00+08:00")),
        at("2026-03-02T17:30:00+08:00")
    );
    // After hours on Friday: the next working day is Monday.
    assert_eq!(
        calendar.close_of_working_day(at("2026-03-06T18:00:00+08:00")),
        at("2026-03-09T17:30:00+08:00")
    );
}

#[test]
fn a_year_without_data_counts_monday_to_friday() {
    let calendar = WorkingCalendar::national();
    assert!(!calendar.covers(2030));
    // 1 January 2030 is a Tuesday: a working day for lack of data.
    assert!(calendar.is_working_day(date("2030-01-01")));
    assert!(!calendar.is_working_day(date("2030-01-05")));
}

#[test]
fn the_data_ends_with_the_last_year_covered_without_a_gap() {
    let calendar = WorkingCalendar::national();
    assert_eq!(
        calendar.data_ends(date("2025-06-01")),
        Some(date("2026-12-31"))
    );
    assert_eq!(
        calendar.data_ends(date("2026-12-31")),
        Some(date("2026-12-31"))
    );
    assert_eq!(calendar.data_ends(date("2027-01-01")), None);
    assert_eq!(calendar.data_ends(date("2024-12-31")), None);
    let with_2028 = CalendarData::parse(
        "[[year]]\nyear = 2028\nnotice = \"a later notice\"\n\n[[year]]\nyear = 2026\nnotice = \"this year's\"\n",
    )
    .expect("valid data");
    let gap = WorkingCalendar::new(
        vec![OfficePeriod {
            start: hm(9, 0),
            end: hm(17, 0),
        }],
        &with_2028,
    )
    .expect("valid calendar");
    assert_eq!(gap.data_ends(date("2026-03-02")), Some(date("2026-12-31")));
}

#[test]
fn a_day_both_off_and_worked_is_refused_by_name() {
    let data = CalendarData::parse(
        r#"
        [[year]]
        year = 2027
        notice = "a notice with a typo"
        [[year.holiday]]
        name = "春节"
        from = "2027-02-06"
        to = "2027-02-12"
        [[year.workday]]
        date = "2027-02-07"
        reason = "春节"
        "#,
    )
    .expect("the data parses");
    assert_eq!(
        WorkingCalendar::new(
            vec![OfficePeriod {
                start: hm(9, 0),
                end: hm(17, 0)
            }],
            &data
        ),
        Err(CalendarError::HolidayAndWorkday {
            date: date("2027-02-07"),
            holiday: "春节".into(),
        })
    );
    let region: RegionCalendar = toml::from_str(
        r#"
        region = "330100"
        holidays = [{ name = "local festival", from = "2026-03-04", to = "2026-03-05" }]
        workdays = [{ date = "2026-03-05", reason = "local make-up day" }]
        "#,
    )
    .expect("the changes parse");
    let refused = Calendars::default()
        .with_regions(&[region])
        .expect_err("refused");
    assert_eq!(
        refused.to_string(),
        "2026-03-05 is both in holiday `local festival` and a make-up working day"
    );
}

#[test]
fn regions_override_office_hours_and_days() {
    let changes: RegionCalendar = toml::from_str(
        r#"
            region = "330100"
            office_hours = [{ start = "08:30:00", end = "12:00:00" }, { start = "14:00:00", end = "18:00:00" }]
            holidays = [{ name = "local festival", from = "2026-03-04", to = "2026-03-04" }]
            workdays = [{ date = "2026-03-07", reason = "local make-up day" }]
            "#,
    )
    .expect("valid region calendar");
    let calendars = Calendars::default()
        .with_regions(&[changes])
        .expect("valid changes");
    let city = calendars.for_region(&RegionCode::parse("330106001").expect("valid"));
    assert_eq!(city.day_seconds(), 7 * 3600 + 1800);
    assert!(!city.is_working_day(date("2026-03-04")));
    assert!(city.is_working_day(date("2026-03-07")));
    let elsewhere = calendars.for_region(&RegionCode::parse("440300").expect("valid"));
    assert!(elsewhere.is_working_day(date("2026-03-04")));
    assert_eq!(elsewhere.day_seconds(), 7 * 3600);
}

#[test]
fn bad_office_hours_are_refused() {
    let overlapping = vec![
        OfficePeriod {
            start: hm(9, 0),
            end: hm(12, 0),
        },
        OfficePeriod {
            start: hm(11, 0),
            end: hm(17, 0),
        },
    ];
    assert_eq!(
        WorkingCalendar::new(overlapping, &CalendarData::default()),
        Err(CalendarError::Overlap(hm(11, 0)))
    );
    assert_eq!(
        WorkingCalendar::new(Vec::new(), &CalendarData::default()),
        Err(CalendarError::NoOfficeHours)
    );
}

#[test]
fn office_periods_may_touch_but_not_overlap() {
    let touching = vec![
        OfficePeriod {
            start: hm(9, 0),
            end: hm(12, 0),
        },
        OfficePeriod {
            start: hm(12, 0),
            end: hm(17, 0),
        },
    ];
    let calendar = WorkingCalendar::new(touching, &CalendarData::default()).expect("valid");
    assert_eq!(calendar.day_seconds(), 8 * 3600);
}

#[test]
fn a_day_starts_at_local_midnight_and_its_close_is_past_at_the_closing_instant() {
    let calendar = WorkingCalendar::national();
    assert_eq!(
        calendar.start_of(date("2026-03-02")),
        at("2026-03-02T00:00:00+08:00")
    );
    // At 17:30 the day's office is over: the close ahead is Tuesday's.
    assert_eq!(
        calendar.close_of_working_day(at("2026-03-02T17:29:59+08:00")),
        at("2026-03-02T17:30:00+08:00")
    );
    assert_eq!(
        calendar.close_of_working_day(at("2026-03-02T17:30:00+08:00")),
        at("2026-03-03T17:30:00+08:00")
    );
}

/// The 2019 notice (国办发明电〔2018〕15号) moved days of 2018: New Year's Day 2019 was
/// a holiday from Sunday 30 December 2018, made up on Saturday 29 December 2018.
#[test]
fn a_notice_may_name_days_of_the_year_before() {
    let data = CalendarData::parse(
        r#"
            [[year]]
            year = 2019
            notice = "国办发明电〔2018〕15号"
            holiday = [{ name = "元旦", from = "2018-12-30", to = "2019-01-01" }]
            workday = [{ date = "2018-12-29", reason = "元旦调休" }]
            "#,
    )
    .expect("valid data");
    let office = WorkingCalendar::national().office.clone();
    let calendar = WorkingCalendar::new(office.clone(), &data).expect("dates beside the year");
    assert!(calendar.is_working_day(date("2018-12-29")));
    assert!(!calendar.is_working_day(date("2018-12-31")));
    assert!(!calendar.is_working_day(date("2019-01-01")));
    assert!(calendar.is_working_day(date("2019-01-02")));
    // Replacing 2019's data takes its days of 2018 with it.
    let replaced = calendar
        .with_changes(&RegionCalendar {
            region: RegionCode::parse("330100").expect("valid"),
            office_hours: None,
            holidays: Vec::new(),
            workdays: Vec::new(),
            years: vec![CalendarYear {
                year: 2019,
                notice: "none".into(),
                published: None,
                holidays: Vec::new(),
                workdays: Vec::new(),
            }],
        })
        .expect("valid changes");
    assert!(!replaced.is_working_day(date("2018-12-29")));
    assert!(replaced.is_working_day(date("2018-12-31")));
    // A date two years away is a typo, not a notice.
    let far = CalendarData::parse(
        "[[year]]\nyear = 2019\nnotice = \"n\"\nworkday = [{ date = \"2021-02-07\", reason = \"r\" }]\n",
    )
    .expect("valid syntax");
    assert_eq!(
        WorkingCalendar::new(office, &far),
        Err(CalendarError::FarFromYear {
            date: date("2021-02-07"),
            year: 2019
        })
    );
}

/// Working time counted one day at a time, as the definition says.
fn working_seconds_day_by_day(calendar: &WorkingCalendar, from: Timestamp, to: Timestamp) -> i64 {
    let mut total = 0;
    let mut date = calendar.local_date(from);
    while from < to && date <= calendar.local_date(to) {
        for (start, end) in calendar.periods_of(date) {
            total += (end.min(to) - start.max(from)).num_seconds().max(0);
        }
        date = date.succ_opt().expect("far from the end of the calendar");
    }
    total
}

/// An instant from 2024 to 2028, around the years the shipped data covers, at any
/// second.
fn instant() -> impl proptest::strategy::Strategy<Value = Timestamp> {
    use proptest::strategy::Strategy as _;
    (1_704_067_200_i64..1_830_297_600)
        .prop_map(|seconds| Timestamp::from_timestamp(seconds, 0).expect("a valid instant"))
}

proptest::proptest! {
    #[test]
    fn counting_whole_days_at_once_agrees_with_counting_them_one_by_one(
        from in instant(),
        to in instant(),
    ) {
        let calendar = WorkingCalendar::national();
        proptest::prop_assert_eq!(
            calendar.working_seconds(from, to),
            working_seconds_day_by_day(&calendar, from, to)
        );
    }

    #[test]
    fn adding_working_time_is_the_inverse_of_measuring_it(
        from in instant(),
        seconds in 1_i64..400 * 7 * 3600,
    ) {
        let calendar = WorkingCalendar::national();
        let reached = calendar.add_working_seconds(from, seconds);
        proptest::prop_assert_eq!(calendar.working_seconds(from, reached), seconds);
        // The earliest such instant: a second less is not enough.
        proptest::prop_assert_eq!(
            calendar.working_seconds(from, reached - chrono::Duration::seconds(1)),
            seconds - 1
        );
    }
}

/// The regression of steps dated at the edges of what a record can carry (found by the
/// projector's adversarial fuzzing): measuring from year 1 to year 9999, and adding
/// past the end of the calendar, give consistent answers instead of a panic. (Their
/// cost, once seconds of work a day at a time, is the projector fuzzing's to notice.)
#[test]
fn spans_of_millennia_are_measured() {
    let calendar = WorkingCalendar::national();
    let earliest = Timestamp::from_timestamp(-62_135_596_800, 0).expect("year 1");
    let latest = Timestamp::from_timestamp(253_402_300_799, 999_999_999).expect("year 9999");
    let all = calendar.working_seconds(earliest, latest);
    let reached = calendar.add_working_seconds(earliest, all);
    assert!(reached <= latest && calendar.working_seconds(earliest, reached) == all);
    assert_eq!(
        calendar.add_working_seconds(latest, i64::MAX),
        end_of_calendar(),
        "past the end of the calendar"
    );
    assert!(calendar.close_of_working_day(end_of_calendar()) >= end_of_calendar());
}
