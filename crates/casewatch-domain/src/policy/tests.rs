use chrono::NaiveDate;

use super::*;
use crate::catalogue::RuleId;
use crate::ids::ItemCode;
use crate::testing::at;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("valid date")
}

fn change(content: PolicyContent) -> PolicyChange {
    PolicyChange {
        content,
        author: "province-admin".into(),
        reason: "国办发明电〔2026〕x号".into(),
        applies_from: at("2026-12-08T00:00:00+08:00"),
    }
}

/// The 2027 arrangement: the Spring Festival off from Saturday 6 to Sunday 14 February,
/// Sunday 7 February worked.
const YEAR_2027: &str = r#"
[[year]]
year = 2027
notice = "2027 arrangement"
[[year.holiday]]
name = "春节"
from = "2027-02-06"
to = "2027-02-14"
[[year.holiday]]
name = "元旦"
from = "2027-01-01"
to = "2027-01-03"
[[year.workday]]
date = "2027-02-20"
reason = "春节"
"#;

#[test]
fn the_shipped_policy_is_the_default_one() {
    let shipped = PolicySources::shipped();
    assert_eq!(
        (shipped.rule_book.version, shipped.calendar_version),
        (1, 1)
    );
    assert_eq!(
        shipped.national.keys().copied().collect::<Vec<_>>(),
        [2025, 2026]
    );
    assert_eq!(shipped.compile(), Ok(Policy::default()));
}

#[test]
fn a_new_year_of_national_data_is_added_and_the_others_kept() {
    let mut sources = PolicySources::shipped();
    let policy = sources
        .apply(&change(PolicyContent::NationalCalendar {
            version: 2,
            data: CalendarData::parse(YEAR_2027).expect("valid data"),
        }))
        .expect("applies");
    let national = policy.calendars.national();
    assert!(national.covers(2025) && national.covers(2026) && national.covers(2027));
    // 8 February 2027 is a Monday of the Spring Festival; 20 February a Saturday worked.
    assert!(!national.is_working_day(date("2027-02-08")));
    assert!(national.is_working_day(date("2027-02-20")));
    // 1 October 2026, from the shipped data, is still off.
    assert!(!national.is_working_day(date("2026-10-01")));
    assert_eq!(
        national.data_ends(date("2026-12-07")),
        Some(date("2027-12-31"))
    );
    assert_eq!(sources.calendar_version, 2);
    assert_eq!(sources.compile(), Ok(policy));
}

#[test]
fn a_region_s_changes_replace_its_earlier_ones_and_keep_the_other_regions() {
    let mut sources = PolicySources::shipped();
    let region = |text: &str| -> RegionCalendar { toml::from_str(text).expect("valid changes") };
    sources
        .apply(&change(PolicyContent::RegionCalendar {
            version: 2,
            changes: region(
                r#"
                region = "330100"
                holidays = [{ name = "local festival", from = "2026-03-04", to = "2026-03-04" }]
                "#,
            ),
        }))
        .expect("applies");
    sources
        .apply(&change(PolicyContent::RegionCalendar {
            version: 3,
            changes: region("region = \"440300\"\nholidays = [{ name = \"特区\", from = \"2026-03-05\", to = \"2026-03-05\" }]"),
        }))
        .expect("applies");
    let policy = sources
        .apply(&change(PolicyContent::RegionCalendar {
            version: 4,
            changes: region(
                r#"
                region = "330100"
                holidays = [{ name = "local festival", from = "2026-03-06", to = "2026-03-06" }]
                "#,
            ),
        }))
        .expect("applies");
    let hangzhou = policy
        .calendars
        .for_region(&RegionCode::parse("330106").expect("valid"));
    assert!(hangzhou.is_working_day(date("2026-03-04")), "replaced");
    assert!(!hangzhou.is_working_day(date("2026-03-06")));
    let shenzhen = policy
        .calendars
        .for_region(&RegionCode::parse("440300").expect("valid"));
    assert!(!shenzhen.is_working_day(date("2026-03-05")), "kept");
}

#[test]
fn a_rule_book_replaces_the_one_in_force() {
    let mut sources = PolicySources::shipped();
    let book: RuleBook = toml::from_str(
        r#"
        version = 2
        [[overrides]]
        region = "330100"
        t8_notice_within_days = 7
        "#,
    )
    .expect("valid rule book");
    let policy = sources
        .apply(&change(PolicyContent::RuleBook(book.clone())))
        .expect("applies");
    assert_eq!(policy.rules, book);
    let item = ItemCode::parse("ITEM-1").expect("valid");
    let city = RegionCode::parse("330106").expect("valid");
    assert_eq!(
        policy.rules.thresholds(&city, &item).t8_notice_within_days,
        7
    );
    assert_eq!(policy.calendars, Policy::default().calendars);
}

#[test]
fn a_change_that_does_not_follow_the_version_in_force_is_refused() {
    let mut sources = PolicySources::shipped();
    let same = change(PolicyContent::RuleBook(RuleBook::default()));
    assert_eq!(
        sources.apply(&same),
        Err(PolicyError::StaleVersion {
            part: "rule book",
            given: 1,
            in_force: 1
        })
    );
    let older = change(PolicyContent::NationalCalendar {
        version: 0,
        data: CalendarData::default(),
    });
    assert_eq!(
        sources.apply(&older).map_err(|error| error.to_string()),
        Err("calendar version 0 does not follow version 1, the one in force".into())
    );
    assert_eq!(sources, PolicySources::shipped());
}

#[test]
fn a_change_making_an_invalid_calendar_is_refused_whole() {
    let mut sources = PolicySources::shipped();
    let overlapping = CalendarData::parse(
        r#"
        [[year]]
        year = 2027
        notice = "a notice with a typo"
        [[year.holiday]]
        name = "春节"
        from = "2027-02-06"
        to = "2027-02-14"
        [[year.workday]]
        date = "2027-02-07"
        reason = "春节"
        "#,
    )
    .expect("the data parses");
    let refused = sources
        .apply(&change(PolicyContent::NationalCalendar {
            version: 2,
            data: overlapping,
        }))
        .expect_err("refused");
    assert_eq!(
        refused.to_string(),
        "calendar: 2027-02-07 is both in holiday `春节` and a make-up working day"
    );
    assert_eq!(sources, PolicySources::shipped(), "nothing of it applied");
}

#[test]
fn a_change_names_its_author_and_reason() {
    let mut sources = PolicySources::shipped();
    let book = RuleBook {
        version: 2,
        ..RuleBook::default()
    };
    let mut unsigned = change(PolicyContent::RuleBook(book.clone()));
    unsigned.author = " ".into();
    assert_eq!(sources.apply(&unsigned), Err(PolicyError::NoAuthor));
    let mut unexplained = change(PolicyContent::RuleBook(book));
    unexplained.reason = String::new();
    assert_eq!(sources.apply(&unexplained), Err(PolicyError::NoReason));
}

#[test]
fn a_rule_book_with_an_unknown_rule_or_key_is_refused_by_name() {
    let unknown_rule =
        toml::from_str::<RuleBook>("version = 2\n[defaults]\ndisabled = [\"T10\"]\n")
            .expect_err("unknown rule");
    assert!(unknown_rule.to_string().contains("T10"), "{unknown_rule}");
    assert!(!RuleId::ALL.iter().any(|rule| rule.code() == "T10"));
    let unknown_key = toml::from_str::<RuleBook>(
        "version = 2\n[[overrides]]\nregion = \"330100\"\nt8_notice_days = 7\n",
    )
    .expect_err("unknown key");
    assert!(
        unknown_key.to_string().contains("t8_notice_days"),
        "{unknown_key}"
    );
}

#[test]
fn a_change_round_trips_as_json() {
    let original = change(PolicyContent::NationalCalendar {
        version: 2,
        data: CalendarData::parse(YEAR_2027).expect("valid data"),
    });
    let text = serde_json::to_string(&original).expect("serialises");
    let back: PolicyChange = serde_json::from_str(&text).expect("deserialises");
    assert_eq!(back, original);
}

#[test]
fn a_document_is_read_by_its_part_every_key_known() {
    let book = PolicyContent::parse(
        PolicyPart::RuleBook,
        3,
        "version = 3\n[defaults]\nt1_days_left = 3\n",
    )
    .expect("a rule book");
    assert_eq!((book.part(), book.version()), ("rule book", 3));
    assert_eq!(
        PolicyContent::parse(PolicyPart::RuleBook, 4, "version = 3\n"),
        Err(ValidationError::new(
            "version",
            "is 4, but the rule book says version = 3"
        ))
    );
    let unknown = PolicyContent::parse(
        PolicyPart::RuleBook,
        3,
        "version = 3\n[defaults]\nt1_days = 3\n",
    )
    .expect_err("an unknown key");
    assert_eq!(unknown.field(), "document");
    assert!(unknown.to_string().contains("t1_days"), "{unknown}");
    let year =
        PolicyContent::parse(PolicyPart::NationalCalendar, 2, YEAR_2027).expect("a calendar");
    assert_eq!((year.part(), year.version()), ("calendar", 2));
    let region = PolicyContent::parse(
        PolicyPart::RegionCalendar,
        2,
        "region = \"330100\"\nholiday = []\n",
    )
    .expect_err("`holidays`, not `holiday`, in a region's changes");
    assert!(region.to_string().contains("holiday"), "{region}");
}

/// A tightened T1 for 2027, received in December, and a calendar change received after
/// it that applies at once: the calendar waits for the rule book received before it.
#[test]
fn changes_apply_from_their_instant_in_the_order_received() {
    let mut in_force = PolicyInForce::shipped();
    let mut tight = RuleBook {
        version: 2,
        ..RuleBook::default()
    };
    tight.defaults.t1_days_left = 3;
    let mut from_2027 = change(PolicyContent::RuleBook(tight));
    from_2027.applies_from = at("2027-01-01T00:00:00+08:00");
    let december = at("2026-12-08T10:00:00+08:00");
    assert_eq!(in_force.receive(from_2027, december), Ok(false));
    assert_eq!(in_force.policy().rules.version, 1);
    let mut calendar = change(PolicyContent::NationalCalendar {
        version: 2,
        data: CalendarData::parse(YEAR_2027).expect("valid data"),
    });
    calendar.applies_from = december;
    assert_eq!(in_force.receive(calendar, december), Ok(false), "waits");
    assert_eq!(in_force.pending().len(), 2);
    assert!(!in_force.reach(at("2026-12-31T23:59:59+08:00")));
    assert!(in_force.reach(at("2027-01-01T00:00:00+08:00")));
    assert_eq!(in_force.policy().rules.defaults.t1_days_left, 3);
    assert!(in_force.policy().calendars.national().covers(2027));
    assert!(in_force.pending().is_empty());
    assert_eq!(
        (
            in_force.sources().rule_book.version,
            in_force.sources().calendar_version
        ),
        (2, 2)
    );
}

#[test]
fn a_change_is_checked_against_the_changes_held_before_it() {
    let mut in_force = PolicyInForce::shipped();
    let december = at("2026-12-08T10:00:00+08:00");
    let mut later = change(PolicyContent::RuleBook(RuleBook {
        version: 2,
        ..RuleBook::default()
    }));
    later.applies_from = at("2027-01-01T00:00:00+08:00");
    in_force.receive(later.clone(), december).expect("held");
    assert_eq!(
        in_force.receive(later, december),
        Err(PolicyError::StaleVersion {
            part: "rule book",
            given: 2,
            in_force: 2
        }),
        "a re-sent change"
    );
    assert_eq!(in_force.pending().len(), 1);
}

#[test]
fn a_trial_applies_over_every_rule_book_in_force() {
    let patch = ThresholdPatch {
        t1_days_left: Some(4),
        ..ThresholdPatch::default()
    };
    let mut in_force = PolicyInForce::shipped().with_trial(patch);
    assert_eq!(in_force.policy().rules.defaults.t1_days_left, 4);
    let mut book = RuleBook {
        version: 2,
        ..RuleBook::default()
    };
    book.defaults.t8_max_notices = 2;
    let now = at("2026-12-08T10:00:00+08:00");
    assert_eq!(
        in_force.receive(change(PolicyContent::RuleBook(book)), now),
        Ok(true)
    );
    let defaults = &in_force.policy().rules.defaults;
    assert_eq!((defaults.t1_days_left, defaults.t8_max_notices), (4, 2));
    assert_eq!(
        in_force.sources().rule_book.defaults.t1_days_left,
        2,
        "the sources as given"
    );
}

#[test]
fn a_partition_s_policy_restores_from_its_snapshot() {
    let mut in_force = PolicyInForce::shipped();
    let mut later = change(PolicyContent::RuleBook(RuleBook {
        version: 2,
        ..RuleBook::default()
    }));
    later.applies_from = at("2027-01-01T00:00:00+08:00");
    in_force
        .receive(later, at("2026-12-08T10:00:00+08:00"))
        .expect("held");
    let text = serde_json::to_string(&in_force.snapshot()).expect("serialises");
    let snapshot: PolicySnapshot = serde_json::from_str(&text).expect("deserialises");
    assert_eq!(PolicyInForce::restore(snapshot), Ok(in_force));
}

#[test]
fn every_part_in_force_renders_as_a_document_that_reads_back() {
    let mut sources = PolicySources::shipped();
    sources
        .apply(&change(PolicyContent::RegionCalendar {
            version: 2,
            changes: toml::from_str(
                "region = \"330100\"\nholidays = [{ name = \"local\", from = \"2026-03-04\", to = \"2026-03-04\" }]\n",
            )
            .expect("valid changes"),
        }))
        .expect("applies");
    let mut book = RuleBook {
        version: 2,
        ..RuleBook::default()
    };
    book.defaults.disabled.insert(RuleId::C2);
    book.items.insert(
        ItemCode::parse("ITEM-1").expect("valid"),
        crate::rulebook::ItemProfile {
            charges_fee: Some(false),
            ..Default::default()
        },
    );
    sources
        .apply(&change(PolicyContent::RuleBook(book)))
        .expect("applies");
    let parts = sources.parts();
    assert_eq!(
        parts.iter().map(PolicyContent::kind).collect::<Vec<_>>(),
        [
            PolicyPart::RuleBook,
            PolicyPart::NationalCalendar,
            PolicyPart::RegionCalendar
        ]
    );
    for part in parts {
        assert_eq!(
            PolicyContent::parse(part.kind(), part.version(), &part.document()),
            Ok(part.clone()),
            "{}",
            part.document()
        );
    }
}

#[test]
fn a_change_shows_the_part_it_changes_before_and_after() {
    let sources = PolicySources::shipped();
    let region: RegionCalendar = toml::from_str(
        "region = \"330100\"\nworkdays = [{ date = \"2026-03-07\", reason = \"local\" }]\n",
    )
    .expect("valid changes");
    let (before, after) = sources.documents_changed(&PolicyContent::RegionCalendar {
        version: 2,
        changes: region,
    });
    assert_eq!(before, "", "no changes of the region yet");
    assert!(after.contains("2026-03-07"), "{after}");
    let (before, after) = sources.documents_changed(&PolicyContent::NationalCalendar {
        version: 2,
        data: CalendarData::parse(YEAR_2027).expect("valid data"),
    });
    assert!(before.contains("year = 2026") && !before.contains("year = 2027"));
    assert!(
        after.contains("year = 2025") && after.contains("year = 2027"),
        "{after}"
    );
}

#[test]
fn operators_are_told_sixty_days_before_the_calendar_runs_out_and_after() {
    let policy = Policy::default();
    assert_eq!(
        calendar_notice(&policy, date("2026-10-31")),
        None,
        "61 days left"
    );
    let (left, said) = calendar_notice(&policy, date("2026-11-01")).expect("60 days left");
    assert_eq!(left, 60);
    assert!(said.contains("ends on 2026-12-31, in 60 days"), "{said}");
    let (left, said) = calendar_notice(&policy, date("2026-12-31")).expect("the last day");
    assert_eq!(left, 0);
    assert!(said.contains("in 0 days"), "{said}");
    let (left, said) = calendar_notice(&policy, date("2027-01-01")).expect("past its end");
    assert_eq!(left, -1);
    assert!(said.contains("no data for 2027"), "{said}");
    let mut sources = PolicySources::shipped();
    let with_2027 = sources
        .apply(&change(PolicyContent::NationalCalendar {
            version: 2,
            data: CalendarData::parse(YEAR_2027).expect("valid data"),
        }))
        .expect("applies");
    assert_eq!(calendar_notice(&with_2027, date("2026-12-07")), None);
}
