//! `casewatch report` as a user runs it: the scripted scenario folded into a data
//! directory's views, then each report written by the binary, its Markdown and CSV
//! compared with reviewed snapshots.

use std::path::Path;
use std::process::Command;

use casewatch_server::auth::{generate_token, token_digest};

use crate::support::PARTITIONS;
use crate::support::child;
use crate::support::data;
use child::Role;
use data::scenario_data;

/// Runs `casewatch report KIND` on `data` and returns what it wrote.
fn report(data: &Path, kind: &str, date: &str, format: &str) -> Vec<u8> {
    run_report(kind, date, format, |command| {
        command.arg("--data").arg(data)
    })
}

/// Runs `casewatch report KIND` for Hangzhou with the source `source` adds.
fn run_report(
    kind: &str,
    date: &str,
    format: &str,
    source: impl FnOnce(&mut Command) -> &mut Command,
) -> Vec<u8> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_casewatch"));
    // The source is the one `source` names, whatever the environment says.
    command.env_remove("CASEWATCH_SERVER").args([
        "report", kind, "--region", "330100", "--date", date, "--format", format,
    ]);
    let output = source(&mut command).output().expect("casewatch runs");
    assert!(
        output.status.success(),
        "casewatch report {kind} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("UTF-8")
}

#[tokio::test]
async fn every_report_writes_markdown_csv_json_and_html() {
    let data = scenario_data().await;
    let data = data.path();
    insta::assert_snapshot!("daily_md", text(report(data, "daily", "2026-03-02", "md")));
    insta::assert_snapshot!(
        "weekly_md",
        text(report(data, "weekly", "2026-03-04", "md"))
    );
    insta::assert_snapshot!(
        "dispatch_md",
        text(report(data, "dispatch", "2026-03-09", "md"))
    );
    insta::assert_snapshot!(
        "monthly_md",
        text(report(data, "monthly", "2026-03-31", "md"))
    );

    let csv = report(data, "dispatch", "2026-03-09", "csv");
    assert!(
        csv.starts_with(b"\xEF\xBB\xBF"),
        "a byte-order mark for spreadsheets"
    );
    insta::assert_snapshot!("dispatch_csv", text(csv[3..].to_vec()));

    let json: serde_json::Value =
        serde_json::from_slice(&report(data, "monthly", "2026-03-31", "json")).expect("JSON");
    assert_eq!(json["total"]["counters"]["accepted"], 7);
    assert_eq!(json["overdue_cases"][0]["case_no"], "330106-B-LATE");

    let html = text(report(data, "weekly", "2026-03-04", "html"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("@media print"));
    assert!(html.contains("<td>330105</td>"));
}

/// `--server` asks a running `casewatch serve` (here on the same data directory, its clock
/// ticker off so that the views' time stays where the scenario left it) as the city's
/// monitoring office: every report in every format is byte for byte the one read from the
/// views, so nothing is lost or changed on the way through gRPC.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_from_a_server_is_the_report_from_its_views() {
    let data = scenario_data().await;
    let data = data.path();
    let token = generate_token();
    let config = data.join("casewatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"data = "{data}"
[log]
partitions = {PARTITIONS}
[server]
tick_interval = "0s"
[[principals]]
name = "city-office"
role = "monitor"
regions = ["330100"]
token_sha256 = "{digest}"
"#,
            data = data.display(),
            digest = hex::encode(token_digest(&token)),
        ),
    )
    .expect("the configuration is written");
    let server = Role::spawn(&["serve"], &config);
    let url = format!("http://{}", server.addr);
    for (kind, date) in [
        ("daily", "2026-03-02"),
        ("weekly", "2026-03-04"),
        ("dispatch", "2026-03-09"),
        ("monthly", "2026-03-31"),
    ] {
        for format in ["md", "csv", "json", "html"] {
            let served = run_report(kind, date, format, |command| {
                command.args(["--server", &url, "--token", &token])
            });
            assert_eq!(
                text(served),
                text(report(data, kind, date, format)),
                "{kind} as {format}"
            );
        }
    }
    server.terminate();
}

#[tokio::test]
async fn a_bad_region_is_refused_by_name() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let output = Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args(["report", "daily", "--region", "33x", "--date", "2026-03-02"])
        .arg("--data")
        .arg(data.path())
        .output()
        .expect("casewatch runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--region"), "{stderr}");
}
