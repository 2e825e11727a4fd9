//! The auditor's tools as a user runs them (`verify`, `replay`, `rebuild`, `report`): what
//! they find is what their exit status says, and the ones that only read create nothing.

use std::path::Path;
use std::process::{Command, Output};

use casewatch_log::embedded::EmbeddedLog;
use casewatch_log::{Destination, EventLog, NewRecord};
use casewatch_tests::local;

mod data;

use data::{PARTITIONS, scenario_data};

/// Runs `casewatch ARGS --data DATA` on a log of the scenario's partitions.
fn casewatch(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args(args)
        .arg("--data")
        .arg(data)
        .args(["--partitions", &PARTITIONS.to_string()])
        .env_remove("CASEWATCH_SERVER")
        .output()
        .expect("casewatch runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn reading_tools_refuse_a_data_directory_that_is_not_there() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let typo = dir.path().join("casewatch-dta");
    for args in [
        &["verify"][..],
        &["replay"],
        &["replay", "--case-no", "330106-B-LATE"],
        &["rebuild"],
        &[
            "report",
            "daily",
            "--region",
            "330100",
            "--date",
            "2026-03-02",
        ],
    ] {
        let output = casewatch(args, &typo);
        assert!(!output.status.success(), "{args:?} succeeded on no data");
        assert!(
            stderr(&output).contains("no Casewatch data at") && stderr(&output).contains("dta"),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!typo.exists(), "{args:?} created the directory it read");
    }
}

#[tokio::test]
async fn verify_and_replay_read_what_is_there_and_name_what_is_not() {
    let data = scenario_data().await;
    let verified = casewatch(&["verify"], data.path());
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(
        stdout(&verified).contains("every hash chain matches"),
        "{}",
        stdout(&verified)
    );

    let replayed = casewatch(&["replay", "--case-no", "330106-B-LATE"], data.path());
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    assert!(
        stdout(&replayed).lines().count() >= 2,
        "{}",
        stdout(&replayed)
    );

    let unknown = casewatch(&["replay", "--case-no", "330106-NOBODY"], data.path());
    assert!(!unknown.status.success(), "a case that is not there");
    assert!(stdout(&unknown).is_empty(), "{}", stdout(&unknown));
    assert!(
        stderr(&unknown).contains("case `330106-NOBODY` is not in the views"),
        "{}",
        stderr(&unknown)
    );
}

#[tokio::test]
async fn rebuild_exits_non_zero_when_the_live_views_differ() {
    let data = scenario_data().await;
    let equal = casewatch(&["rebuild"], data.path());
    assert!(equal.status.success(), "{}", stderr(&equal));
    assert!(
        stdout(&equal).contains("the live views equal a rebuild from the log"),
        "{}",
        stdout(&equal)
    );

    // A record the live views have not folded: they are behind the log.
    let log = EmbeddedLog::open(&data.path().join("log"), PARTITIONS).expect("the log opens");
    log.append(vec![NewRecord {
        destination: Destination::Partition(0),
        bytes: casewatch_proto::encode_tick(local("2026-03-20 18:00"), "test"),
        idempotency_key: None,
        headers: Vec::new(),
    }])
    .await
    .expect("a tick appends");
    drop(log);
    let behind = casewatch(&["rebuild"], data.path());
    assert!(!behind.status.success(), "the views differ from a rebuild");
    assert!(
        stdout(&behind).contains("rebuilt digest "),
        "{}",
        stdout(&behind)
    );
    assert!(
        stderr(&behind).contains("the live views differ from a rebuild of the log"),
        "{}",
        stderr(&behind)
    );
}

/// `--views-backend postgres` reads its URL as PostgreSQL's, or refuses it: a URL of
/// another scheme used to become a SQLite file named after it.
#[test]
fn a_views_url_postgres_cannot_read_is_refused_and_no_file_is_made() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .current_dir(dir.path())
        .args(["migrate", "--data", "data", "--views-backend", "postgres"])
        .args(["--views-url", "mysql://db/views"])
        .env_remove("CASEWATCH_VIEWS_URL")
        .output()
        .expect("casewatch runs");
    assert!(!output.status.success(), "a MySQL URL for PostgreSQL views");
    assert!(
        stderr(&output).contains("views.url: `mysql://` is not PostgreSQL"),
        "{}",
        stderr(&output)
    );
    assert!(
        !dir.path().join("mysql:").exists(),
        "a file named after the URL"
    );
    assert!(!dir.path().join("data").join("views.db").exists());
}
