//! End to end on the production backends: a Kafka-protocol broker (tansu) and PostgreSQL,
//! with `casewatch ingest`, two `casewatch project` and `casewatch api` as separate
//! processes. `make test-e2e` runs these (they are ignored in the plain test run, which
//! names them as such); they need `tansu` on the PATH (or `CASEWATCH_TANSU`) and
//! PostgreSQL (`CASEWATCH_TEST_POSTGRES_URL`, by default the machine's own).
//!
//! Time is scripted: the roles read it from a clock file the test writes before each
//! call, and the test appends the clock ticks itself, so the same calls put the same
//! records on any log — which lets the views on Kafka + PostgreSQL be compared, digest for
//! digest, with an embedded node fed the same calls.

#![cfg(feature = "kafka")]

mod child;
mod e2e_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use casewatch_sim::SimConfig;
use casewatch_tests::{alert_key, calls, expected_alerts, scenario, simulated};
use e2e_support::{Broker, Cluster, TansuHarness, embedded_digest};
use tokio_stream::StreamExt;

/// The scripted scenario, then a simulated city whose load runs while one projector is
/// stopped: the survivor takes its partitions, nothing is skipped or applied twice, and
/// the views equal a rebuild on PostgreSQL and the embedded run of the same calls.
///
/// The projector is stopped with SIGTERM, so it leaves the consumer group. A SIGKILLed
/// member's partitions move after `session.timeout.ms` on Apache Kafka, but tansu 0.6 keeps
/// handing them to the dead member (seen while building this suite), so a SIGKILL here
/// would test the broker, not Casewatch; SIGKILL is covered by the embedded durability
/// test and the views' fence.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "end-to-end: needs tansu and PostgreSQL; run `make test-e2e`"]
async fn the_roles_on_kafka_and_postgres_agree_with_the_embedded_run() {
    let broker = Broker::start().await;
    let mut cluster = Cluster::start(&broker, "agree").await;
    let mut projectors = vec![cluster.project().await, cluster.project().await];
    let mut feed = cluster.subscribe().await;

    let scenario_calls = calls(&scenario(), 1);
    cluster.play(&scenario_calls).await;
    let alerts = cluster.alerts().await;
    let mut raised: Vec<_> = alerts.iter().map(alert_key).collect();
    raised.sort();
    assert_eq!(raised, expected_alerts(), "the scenario's alerts");

    let load = calls(
        &simulated(SimConfig {
            seed: 7,
            days: 4,
            counties: 4,
            cases_per_county_day: 40,
            ..SimConfig::default()
        }),
        200,
    );
    let third = load.len() / 3;
    cluster.play(&load[..third]).await;
    let stopped = projectors.remove(0);
    stopped.terminate();
    cluster.play(&load[third..]).await;
    cluster.wait_until_projected().await;

    // Every alert change reached the subscriber, in cursor order, none skipped.
    let stored = cluster.stored_cursors().await;
    let last = *stored.last().expect("the run raised alerts");
    let mut received = Vec::new();
    while received.last().is_none_or(|cursor| *cursor < last) {
        let alert = tokio::time::timeout(Duration::from_secs(60), feed.next())
            .await
            .expect("the alert feed keeps up")
            .expect("the feed stays open")
            .expect("an alert");
        received.push(alert.cursor);
    }
    assert_eq!(
        received, stored,
        "the subscriber saw every change once, in order"
    );

    let live = cluster.digest().await;
    let rebuilt_pg = cluster.rebuild_into_postgres().await;
    let rebuilt_sqlite = cluster.rebuild_into_sqlite().await;
    let mut everything = scenario_calls;
    everything.extend(load);
    let embedded = embedded_digest(&everything, cluster.partitions()).await;
    eprintln!(
        "digests: live {live}, PostgreSQL rebuild {rebuilt_pg}, SQLite rebuild \
         {rebuilt_sqlite}, embedded run {embedded}"
    );
    assert_eq!(
        rebuilt_pg, live,
        "a rebuild on PostgreSQL equals the live views"
    );
    assert_eq!(
        rebuilt_sqlite, live,
        "a rebuild into SQLite equals the live views"
    );
    assert_eq!(
        embedded, live,
        "the embedded run of the same calls equals the live views"
    );
    drop(projectors);
}

/// The broker stops answering (SIGSTOP), then dies (SIGKILL) and comes back: ingest
/// answers UNAVAILABLE within its deadline, and every acknowledged step is on the log and
/// in the views afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "end-to-end: needs tansu and PostgreSQL; run `make test-e2e`"]
async fn nothing_acknowledged_is_lost_when_the_broker_fails() {
    let mut broker = Broker::start().await;
    let mut cluster = Cluster::start(&broker, "broker").await;
    let _projector = cluster.project().await;
    let load = calls(
        &simulated(SimConfig {
            seed: 11,
            days: 2,
            counties: 2,
            cases_per_county_day: 30,
            ..SimConfig::default()
        }),
        50,
    );
    let appends: Vec<_> = load
        .iter()
        .filter(|call| matches!(call, casewatch_tests::Call::Append { .. }))
        .cloned()
        .collect();
    let (before, after) = appends.split_at(appends.len() / 2);
    let mut acknowledged = cluster.send(before).await;

    broker.pause();
    let refused = cluster.try_send(&after[..1]).await;
    assert!(
        refused.acknowledged.is_empty() && refused.unavailable > 0,
        "a paused broker makes ingest answer UNAVAILABLE: {refused:?}"
    );
    broker.resume();

    broker.kill();
    let refused = cluster.try_send(&after[..1]).await;
    assert!(
        refused.acknowledged.is_empty() && refused.unavailable > 0,
        "a dead broker makes ingest answer UNAVAILABLE: {refused:?}"
    );
    broker.restart().await;
    // Everything sent after the restart is acknowledged once the producer reconnects.
    acknowledged.extend(cluster.send(after).await);

    cluster.wait_until_projected().await;
    let on_log = cluster.log_events().await;
    for (event_id, position) in &acknowledged {
        assert_eq!(
            on_log.get(event_id),
            Some(position),
            "acknowledged event `{event_id}` is on the log where its ack said"
        );
    }
    let steps = cluster.archived_positions().await;
    let missing: BTreeSet<_> = acknowledged
        .values()
        .filter(|position| !steps.contains(position))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in the views: {missing:?}"
    );
    eprintln!(
        "broker outage: {} events acknowledged, all on the log and in the views",
        acknowledged.len()
    );
}

/// PostgreSQL restarts while the load runs: the projectors pause and resume, the views
/// end equal to a rebuild (no duplicate rows), and the subscriber misses no alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "end-to-end: needs tansu and PostgreSQL (restarted by the test); run `make test-e2e`"]
async fn the_views_survive_a_postgres_restart_under_load() {
    let Some(restart) = e2e_support::postgres_restart_command() else {
        eprintln!(
            "skipped: the_views_survive_a_postgres_restart_under_load (this machine cannot \
             restart its PostgreSQL: no pg_ctlcluster)"
        );
        return;
    };
    let broker = Broker::start().await;
    let mut cluster = Cluster::start(&broker, "pgrestart").await;
    let _projectors = [cluster.project().await, cluster.project().await];
    let mut feed = cluster.subscribe().await;
    let load = calls(
        &simulated(SimConfig {
            seed: 5,
            days: 3,
            counties: 3,
            cases_per_county_day: 40,
            ..SimConfig::default()
        }),
        100,
    );
    let half = load.len() / 2;
    cluster.play(&load[..half]).await;
    e2e_support::run(&restart);
    cluster.play(&load[half..]).await;
    cluster.wait_until_projected().await;

    let stored = cluster.stored_cursors().await;
    let last = *stored.last().expect("the load raised alerts");
    let mut received: BTreeMap<u64, u32> = BTreeMap::new();
    loop {
        let alert = tokio::time::timeout(Duration::from_secs(60), feed.next())
            .await
            .expect("the alert feed keeps up")
            .expect("the feed stays open");
        match alert {
            Ok(alert) => {
                *received.entry(alert.cursor).or_default() += 1;
                if alert.cursor >= last {
                    break;
                }
            }
            // The api's views went away with PostgreSQL: resume from the last cursor.
            Err(status) => {
                eprintln!("feed interrupted ({status}); resuming");
                let after = received.keys().next_back().copied().unwrap_or(0);
                feed = cluster.subscribe_after(after).await;
            }
        }
    }
    let seen: Vec<u64> = received.keys().copied().collect();
    assert_eq!(seen, stored, "every alert change reached the subscriber");
    assert_eq!(
        cluster.digest().await,
        cluster.rebuild_into_postgres().await
    );
}

/// The log's conformance suite, run against the real broker process as it runs against
/// librdkafka's mock cluster in `make test`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "end-to-end: needs tansu; run `make test-e2e`"]
async fn the_log_conformance_suite_passes_on_tansu() {
    use casewatch_log::conformance::*;
    let broker = Broker::start().await;
    let harness = |case: &str| TansuHarness::new(&broker, case);
    records_of_a_partition_keep_their_order(harness("order")).await;
    a_key_always_lands_in_its_partition(harness("keys")).await;
    offsets_are_dense_from_zero(harness("dense")).await;
    records_survive_a_reopen(harness("reopen")).await;
    readers_see_only_committed_records(harness("committed")).await;
    concurrent_appenders_are_all_acknowledged_in_order(harness("concurrent")).await;
    wait_for_wakes_on_arrival_and_times_out_otherwise(harness("wait")).await;
    unknown_partitions_are_refused(harness("unknown")).await;
    idempotency_keys_are_stored_once(harness("idempotency")).await;
    read_returns_at_most_max_records(harness("max")).await;
}
