//! A role whose PostgreSQL views cannot be reached stops at once, saying which server it
//! tried and why, instead of waiting half a minute for a pool that "timed out".

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `casewatch ROLE` with PostgreSQL views at `url` and the extra `config` lines;
/// returns what it printed and how long it took.
fn role_with_views_at(role: &str, url: &str, config: &str) -> (Output, Duration) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("casewatch.toml");
    std::fs::write(
        &path,
        format!(
            "data = \"{}\"\n[views]\nbackend = \"postgres\"\nurl = \"{url}\"\n{config}",
            dir.path().join("data").display()
        ),
    )
    .expect("the configuration is written");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args([role, "--config"])
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .env("CASEWATCH_LOG", "warn")
        .env_remove("CASEWATCH_VIEWS_URL")
        .env_remove("CASEWATCH_VIEWS_BACKEND")
        .output()
        .expect("casewatch runs");
    (output, started.elapsed())
}

#[test]
fn a_role_with_views_at_a_closed_port_stops_at_once_naming_the_server_and_the_cause() {
    for role in ["serve", "api", "project"] {
        let (output, took) = role_with_views_at(role, "postgres://postgres@127.0.0.1:1/test", "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{role} started without its views");
        assert!(
            stderr.contains("cannot connect to PostgreSQL at `127.0.0.1:1`")
                && stderr.to_lowercase().contains("connection refused"),
            "{role}: {stderr}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{role} took {took:?} to give up on a refused connection"
        );
    }
}

#[test]
fn a_server_that_does_not_answer_is_given_up_after_the_connect_timeout() {
    // A port that takes connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = silent.local_addr().expect("its address");
    let (output, took) = role_with_views_at(
        "serve",
        &format!("postgres://postgres@{addr}/test"),
        "connect_timeout = \"1s\"\n",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "serve started without its views");
    assert!(
        stderr.contains(&format!("PostgreSQL at `{addr}` did not answer within 1s")),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "gave up after {took:?} with views.connect_timeout = 1s"
    );
    drop(silent);
}
