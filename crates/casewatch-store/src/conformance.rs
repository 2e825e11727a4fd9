//! The [`ViewStore`] conformance suite, written once and run against every backend.
//!
//! Each check is a public async function taking a [`Harness`] that hands out fresh, empty
//! stores; [`view_store_conformance!`](crate::view_store_conformance) turns them all into
//! tests for one backend. The checks feed real domain values: a small two-partition log of
//! case steps, supervision actions, clock ticks and one unreadable record, folded through
//! the domain the way the projector does, and cut into batches of any size.
//!
//! The functions panic on failure, as tests do; they are not for production use.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use casewatch_domain::Timestamp;
use casewatch_domain::access::{Principal, Role};
use casewatch_domain::alert::{Alert, AlertState, Cause};
use casewatch_domain::case::{Case, CaseStatus, Disposition, Light, Policy};
use casewatch_domain::catalogue::{Category, Level, RuleId};
use casewatch_domain::event::{
    Actor, Applicant, ApplicantKind, CaseEvent, CaseType, Channel, CompletionResult, Decision,
    Limit, ReviewOutcome, Step,
};
use casewatch_domain::ids::{AlertId, CaseNo, DeptCode, EventId, ItemCode, RegionCode};
use casewatch_domain::log::{GENESIS, chain};
use casewatch_domain::record::{Content, Record as Said};
use casewatch_domain::stats::{Counters, StatKey};
use casewatch_domain::supervision::{ClockTick, SupervisionAction, SupervisionEvent};
use chrono::NaiveDate;

use crate::{
    AlertChangeRow, AlertFilter, CaseFilter, CaseRow, Checkpoint, CommittedAlert, Hash,
    OverdueFilter, Partition, Position, QuarantineRow, RecordKind, RefusalRow, StepHash, StepRow,
    StoreError, ViewBatch, ViewStore,
};

/// Hands out fresh, empty stores of one backend.
#[async_trait::async_trait]
pub trait Harness: Send {
    /// The backend under test.
    type Store: ViewStore;

    /// A new store with nothing in it (its own database file or schema).
    async fn fresh(&mut self) -> Self::Store;

    /// Cleans up after a check that passed (drops the schemas a server keeps, say).
    async fn finish(&mut self) {}
}

/// Generates one `#[tokio::test]` per conformance check, each with its own harness.
///
/// - `view_store_conformance!(harness)`: `harness` is an expression evaluating to a
///   [`Harness`].
/// - `view_store_conformance!(optional opener)`: `opener` is a future of
///   `Option<impl Harness>`, `None` when the backend is not available here (a database
///   server that does not answer); each test then returns at once, having said so.
#[macro_export]
macro_rules! view_store_conformance {
    (optional $opener:expr) => {
        $crate::view_store_conformance!(@checks $opener);
    };
    (@checks $opener:expr) => {
        $crate::view_store_conformance!(@tests $opener;
            empty_store_has_no_checkpoints_and_a_stable_digest,
            applied_batches_read_back,
            stale_batches_are_fenced_and_change_nothing,
            batches_of_partitions_apply_together_or_not_at_all,
            cursors_grow_across_batches_and_resume_exactly,
            alert_changes_follow_filters,
            list_alerts_shows_current_state_newest_first,
            list_cases_filters_and_pages,
            list_cases_filters_open_cases_past_a_limit,
            overdue_cases_are_those_open_and_past_the_promise_at_an_instant,
            alerts_as_of_an_instant_are_as_they_stood_then,
            alert_changes_between_take_from_inclusive_to_exclusive,
            statistics_add_up,
            zero_statistics_do_not_count,
            every_counter_reads_back_and_counts_in_the_digest,
            digest_ignores_batch_splits_and_partition_order,
            digest_changes_with_content,
            held_steps_become_applied,
            step_hashes_page_through_a_partition_in_offset_order,
            quarantined_records_are_kept,
            concurrent_partitions_skip_no_alert,
            the_log_identity_is_set_once,
        );
    };
    (@tests $opener:expr; $($check:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(mut harness) = $opener.await else {
                    return;
                };
                $crate::conformance::$check(&mut harness).await;
                $crate::conformance::Harness::finish(&mut harness).await;
            }
        )*
    };
    ($harness:expr) => {
        $crate::view_store_conformance!(@checks async { ::core::option::Option::Some($harness) });
    };
}

/// A fresh store has no checkpoints, no cases, and the digest of another fresh store.
pub async fn empty_store_has_no_checkpoints_and_a_stable_digest<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let other = harness.fresh().await;
    assert_eq!(store.checkpoint(0).await.expect("checkpoint reads"), None);
    assert!(
        store
            .checkpoints()
            .await
            .expect("checkpoints read")
            .is_empty()
    );
    assert_eq!(store.case("HZ-2026-0001").await.expect("case reads"), None);
    assert!(
        store
            .steps("HZ-2026-0001")
            .await
            .expect("steps read")
            .is_empty()
    );
    assert!(
        store
            .alert_changes_after(0, &AlertFilter::default(), 100)
            .await
            .expect("changes read")
            .is_empty()
    );
    assert_eq!(digest(&store).await, digest(&store).await);
    assert_eq!(digest(&store).await, digest(&other).await);
}

/// The identity of the log the views are folded from: none on fresh views, the first one
/// set after, and never replaced.
pub async fn the_log_identity_is_set_once<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    assert_eq!(
        store.log_identity().await.expect("the identity reads"),
        None
    );
    store
        .set_log_identity("embedded log 0123456789abcdef")
        .await
        .expect("the identity is set");
    store
        .set_log_identity("kafka topic casewatch.records")
        .await
        .expect("setting it again is not an error");
    assert_eq!(
        store.log_identity().await.expect("the identity reads"),
        Some("embedded log 0123456789abcdef".to_owned())
    );
}

/// Cases, the archive, alerts and checkpoints read back as written.
pub async fn applied_batches_read_back<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let log = Log::sample();
    let batches = log.interleaved(3);
    apply_each(&store, batches.clone()).await;

    let views = Views::of(&batches);
    for (case_no, row) in &views.cases {
        assert_eq!(
            store.case(case_no).await.expect("case reads").as_ref(),
            Some(row),
            "case `{case_no}`"
        );
        assert_eq!(
            store.steps(case_no).await.expect("steps read"),
            views.steps_of(case_no),
            "archive of `{case_no}`"
        );
    }
    assert_eq!(store.case("XX-0000").await.expect("case reads"), None);
    for partition in log.partitions() {
        let expected: Vec<CaseRow> = views
            .cases
            .values()
            .filter(|row| row.partition == partition)
            .cloned()
            .collect();
        assert!(!expected.is_empty());
        let mut loaded = store.load_cases(partition).await.expect("cases load");
        loaded.sort_by(|a, b| a.case.case_no.cmp(&b.case.case_no));
        assert_eq!(loaded, expected, "cases of partition {partition}");
    }
    let checkpoints: Vec<Checkpoint> = views.checkpoints.values().copied().collect();
    assert_eq!(store.checkpoints().await.expect("checkpoints"), checkpoints);
    for checkpoint in checkpoints {
        assert_eq!(
            store
                .checkpoint(checkpoint.partition)
                .await
                .expect("checkpoint reads"),
            Some(checkpoint)
        );
    }
    let alerts = store
        .list_alerts(&AlertFilter::default(), None, 1000)
        .await
        .expect("alerts list");
    assert_eq!(alerts.len(), views.alert_ids().len());
}

/// A batch whose `from_offset` is not the stored checkpoint is refused with
/// [`StoreError::Fenced`] and leaves every view as it was.
pub async fn stale_batches_are_fenced_and_change_nothing<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let log = Log::sample();
    let batches = log.batches(0, 2);
    assert!(batches.len() >= 4, "the sample needs four batches");
    apply_each(&store, batches[..2].to_vec()).await;
    let before = digest(&store).await;
    let checkpoint = store.checkpoint(0).await.expect("checkpoint reads");
    let changes = store
        .alert_changes_after(0, &AlertFilter::default(), 1000)
        .await
        .expect("changes read");
    let at = batches[2].from_offset;

    for (stale, expected) in [
        (batches[1].clone(), batches[1].from_offset),
        (batches[0].clone(), 0),
        (batches[3].clone(), batches[3].from_offset),
    ] {
        match store.apply(stale).await {
            Err(StoreError::Fenced {
                partition,
                expected: refused,
                found,
            }) => {
                assert_eq!((partition, refused, found), (0, expected, at));
            }
            other => panic!("a stale batch must be fenced, got {other:?}"),
        }
    }
    let mut ahead = log.batches(1, 2)[1].clone();
    ahead.from_offset = 5;
    match store.apply(ahead).await {
        Err(StoreError::Fenced {
            partition: 1,
            expected: 5,
            found: 0,
        }) => {}
        other => panic!("a batch ahead of an empty partition must be fenced, got {other:?}"),
    }

    assert_eq!(
        digest(&store).await,
        before,
        "a fenced batch changes nothing"
    );
    assert_eq!(store.checkpoint(0).await.expect("reads"), checkpoint);
    assert_eq!(store.checkpoint(1).await.expect("reads"), None);
    assert_eq!(
        store
            .alert_changes_after(0, &AlertFilter::default(), 1000)
            .await
            .expect("changes read"),
        changes
    );
    store
        .apply(batches[2].clone())
        .await
        .expect("the batch at the checkpoint applies");
}

/// Cursors grow strictly in commit order, and resuming after any cursor gives exactly the
/// changes committed after it, in order, in pages of any size.
pub async fn cursors_grow_across_batches_and_resume_exactly<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let log = Log::sample();
    let committed = apply_each(&store, log.interleaved(2)).await;
    assert!(committed.len() >= 6, "the sample raises several alerts");
    assert!(
        committed
            .windows(2)
            .all(|pair| pair[0].cursor < pair[1].cursor),
        "cursors grow strictly across batches"
    );
    let all = AlertFilter::default();
    assert_eq!(
        store
            .alert_changes_after(0, &all, 1000)
            .await
            .expect("changes read"),
        committed
    );
    for (index, change) in committed.iter().enumerate() {
        assert_eq!(
            store
                .alert_changes_after(change.cursor, &all, 1000)
                .await
                .expect("changes read"),
            committed[index + 1..].to_vec(),
            "after cursor {}",
            change.cursor
        );
    }
    let mut paged = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store
            .alert_changes_after(cursor, &all, 2)
            .await
            .expect("page reads");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
        paged.extend(page);
    }
    assert_eq!(paged, committed);
    let last = committed.last().map_or(0, |change| change.cursor);
    assert!(
        store
            .alert_changes_after(last, &all, 1000)
            .await
            .expect("changes read")
            .is_empty()
    );
    assert!(
        store
            .alert_changes_after(u64::MAX, &all, 1000)
            .await
            .expect("changes read")
            .is_empty()
    );
}

/// `alert_changes_after` keeps the changes matching every condition of the filter, the
/// state and level being those after the change.
pub async fn alert_changes_follow_filters<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let committed = apply_each(&store, Log::sample().interleaved(4)).await;
    for (name, filter, must_match) in sample_filters() {
        let expected: Vec<CommittedAlert> = committed
            .iter()
            .filter(|change| filter.matches(&change.row.change.alert))
            .cloned()
            .collect();
        if must_match {
            assert!(!expected.is_empty(), "the sample exercises `{name}`");
            assert!(expected.len() < committed.len(), "`{name}` leaves some out");
        }
        assert_eq!(
            store
                .alert_changes_after(0, &filter, 1000)
                .await
                .expect("changes read"),
            expected,
            "filter `{name}`"
        );
        let after = committed[committed.len() / 2].cursor;
        let tail: Vec<CommittedAlert> = expected
            .iter()
            .filter(|change| change.cursor > after)
            .cloned()
            .collect();
        assert_eq!(
            store
                .alert_changes_after(after, &filter, 1000)
                .await
                .expect("changes read"),
            tail,
            "filter `{name}` after cursor {after}"
        );
    }
}

/// `list_alerts` gives each alert's latest change, newest first, filtered by its current
/// state, and pages backwards by cursor.
pub async fn list_alerts_shows_current_state_newest_first<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let committed = apply_each(&store, Log::sample().interleaved(1)).await;
    let mut latest: BTreeMap<String, CommittedAlert> = BTreeMap::new();
    for change in &committed {
        latest.insert(change.row.change.alert.id.to_string(), change.clone());
    }
    let mut current: Vec<CommittedAlert> = latest.into_values().collect();
    current.sort_by_key(|change| std::cmp::Reverse(change.cursor));
    assert!(current.len() < committed.len(), "some alerts changed twice");

    for (name, filter, _) in sample_filters() {
        let expected: Vec<CommittedAlert> = current
            .iter()
            .filter(|change| filter.matches(&change.row.change.alert))
            .cloned()
            .collect();
        assert_eq!(
            store
                .list_alerts(&filter, None, 1000)
                .await
                .expect("alerts list"),
            expected,
            "filter `{name}`"
        );
    }
    let all = AlertFilter::default();
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_alerts(&all, before, 2)
            .await
            .expect("page reads");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        before = Some(last.cursor);
        paged.extend(page);
    }
    assert_eq!(paged, current);
}

/// `alerts_as_of` gives every alert with a change at or before the instant as that change
/// left it, by alert id: a card raised, then escalated, then revoked reads as each in turn,
/// each from the instant of its change on; filtered by region, department and the level
/// it had then.
pub async fn alerts_as_of_an_instant_are_as_they_stood_then<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let committed = apply_each(&store, Log::sample_with_card_history().interleaved(3)).await;
    let card = AlertId {
        case_no: CaseNo::parse("HZ-2026-0001").expect("valid case number"),
        rule: RuleId::T2,
        occurrence: 1,
    };
    let history: Vec<&CommittedAlert> = committed
        .iter()
        .filter(|change| change.row.change.alert.id == card)
        .collect();
    let [raised, escalated, revoked] = history[..] else {
        panic!("the card `{card}` changes three times: {history:?}");
    };
    let read = |at: Timestamp, min_level: Level| {
        let store = &store;
        async move {
            store
                .alerts_as_of(None, None, min_level, at)
                .await
                .expect("alerts read")
        }
    };
    let nanosecond = chrono::TimeDelta::nanoseconds(1);
    let card_at = |alerts: Vec<Alert>| alerts.into_iter().find(|alert| alert.id == card);
    assert_eq!(raised.row.change.cause, Cause::Raised);
    assert!(raised.row.change.alert.level.is_card());
    assert!(escalated.row.change.alert.level > raised.row.change.alert.level);
    assert_eq!(revoked.row.change.alert.state, AlertState::Revoked);
    for (at, expected) in [
        (raised.row.change.at - nanosecond, None),
        (raised.row.change.at, Some(raised)),
        (escalated.row.change.at - nanosecond, Some(raised)),
        (escalated.row.change.at, Some(escalated)),
        (revoked.row.change.at - nanosecond, Some(escalated)),
        (revoked.row.change.at, Some(revoked)),
        (
            revoked.row.change.at + chrono::TimeDelta::days(30),
            Some(revoked),
        ),
    ] {
        assert_eq!(
            card_at(read(at, Level::Warning).await),
            expected.map(|change| change.row.change.alert.clone()),
            "`{card}` at {at}"
        );
    }
    let above = escalated.row.change.alert.level;
    assert_eq!(
        card_at(read(escalated.row.change.at - nanosecond, above).await),
        None,
        "below {above:?} before its escalation"
    );
    assert!(card_at(read(escalated.row.change.at, above).await).is_some());

    let mut instants = vec![committed[0].row.change.at - nanosecond];
    for change in &committed {
        instants.extend([change.row.change.at - nanosecond, change.row.change.at]);
    }
    for scope in sample_scopes() {
        for min_level in [Level::Warning, Level::Red] {
            let filter = AlertFilter {
                min_level: Some(min_level),
                ..scope.alerts()
            };
            for at in &instants {
                let mut latest: BTreeMap<String, &Alert> = BTreeMap::new();
                for change in committed
                    .iter()
                    .filter(|change| change.row.change.at <= *at)
                {
                    let alert = &change.row.change.alert;
                    latest.insert(alert.id.to_string(), alert);
                }
                let expected: Vec<Alert> = latest
                    .into_values()
                    .filter(|alert| filter.matches(alert))
                    .cloned()
                    .collect();
                let read = store
                    .alerts_as_of(scope.prefixes(), scope.dept(), min_level, *at)
                    .await
                    .expect("alerts read");
                assert_eq!(
                    read, expected,
                    "{}, {min_level:?} and above, at {at}",
                    scope.name
                );
            }
        }
    }
}

/// `alert_changes_between` gives the changes at or after `from` and before `to`, in
/// cursor order with their cursors, inside the region prefixes and of the department given.
pub async fn alert_changes_between_take_from_inclusive_to_exclusive<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let committed = apply_each(&store, Log::sample_with_card_history().interleaved(2)).await;
    let instants: BTreeSet<Timestamp> = committed
        .iter()
        .map(|change| change.row.change.at)
        .collect();
    let instants: Vec<Timestamp> = instants.into_iter().collect();
    assert!(
        instants.len() >= 4,
        "the sample changes alerts at several instants"
    );
    let nanosecond = chrono::TimeDelta::nanoseconds(1);
    let (first, last) = (instants[0], instants[instants.len() - 1]);
    let mut windows = vec![
        (first, last + nanosecond),
        (first, last),
        (first - nanosecond, first),
        (last, first),
    ];
    for pair in instants.windows(2) {
        windows.extend([
            (pair[0], pair[1]),
            (pair[0], pair[0]),
            (pair[0], pair[0] + nanosecond),
        ]);
    }
    for scope in sample_scopes() {
        let filter = scope.alerts();
        for (from, to) in &windows {
            let expected: Vec<CommittedAlert> = committed
                .iter()
                .filter(|change| {
                    let at = change.row.change.at;
                    *from <= at && at < *to && filter.matches(&change.row.change.alert)
                })
                .cloned()
                .collect();
            let read = store
                .alert_changes_between(scope.prefixes(), scope.dept(), *from, *to)
                .await
                .expect("changes read");
            assert_eq!(read, expected, "{} in {from}..{to}", scope.name);
        }
    }
    let all = |from, to| {
        let store = &store;
        async move {
            store
                .alert_changes_between(None, None, from, to)
                .await
                .expect("changes read")
        }
    };
    assert_eq!(
        all(first, last + nanosecond).await,
        committed,
        "every change"
    );
    assert!(
        all(first, last)
            .await
            .iter()
            .all(|change| change.row.change.at < last),
        "`to` is exclusive"
    );
    assert!(
        all(last, last + nanosecond)
            .await
            .iter()
            .all(|change| change.row.change.at == last),
        "`from` is inclusive"
    );
    assert!(!all(last, last + nanosecond).await.is_empty());
}

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

/// Batches of several partitions applied in one call give the views they give one by one,
/// with the alert changes in the order of the batches; when one of them is fenced, none
/// of them lands.
pub async fn batches_of_partitions_apply_together_or_not_at_all<H: Harness>(harness: &mut H) {
    let log = Log::sample();
    let partitions = log.partitions();
    assert!(partitions.len() >= 2, "the sample needs two partitions");
    let one_by_one = harness.fresh().await;
    let expected = apply_each(&one_by_one, log.interleaved(3)).await;

    let together = harness.fresh().await;
    let mut queues: Vec<_> = partitions
        .iter()
        .map(|partition| log.batches(*partition, 3).into_iter())
        .collect();
    let mut committed = Vec::new();
    loop {
        let round: Vec<ViewBatch> = queues.iter_mut().filter_map(Iterator::next).collect();
        if round.is_empty() {
            break;
        }
        committed.extend(together.apply_all(round).await.expect("the round applies"));
    }
    assert_eq!(digest(&together).await, digest(&one_by_one).await);
    let changes = |alerts: Vec<CommittedAlert>| -> Vec<(u64, AlertChangeRow)> {
        alerts
            .into_iter()
            .map(|alert| (alert.cursor, alert.row))
            .collect()
    };
    assert_eq!(changes(committed), changes(expected));

    let fenced = harness.fresh().await;
    let mut round: Vec<ViewBatch> = partitions
        .iter()
        .map(|partition| log.batches(*partition, 3)[0].clone())
        .collect();
    round[1] = log.batches(partitions[1], 3)[1].clone();
    match fenced.apply_all(round).await {
        Err(StoreError::Fenced { partition, .. }) => assert_eq!(partition, partitions[1]),
        other => panic!("a round with a stale batch must be fenced, got {other:?}"),
    }
    assert!(
        fenced
            .checkpoints()
            .await
            .expect("checkpoints read")
            .is_empty(),
        "no batch of a fenced round lands"
    );
    assert_eq!(digest(&fenced).await, digest(&harness.fresh().await).await);
}

/// Different content gives a different digest.
pub async fn digest_changes_with_content<H: Harness>(harness: &mut H) {
    let log = Log::sample();
    let full = log.sequential(1);
    let reference = {
        let store = harness.fresh().await;
        apply_each(&store, full.clone()).await;
        digest(&store).await
    };
    let mut variants: Vec<(&str, Vec<ViewBatch>)> = Vec::new();
    variants.push(("one record fewer", full[..full.len() - 1].to_vec()));
    let mut other_bytes = full.clone();
    let quarantined = other_bytes
        .iter_mut()
        .flat_map(|batch| batch.quarantine.iter_mut())
        .next()
        .expect("the sample quarantines a record");
    quarantined.bytes.push(0);
    variants.push(("quarantined bytes", other_bytes));
    let mut other_disposition = full.clone();
    let step = other_disposition
        .iter_mut()
        .flat_map(|batch| batch.steps.iter_mut())
        .find(|step| step.disposition == Disposition::Duplicate)
        .expect("the sample re-sends a step");
    step.disposition = Disposition::Conflict;
    variants.push(("step disposition", other_disposition));
    let mut other_head = full.clone();
    let case = other_head
        .iter_mut()
        .flat_map(|batch| batch.cases.iter_mut())
        .last()
        .expect("the sample has cases");
    case.chain_head[0] ^= 1;
    variants.push(("case chain head", other_head));
    let mut other_refusal = full;
    let refusal = other_refusal
        .iter_mut()
        .flat_map(|batch| batch.refusals.iter_mut())
        .next()
        .expect("the sample refuses an action");
    refusal.reason.push('!');
    variants.push(("refusal reason", other_refusal));

    for (name, batches) in variants {
        let store = harness.fresh().await;
        apply_each(&store, batches).await;
        assert_ne!(digest(&store).await, reference, "{name}");
    }
}

/// A step held ahead of a gap is archived as held, and becomes applied at the same
/// position when the gap fills (the batch names it in `pending_removed`), in a later batch
/// or in the same one.
pub async fn held_steps_become_applied<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let log = Log::sample();
    let batches = log.batches(0, 1);
    let held_at = batches
        .iter()
        .position(|batch| {
            batch
                .steps
                .iter()
                .any(|step| step.disposition == Disposition::Held)
        })
        .expect("the sample holds a step");
    apply_each(&store, batches[..=held_at].to_vec()).await;
    let held = batches[held_at]
        .steps
        .iter()
        .find(|step| step.disposition == Disposition::Held)
        .expect("held step")
        .clone();
    let archive = store
        .steps(held.case_no.as_str())
        .await
        .expect("steps read");
    assert!(archive.contains(&held), "held row archived: {archive:?}");

    apply_each(&store, batches[held_at + 1..].to_vec()).await;
    let archive = store
        .steps(held.case_no.as_str())
        .await
        .expect("steps read");
    let now = archive
        .iter()
        .find(|step| step.position == held.position)
        .expect("the row is still at its position");
    assert_eq!(
        now,
        &StepRow {
            disposition: Disposition::Applied,
            ..held.clone()
        }
    );
    assert!(
        archive
            .windows(2)
            .all(|pair| pair[0].position < pair[1].position),
        "the archive is in log order"
    );

    // Held and applied within one batch.
    let store = harness.fresh().await;
    apply_each(&store, log.batches(0, usize::MAX)).await;
    let archive = store
        .steps(held.case_no.as_str())
        .await
        .expect("steps read");
    assert_eq!(
        archive
            .iter()
            .find(|step| step.position == held.position)
            .map(|step| step.disposition),
        Some(Disposition::Applied)
    );
}

/// A partition's archive reads back as hashes in offset order, whole or page by page,
/// from any offset on.
pub async fn step_hashes_page_through_a_partition_in_offset_order<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let log = Log::sample();
    let batches = log.interleaved(3);
    apply_each(&store, batches.clone()).await;
    let views = Views::of(&batches);
    for partition in log.partitions() {
        let expected: Vec<StepHash> = views
            .archive
            .values()
            .filter(|step| step.position.partition == partition)
            .map(|step| StepHash {
                position: step.position,
                case_no: step.case_no.clone(),
                hash: step.hash,
            })
            .collect();
        assert!(expected.len() > 3, "partition {partition}");
        let read = |from, limit| {
            let store = &store;
            async move {
                store
                    .step_hashes(partition, from, limit)
                    .await
                    .expect("step hashes read")
            }
        };
        assert_eq!(read(0, 1000).await, expected, "partition {partition}");
        let mut paged = Vec::new();
        let mut from = 0;
        loop {
            let page = read(from, 2).await;
            assert!(page.len() <= 2);
            let Some(last) = page.last() else {
                break;
            };
            from = last.position.offset + 1;
            paged.extend(page);
        }
        assert_eq!(paged, expected, "partition {partition} in pages of 2");
        assert_eq!(
            read(expected[2].position.offset, 1000).await,
            expected[2..],
            "partition {partition} from its third archived record"
        );
    }
    assert!(
        store
            .step_hashes(99, 0, 1000)
            .await
            .expect("step hashes read")
            .is_empty()
    );
}

/// Quarantined records are kept with their position, reason, bytes and the case their key
/// names, and read back in position order, page by page.
pub async fn quarantined_records_are_kept<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let batches = Log::sample().interleaved(2);
    apply_each(&store, batches.clone()).await;
    let mut expected: Vec<QuarantineRow> = batches
        .iter()
        .flat_map(|batch| batch.quarantine.iter().cloned())
        .collect();
    expected.sort_by_key(|row| row.position);
    assert!(expected.iter().any(|row| row.case_no.is_some()));
    assert!(expected.iter().any(|row| row.case_no.is_none()));
    assert_eq!(
        store
            .quarantine(None, 1000)
            .await
            .expect("quarantine reads"),
        expected
    );
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.quarantine(after, 1).await.expect("a page reads");
        let Some(last) = page.last() else { break };
        after = Some(last.position);
        paged.extend(page);
    }
    assert_eq!(paged, expected, "page by page");
    // A case's unreadable record stays in its archive, and raised C5.
    let archived = store.steps("HZ-2026-0001").await.expect("steps read");
    assert!(
        archived
            .iter()
            .any(|step| step.disposition == Disposition::Unreadable)
    );
    let case = store
        .case("HZ-2026-0001")
        .await
        .expect("case reads")
        .expect("the case");
    assert!(
        case.case
            .alerts
            .iter()
            .any(|alert| alert.rule() == RuleId::C5)
    );
}

/// Two projectors committing different partitions at once, and a subscriber resuming from
/// its last cursor all along: the subscriber sees every change, once, in cursor order.
pub async fn concurrent_partitions_skip_no_alert<H: Harness>(harness: &mut H) {
    let store = Arc::new(harness.fresh().await);
    let writers = sample_partitions()
        .iter()
        .map(|_| Arc::clone(&store))
        .collect();
    race_partitions(&*store, writers).await;
}

/// Commits every partition of the sample log at once, one record a batch, partition `i`
/// through `writers[i]` (one store for all, or one per projector process on one database),
/// while a subscriber reading through `reader` resumes from its last cursor all along.
/// Asserts that the subscriber saw every change, once, in cursor order; returns them.
pub async fn race_partitions<S: ViewStore>(
    reader: &S,
    writers: Vec<Arc<S>>,
) -> Vec<CommittedAlert> {
    let log = Log::sample();
    assert_eq!(
        writers.len(),
        log.partitions().len(),
        "a writer per partition"
    );
    let writers: Vec<_> = log
        .partitions()
        .into_iter()
        .zip(writers)
        .map(|(partition, store)| {
            let batches = log.batches(partition, 1);
            tokio::spawn(async move {
                let mut committed = Vec::new();
                for batch in batches {
                    committed.extend(store.apply(batch).await.expect("batch applies"));
                    tokio::task::yield_now().await;
                }
                committed
            })
        })
        .collect();
    let all = AlertFilter::default();
    let mut seen: Vec<CommittedAlert> = Vec::new();
    loop {
        let done = writers.iter().all(tokio::task::JoinHandle::is_finished);
        let after = seen.last().map_or(0, |change| change.cursor);
        let page = reader
            .alert_changes_after(after, &all, 3)
            .await
            .expect("changes read");
        if page.is_empty() && done {
            break;
        }
        seen.extend(page);
        tokio::task::yield_now().await;
    }
    let mut committed = Vec::new();
    for writer in writers {
        committed.extend(writer.await.expect("writer finishes"));
    }
    committed.sort_by_key(|change| change.cursor);
    assert!(!committed.is_empty());
    assert_eq!(seen, committed);
    committed
}

/// The batches of the suite's sample log on one of its `partitions`, `size` records each,
/// as a projector would cut them: cases, archive rows, alert changes, statistics and a
/// quarantined record, for a backend's own tests beyond this suite.
pub fn sample_batches(partition: Partition, size: usize) -> Vec<ViewBatch> {
    Log::sample().batches(partition, size)
}

/// The partitions of the sample log (each with alert changes).
pub fn sample_partitions() -> Vec<Partition> {
    Log::sample().partitions()
}

/// Applies batches in order, returning their committed alert changes.
async fn apply_each<S: ViewStore>(store: &S, batches: Vec<ViewBatch>) -> Vec<CommittedAlert> {
    let mut committed = Vec::new();
    for batch in batches {
        let partition = batch.partition;
        let from = batch.from_offset;
        committed.extend(
            store
                .apply(batch)
                .await
                .unwrap_or_else(|error| panic!("batch {partition}@{from} applies: {error}")),
        );
    }
    committed
}

async fn digest<S: ViewStore>(store: &S) -> Hash {
    store.digest().await.expect("digest computes")
}

/// Filters over the sample, and whether the sample must give each some but not all
/// changes.
fn sample_filters() -> Vec<(&'static str, AlertFilter, bool)> {
    let of = |change: fn(&mut AlertFilter)| {
        let mut filter = AlertFilter::default();
        change(&mut filter);
        filter
    };
    vec![
        ("all", AlertFilter::default(), false),
        (
            "region 3302",
            of(|f| f.region_prefixes = Some(vec!["3302".into()])),
            true,
        ),
        (
            "region 330106",
            of(|f| f.region_prefixes = Some(vec!["330106".into()])),
            true,
        ),
        (
            "regions 3302 and 330106001",
            of(|f| f.region_prefixes = Some(vec!["3302".into(), "330106001".into()])),
            true,
        ),
        (
            "no region",
            of(|f| f.region_prefixes = Some(Vec::new())),
            false,
        ),
        (
            "region with %",
            of(|f| f.region_prefixes = Some(vec!["33%".into()])),
            false,
        ),
        (
            "region with _",
            of(|f| f.region_prefixes = Some(vec!["3_0".into()])),
            false,
        ),
        (
            "department",
            of(|f| f.dept_code = Some(dept(2).as_str().into())),
            true,
        ),
        ("item", of(|f| f.item_code = Some("ITEM-0002".into())), true),
        (
            "case",
            of(|f| f.case_no = Some("HZ-2026-0003".into())),
            true,
        ),
        (
            "rules",
            of(|f| f.rules = vec![RuleId::T2, RuleId::C3]),
            true,
        ),
        (
            "categories",
            of(|f| f.categories = vec![Category::Content]),
            true,
        ),
        (
            "states",
            of(|f| f.states = vec![AlertState::Acknowledged, AlertState::UnderNotice]),
            true,
        ),
        (
            "red and above",
            of(|f| f.min_level = Some(Level::Red)),
            true,
        ),
        ("serious", of(|f| f.min_level = Some(Level::Serious)), true),
        (
            "raised from 03-06",
            of(|f| f.raised_from = Some(local("2026-03-06 00:00"))),
            true,
        ),
        (
            "raised before 03-06",
            of(|f| f.raised_to = Some(local("2026-03-06 00:00"))),
            true,
        ),
        (
            "time cards in 3301",
            of(|f| {
                f.region_prefixes = Some(vec!["3301".into()]);
                f.categories = vec![Category::Time];
                f.min_level = Some(Level::Yellow);
            }),
            true,
        ),
    ]
}

/// The reference meaning of a case filter.
fn case_matches(filter: &CaseFilter, row: &CaseRow) -> bool {
    let case = &row.case;
    filter.region_prefixes.as_ref().is_none_or(|prefixes| {
        prefixes
            .iter()
            .any(|prefix| case.region_code.as_str().starts_with(prefix.as_str()))
    }) && filter
        .dept_code
        .as_ref()
        .is_none_or(|dept| case.dept_code.as_str() == dept)
        && filter
            .item_code
            .as_ref()
            .is_none_or(|item| case.item_code.as_str() == item)
        && filter.status.is_none_or(|status| case.status == status)
        && filter.light.is_none_or(|light| row.light == light)
        && filter.overdue.is_none_or(|overdue| {
            case.status == CaseStatus::Accepted && past_limit(case, overdue).is_some()
        })
}

/// When a case was first found past the limit an overdue filter names.
fn past_limit(case: &Case, overdue: OverdueFilter) -> Option<Timestamp> {
    match overdue {
        OverdueFilter::PastPromised => case.overdue_promised_at,
        OverdueFilter::PastLegal => case.overdue_legal_at,
    }
}

/// Every case `list_cases` gives for `filter`, read one a page.
async fn cases_in_pages<S: ViewStore>(store: &S, filter: &CaseFilter) -> Vec<CaseRow> {
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_cases(filter, after.as_deref(), 1)
            .await
            .expect("page reads");
        let Some(last) = page.last() else {
            return paged;
        };
        after = Some(last.case.case_no.as_str().to_owned());
        paged.extend(page);
    }
}

/// A region and department scope, as the reads of cases and alerts as of an instant take
/// it.
struct Scope {
    name: &'static str,
    region_prefixes: Option<Vec<String>>,
    dept_code: Option<String>,
}

impl Scope {
    fn prefixes(&self) -> Option<&[String]> {
        self.region_prefixes.as_deref()
    }

    fn dept(&self) -> Option<&str> {
        self.dept_code.as_deref()
    }

    /// The reference meaning of the scope for cases.
    fn cases(&self) -> CaseFilter {
        CaseFilter {
            region_prefixes: self.region_prefixes.clone(),
            dept_code: self.dept_code.clone(),
            ..CaseFilter::default()
        }
    }

    /// The reference meaning of the scope for alerts.
    fn alerts(&self) -> AlertFilter {
        AlertFilter {
            region_prefixes: self.region_prefixes.clone(),
            dept_code: self.dept_code.clone(),
            ..AlertFilter::default()
        }
    }
}

/// Scopes over the sample: every one but the first leaves some of it out.
fn sample_scopes() -> Vec<Scope> {
    let scope = |name, prefixes: Option<&[&str]>, dept_no: Option<u32>| Scope {
        name,
        region_prefixes: prefixes
            .map(|prefixes| prefixes.iter().map(|prefix| (*prefix).to_owned()).collect()),
        dept_code: dept_no.map(|n| dept(n).as_str().to_owned()),
    };
    vec![
        scope("everywhere", None, None),
        scope("region 3302", Some(&["3302"]), None),
        scope("region 330106", Some(&["330106"]), None),
        scope(
            "regions 3302 and 330106001",
            Some(&["3302", "330106001"]),
            None,
        ),
        scope("no region", Some(&[]), None),
        scope("region with %", Some(&["33%"]), None),
        scope("department 2", None, Some(2)),
        scope("department 1 in 330106", Some(&["330106"]), Some(1)),
    ]
}

/// What a store should hold after a sequence of batches.
struct Views {
    cases: BTreeMap<String, CaseRow>,
    archive: BTreeMap<Position, StepRow>,
    checkpoints: BTreeMap<Partition, Checkpoint>,
    alerts: BTreeSet<AlertId>,
}

impl Views {
    fn of(batches: &[ViewBatch]) -> Self {
        let mut views = Views {
            cases: BTreeMap::new(),
            archive: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            alerts: BTreeSet::new(),
        };
        let mut pending: BTreeMap<(&str, u32), Position> = BTreeMap::new();
        for batch in batches {
            for row in &batch.cases {
                views
                    .cases
                    .insert(row.case.case_no.as_str().to_owned(), row.clone());
            }
            for step in &batch.steps {
                views.archive.insert(step.position, step.clone());
            }
            for (case_no, seq, position) in &batch.pending_added {
                pending.insert((case_no.as_str(), *seq), *position);
            }
            for (case_no, seq) in &batch.pending_removed {
                if let Some(position) = pending.remove(&(case_no.as_str(), *seq))
                    && let Some(step) = views.archive.get_mut(&position)
                {
                    step.disposition = Disposition::Applied;
                }
            }
            for change in &batch.alerts {
                views.alerts.insert(change.change.alert.id.clone());
            }
            views.checkpoints.insert(batch.partition, batch.checkpoint);
        }
        views
    }

    fn steps_of(&self, case_no: &str) -> Vec<StepRow> {
        self.archive
            .values()
            .filter(|step| step.case_no.as_str() == case_no)
            .cloned()
            .collect()
    }

    fn alert_ids(&self) -> &BTreeSet<AlertId> {
        &self.alerts
    }
}

/// One record of the sample log.
#[derive(Clone)]
enum Record {
    Step(CaseEvent, Timestamp),
    Action(SupervisionEvent, Timestamp),
    Tick(Timestamp),
    /// Bytes that do not read, keyed by a case number or not.
    Unreadable(Vec<u8>, Option<&'static str>),
}

impl Record {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Record::Step(event, _) => serde_json::to_vec(event).expect("events encode"),
            Record::Action(event, _) => serde_json::to_vec(event).expect("actions encode"),
            Record::Tick(at) => at.to_rfc3339().into_bytes(),
            Record::Unreadable(bytes, _) => bytes.clone(),
        }
    }

    /// What the record says, as the domain folds it.
    fn read(&self) -> Said {
        let read = |recorded_at: &Timestamp, content| Said::Read {
            recorded_at: *recorded_at,
            content,
        };
        match self {
            Record::Step(event, at) => read(at, Content::Step(event.clone())),
            Record::Action(event, at) => read(at, Content::Action(event.clone())),
            Record::Tick(at) => read(at, Content::Tick(ClockTick { at: *at })),
            Record::Unreadable(_, keyed) => Said::Unreadable {
                keyed: keyed.map(|case_no| CaseNo::parse(case_no).expect("a valid case number")),
                reason: "undecodable record".to_owned(),
            },
        }
    }
}

/// A small log over two partitions, folded through the domain the way the projector does.
struct Log {
    policy: Policy,
    partitions: BTreeMap<Partition, Vec<Record>>,
}

impl Log {
    /// Four cases in two regions, two departments and two items: a case going overdue and
    /// acted on (one action refused), one with a gap filled late and a re-sent step, one
    /// completed, and one with a conflicting re-send under a notice that runs out; ticks,
    /// and one unreadable record.
    fn sample() -> Self {
        let hz1 = Source::new("HZ-2026-0001", "330106", 1, "ITEM-0001");
        let nb1 = Source::new("NB-2026-0001", "330203", 2, "ITEM-0002");
        let hz2 = Source::new("HZ-2026-0002", "330106001", 1, "ITEM-0001");
        let hz3 = Source::new("HZ-2026-0003", "330106", 1, "ITEM-0002");
        let step = |source: &Source, seq, at: &str, step| {
            Record::Step(source.event(seq, "clerk-1", at, step), local(at))
        };
        let partition_0 = vec![
            step(&hz1, 1, "2026-03-02 09:00", submitted(Channel::Window)),
            step(&hz1, 2, "2026-03-02 09:30", accepted(3)),
            step(&nb1, 1, "2026-03-02 10:00", submitted(Channel::Web)),
            step(&nb1, 3, "2026-03-02 11:00", reviewed()),
            Record::Step(
                nb1.event(2, "clerk-1", "2026-03-02 10:30", accepted(5)),
                local("2026-03-02 11:05"),
            ),
            Record::Step(
                nb1.event(1, "clerk-1", "2026-03-02 10:00", submitted(Channel::Web)),
                local("2026-03-02 11:10"),
            ),
            Record::Tick(local("2026-03-04 09:00")),
            Record::Tick(local("2026-03-05 17:00")),
            Record::Unreadable(b"\xff\x00 not a record".to_vec(), None),
            Record::Unreadable(b"\xff\x01 not a record".to_vec(), Some("HZ-2026-0001")),
            hz1.action(
                RuleId::T2,
                Role::Monitor,
                "2026-03-06 09:00",
                SupervisionAction::Acknowledge {
                    note: "收到".into(),
                },
            ),
            hz1.action(
                RuleId::T2,
                Role::Department,
                "2026-03-06 09:05",
                SupervisionAction::Close {
                    note: "已处理".into(),
                },
            ),
            Record::Tick(local("2026-04-01 09:00")),
            step(&nb1, 4, "2026-04-01 10:00", granted()),
            step(&nb1, 5, "2026-04-01 11:00", completed()),
        ];
        let partition_1 = vec![
            step(&hz2, 1, "2026-03-02 09:10", submitted(Channel::Mobile)),
            Record::Step(
                hz2.event(2, "clerk-2", "2026-03-02 09:20", accepted(5)),
                local("2026-03-02 09:20"),
            ),
            step(&hz2, 3, "2026-03-03 10:00", reviewed()),
            Record::Step(
                hz2.event(4, "chief-1", "2026-03-03 11:00", granted()),
                local("2026-03-03 11:00"),
            ),
            step(&hz2, 5, "2026-03-03 15:00", completed()),
            step(&hz3, 1, "2026-03-03 09:00", submitted(Channel::Window)),
            step(&hz3, 2, "2026-03-03 09:30", accepted(5)),
            Record::Step(
                hz3.event(2, "clerk-1", "2026-03-03 09:30", accepted(3)),
                local("2026-03-03 10:00"),
            ),
            Record::Tick(local("2026-03-10 17:00")),
            hz3.action(
                RuleId::C3,
                Role::Monitor,
                "2026-03-11 09:00",
                SupervisionAction::IssueNotice {
                    content: "请说明数据修改原因".into(),
                    feedback_due: local("2026-03-13 17:00"),
                },
            ),
            Record::Tick(local("2026-03-20 09:00")),
        ];
        Log {
            policy: Policy::default(),
            partitions: BTreeMap::from([(0, partition_0), (1, partition_1)]),
        }
    }

    /// The sample, and then a monitor escalates the yellow card `HZ-2026-0001/T2/1` to red
    /// and revokes it, on two later days.
    fn sample_with_card_history() -> Self {
        let mut log = Log::sample();
        let hz1 = Source::new("HZ-2026-0001", "330106", 1, "ITEM-0001");
        log.partitions.entry(0).or_default().extend([
            hz1.action(
                RuleId::T2,
                Role::Monitor,
                "2026-04-02 09:00",
                SupervisionAction::Escalate {
                    reason: "逾期未改".into(),
                },
            ),
            hz1.action(
                RuleId::T2,
                Role::Monitor,
                "2026-04-03 09:00",
                SupervisionAction::Revoke {
                    reason: "误报".into(),
                },
            ),
        ]);
        log
    }

    fn partitions(&self) -> Vec<Partition> {
        self.partitions.keys().copied().collect()
    }

    /// Every partition's batches, one partition after the other.
    fn sequential(&self, size: usize) -> Vec<ViewBatch> {
        self.partitions()
            .into_iter()
            .flat_map(|partition| self.batches(partition, size))
            .collect()
    }

    /// The partitions' batches taken in turn.
    fn interleaved(&self, size: usize) -> Vec<ViewBatch> {
        let mut queues: Vec<std::vec::IntoIter<ViewBatch>> = self
            .partitions()
            .into_iter()
            .map(|partition| self.batches(partition, size).into_iter())
            .collect();
        let mut batches = Vec::new();
        loop {
            let before = batches.len();
            batches.extend(queues.iter_mut().filter_map(Iterator::next));
            if batches.len() == before {
                return batches;
            }
        }
    }

    /// One partition folded and cut into batches of `size` records.
    fn batches(&self, partition: Partition, size: usize) -> Vec<ViewBatch> {
        let records = self.partitions.get(&partition).cloned().unwrap_or_default();
        let mut projector = Projector::new(&self.policy, partition);
        records
            .chunks(size.max(1))
            .map(|chunk| projector.batch(chunk))
            .collect()
    }
}

/// Folds one partition's records as the projector would.
struct Projector<'a> {
    policy: &'a Policy,
    partition: Partition,
    cases: BTreeMap<String, (Case, Hash)>,
    pending: BTreeSet<(String, u32)>,
    chain: Hash,
    next_offset: u64,
    now: Option<Timestamp>,
}

impl<'a> Projector<'a> {
    fn new(policy: &'a Policy, partition: Partition) -> Self {
        Projector {
            policy,
            partition,
            cases: BTreeMap::new(),
            pending: BTreeSet::new(),
            chain: GENESIS,
            next_offset: 0,
            now: None,
        }
    }

    fn batch(&mut self, records: &[Record]) -> ViewBatch {
        let mut batch = ViewBatch::new(
            self.partition,
            self.next_offset,
            Checkpoint {
                partition: self.partition,
                next_offset: 0,
                chain_hash: GENESIS,
                clock: None,
            },
        );
        let mut touched = BTreeSet::new();
        for record in records {
            let position = Position {
                partition: self.partition,
                offset: self.next_offset,
            };
            self.next_offset += 1;
            self.chain = chain(&self.chain, &record.bytes());
            self.fold(record, position, &mut batch, &mut touched);
        }
        let now = self.now.expect("a batch has a time");
        for case_no in touched {
            let (case, chain_head) = &self.cases[&case_no];
            let calendar = self.policy.calendars.for_region(&case.region_code);
            batch.cases.push(CaseRow {
                case: case.clone(),
                partition: self.partition,
                chain_head: *chain_head,
                light: case.light(),
                promised_due: case.promised_due(calendar),
                legal_due: case.legal_due(calendar),
                used_seconds: case.used_seconds(calendar, now),
                paused: case.clock.is_paused(calendar, now),
                as_of: now,
            });
        }
        batch.checkpoint.next_offset = self.next_offset;
        batch.checkpoint.chain_hash = self.chain;
        batch.checkpoint.clock = self.now;
        batch
    }

    fn fold(
        &mut self,
        record: &Record,
        position: Position,
        batch: &mut ViewBatch,
        touched: &mut BTreeSet<String>,
    ) {
        let bytes = record.bytes();
        let said = record.read();
        self.now = said.clock_after(self.now);
        if let Said::Unreadable { keyed, reason } = &said {
            batch.quarantine.push(QuarantineRow {
                position,
                reason: reason.clone(),
                bytes: bytes.clone(),
                case_no: keyed.clone(),
            });
        }
        let now = self.now.expect("a time before the record");
        if said.tick().is_some() {
            for (case_no, (case, _)) in &mut self.cases {
                if case.is_time_sensitive() {
                    let effects = case
                        .fold(&said, &bytes, now, self.policy)
                        .expect("time passing is never refused");
                    record_effects(batch, effects, position);
                    touched.insert(case_no.clone());
                }
            }
            return;
        }
        let Some(typed) = said.case_no().cloned() else {
            return;
        };
        let case_no = typed.to_string();
        if !self.cases.contains_key(&case_no) {
            let Some(case) = said.opens() else {
                return;
            };
            self.cases.insert(case_no.clone(), (case, GENESIS));
        }
        let (case, head) = self.cases.get_mut(&case_no).expect("held above");
        let previous_hash = *head;
        *head = chain(head, &bytes);
        let hash = *head;
        let outcome = case.fold(&said, &bytes, now, self.policy);
        touched.insert(case_no.clone());
        let (seq, kind, recorded_at, disposition) = match (&said, record) {
            (_, Record::Step(event, recorded_at)) => {
                let effects = outcome.as_ref().expect("a step is never refused");
                let disposition = self.pend(&typed, event.seq, effects, position, batch);
                (
                    Some(event.seq),
                    RecordKind::Step(event.step.kind()),
                    *recorded_at,
                    disposition,
                )
            }
            (_, Record::Action(_, recorded_at)) => (
                None,
                RecordKind::Supervision,
                *recorded_at,
                Disposition::Applied,
            ),
            _ => (None, RecordKind::Unreadable, now, Disposition::Unreadable),
        };
        batch.steps.push(StepRow {
            case_no: typed.clone(),
            position,
            seq,
            kind,
            recorded_at,
            disposition,
            hash,
            previous_hash,
        });
        match (outcome, record) {
            (Ok(effects), _) => record_effects(batch, effects, position),
            (Err(error), Record::Action(event, _)) => batch.refusals.push(RefusalRow {
                position,
                alert_id: event.alert_id.to_string(),
                principal: event.principal.id.clone(),
                reason: error.to_string(),
            }),
            (Err(error), _) => panic!("only actions are refused: {error}"),
        }
    }

    /// A step's disposition; the views' held steps gain it when it waits for a gap and
    /// lose those it released.
    fn pend(
        &mut self,
        case_no: &CaseNo,
        seq: u32,
        effects: &casewatch_domain::case::Effects,
        position: Position,
        batch: &mut ViewBatch,
    ) -> Disposition {
        let disposition = effects
            .steps
            .iter()
            .find(|outcome| outcome.seq == seq)
            .expect("a step has an outcome")
            .disposition;
        if disposition == Disposition::Held {
            self.pending.insert((case_no.to_string(), seq));
            batch.pending_added.push((case_no.clone(), seq, position));
        }
        for outcome in &effects.steps {
            if outcome.seq == seq || outcome.disposition != Disposition::Applied {
                continue;
            }
            if self.pending.remove(&(case_no.to_string(), outcome.seq)) {
                batch.pending_removed.push((case_no.clone(), outcome.seq));
            }
        }
        disposition
    }
}

fn record_effects(
    batch: &mut ViewBatch,
    effects: casewatch_domain::case::Effects,
    position: Position,
) {
    batch.alerts.extend(
        effects
            .alerts
            .into_iter()
            .map(|change| AlertChangeRow { change, position }),
    );
    batch.stats.extend(
        effects
            .stats
            .into_iter()
            .map(|delta| (delta.key, delta.counters)),
    );
}

/// A batch of statistics only, moving partition `partition` from `from` to `to`.
fn stats_batch(
    partition: Partition,
    from: u64,
    to: u64,
    stats: Vec<(StatKey, Counters)>,
) -> ViewBatch {
    ViewBatch {
        partition,
        from_offset: from,
        checkpoint: Checkpoint {
            partition,
            next_offset: to,
            chain_hash: [u8::try_from(to % 256).unwrap_or(0); 32],
            clock: Some(
                local("2026-03-02 09:00")
                    + chrono::TimeDelta::seconds(i64::try_from(to).unwrap_or(0)),
            ),
        },
        cases: Vec::new(),
        steps: Vec::new(),
        pending_added: Vec::new(),
        pending_removed: Vec::new(),
        alerts: Vec::new(),
        refusals: Vec::new(),
        quarantine: Vec::new(),
        stats,
    }
}

/// The reporting office of one sample case.
struct Source {
    case_no: CaseNo,
    region_code: RegionCode,
    dept_code: DeptCode,
    item_code: ItemCode,
}

impl Source {
    fn new(case_no: &str, region: &str, dept_no: u32, item: &str) -> Self {
        Source {
            case_no: CaseNo::parse(case_no).expect("valid case number"),
            region_code: RegionCode::parse(region).expect("valid region"),
            dept_code: dept(dept_no),
            item_code: ItemCode::parse(item).expect("valid item"),
        }
    }

    fn event(&self, seq: u32, actor: &str, at: &str, step: Step) -> CaseEvent {
        CaseEvent {
            event_id: EventId::parse(format!("{}-{seq}-{at}", self.case_no).replace(' ', "T"))
                .expect("valid event id"),
            case_no: self.case_no.clone(),
            seq,
            item_code: self.item_code.clone(),
            region_code: self.region_code.clone(),
            dept_code: self.dept_code.clone(),
            occurred_at: local(at),
            source_system: "county-system".into(),
            source_version: 1,
            actor: Actor {
                id: actor.into(),
                name: actor.into(),
            },
            step,
        }
    }

    /// A person's action on the case's first alert of `rule`.
    fn action(&self, rule: RuleId, role: Role, at: &str, action: SupervisionAction) -> Record {
        let alert_id = AlertId {
            case_no: self.case_no.clone(),
            rule,
            occurrence: 1,
        };
        let event = SupervisionEvent {
            event_id: EventId::parse(format!("act-{alert_id}-{at}").replace(' ', "T"))
                .expect("valid event id"),
            alert_id,
            principal: Principal {
                id: format!("{role}-1").replace(' ', "-"),
                name: String::new(),
                role,
            },
            action,
        };
        Record::Action(event, local(at))
    }
}

/// A local time in China Standard Time, written `2026-03-02 09:00`.
fn local(text: &str) -> Timestamp {
    chrono::DateTime::parse_from_str(&format!("{text} +08:00"), "%Y-%m-%d %H:%M %z")
        .unwrap_or_else(|error| panic!("bad time `{text}`: {error}"))
        .to_utc()
}

fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid date")
}

fn dept(n: u32) -> DeptCode {
    DeptCode::with_check_char(&format!("11330106MB{n:07}")).expect("valid department body")
}

fn working_days(n: u32) -> Limit {
    Limit::working_days(n).expect("valid limit")
}

fn submitted(channel: Channel) -> Step {
    Step::Submitted {
        applicant: Applicant {
            kind: ApplicantKind::Person,
            name: "张三".into(),
            id_type: "resident_id".into(),
            id_no: "330106199001011234".into(),
        },
        channel,
        materials: Vec::new(),
    }
}

fn accepted(promised: u32) -> Step {
    Step::Accepted {
        case_type: CaseType::Promised,
        legal_limit: working_days(20),
        promised_limit: working_days(promised),
        fee_required: false,
        fee_standard_fen: None,
        accept_doc_no: "受理-0001".into(),
    }
}

fn reviewed() -> Step {
    Step::Reviewed {
        step_code: "R1".into(),
        step_name: "审核".into(),
        outcome: ReviewOutcome::Pass,
        opinion: "同意".into(),
        step_limit: None,
    }
}

fn granted() -> Step {
    Step::Decided {
        decision: Decision::Grant,
        reason: "符合条件".into(),
        window_direct_signoff: false,
    }
}

fn completed() -> Step {
    Step::Completed {
        result: CompletionResult::Completed,
        certificate: None,
        fee_total_fen: 0,
    }
}
