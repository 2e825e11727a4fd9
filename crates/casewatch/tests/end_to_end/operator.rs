//! The operator's side of the binary, run as a process: one node per data directory, a
//! development token that outlives restarts and is found where `--data` says, clients that
//! give up on a server that is down, saying why, and the small promises of the tools (a
//! closed pipe, `casewatch token`, host names, the demo's temporary data, the help, the
//! documents' links).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use casewatch_proto::pb;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_tests::{local, submission};

use crate::support::child::{self, casewatch};
use crate::support::data;

/// `casewatch simulate` of one county's one case a day, for a day.
const ONE_CASE: [&str; 7] = [
    "simulate",
    "--days",
    "1",
    "--counties",
    "1",
    "--cases-per-day",
    "1",
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A child process, killed if the test ends while it runs.
struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Running {
    fn spawn(command: &mut Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("casewatch starts");
        let stdout = BufReader::new(child.stdout.take().expect("a piped stdout"));
        Running { child, stdout }
    }

    /// The next line it prints; empty once it closed its output.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("its output reads");
        line
    }

    /// Waits for it to exit; what it wrote on standard error, if that was piped.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("its errors read");
        }
        let status = self.child.wait().expect("it exits");
        (status, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `casewatch serve` on `data` with no principals, listening on a free loopback port.
struct Node {
    process: Running,
    addr: String,
    /// The development token it printed.
    token: String,
}

impl Node {
    fn start(data: &Path) -> Node {
        Node::start_on(data, "127.0.0.1:0")
    }

    fn start_on(data: &Path, listen: &str) -> Node {
        let mut process = Running::spawn(
            casewatch()
                .args(["serve", "--partitions", "2", "--tick-every", "0s"])
                .arg("--data")
                .arg(data)
                .args(["--listen", listen])
                .stderr(Stdio::inherit()),
        );
        let mut token = None;
        loop {
            let line = process.line();
            assert!(!line.is_empty(), "casewatch serve stopped before serving");
            if let Some((_, rest)) = line.split_once("Bearer ") {
                token = rest.split('`').next().map(str::to_owned);
            }
            if line.starts_with("casewatch serving every role on ") {
                let addr = line
                    .split_whitespace()
                    .nth(5)
                    .expect("the address")
                    .to_owned();
                return Node {
                    process,
                    addr,
                    token: token.expect("a development token printed before serving"),
                };
            }
        }
    }

    fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// Appends one new case's submission with `token`; whether it was appended.
    async fn append(&self, token: &str, case_no: &str) -> Result<(), String> {
        let channel = casewatch_proto::client::connect(&format!("http://{}", self.addr), token)
            .await
            .map_err(|error| error.to_string())?;
        let response = IngestServiceClient::new(channel)
            .append(pb::AppendRequest {
                events: vec![submission(case_no, "330106", local("2026-11-02 09:00"))],
                request_id: String::new(),
            })
            .await
            .map_err(|status| status.to_string())?
            .into_inner();
        match response
            .results
            .first()
            .and_then(|result| result.outcome.as_ref())
        {
            Some(pb::append_result::Outcome::Appended(_)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }

    /// SIGTERM, and waits for it to leave.
    fn stop(mut self) {
        child::signal(self.pid(), "TERM");
        let status = self.process.child.wait().expect("casewatch exits");
        assert!(status.success(), "casewatch serve stops cleanly: {status}");
    }
}

fn dev_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("dev-token"))
        .expect("the development token file")
        .trim()
        .to_owned()
}

// Item 8: one node per data directory.

#[tokio::test(flavor = "multi_thread")]
async fn a_second_node_on_a_data_directory_is_refused_naming_the_first() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let first = Node::start(data.path());
    let token = dev_token(data.path());

    let mut second = Running::spawn(
        casewatch()
            .args(["serve", "--partitions", "2", "--listen", "127.0.0.1:0"])
            .arg("--data")
            .arg(data.path())
            .stderr(Stdio::piped()),
    );
    let printed = second.line();
    assert!(
        printed.is_empty(),
        "the second node started on the first one's data: `{printed}`"
    );
    let (status, stderr) = second.finish();
    assert!(!status.success(), "the second node exits with an error");
    assert!(
        stderr.contains(&format!("in use by process {}", first.pid())),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");

    assert_eq!(
        dev_token(data.path()),
        token,
        "the token is the first node's"
    );
    first
        .append(&token, "330106-LOCK-1")
        .await
        .expect("the first node still appends");

    // The tools that only read need no lock: they work beside the running node.
    let verified = casewatch()
        .arg("verify")
        .arg("--data")
        .arg(data.path())
        .output()
        .expect("verify runs");
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    first.stop();

    // Once the first has stopped, the directory is free.
    Node::start(data.path()).stop();
}

// Item 13: the development token.

#[tokio::test(flavor = "multi_thread")]
async fn the_development_token_outlives_a_restart_until_its_file_is_removed() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let node = Node::start(data.path());
    let token = node.token.clone();
    assert_eq!(dev_token(data.path()), token);
    node.append(&token, "330106-TOKEN-1")
        .await
        .expect("appends with its token");
    node.stop();

    let node = Node::start(data.path());
    assert_eq!(node.token, token, "a restart keeps the token");
    assert_eq!(dev_token(data.path()), token);
    node.append(&token, "330106-TOKEN-2")
        .await
        .expect("the token still works after a restart");
    node.stop();

    std::fs::remove_file(data.path().join("dev-token")).expect("removed");
    let node = Node::start(data.path());
    assert_ne!(node.token, token, "a removed token is replaced");
    let refused = node.append(&token, "330106-TOKEN-3").await;
    assert!(refused.is_err(), "the old token no longer works");
    node.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_development_token_already_in_the_data_directory_is_the_one_served() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let token = format!("cw_{}", "5a".repeat(32));
    std::fs::write(data.path().join("dev-token"), format!("{token}\n")).expect("written");
    let node = Node::start(data.path());
    assert_eq!(node.token, token);
    node.append(&token, "330106-TOKEN-4")
        .await
        .expect("the token another role made works");
    node.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_finds_the_development_token_where_data_says_or_says_where_it_looked() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let node = Node::start(data.path());
    let elsewhere = tempfile::tempdir().expect("another directory");

    let simulate = |dir: &Path| -> Output {
        casewatch()
            .current_dir(elsewhere.path())
            .args(ONE_CASE)
            .args(["--server", &format!("http://{}", node.addr)])
            .arg("--data")
            .arg(dir)
            .output()
            .expect("simulate runs")
    };
    let pushed = simulate(data.path());
    assert!(pushed.status.success(), "{}", text(&pushed.stderr));
    assert!(
        text(&pushed.stdout).contains("events appended"),
        "{}",
        text(&pushed.stdout)
    );

    let empty = elsewhere.path().join("no-node-here");
    let lost = simulate(&empty);
    assert!(!lost.status.success(), "no token anywhere");
    let looked = empty.join("dev-token");
    assert!(
        text(&lost.stderr).contains(&format!("no development token at `{}`", looked.display())),
        "{}",
        text(&lost.stderr)
    );
    assert!(!empty.exists(), "looking created nothing");
    node.stop();
}

#[test]
fn a_client_gives_up_on_a_server_that_is_down_and_says_why() {
    let port = child::free_port();
    let output = casewatch()
        .args(ONE_CASE)
        .args(["--server", &format!("http://127.0.0.1:{port}")])
        .args(["--token", "cw_anything", "--retries", "2"])
        .output()
        .expect("simulate runs");
    assert!(!output.status.success(), "nothing was pushed");
    let stderr = text(&output.stderr);
    let retries: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("trying again in"))
        .collect();
    assert_eq!(retries.len(), 2, "each retry is reported: {stderr}");
    assert!(
        retries
            .iter()
            .all(|line| line.contains(&format!("cannot reach `http://127.0.0.1:{port}`"))),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "the reason is given: {stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach `http://127.0.0.1:{port}` after 3 tries"
        )),
        "{stderr}"
    );
}

// Item 15: the small promises.

#[tokio::test]
async fn a_tool_whose_reader_stops_reading_stops_quietly() {
    let data = data::scenario_data().await;
    let data = data.path().to_str().expect("a UTF-8 path");
    for args in [
        &["replay", "--data", data][..],
        &["replay", "--data", data, "--case-no", "330106-B-LATE"],
        &["verify", "--data", data],
        &[
            "report",
            "daily",
            "--data",
            data,
            "--region",
            "330100",
            "--date",
            "2026-03-02",
        ],
        &[
            "token", "--name", "x", "--role", "monitor", "--region", "330100",
        ],
    ] {
        let mut child = casewatch()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("casewatch starts");
        // The reader is gone before the tool prints anything (`casewatch replay | head -0`).
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("casewatch exits");
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            matches!(output.status.code(), Some(0 | 141)),
            "{args:?}: {}: {stderr}",
            output.status
        );
        if args[0] != "token" {
            assert!(stderr.is_empty(), "{args:?}: quietly: {stderr}");
        }
    }
}

#[test]
fn token_prints_the_entry_on_standard_output_and_the_token_on_standard_error() {
    let output = casewatch()
        .args(["token", "--name", "xihu-county", "--role", "county_system"])
        .args(["--region", "330106"])
        .output()
        .expect("casewatch token runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let entry = text(&output.stdout);
    let parsed: toml::Table = toml::from_str(&entry).expect("standard output is TOML");
    let principal = &parsed["principals"][0];
    assert_eq!(principal["name"].as_str(), Some("xihu-county"));
    assert!(
        !entry.contains("cw_"),
        "the token is not in the entry: {entry}"
    );

    let stderr = text(&output.stderr);
    let token = stderr
        .split_whitespace()
        .find(|word| word.starts_with("cw_"))
        .unwrap_or_else(|| panic!("the token on standard error: {stderr}"));
    assert_eq!(
        principal["token_sha256"].as_str(),
        Some(hex::encode(casewatch_server::auth::token_digest(token)).as_str()),
        "the entry holds the token's digest"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_takes_a_host_name() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let node = Node::start_on(data.path(), "localhost:0");
    let addr: std::net::SocketAddr = node.addr.parse().expect("the address it serves on");
    assert!(addr.ip().is_loopback(), "{addr}");
    node.append(&node.token, "330106-HOST-1")
        .await
        .expect("serves on the resolved address");
    node.stop();

    let config = data.path().join("casewatch.toml");
    std::fs::write(&config, "[server]\nlisten = \"localhost\"\n").expect("written");
    let output = casewatch()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("serve runs");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("`localhost` is not `host:port`") && stderr.contains("listen"),
        "the setting is named: {stderr}"
    );
}

#[test]
fn the_demo_removes_its_temporary_data_when_stopped_by_a_signal() {
    for signal in ["INT", "TERM"] {
        let temporary = tempfile::tempdir().expect("a temporary directory");
        let mut demo = Running::spawn(
            casewatch()
                .args(["demo", "--listen", "127.0.0.1:0", "--counties", "1"])
                .env("TMPDIR", temporary.path())
                .stderr(Stdio::piped()),
        );
        let first = demo.line();
        assert!(first.starts_with("Casewatch demo: a node at"), "{first}");
        let data: Vec<PathBuf> = std::fs::read_dir(temporary.path())
            .expect("the temporary directory")
            .map(|entry| entry.expect("an entry").path())
            .collect();
        assert_eq!(data.len(), 1, "the demo's data directory: {data:?}");
        child::signal(demo.child.id(), signal);
        let (status, stderr) = demo.finish();
        assert!(status.success(), "SIG{signal}: {status}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(temporary.path())
            .expect("the temporary directory")
            .collect();
        assert!(left.is_empty(), "SIG{signal} left {left:?}: {stderr}");
    }
}

/// Every relative link of the repository's documents, and every document they name, is in
/// the repository.
#[test]
fn the_documents_name_only_what_the_repository_holds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let documents = [
        "README.md",
        "SECURITY.md",
        "BENCHMARKS.md",
        "deploy/README.md",
    ];
    let mut missing = Vec::new();
    for document in documents {
        let path = root.join(document);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let dir = path.parent().expect("a document's folder");
        let mut named: Vec<String> = text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
            .map(|target| target.split('#').next().unwrap_or_default().to_owned())
            .filter(|target| !target.is_empty() && !target.contains("://"))
            .collect();
        named.extend(
            text.split(|c: char| !(c.is_ascii_alphanumeric() || "_-./".contains(c)))
                .filter(|word| word.ends_with(".md") && !word.contains('/'))
                .map(str::to_owned),
        );
        for target in named {
            if !dir.join(&target).exists() && !root.join(&target).exists() {
                missing.push(format!("{document}: {target}"));
            }
        }
    }
    assert!(missing.is_empty(), "named but not there: {missing:?}");
}

#[test]
fn each_command_shows_only_its_own_flags_and_its_own_defaults() {
    let help = |command: &str| -> String {
        let output = casewatch()
            .args([command, "--help"])
            .output()
            .expect("help prints");
        assert!(output.status.success(), "{command}");
        text(&output.stdout)
    };
    let flag = |help: &str, name: &str| {
        help.lines()
            .any(|line| line.trim_start().starts_with(&format!("--{name} ")))
    };
    let roles = ["serve", "ingest", "project", "api"];
    for command in roles {
        let help = help(command);
        assert!(flag(&help, "listen"), "{command} listens");
        assert!(flag(&help, "partitions"), "{command} may create the log");
        assert!(
            help.contains("`RUST_LOG` directives [default: info]"),
            "{command}"
        );
        assert_eq!(
            flag(&help, "tick-every"),
            matches!(command, "serve" | "ingest"),
            "{command} ticks"
        );
        assert_eq!(
            flag(&help, "kafka-group"),
            matches!(command, "serve" | "project"),
            "{command} folds"
        );
    }
    for command in [
        "verify", "replay", "rebuild", "report", "migrate", "simulate", "bench",
    ]
    .into_iter()
    .filter(|command| cfg!(feature = "bench") || *command != "bench")
    {
        let help = help(command);
        for role_only in ["listen", "tick-every", "otlp-endpoint", "kafka-group"] {
            assert!(!flag(&help, role_only), "{command} shows --{role_only}");
        }
        assert!(
            help.contains("[default: warn]") && !help.contains("[default: info]"),
            "{command} logs at warn: {help}"
        );
        assert_eq!(
            flag(&help, "partitions"),
            command == "migrate",
            "{command}: only what creates a log takes its partitions"
        );
    }
}

/// What each command's `--help` says is pinned: a change in what users read is a reviewed
/// diff of `tests/end_to_end/snapshots/end_to_end__operator__help_*.snap`
/// (`cargo insta review`). The binary pinned is the one `make test` builds, with every
/// feature: `bench` is among the commands.
#[test]
#[cfg_attr(
    not(feature = "bench"),
    ignore = "the help is pinned with every feature (`make test`), `bench` among the commands"
)]
fn the_help_of_every_command_is_a_reviewed_text() {
    for command in [
        "",
        "serve",
        "ingest",
        "project",
        "api",
        "demo",
        "simulate",
        "replay",
        "verify",
        "rebuild",
        "migrate",
        "bench",
        "report",
        "policy",
        "policy show",
        "policy history",
        "policy diff",
        "policy apply",
        "token",
    ] {
        let mut help = casewatch();
        // A variable set in the environment would show in the help as the flag's value.
        for (variable, _) in std::env::vars().filter(|(name, _)| name.starts_with("CASEWATCH_")) {
            help.env_remove(variable);
        }
        let output = help
            .args(command.split_whitespace().chain(["--help"]))
            .output()
            .expect("help prints");
        assert!(output.status.success(), "casewatch {command} --help");
        let name = if command.is_empty() {
            "casewatch".to_owned()
        } else {
            command.replace(' ', "_")
        };
        insta::assert_snapshot!(format!("help_{name}"), text(&output.stdout));
    }
}

/// What the demo prints around its alerts is pinned (`operator__demo.snap`): what it runs,
/// and the figures it ends with. The alerts arrive as the accelerated clock runs and are
/// left out; what differs from run to run is redacted: the port, the token, and the counts
/// of warnings and cards (a step pushed a moment late on a clock where a day passes in half
/// a second may be reported "late", or find its case past a limit, and draw one more).
#[test]
fn the_demo_says_what_it_runs_and_ends_with_its_figures() {
    let temporary = tempfile::tempdir().expect("a temporary directory");
    let output = casewatch()
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--seconds-per-day",
            "0.5",
        ])
        .args(["--counties", "1", "--days", "1", "--cases-per-day", "4"])
        .env("TMPDIR", temporary.path())
        .output()
        .expect("the demo runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let opening = stdout.split("\n\n").next().unwrap_or_default();
    let summary = stdout
        .lines()
        .find(|line| line.contains(" steps pushed. "))
        .unwrap_or_else(|| panic!("the demo's figures: {stdout}"));
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    settings.add_filter(r"Bearer cw_[^`]+`", "Bearer [token]`");
    settings.add_filter(r"warnings \d+, cards \d+", "warnings [n], cards [n]");
    settings.bind(|| {
        insta::assert_snapshot!(
            "demo",
            format!("{opening}\n\n[the alerts, as they arrive]\n\n{summary}\n")
        );
    });
}
