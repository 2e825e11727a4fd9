//! What a role says when it starts and stops, run as a process: one line on standard output
//! when it stops on a signal, and no PostgreSQL chatter at start.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};

use casewatch_store::postgres::testing;

use crate::support::child::{self, casewatch};

/// A role that has printed its address.
struct Started {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Started {
    /// Starts `casewatch ARGS --data DATA --listen 127.0.0.1:0 EXTRA…` and reads its standard
    /// output up to the line that says where it serves.
    fn role(args: &[&str], data: &Path, extra: &[&str]) -> Started {
        let mut child = casewatch()
            .args(args)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("casewatch starts");
        let stdout = BufReader::new(child.stdout.take().expect("a piped stdout"));
        let mut started = Started { child, stdout };
        loop {
            let mut line = String::new();
            started
                .stdout
                .read_line(&mut line)
                .expect("its output reads");
            if line.is_empty() {
                let mut stderr = String::new();
                if let Some(mut pipe) = started.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!("casewatch {args:?} stopped before serving: {stderr}");
            }
            if line.starts_with("casewatch ") && line.contains("127.0.0.1:") {
                return started;
            }
        }
    }

    /// Sends `signal`; what it printed on standard output and error from then until it
    /// exited, which it must do cleanly.
    fn stop(mut self, signal: &str) -> (String, String) {
        child::signal(self.child.id(), signal);
        let mut stdout = String::new();
        self.stdout
            .read_to_string(&mut stdout)
            .expect("its output reads");
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .expect("a piped stderr")
            .read_to_string(&mut stderr)
            .expect("its errors read");
        let status = self.child.wait().expect("it exits");
        assert!(status.success(), "{status} on SIG{signal}: {stderr}");
        (stdout, stderr)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh schema for the test's views, when PostgreSQL is there (the test is skipped, or
/// fails under `CASEWATCH_REQUIRE_POSTGRES`, when it is not).
async fn schema_of_its_own() -> Option<testing::TestSchema> {
    let base = testing::reachable_database("role_lifecycle").await?;
    let schema = testing::TestSchema::create(&base)
        .await
        .expect("a schema of the test's own");
    Some(schema)
}

#[test]
fn every_role_says_on_standard_output_that_it_stopped_and_why() {
    for (role, signal) in [
        ("serve", "TERM"),
        ("ingest", "TERM"),
        ("project", "TERM"),
        ("api", "TERM"),
        ("serve", "INT"),
    ] {
        let data = tempfile::tempdir().expect("a temporary directory");
        let started = Started::role(&[role], data.path(), &["--log", "warn"]);
        let (stdout, stderr) = started.stop(signal);
        assert_eq!(
            stdout.lines().last(),
            Some(format!("casewatch {role} stopped (SIG{signal})").as_str()),
            "casewatch {role} on SIG{signal} printed `{stdout}`; its log: {stderr}"
        );
    }
}

/// The schema is there already (a `casewatch migrate` ran), so sqlx's `CREATE TABLE IF NOT
/// EXISTS _sqlx_migrations` draws PostgreSQL's NOTICE, which sqlx logs at INFO: the level
/// every role logs at.
#[tokio::test]
async fn a_role_on_migrated_postgres_views_logs_no_notice_at_start() {
    let Some(schema) = schema_of_its_own().await else {
        return;
    };
    let data = tempfile::tempdir().expect("a temporary directory");
    let views = [
        "--views-backend",
        "postgres",
        "--views-url",
        schema.url.as_str(),
    ];
    let migrated = casewatch()
        .arg("migrate")
        .arg("--data")
        .arg(data.path())
        .args(views)
        .output()
        .expect("casewatch migrate runs");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    for role in ["api", "project"] {
        let started = Started::role(&[role], data.path(), &views);
        let (_, stderr) = started.stop("TERM");
        assert!(
            stderr.contains("view store connected"),
            "casewatch {role} logs at INFO: {stderr}"
        );
        assert!(
            !stderr.contains("_sqlx_migrations") && !stderr.contains("already exists"),
            "casewatch {role} passed on PostgreSQL's notice: {stderr}"
        );
    }
    schema.remove().await.expect("the schema is removed");
}

/// A failure that trying again would not mend (here the views' tables gone from under a
/// running api) stops the role at once, non-zero, saying which part failed and why, so a
/// service manager's `Restart=on-failure` sees it.
#[tokio::test]
async fn a_role_whose_part_fails_for_good_stops_non_zero_saying_which_and_why() {
    let Some(schema) = schema_of_its_own().await else {
        return;
    };
    let data = tempfile::tempdir().expect("a temporary directory");
    let mut started = Started::role(
        &["api"],
        data.path(),
        &[
            "--views-backend",
            "postgres",
            "--views-url",
            schema.url.as_str(),
            "--log",
            "warn",
        ],
    );
    schema.remove().await.expect("the views' schema is dropped");
    // A guard, not a wait: an api that goes on serving without its views is killed, and
    // the test fails on what it printed.
    let pid = started.child.id();
    let exited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let guard = exited.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(60));
        if !guard.load(std::sync::atomic::Ordering::SeqCst) {
            child::signal(pid, "KILL");
        }
    });

    let mut stdout = String::new();
    started
        .stdout
        .read_to_string(&mut stdout)
        .expect("its output reads");
    let mut stderr = String::new();
    started
        .child
        .stderr
        .take()
        .expect("a piped stderr")
        .read_to_string(&mut stderr)
        .expect("its errors read");
    let status = started.child.wait().expect("it exits");
    exited.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(!status.success(), "{status}: {stdout} {stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some("casewatch api stopped: the commit relay failed"),
        "{stdout}"
    );
    assert!(
        stderr.contains("Error: the commit relay failed") && stderr.contains("does not exist"),
        "{stderr}"
    );
}
