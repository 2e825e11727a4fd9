//! Cases, overdue lists, statistics and the digest over batch splits.

use super::*;

/// `list_cases` filters by region prefix, department, item, status and light, in case
/// number order, and pages after a case number.
pub async fn list_cases_filters_and_pages<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let batches = Log::sample().interleaved(2);
    apply_each(&store, batches.clone()).await;
    let cases: Vec<CaseRow> = Views::of(&batches).cases.into_values().collect();
    let filters = [
        ("all", CaseFilter::default(), false),
        (
            "region 3302",
            CaseFilter {
                region_prefixes: Some(vec!["3302".into()]),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "region 330106",
            CaseFilter {
                region_prefixes: Some(vec!["330106".into()]),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "regions 3302 and 330106001",
            CaseFilter {
                region_prefixes: Some(vec!["3302".into(), "330106001".into()]),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "no region",
            CaseFilter {
                region_prefixes: Some(Vec::new()),
                ..CaseFilter::default()
            },
            false,
        ),
        (
            "region wildcard",
            CaseFilter {
                region_prefixes: Some(vec!["33_1".into()]),
                ..CaseFilter::default()
            },
            false,
        ),
        (
            "department",
            CaseFilter {
                dept_code: Some(dept(2).as_str().into()),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "item",
            CaseFilter {
                item_code: Some("ITEM-0002".into()),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "completed",
            CaseFilter {
                status: Some(CaseStatus::Completed),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "red light",
            CaseFilter {
                light: Some(Light::Red),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "accepted in 3301",
            CaseFilter {
                region_prefixes: Some(vec!["3301".into()]),
                status: Some(CaseStatus::Accepted),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "past the promise",
            CaseFilter {
                overdue: Some(OverdueFilter::PastPromised),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "past the law",
            CaseFilter {
                overdue: Some(OverdueFilter::PastLegal),
                ..CaseFilter::default()
            },
            true,
        ),
        (
            "past the promise in department 1",
            CaseFilter {
                dept_code: Some(dept(1).as_str().into()),
                overdue: Some(OverdueFilter::PastPromised),
                ..CaseFilter::default()
            },
            true,
        ),
    ];
    for (name, filter, must_match) in filters {
        let expected: Vec<CaseRow> = cases
            .iter()
            .filter(|row| case_matches(&filter, row))
            .cloned()
            .collect();
        if must_match {
            assert!(
                !expected.is_empty() && expected.len() < cases.len(),
                "the sample exercises `{name}`"
            );
        }
        assert_eq!(
            store
                .list_cases(&filter, None, 1000)
                .await
                .expect("cases list"),
            expected,
            "filter `{name}`"
        );
    }
    assert!(
        store
            .list_cases(
                &CaseFilter {
                    region_prefixes: Some(vec!["33_1".into()]),
                    ..CaseFilter::default()
                },
                None,
                1000
            )
            .await
            .expect("cases list")
            .is_empty(),
        "`_` in a prefix is a character, not a wildcard"
    );
    assert_eq!(cases_in_pages(&store, &CaseFilter::default()).await, cases);
}

/// The overdue filter keeps the open cases (status accepted) past their promised, or legal,
/// limit now: not a case past it that has ended since, nor one never past it; with the other
/// conditions, page by page.
pub async fn list_cases_filters_open_cases_past_a_limit<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let batches = Log::sample().interleaved(2);
    apply_each(&store, batches.clone()).await;
    let cases: Vec<CaseRow> = Views::of(&batches).cases.into_values().collect();
    for overdue in [OverdueFilter::PastPromised, OverdueFilter::PastLegal] {
        assert!(
            cases
                .iter()
                .any(|row| past_limit(&row.case, overdue).is_some()
                    && row.case.status != CaseStatus::Accepted),
            "the sample has a case that ended after passing the limit ({overdue:?})"
        );
        assert!(
            cases
                .iter()
                .any(|row| past_limit(&row.case, overdue).is_none()),
            "the sample has a case never past the limit ({overdue:?})"
        );
        for scope in sample_scopes() {
            let filter = CaseFilter {
                overdue: Some(overdue),
                ..scope.cases()
            };
            let expected: Vec<CaseRow> = cases
                .iter()
                .filter(|row| case_matches(&filter, row))
                .cloned()
                .collect();
            assert_eq!(
                cases_in_pages(&store, &filter).await,
                expected,
                "{overdue:?} {}, page by page",
                scope.name
            );
        }
    }
}

/// `overdue_cases` gives the cases open at an instant and past their promised limit by
/// then, whatever became of them later: none before the first is past it, a case from the
/// instant it is past it (inclusive) until the instant it ends (exclusive); inside the
/// region prefixes and of the department given.
pub async fn overdue_cases_are_those_open_and_past_the_promise_at_an_instant<H: Harness>(
    harness: &mut H,
) {
    let store = harness.fresh().await;
    let batches = Log::sample().interleaved(2);
    apply_each(&store, batches.clone()).await;
    let cases: Vec<CaseRow> = Views::of(&batches).cases.into_values().collect();
    let overdue_at = |at: Timestamp, filter: &CaseFilter| -> Vec<CaseRow> {
        cases
            .iter()
            .filter(|row| {
                let case = &row.case;
                case.overdue_promised_at.is_some_and(|past| past <= at)
                    && case.accepted_at.is_some_and(|accepted| accepted <= at)
                    && case.ended_at.is_none_or(|ended| ended > at)
                    && case_matches(filter, row)
            })
            .cloned()
            .collect()
    };
    let read = |at: Timestamp, filter: CaseFilter| {
        let store = &store;
        async move {
            store
                .overdue_cases(
                    filter.region_prefixes.as_deref(),
                    filter.dept_code.as_deref(),
                    at,
                )
                .await
                .expect("overdue cases read")
        }
    };

    let (ended, past, end) = cases
        .iter()
        .find_map(|row| {
            Some((
                &row.case.case_no,
                row.case.overdue_promised_at?,
                row.case.ended_at?,
            ))
        })
        .expect("the sample has a case that ended past its promised limit");
    assert!(past < end);
    let first_past = cases
        .iter()
        .filter_map(|row| row.case.overdue_promised_at)
        .min()
        .expect("the sample has cases past their promised limit");
    let nanosecond = chrono::TimeDelta::nanoseconds(1);
    let all = CaseFilter::default();
    assert!(
        read(first_past - nanosecond, all.clone()).await.is_empty(),
        "before any case is past its promise"
    );
    assert!(!read(first_past, all.clone()).await.is_empty());
    for (at, listed) in [
        (past - nanosecond, false),
        (past, true),
        (end - nanosecond, true),
        (end, false),
        (end + chrono::TimeDelta::days(30), false),
    ] {
        let overdue = read(at, all.clone()).await;
        assert_eq!(
            overdue.iter().any(|row| &row.case.case_no == ended),
            listed,
            "`{ended}` at {at}"
        );
    }
    assert!(
        !read(end + chrono::TimeDelta::days(30), all.clone())
            .await
            .is_empty(),
        "the sample has a case still open past its promise"
    );

    let mut instants = vec![first_past - nanosecond, end + chrono::TimeDelta::days(30)];
    for row in &cases {
        let case = &row.case;
        for at in [case.accepted_at, case.overdue_promised_at, case.ended_at]
            .into_iter()
            .flatten()
        {
            instants.extend([at - nanosecond, at]);
        }
    }
    for scope in sample_scopes() {
        let filter = scope.cases();
        for at in &instants {
            assert_eq!(
                read(*at, filter.clone()).await,
                overdue_at(*at, &filter),
                "{} at {at}",
                scope.name
            );
        }
    }
}

/// Statistics deltas add up per key, however they were batched, within a day range and a
/// region prefix.
pub async fn statistics_add_up<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let batches = Log::sample().interleaved(1);
    apply_each(&store, batches.clone()).await;
    let mut totals: BTreeMap<StatKey, Counters> = BTreeMap::new();
    for batch in &batches {
        for (key, counters) in &batch.stats {
            *totals.entry(key.clone()).or_default() += counters;
        }
    }
    totals.retain(|_, counters| !counters.is_zero());
    assert!(totals.len() >= 3, "the sample counts on several keys");
    let first = day(2026, 1, 1);
    let last = day(2026, 12, 31);
    let everything: Vec<(StatKey, Counters)> = totals.clone().into_iter().collect();
    assert_eq!(
        store
            .statistics(first, last, None)
            .await
            .expect("statistics read"),
        everything
    );
    let early = day(2026, 3, 2);
    let late = day(2026, 3, 3);
    let in_range: Vec<(StatKey, Counters)> = totals
        .iter()
        .filter(|(key, _)| key.day >= early && key.day <= late)
        .map(|(key, counters)| (key.clone(), *counters))
        .collect();
    assert!(!in_range.is_empty() && in_range.len() < totals.len());
    assert_eq!(
        store
            .statistics(early, late, None)
            .await
            .expect("statistics read"),
        in_range
    );
    let ningbo: Vec<(StatKey, Counters)> = totals
        .iter()
        .filter(|(key, _)| key.region_code.as_str().starts_with("3302"))
        .map(|(key, counters)| (key.clone(), *counters))
        .collect();
    assert!(!ningbo.is_empty() && ningbo.len() < totals.len());
    assert_eq!(
        store
            .statistics(first, last, Some(&["3302".to_owned()]))
            .await
            .expect("statistics read"),
        ningbo
    );
    assert!(
        store
            .statistics(first, last, Some(&["33%".to_owned()]))
            .await
            .expect("statistics read")
            .is_empty()
    );
    assert!(
        store
            .statistics(first, last, Some(&[]))
            .await
            .expect("statistics read")
            .is_empty(),
        "no region, no statistics"
    );
}

/// Keys whose counters are all zero, stored or summed to zero, are neither listed nor part
/// of the digest.
pub async fn zero_statistics_do_not_count<H: Harness>(harness: &mut H) {
    let plain = harness.fresh().await;
    let noisy = harness.fresh().await;
    let key = |region: &str| StatKey {
        day: day(2026, 3, 2),
        region_code: RegionCode::parse(region).expect("valid region"),
        dept_code: dept(1),
        item_code: ItemCode::parse("ITEM-0001").expect("valid item"),
    };
    let accepted = Counters {
        accepted: 1,
        ..Counters::default()
    };
    let green = |change| Counters {
        open_green: change,
        ..Counters::default()
    };
    let first = |stats| stats_batch(0, 0, 1, stats);
    let second = |stats| stats_batch(0, 1, 2, stats);
    apply_each(
        &plain,
        vec![first(vec![(key("330106"), accepted)]), second(Vec::new())],
    )
    .await;
    apply_each(
        &noisy,
        vec![
            first(vec![
                (key("330106"), accepted),
                (key("330107"), Counters::default()),
                (key("330108"), green(1)),
            ]),
            second(vec![(key("330108"), green(-1))]),
        ],
    )
    .await;
    assert_eq!(digest(&plain).await, digest(&noisy).await);
    let listed = noisy
        .statistics(day(2026, 3, 1), day(2026, 3, 31), None)
        .await
        .expect("statistics read");
    assert_eq!(listed, vec![(key("330106"), accepted)]);
}

/// Every counter of [`Counters::NAMES`] reads back as written, and a change of any of them
/// changes the digest (and changing it back restores it).
pub async fn every_counter_reads_back_and_counts_in_the_digest<H: Harness>(harness: &mut H) {
    for name in [
        "open_overdue_promised",
        "open_overdue_legal",
        "used_working_millidays",
    ] {
        assert!(Counters::NAMES.contains(&name), "`{name}` is a counter");
    }
    let store = harness.fresh().await;
    let key = StatKey {
        day: day(2026, 3, 2),
        region_code: RegionCode::parse("330106").expect("valid region"),
        dept_code: dept(1),
        item_code: ItemCode::parse("ITEM-0001").expect("valid item"),
    };
    let values: Vec<i64> = (1..).take(Counters::NAMES.len()).collect();
    let counters = Counters::from_values(&values);
    assert_eq!(
        counters.values(),
        values,
        "every counter is non-zero and distinct"
    );
    apply_each(
        &store,
        vec![stats_batch(0, 0, 1, vec![(key.clone(), counters)])],
    )
    .await;
    let read = |expected: Counters| {
        let store = &store;
        let key = key.clone();
        async move {
            assert_eq!(
                store
                    .statistics(key.day, key.day, None)
                    .await
                    .expect("statistics read"),
                vec![(key, expected)]
            );
        }
    };
    read(counters).await;
    let reference = digest(&store).await;
    let mut offset = 1;
    for (index, name) in Counters::NAMES.iter().enumerate() {
        for change in [1, -1] {
            let mut delta = vec![0; Counters::NAMES.len()];
            delta[index] = change;
            let batch = stats_batch(
                0,
                offset,
                offset + 1,
                vec![(key.clone(), Counters::from_values(&delta))],
            );
            apply_each(&store, vec![batch]).await;
            offset += 1;
            let mut expected = values.clone();
            if change > 0 {
                expected[index] += change;
                assert_ne!(digest(&store).await, reference, "`{name}` is in the digest");
            } else {
                assert_eq!(digest(&store).await, reference, "`{name}` changed back");
            }
            read(Counters::from_values(&expected)).await;
        }
    }
}

/// The same log gives the same digest whether it arrives in batches of one record, of
/// several, or whole, and whichever partition commits first.
pub async fn digest_ignores_batch_splits_and_partition_order<H: Harness>(harness: &mut H) {
    let log = Log::sample();
    let mut digests = Vec::new();
    for batches in [
        log.sequential(1),
        log.interleaved(3),
        log.interleaved(usize::MAX),
        {
            let mut reversed = log.partitions();
            reversed.reverse();
            reversed
                .into_iter()
                .flat_map(|partition| log.batches(partition, 2))
                .collect()
        },
    ] {
        let store = harness.fresh().await;
        apply_each(&store, batches).await;
        digests.push(digest(&store).await);
    }
    assert!(
        digests.windows(2).all(|pair| pair[0] == pair[1]),
        "digests differ: {digests:02x?}"
    );
}
