//! A log and its views belong together: a node pointed at views folded from another log
//! refuses to start and names the log they belong to, where it once acknowledged appends
//! and answered NOT_FOUND for ever.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::PARTITIONS;
use crate::support::child;
use crate::support::data;
use data::scenario_data;

/// Runs `casewatch serve` on `data` until it either prints its address (it started) or
/// exits; returns whether it started, and what it said on stderr when it did not.
fn serve(data: &Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args(["serve", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(["--partitions", &PARTITIONS.to_string()])
        .env("CASEWATCH_LOG", "warn")
        .env_remove("CASEWATCH_VIEWS_URL")
        .env_remove("CASEWATCH_VIEWS_BACKEND")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("casewatch starts");
    let stdout = std::io::BufReader::new(child.stdout.take().expect("a piped stdout"));
    let line = stdout
        .lines()
        .map(|line| line.expect("casewatch's output reads"))
        .find(|line| line.contains("serving"))
        .unwrap_or_default();
    if !line.is_empty() {
        child::signal(child.id(), "TERM");
        child.wait().expect("casewatch exits");
        return (true, String::new());
    }
    let output = child.wait_with_output().expect("casewatch exits");
    assert!(!output.status.success(), "it exited 0 without serving");
    (false, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn views_of_another_log_are_refused_naming_the_log_they_belong_to() {
    let first = scenario_data().await;
    let (started, stderr) = serve(first.path());
    assert!(started, "a node starts on its own log and views: {stderr}");

    // A new data directory, its log fresh, given the first one's views.
    let second = tempfile::tempdir().expect("a temporary directory");
    for file in ["views.db", "views.db-wal"] {
        if first.path().join(file).exists() {
            std::fs::copy(first.path().join(file), second.path().join(file))
                .expect("the views copy");
        }
    }
    let (started, stderr) = serve(second.path());
    assert!(!started, "a node started on another log's views");
    assert!(
        stderr.contains("the views belong to the embedded log ")
            && stderr.contains("not to this embedded log "),
        "{stderr}"
    );

    let (started, stderr) = serve(first.path());
    assert!(
        started,
        "the first node still starts on its own views: {stderr}"
    );
}
