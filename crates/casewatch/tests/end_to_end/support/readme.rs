//! The README's deployment section as a script the end-to-end suite plays: its `sh` blocks
//! read from README.md at test time, with the addresses the test owns put in place of the
//! README's (the broker's, PostgreSQL's, the databases' names and the roles' ports), then
//! run one command at a time as a shell would, each in `bash -c`; a command the README
//! sends to the background (`… &`) is started and kept, as that shell would keep it.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use super::child::{free_port, signal};

/// The README's heading of the section.
const SECTION: &str = "## Deployment: Kafka, PostgreSQL and separate roles";
/// What the README's blocks say, which the test replaces with its own.
const README_BROKER: &str = "127.0.0.1:9092";
const README_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/";
const README_POSTGRES_FLAGS: &str = "-h 127.0.0.1 -U postgres";
/// How long the test waits for a role to say where it serves.
const PATIENCE: Duration = Duration::from_secs(120);

/// The `sh` blocks of the deployment section, in order.
pub(crate) fn deployment_blocks() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md reads");
    let (_, section) = readme
        .split_once(SECTION)
        .unwrap_or_else(|| panic!("README.md has no section `{SECTION}`"));
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| {
            block
                .split_once("```")
                .map(|(code, _)| code.to_owned())
                .expect("a closed code block")
        })
        .collect()
}

/// One command of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Runs to its end; it must succeed.
    Run(String),
    /// Sent to the background (`command &`): keeps running.
    Background(String),
}

/// The commands of a block: comments and blank lines left out, a here-document and a
/// continued line (`\`) kept with their command.
pub(crate) fn steps(block: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut lines = block.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut command = line.to_owned();
        while command.ends_with('\\') {
            command.push('\n');
            command.push_str(lines.next().expect("a continued line goes on"));
        }
        if let Some((_, word)) = command.split_once("<<") {
            let terminator = word
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_matches(|c| c == '\'' || c == '"')
                .to_owned();
            for next in lines.by_ref() {
                command.push('\n');
                command.push_str(next);
                if next.trim() == terminator {
                    break;
                }
            }
        }
        steps.push(match in_background(&command) {
            Some(foreground) => Step::Background(foreground),
            None => Step::Run(command),
        });
    }
    steps
}

/// `command &` (with a comment after it, or not): the command.
fn in_background(command: &str) -> Option<String> {
    let (before, after) = command.rsplit_once('&')?;
    let after = after.trim();
    let sent = (after.is_empty() || after.starts_with('#'))
        && !before.ends_with('&')
        && !before.ends_with('>');
    sent.then(|| before.trim_end().to_owned())
}

/// Where `text` has `from` followed by something that cannot continue a name (or its end).
fn replace_name(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        let whole = !after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if whole { to } else { from });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// What the test puts in place of the README's addresses.
pub(crate) struct Owned {
    /// The tansu broker's `host:port`.
    pub(crate) broker: String,
    /// The test's PostgreSQL, as `postgres://user@host:port/` and as `createdb` flags.
    pub(crate) postgres_url: String,
    pub(crate) postgres_flags: String,
    /// Appended to every database the README creates, so that the test's are its own.
    pub(crate) database_suffix: String,
}

impl Owned {
    /// The test's PostgreSQL: `CASEWATCH_TEST_POSTGRES_URL`'s server (the machine's own by
    /// default, as in the rest of the suite).
    pub(crate) fn postgres(broker: String) -> Owned {
        let base = std::env::var("CASEWATCH_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let options = sqlx::postgres::PgConnectOptions::from_str(&base)
            .unwrap_or_else(|error| panic!("`{base}` is no PostgreSQL URL: {error}"));
        let (host, port, user) = (
            options.get_host().to_owned(),
            options.get_port(),
            options.get_username().to_owned(),
        );
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        Owned {
            broker,
            postgres_url: format!("postgres://{user}@{host}:{port}/"),
            postgres_flags: format!("-h {host} -p {port} -U {user}"),
            database_suffix: format!("_readme_{}_{nanos}", std::process::id()),
        }
    }
}

/// The blocks with the test's addresses in place of the README's; the databases made and
/// the README's ports with the test's for them. Each thing replaced must be in the blocks,
/// so a README that changes its addresses fails here, by name, rather than later.
pub(crate) fn substitute(blocks: &[String], owned: &Owned) -> Substituted {
    let all = blocks.concat();
    for expected in [README_BROKER, README_POSTGRES_URL, README_POSTGRES_FLAGS] {
        assert!(
            all.contains(expected),
            "the README's deployment section no longer says `{expected}`: teach this test \
             what it says now"
        );
    }
    let databases: Vec<String> = all
        .lines()
        .filter(|line| line.trim_start().starts_with("createdb "))
        .filter_map(|line| line.split_whitespace().last().map(str::to_owned))
        .collect();
    assert!(
        !databases.is_empty(),
        "the README creates the views' database"
    );
    let mut ports = Vec::new();
    for word in all.split_whitespace() {
        if let Some(port) = word.strip_prefix("0.0.0.0:")
            && !ports.iter().any(|(readme, _)| readme == port)
        {
            ports.push((port.to_owned(), free_port().to_string()));
        }
    }
    assert!(!ports.is_empty(), "the README's roles listen somewhere");

    let blocks = blocks
        .iter()
        .map(|block| {
            let mut block = block
                .replace(README_BROKER, &owned.broker)
                .replace(README_POSTGRES_URL, &owned.postgres_url)
                .replace(README_POSTGRES_FLAGS, &owned.postgres_flags);
            for name in &databases {
                let owned_name = format!("{name}{}", owned.database_suffix);
                block = replace_name(
                    &block,
                    &format!("{}{name}", owned.postgres_url),
                    &format!("{}{owned_name}", owned.postgres_url),
                );
                block = block
                    .lines()
                    .map(|line| {
                        if line.trim_start().starts_with("createdb ") {
                            replace_name(line, &format!(" {name}"), &format!(" {owned_name}"))
                        } else {
                            line.to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            for (readme, test) in &ports {
                block = replace_name(&block, &format!(":{readme}"), &format!(":{test}"));
            }
            block
        })
        .collect();
    Substituted {
        blocks,
        databases: databases
            .iter()
            .map(|name| format!("{name}{}", owned.database_suffix))
            .collect(),
    }
}

/// The blocks as the test plays them.
pub(crate) struct Substituted {
    pub(crate) blocks: Vec<String>,
    /// The databases they create.
    pub(crate) databases: Vec<String>,
}

/// A shell's working directory and environment: `casewatch` on the PATH is the binary
/// under test, and no `CASEWATCH_*` variable of the test's own environment leaks in.
pub(crate) struct Shell {
    dir: tempfile::TempDir,
    path: String,
}

impl Shell {
    pub(crate) fn new() -> Shell {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("a bin directory");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_casewatch"), bin.join("casewatch"))
            .expect("casewatch is linked into the PATH");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Shell { dir, path }
    }

    /// The working directory, where the README's files land.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn bash(&self, command: &str) -> Command {
        let mut bash = Command::new("bash");
        bash.arg("-c")
            .arg(command)
            .current_dir(self.dir.path())
            .env("PATH", &self.path);
        for (name, _) in std::env::vars() {
            if name.starts_with("CASEWATCH_") || name == "RUST_LOG" {
                bash.env_remove(name);
            }
        }
        bash
    }

    /// Runs a command to its end; it must succeed.
    pub(crate) fn run(&self, command: &str) {
        eprintln!("$ {command}");
        let output = self.bash(command).output().expect("bash runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        eprintln!("{stdout}{stderr}");
        assert!(
            output.status.success(),
            "`{command}` failed ({}) as the README shows it",
            output.status
        );
    }

    /// Starts a command the README sends to the background, and waits for the role to say
    /// where it serves.
    pub(crate) fn start(&self, command: &str) -> Running {
        eprintln!("$ {command} &");
        let name = command
            .split_whitespace()
            .nth(1)
            .unwrap_or("role")
            .to_owned();
        let log = self.dir.path().join(format!("{name}.log"));
        let mut child = self
            .bash(&format!("exec {command}"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("bash starts");
        let stdout = child.stdout.take().expect("a piped stdout");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Running {
            child,
            name,
            lines,
            said: Vec::new(),
            log,
        };
        let addr = loop {
            let line = running.next_line(PATIENCE);
            if let Some(addr) = line.split_whitespace().find_map(|word| {
                word.trim_matches(|c| c == '(' || c == ')')
                    .parse::<std::net::SocketAddr>()
                    .ok()
            }) {
                break addr;
            }
        };
        running.said.push(format!("serves on {addr}"));
        running
    }
}

/// A role the README started in the background.
pub(crate) struct Running {
    child: Child,
    /// `ingest`, `project` or `api`.
    pub(crate) name: String,
    lines: mpsc::Receiver<String>,
    said: Vec<String>,
    log: PathBuf,
}

impl Running {
    fn next_line(&mut self, patience: Duration) -> String {
        match self.lines.recv_timeout(patience) {
            Ok(line) => {
                eprintln!("[{}] {line}", self.name);
                line
            }
            Err(_) => panic!(
                "casewatch {} said nothing more (it printed {:?}); its log:\n{}",
                self.name,
                self.said,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            ),
        }
    }

    /// Where it serves, on loopback.
    pub(crate) fn loopback(&self) -> String {
        let addr: std::net::SocketAddr = self
            .said
            .first()
            .and_then(|said| said.strip_prefix("serves on "))
            .and_then(|addr| addr.parse().ok())
            .expect("it said where it serves");
        format!("127.0.0.1:{}", addr.port())
    }

    /// SIGTERM, as `kill %N` sends it: it must exit cleanly, its last line saying so.
    pub(crate) fn terminate(mut self) {
        signal(self.child.id(), "TERM");
        let status = self.child.wait().expect("it exits");
        let mut last = None;
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            eprintln!("[{}] {line}", self.name);
            last = Some(line);
        }
        assert!(
            status.success(),
            "casewatch {} exits cleanly on SIGTERM: {status}; its log:\n{}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        assert_eq!(
            last.as_deref(),
            Some(format!("casewatch {} stopped (SIGTERM)", self.name).as_str()),
            "casewatch {} says it stopped",
            self.name
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gRPC health service's `Check`, without its generated client (this crate does not
/// depend on tonic-health): the request and answer are one field each.
pub(crate) mod health {
    use prost::Message as _;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    /// `grpc.health.v1.HealthCheckRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Request {
        #[prost(string, tag = "1")]
        pub(crate) service: String,
    }

    /// `grpc.health.v1.HealthCheckResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Response {
        #[prost(int32, tag = "1")]
        pub(crate) status: i32,
    }

    /// `ServingStatus.SERVING`.
    pub(crate) const SERVING: i32 = 1;

    #[derive(Debug, Default, Clone, Copy)]
    struct Check;

    impl Codec for Check {
        type Encode = Request;
        type Decode = Response;
        type Encoder = Check;
        type Decoder = Check;

        fn encoder(&mut self) -> Check {
            Check
        }

        fn decoder(&mut self) -> Check {
            Check
        }
    }

    impl Encoder for Check {
        type Item = Request;
        type Error = tonic::Status;

        fn encode(&mut self, item: Request, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            item.encode(dst)
                .map_err(|error| tonic::Status::internal(error.to_string()))
        }
    }

    impl Decoder for Check {
        type Item = Response;
        type Error = tonic::Status;

        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Response>, tonic::Status> {
            Response::decode(src)
                .map(Some)
                .map_err(|error| tonic::Status::internal(error.to_string()))
        }
    }

    /// The status `addr` reports for `service` (`""`: the whole server).
    pub(crate) async fn status(addr: &str, service: &str) -> Result<i32, String> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|error| error.to_string())?
            .connect()
            .await
            .map_err(|error| format!("{addr}: {error}"))?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.map_err(|error| error.to_string())?;
        let response = grpc
            .unary(
                tonic::Request::new(Request {
                    service: service.to_owned(),
                }),
                tonic::codegen::http::uri::PathAndQuery::from_static(
                    "/grpc.health.v1.Health/Check",
                ),
                Check,
            )
            .await
            .map_err(|status| status.to_string())?;
        Ok(response.into_inner().status)
    }
}

/// Drops the databases the README created (with their connections, if any are left).
pub(crate) async fn drop_databases(databases: &[String]) {
    use sqlx::Connection as _;
    let base = std::env::var("CASEWATCH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL is not reachable at {base}: {error}"));
    for database in databases {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
        ))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|error| panic!("{database} is dropped: {error}"));
    }
}
