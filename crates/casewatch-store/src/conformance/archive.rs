//! All-or-nothing rounds, the digest's content, the step archive, the quarantine and
//! partitions committed concurrently.

use super::*;

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
                previous_hash: step.previous_hash,
            })
            .collect();
        assert_pages(
            &expected,
            |step| step.position,
            |from, limit| {
                let store = &store;
                async move {
                    store
                        .step_hashes(partition, from, limit)
                        .await
                        .expect("step hashes read")
                }
            },
        )
        .await;
    }
    assert!(
        store
            .step_hashes(99, 0, 1000)
            .await
            .expect("step hashes read")
            .is_empty()
    );
}

/// A partition's chain links (one after each tick, and after each record of no case the
/// views know) read back in offset order, whole or page by page, from any offset on.
pub async fn chain_links_page_through_a_partition_in_offset_order<H: Harness>(harness: &mut H) {
    let store = harness.fresh().await;
    let log = Log::sample();
    let batches = log.interleaved(3);
    apply_each(&store, batches.clone()).await;
    let views = Views::of(&batches);
    for partition in log.partitions() {
        let expected: Vec<ChainLink> = views
            .links
            .values()
            .filter(|link| link.position.partition == partition)
            .copied()
            .collect();
        assert_pages(
            &expected,
            |link| link.position,
            |from, limit| {
                let store = &store;
                async move {
                    store
                        .chain_links(partition, from, limit)
                        .await
                        .expect("chain links read")
                }
            },
        )
        .await;
    }
    // Every record has a hash of its own: in its case's archive or in a link.
    for (partition, records) in &log.partitions {
        let hashed = (0..records.len() as u64)
            .filter(|offset| {
                let position = Position {
                    partition: *partition,
                    offset: *offset,
                };
                views.archive.contains_key(&position) != views.links.contains_key(&position)
            })
            .count();
        assert_eq!(hashed, records.len(), "partition {partition}");
    }
    assert!(
        store
            .chain_links(99, 0, 1000)
            .await
            .expect("chain links read")
            .is_empty()
    );
}

/// Asserts that `read(from, limit)` gives `expected` (rows of one partition, in offset
/// order) whole, in pages of two, and from its middle row on.
async fn assert_pages<T, F, Fut>(expected: &[T], position: fn(&T) -> Position, read: F)
where
    T: std::fmt::Debug + PartialEq,
    F: Fn(u64, u32) -> Fut,
    Fut: Future<Output = Vec<T>>,
{
    assert!(expected.len() > 1, "{expected:?}");
    assert_eq!(read(0, 1000).await, expected);
    let mut paged = Vec::new();
    let mut from = 0;
    loop {
        let page = read(from, 2).await;
        assert!(page.len() <= 2);
        let Some(last) = page.last() else {
            break;
        };
        from = position(last).offset + 1;
        paged.extend(page);
    }
    assert_eq!(paged, expected, "in pages of 2");
    let middle = expected.len() / 2;
    assert_eq!(
        read(position(&expected[middle]).offset, 1000).await,
        expected[middle..],
        "from the middle row"
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
