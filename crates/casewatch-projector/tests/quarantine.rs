//! Unreadable records between good ones, as an older or foreign producer might leave them
//! on the log: the projector keeps going, quarantines each with its reason, alerts the
//! case a record's key names (C5) when the partition knows it, and tells operators through
//! an error and the `casewatch.projector.records_quarantined` metric when no case can be
//! told; a restart in the middle and a clean rebuild end with the same views.

mod common;

use std::sync::Arc;

use casewatch_domain::case::{Disposition, Light};
use casewatch_domain::catalogue::{Level, RuleId};
use casewatch_domain::policy::PolicyInForce;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_log::{Destination, EventLog, NewRecord};
use casewatch_projector::audit;
use casewatch_proto::{RECORD_FORMAT_VERSION, encode_record, pb};
use casewatch_store::sqlite::SqliteStore;
use casewatch_store::{AlertFilter, ViewStore};
use casewatch_tests::{Input, record_bytes, scenario};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use prost::Message;

const PARTITIONS: u32 = 2;
/// A case of the scenario, whose records the bad ones are keyed by.
const KNOWN: &str = "330106-A-CLEAN";
/// A case number no good record names.
const UNKNOWN: &str = "330106-Z-NOBODY";

fn record(destination: Destination, bytes: Vec<u8>) -> NewRecord {
    NewRecord {
        destination,
        bytes,
        idempotency_key: None,
        headers: Vec::new(),
    }
}

fn keyed(case_no: &str, bytes: Vec<u8>) -> NewRecord {
    record(Destination::Key(case_no.to_owned()), bytes)
}

/// The scenario with bad records after the known case's first step: one of its steps with
/// an invalid step number, one in an envelope of a future format, and one of its steps
/// keyed by another case; then garbage keyed by a case nobody reported, and garbage sent to
/// a partition without a key.
fn records() -> Vec<NewRecord> {
    let mut records = Vec::new();
    let mut inserted = false;
    for input in scenario() {
        let bytes = record_bytes(&input);
        match &input {
            Input::Step { event, recorded_at } => {
                records.push(keyed(&event.case_no, bytes.clone()));
                if event.case_no == KNOWN && !inserted {
                    inserted = true;
                    let invalid = pb::CaseEvent {
                        seq: 0,
                        ..(**event).clone()
                    };
                    records.push(keyed(
                        KNOWN,
                        encode_record(
                            pb::RecordKind::CaseEvent,
                            *recorded_at,
                            &invalid.encode_to_vec(),
                        ),
                    ));
                    let future = pb::Record {
                        format_version: RECORD_FORMAT_VERSION + 1,
                        ..pb::Record::decode(bytes.as_slice()).expect("a record")
                    };
                    records.push(keyed(KNOWN, future.encode_to_vec()));
                    records.push(keyed(UNKNOWN, bytes.clone()));
                    records.push(keyed(UNKNOWN, b"\xff\x00 garbage".to_vec()));
                    records.push(record(
                        Destination::Partition(1),
                        b"\x08\x01 garbage".to_vec(),
                    ));
                }
            }
            Input::Tick(_) => {
                records.extend(
                    (0..PARTITIONS)
                        .map(|partition| record(Destination::Partition(partition), bytes.clone())),
                );
            }
        }
    }
    assert!(inserted, "the scenario reports `{KNOWN}`");
    records
}

/// The counter's value for `case_alerted`, summed over partitions.
fn quarantined(exporter: &InMemoryMetricExporter, case_alerted: bool) -> u64 {
    let finished = exporter
        .get_finished_metrics()
        .expect("metrics were exported");
    let Some(last) = finished.last() else {
        return 0;
    };
    let mut total = 0;
    for metric in last
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .filter(|metric| metric.name() == "casewatch.projector.records_quarantined")
    {
        let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() else {
            panic!(
                "the quarantine counter is a sum of u64: {:?}",
                metric.data()
            );
        };
        total += sum
            .data_points()
            .filter(|point| {
                point.attributes().any(|attribute| {
                    attribute.key.as_str() == "case_alerted"
                        && attribute.value == opentelemetry::Value::Bool(case_alerted)
                })
            })
            .map(|point| point.value())
            .sum::<u64>();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_records_are_quarantined_and_alerted_and_the_projector_goes_on() {
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    // In place before any projector takes its instruments from it.
    opentelemetry::global::set_meter_provider(meters.clone());

    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = Arc::new(EmbeddedLog::open(dir.path(), PARTITIONS).expect("the log opens"));
    let records = records();
    let half = records.len() / 2;
    let mut records = records.into_iter();
    log.append(records.by_ref().take(half).collect())
        .await
        .expect("the first half appends");

    // Live: folded in small batches, restarted halfway as the log grows.
    let store = Arc::new(SqliteStore::open_in_memory().await.expect("a store"));
    common::catch_up(log.clone(), store.clone(), PARTITIONS, 3).await;
    log.append(records.collect())
        .await
        .expect("the second half appends");
    common::catch_up(log.clone(), store.clone(), PARTITIONS, 4).await;
    for checkpoint in store.checkpoints().await.expect("checkpoints") {
        let high_water = log
            .high_water(checkpoint.partition)
            .await
            .expect("a high water");
        assert_eq!(
            checkpoint.next_offset, high_water,
            "partition {}",
            checkpoint.partition
        );
    }

    // Every bad record is quarantined with its reason and the case its key names.
    let quarantine = store
        .quarantine(None, 100)
        .await
        .expect("the quarantine reads");
    let found: Vec<(Option<&str>, &str)> = quarantine
        .iter()
        .map(|row| {
            (
                row.case_no
                    .as_ref()
                    .map(casewatch_domain::ids::CaseNo::as_str),
                row.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(found.len(), 5, "{found:#?}");
    for (case_no, reason) in [
        (
            Some(KNOWN),
            "invalid record: payload.seq: must be 1 to 100000, got 0",
        ),
        (
            Some(KNOWN),
            "unsupported record format version `2`, expected `1`",
        ),
        (
            Some(UNKNOWN),
            "the record is about case `330106-A-CLEAN` but keyed `330106-Z-NOBODY`",
        ),
    ] {
        assert!(
            found.contains(&(case_no, reason)),
            "{case_no:?} {reason}: {found:#?}"
        );
    }
    assert!(
        found
            .iter()
            .any(|(case_no, reason)| *case_no == Some(UNKNOWN)
                && reason.starts_with("undecodable record envelope"))
    );
    assert!(
        found
            .iter()
            .any(|(case_no, reason)| case_no.is_none() && reason.starts_with("undecodable"))
    );

    // The known case: its archive shows the holes, and it got a red card for each.
    let archive = store.steps(KNOWN).await.expect("the archive reads");
    assert_eq!(
        archive
            .iter()
            .filter(|step| step.disposition == Disposition::Unreadable)
            .count(),
        2
    );
    let case = store
        .case(KNOWN)
        .await
        .expect("the case reads")
        .expect("the case");
    let c5: Vec<_> = case
        .case
        .alerts
        .iter()
        .filter(|alert| alert.rule() == RuleId::C5)
        .collect();
    assert_eq!(c5.len(), 2, "{c5:#?}");
    assert!(c5.iter().all(|alert| alert.level == Level::Red));
    assert!(
        c5[0].detail.starts_with(
            "a record of this case on the log could not be read; it is quarantined: invalid record"
        ),
        "{}",
        c5[0].detail
    );
    // A red card for operators and auditors, but no department's doing: it lights no
    // case and counts in no department's figures.
    assert_eq!(case.light, Light::Green, "C5 lights no case");
    let listed = store
        .list_alerts(
            &AlertFilter {
                rules: vec![RuleId::C5],
                ..AlertFilter::default()
            },
            None,
            100,
        )
        .await
        .expect("the alerts list");
    assert_eq!(listed.len(), 2, "only the known case is alerted");
    assert!(store.case(UNKNOWN).await.expect("the case reads").is_none());

    // Operators are told about the three no case could take; the two alerted counted apart.
    meters.force_flush().expect("the metrics flush");
    assert_eq!(quarantined(&exporter, false), 3);
    assert_eq!(quarantined(&exporter, true), 2);

    // The chains hold with the unreadable records in them.
    let verified = audit::verify_log(&*log, &*store, &[])
        .await
        .expect("verification runs");
    assert_eq!(verified.first_mismatch, None);
    let verified = audit::verify_case(&*log, &*store, KNOWN)
        .await
        .expect("verification runs");
    assert_eq!(verified.first_mismatch, None);

    // Auditors' folds of the past see the same cards.
    let replayed = audit::fold_all(&*log, &PolicyInForce::shipped(), |_| true)
        .await
        .expect("the log folds");
    assert_eq!(
        replayed
            .iter()
            .flat_map(|case| &case.alerts)
            .filter(|alert| alert.rule() == RuleId::C5)
            .count(),
        2
    );
    let as_of = audit::case_as_of(&*log, &*store, &PolicyInForce::shipped(), KNOWN, case.as_of)
        .await
        .expect("the case folds")
        .expect("the case existed");
    assert_eq!(
        as_of
            .case
            .alerts
            .iter()
            .filter(|alert| alert.rule() == RuleId::C5)
            .count(),
        2
    );

    // A clean rebuild in one pass gives the same views.
    let rebuilt = Arc::new(SqliteStore::open_in_memory().await.expect("a store"));
    common::catch_up(log.clone(), rebuilt.clone(), PARTITIONS, 1000).await;
    assert_eq!(
        store.digest().await.expect("a digest"),
        rebuilt.digest().await.expect("a digest")
    );
    assert_eq!(
        store.checkpoints().await.expect("checkpoints"),
        rebuilt.checkpoints().await.expect("checkpoints")
    );
}
