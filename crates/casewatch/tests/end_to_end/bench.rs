//! `casewatch bench` runs its scenarios on a small workload and reports each as one JSON
//! line: the instrument works end to end (its numbers are not judged here).

use std::process::Command;

use casewatch_testkit::Need;
use serde_json::Value;

fn bench(arguments: &[&str]) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args(["bench", "--quick", "--json", "--events", "3000"])
        .args(arguments)
        .output()
        .expect("run casewatch bench");
    assert!(
        output.status.success(),
        "casewatch bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect()
}

fn scenario<'a>(reports: &'a [Value], name: &str, backend: &str) -> &'a Value {
    reports
        .iter()
        .find(|report| report["scenario"] == name && report["backend"] == backend)
        .unwrap_or_else(|| panic!("no {name} ({backend}) report in {reports:?}"))
}

#[test]
fn every_scenario_reports_its_figures_beside_its_references() {
    let reports = bench(&[
        "--scenario",
        "stream-ingest,projector,push-alert,verify,report",
    ]);
    let machine = scenario(&reports, "machine", "-");
    assert_eq!(machine["events"], 3000);

    let stream = scenario(&reports, "stream_ingest", "embedded");
    assert!(stream["events_per_s"].as_f64().expect("a rate") > 0.0);
    assert!(stream["storage_events_per_s"].as_f64().expect("a rate") > 0.0);
    assert!(
        stream["ack_p99_ms"].as_f64().expect("a latency")
            >= stream["ack_p50_ms"].as_f64().expect("a latency")
    );
    assert!(stream["targets"].as_object().expect("targets").len() >= 2);

    // The projector folds the log with its clock ticks; verification checks every record
    // it folded, and fails the run if a chain does not match.
    let projector = scenario(&reports, "projector", "embedded log");
    assert!(projector["sqlite_events_per_s"].as_f64().expect("a rate") > 0.0);
    match projector.get("postgres_skipped") {
        None => assert_eq!(projector["same_digest"], true),
        Some(why) => casewatch_testkit::skip(
            "every_scenario_reports_its_figures_beside_its_references",
            Need::Postgres,
            &why.to_string(),
        ),
    }
    let verify = scenario(&reports, "verify", "embedded log, SQLite views");
    assert!(verify["events_per_s"].as_f64().expect("a rate") > 0.0);

    let alerts = scenario(&reports, "push_alert", "embedded");
    assert_eq!(alerts["probes"], 100);
    assert!(alerts["latency_p50_ms"].as_f64().expect("a latency") > 0.0);

    // Every report is made from the projector's views and written out.
    let published = scenario(&reports, "report", "SQLite views");
    for kind in ["daily", "weekly", "dispatch", "monthly"] {
        assert!(
            published[format!("{kind}_p50_ms")]
                .as_f64()
                .expect("a latency")
                > 0.0
        );
        assert!(published[format!("{kind}_bytes")].as_u64().expect("a size") > 0);
    }
    if projector.get("postgres_skipped").is_none() {
        let published = scenario(&reports, "report", "PostgreSQL views");
        assert!(published["monthly_p50_ms"].as_f64().expect("a latency") > 0.0);
    }
}

#[test]
fn an_unknown_scenario_is_refused_by_name() {
    let output = Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args(["bench", "--scenario", "warp-speed"])
        .output()
        .expect("run casewatch bench");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warp-speed"), "{stderr}");
    assert!(stderr.contains("stream-ingest"), "{stderr}");
}
