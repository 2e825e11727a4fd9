//! Checkpoints, fences, cursors and the alert changes of applied batches.

use super::*;

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

/// The policy a batch leaves its partition with replaces the one saved before; a batch
/// that changes no policy leaves it; the changes of policy folded read back in offset
/// order with what became of each, partition by partition.
pub async fn partition_policy_and_its_history_read_back<H: Harness>(harness: &mut H) {
    use casewatch_domain::policy::{PolicyChange, PolicyContent, PolicyInForce};
    use casewatch_domain::rulebook::RuleBook;

    use crate::{PolicyOutcome, PolicyRecordRow};

    let store = harness.fresh().await;
    assert_eq!(store.partition_policy(0).await.expect("reads"), None);
    let change = |version: u32, applies_from: &str| PolicyChange {
        content: PolicyContent::RuleBook(RuleBook {
            version,
            ..RuleBook::default()
        }),
        author: "province-admin".into(),
        reason: format!("rule book {version}"),
        applies_from: local(applies_from),
    };
    let record = |offset: u64, change: PolicyChange, outcome: PolicyOutcome| PolicyRecordRow {
        position: Position {
            partition: 0,
            offset,
        },
        recorded_at: local("2026-12-07 15:00"),
        change,
        outcome,
    };
    let mut in_force = PolicyInForce::shipped();
    in_force
        .receive(change(2, "2026-12-07 15:00"), local("2026-12-07 15:00"))
        .expect("applies");
    let mut first = stats_batch(0, 0, 3, Vec::new());
    first.policy = Some(in_force.snapshot());
    first.policy_records = vec![
        record(0, change(2, "2026-12-07 15:00"), PolicyOutcome::Applied),
        record(
            2,
            change(2, "2026-12-07 15:00"),
            PolicyOutcome::Refused("rule book version 2 does not follow version 2".into()),
        ),
    ];
    in_force
        .receive(change(3, "2027-01-01 00:00"), local("2026-12-07 15:00"))
        .expect("held");
    let mut second = stats_batch(0, 3, 5, Vec::new());
    second.policy = Some(in_force.snapshot());
    second.policy_records = vec![record(
        4,
        change(3, "2027-01-01 00:00"),
        PolicyOutcome::Held,
    )];
    let third = stats_batch(0, 5, 6, Vec::new());
    let expected_records = [first.policy_records.clone(), second.policy_records.clone()].concat();
    apply_each(&store, vec![first, second, third]).await;

    assert_eq!(
        store.partition_policy(0).await.expect("reads"),
        Some(in_force.snapshot()),
        "the second batch's, kept by the third"
    );
    assert_eq!(
        store.policy_records(0).await.expect("reads"),
        expected_records
    );
    assert_eq!(store.partition_policy(1).await.expect("reads"), None);
    assert_eq!(store.policy_records(1).await.expect("reads"), []);
}
