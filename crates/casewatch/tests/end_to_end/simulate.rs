//! `casewatch simulate` against a `casewatch serve` on the wall clock, as the README runs
//! them. The simulated counties must report what real ones would: each case's steps in
//! order and none in the node's future, so the board shows the simulation's own anomalies
//! and no false procedure (P1) or conflict (C3) red cards; and a second run is new cases,
//! not the first run's case numbers and event ids re-dated.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use casewatch_proto::client::Authorized;
use casewatch_proto::pb;
use casewatch_proto::pb::audit_service_client::AuditServiceClient;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::auth::{generate_token, token_digest};
use prost::Message;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::support::child;
use child::Role;

/// Runs `casewatch simulate` against the node at `addr` as a county system, and insists it
/// succeeds.
fn simulate(addr: &str, token: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args(["simulate", "--server", &format!("http://{addr}")])
        .args(["--token", token])
        .args(["--days", "3", "--counties", "2", "--cases-per-day", "10"])
        .args(["--batch", "100"])
        .env("CASEWATCH_LOG", "warn")
        .output()
        .expect("casewatch simulate runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "simulate failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// What the log holds of the simulated cases.
#[derive(Debug, Default)]
struct Logged {
    /// Every case with a step on the log.
    cases: BTreeSet<String>,
    /// The cases the simulator deliberately "corrected" with a conflicting re-send (a
    /// higher `source_version`), where a C3 card is the right answer.
    resent: BTreeSet<String>,
    /// The highest position of each partition holding a step.
    high: BTreeMap<u32, u64>,
}

async fn logged(channel: Authorized<Channel>) -> Logged {
    let mut audit = AuditServiceClient::new(channel);
    let mut records = audit
        .read_log(pb::ReadLogRequest {
            kinds: vec![pb::RecordKind::CaseEvent.into()],
            ..Default::default()
        })
        .await
        .expect("the log reads")
        .into_inner();
    let mut logged = Logged::default();
    while let Some(record) = records.next().await {
        let record = record.expect("a record");
        let position = record.position.expect("a position");
        let high = logged.high.entry(position.partition).or_default();
        *high = (*high).max(position.offset);
        let envelope = pb::Record::decode(record.record.as_slice()).expect("an envelope");
        let event = pb::CaseEvent::decode(envelope.payload.as_slice()).expect("a step");
        if event.source_version > 1 {
            logged.resent.insert(event.case_no.clone());
        }
        logged.cases.insert(event.case_no);
    }
    logged
}

/// Every alert, once the views have folded every step on the log: (rule, case number).
async fn alerts(channel: Authorized<Channel>, logged: &Logged) -> Vec<(String, String)> {
    let mut monitor = MonitorServiceClient::new(channel);
    let consistency = pb::ReadConsistency {
        at_least: logged
            .high
            .iter()
            .map(|(partition, offset)| pb::LogPosition {
                partition: *partition,
                offset: *offset,
            })
            .collect(),
    };
    let mut alerts = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = monitor
            .list_alerts(pb::ListAlertsRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                consistency: Some(consistency.clone()),
                ..Default::default()
            })
            .await
            .expect("the alerts list")
            .into_inner();
        alerts.extend(
            page.alerts
                .into_iter()
                .map(|alert| (alert.rule, alert.case_no)),
        );
        if page.next_page_token.is_empty() {
            return alerts;
        }
        page_token = page.next_page_token;
    }
}

fn by_rule(alerts: &[(String, String)]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for (rule, _) in alerts {
        *counts.entry(rule.as_str()).or_default() += 1;
    }
    counts
}

/// C3 cards on cases the simulator did not deliberately re-send: re-dated re-sends of
/// steps already on the log.
fn false_conflicts<'a>(alerts: &'a [(String, String)], logged: &Logged) -> Vec<&'a str> {
    alerts
        .iter()
        .filter(|(rule, case_no)| rule == "C3" && !logged.resent.contains(case_no))
        .map(|(_, case_no)| case_no.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_against_a_real_clock_node_draws_no_false_procedure_or_conflict_cards() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let [counties, office] = [(); 2].map(|()| generate_token());
    let config = dir.path().join("casewatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"data = "{data}"
[log]
partitions = 4
[[principals]]
name = "counties"
role = "county_system"
regions = ["330100"]
token_sha256 = "{counties}"
[[principals]]
name = "office"
role = "admin"
regions = ["000000"]
token_sha256 = "{office}"
"#,
            data = dir.path().join("data").display(),
            counties = hex::encode(token_digest(&counties)),
            office = hex::encode(token_digest(&office)),
        ),
    )
    .expect("the configuration is written");
    let node = Role::spawn(&["serve"], &config);
    let url = format!("http://{}", node.addr);
    let connect = || casewatch_proto::client::connect(&url, &office);

    let printed = simulate(&node.addr, &counties);
    let first = logged(connect().await.expect("connects")).await;
    let after_first = alerts(connect().await.expect("connects"), &first).await;

    let printed_again = simulate(&node.addr, &counties);
    let both = logged(connect().await.expect("connects")).await;
    let after_both = alerts(connect().await.expect("connects"), &both).await;
    eprintln!(
        "first run: {} cases, alerts by rule {:?}\n{printed}\nboth runs: {} cases, alerts by \
         rule {:?}\n{printed_again}",
        first.cases.len(),
        by_rule(&after_first),
        both.cases.len(),
        by_rule(&after_both)
    );

    assert!(!first.cases.is_empty(), "the first run reported no case");
    let p1 = |alerts: &[(String, String)]| alerts.iter().filter(|(rule, _)| rule == "P1").count();
    assert_eq!(p1(&after_first), 0, "P1 cards after the first run");
    assert_eq!(
        false_conflicts(&after_first, &first),
        Vec::<&str>::new(),
        "C3 cards after the first run on cases never deliberately re-sent"
    );
    assert!(
        both.cases.len() >= 2 * first.cases.len(),
        "the second run is new cases: {} after the first run, {} after both",
        first.cases.len(),
        both.cases.len()
    );
    assert_eq!(p1(&after_both), 0, "P1 cards after the second run");
    assert_eq!(
        false_conflicts(&after_both, &both),
        Vec::<&str>::new(),
        "C3 cards after the second run on cases never deliberately re-sent"
    );
    node.terminate();
}
