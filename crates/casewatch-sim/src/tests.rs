use super::*;

fn small() -> SimConfig {
    SimConfig {
        days: 2,
        counties: 2,
        cases_per_county_day: 30,
        ..SimConfig::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_stream() {
    let first: Vec<Output> = Simulator::new(small()).collect();
    let second: Vec<Output> = Simulator::new(small()).collect();
    assert_eq!(first, second);
    let other: Vec<Output> = Simulator::new(SimConfig { seed: 2, ..small() }).collect();
    assert_ne!(first, other);
}

#[test]
fn each_case_happens_in_the_order_of_its_steps() {
    let mut last: std::collections::BTreeMap<CaseNo, (u32, Timestamp)> =
        std::collections::BTreeMap::new();
    let mut events: Vec<CaseEvent> = Simulator::new(small())
        .filter_map(|output| match output {
            Output::Step { event, .. } if event.source_version == 1 => Some(*event),
            _ => None,
        })
        .collect();
    events.sort_by_key(|event| (event.case_no.clone(), event.seq));
    for event in events {
        if let Some((seq, at)) = last.get(&event.case_no) {
            assert_eq!(event.seq, seq + 1, "{}", event.case_no);
            assert!(event.occurred_at >= *at, "{} #{}", event.case_no, event.seq);
        }
        last.insert(event.case_no.clone(), (event.seq, event.occurred_at));
    }
}

#[test]
fn a_history_ending_now_starts_its_last_day_today() {
    let calendar = WorkingCalendar::national();
    let local = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("a valid instant")
            .to_utc()
    };
    // Wednesday 2026-03-04 in the afternoon: Monday, Tuesday and today.
    let now = local("2026-03-04T15:00:00+08:00");
    let config = SimConfig {
        days: 3,
        ..SimConfig::default()
    }
    .ending_at(now);
    assert_eq!(config.start, local("2026-03-02T08:30:00+08:00"));
    let outputs: Vec<Output> = Simulator::new(config).collect();
    let arrival_days: std::collections::BTreeSet<_> = outputs
        .iter()
        .filter_map(|output| match output {
            Output::Step { event, .. } if event.seq == 1 => {
                Some(calendar.local_date(event.occurred_at))
            }
            _ => None,
        })
        .collect();
    assert_eq!(arrival_days.len(), 3, "{arrival_days:?}");
    assert_eq!(
        arrival_days.last(),
        Some(&calendar.local_date(now)),
        "the last day of new cases is today"
    );
    // On a Sunday the history ends with Friday's cases.
    let sunday = SimConfig {
        days: 1,
        ..SimConfig::default()
    }
    .ending_at(local("2026-03-08T10:00:00+08:00"));
    assert_eq!(sunday.start, local("2026-03-06T08:30:00+08:00"));
}

#[test]
fn runs_with_names_report_different_cases() {
    let named = |run: &str| -> std::collections::BTreeSet<String> {
        Simulator::new(SimConfig {
            run: Some(run.to_owned()),
            ..small()
        })
        .filter_map(|output| match output {
            Output::Step { event, .. } => Some(event.event_id.to_string()),
            Output::Tick(_) => None,
        })
        .collect()
    };
    let first = named("A1");
    let second = named("B2");
    assert!(first.iter().all(|id| id.contains("-A1-")), "{first:?}");
    assert!(first.is_disjoint(&second));
}

#[test]
fn outputs_come_in_time_order_and_every_event_is_valid() {
    let outputs: Vec<Output> = Simulator::new(small()).collect();
    let steps = outputs
        .iter()
        .filter(|output| matches!(output, Output::Step { .. }))
        .count();
    assert!(steps > 2 * 2 * 30 * 7, "{steps} steps");
    for pair in outputs.windows(2) {
        assert!(pair[0].at() <= pair[1].at(), "{pair:?}");
    }
    for output in &outputs {
        if let Output::Step { event, .. } = output {
            event.validate().expect("simulated events are valid");
        }
    }
}
