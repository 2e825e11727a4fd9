//! The auditor's tools as a user runs them (`verify`, `replay`, `rebuild`, `report`): what
//! they find is what their exit status says, and the ones that only read create nothing.

use std::path::Path;
use std::process::{Command, Output};

use casewatch_log::embedded::EmbeddedLog;
use casewatch_log::{Destination, EventLog, NewRecord};
use casewatch_tests::local;

use crate::support::PARTITIONS;
use crate::support::data;
use data::scenario_data;

/// Runs `casewatch ARGS --data DATA` (the tools take the partition count of the log).
fn casewatch(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("CASEWATCH_SERVER")
        .output()
        .expect("casewatch runs")
}

/// Every tool that reads a data directory, as an auditor would call it.
const READING_TOOLS: &[&[&str]] = &[
    &["verify"],
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
];

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
    for &args in READING_TOOLS {
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

/// Every file under `dir`, with its size and when it last changed.
fn listing(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a directory") {
            let path = entry.expect("an entry").path();
            let metadata = std::fs::metadata(&path).expect("metadata");
            if metadata.is_dir() {
                pending.push(path.clone());
            }
            files.push((path, metadata.len(), metadata.modified().expect("a time")));
        }
    }
    files.sort();
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the copy's directory");
    for entry in std::fs::read_dir(from).expect("a directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}

/// `chmod -R a-w` (or `u+w` to undo it).
fn set_writable(path: &Path, writable: bool) {
    if std::fs::metadata(path).expect("metadata").is_dir() {
        for entry in std::fs::read_dir(path).expect("a directory") {
            set_writable(&entry.expect("an entry").path(), writable);
        }
    }
    set_mode(path, writable);
}

fn set_mode(path: &Path, writable: bool) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut permissions = std::fs::metadata(path).expect("metadata").permissions();
    let mode = permissions.mode();
    permissions.set_mode(if writable {
        mode | 0o200
    } else {
        mode & !0o222
    });
    std::fs::set_permissions(path, permissions).expect("chmod");
}

/// A command that obeys file permissions even when the test runs as root: root's
/// override of them is dropped with `setpriv` where the probe shows it in force.
fn unprivileged(read_only_dir: &Path) -> Command {
    let probe = read_only_dir.join("probe");
    let privileged = std::fs::File::create(&probe).is_ok();
    if privileged {
        std::fs::remove_file(&probe).expect("the probe removed");
        let capabilities = "-dac_override,-dac_read_search,-fowner";
        let mut command = Command::new("setpriv");
        command
            .args(["--inh-caps", capabilities, "--bounding-set", capabilities])
            .arg(env!("CARGO_BIN_EXE_casewatch"));
        command
    } else {
        Command::new(env!("CARGO_BIN_EXE_casewatch"))
    }
}

/// `verify`, `replay`, `rebuild` and `report` on a read-only copy of a data directory, with
/// no `--partitions`: they open the log and the views read-only, create and change nothing,
/// and take the log's own partition count (the scenario's is not the default).
#[tokio::test]
async fn the_reading_tools_work_on_a_read_only_snapshot() {
    let data = scenario_data().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let snapshot = dir.path().join("snapshot");
    copy_dir(data.path(), &snapshot);
    set_writable(&snapshot, false);
    let before = listing(&snapshot);
    for &args in READING_TOOLS {
        let output = unprivileged(&snapshot)
            .args(args)
            .arg("--data")
            .arg(&snapshot)
            .env_remove("CASEWATCH_SERVER")
            .env_remove("CASEWATCH_PARTITIONS")
            .output()
            .expect("casewatch runs");
        assert!(
            output.status.success(),
            "{args:?} on a read-only snapshot: {}",
            stderr(&output)
        );
        assert!(!stdout(&output).is_empty(), "{args:?} printed nothing");
    }
    assert_eq!(listing(&snapshot), before, "the snapshot is as it was");
    set_writable(&snapshot, true);
}
