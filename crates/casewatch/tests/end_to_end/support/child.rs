//! `casewatch` as a child process, for the suites that run the binary itself.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `casewatch`, with none of the settings the environment could hand it: what it does is
/// what the test's arguments and files say.
pub(crate) fn casewatch() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_casewatch"));
    for variable in [
        "CASEWATCH_CONFIG",
        "CASEWATCH_DATA",
        "CASEWATCH_LOG",
        "CASEWATCH_LOG_BACKEND",
        "CASEWATCH_OTLP_ENDPOINT",
        "CASEWATCH_SERVER",
        "CASEWATCH_TOKEN",
        "CASEWATCH_TOKEN_FILE",
        "CASEWATCH_VIEWS_BACKEND",
        "CASEWATCH_VIEWS_URL",
        "RUST_BACKTRACE",
        "RUST_LOG",
    ] {
        command.env_remove(variable);
    }
    command
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Sends `signal` to a process.
pub(crate) fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A `casewatch` child process.
pub(crate) struct Role {
    child: Child,
    /// The address it printed on its first line.
    pub(crate) addr: String,
}

impl Role {
    pub(crate) fn spawn(args: &[&str], config: &Path) -> Role {
        let mut child = Command::new(env!("CARGO_BIN_EXE_casewatch"))
            .args(args)
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("CASEWATCH_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("casewatch starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("a piped stdout"))
            .read_line(&mut line)
            .expect("casewatch reports");
        let addr = line
            .split_whitespace()
            .find_map(|word| {
                word.trim_matches(|c| c == '(' || c == ')')
                    .parse::<std::net::SocketAddr>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("casewatch {args:?} did not start: `{line}`"))
            .to_string();
        Role { child, addr }
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, and waits for it to leave: what an orchestrator does on scale-down.
    pub(crate) fn terminate(mut self) {
        signal(self.child.id(), "TERM");
        let status = self.child.wait().expect("casewatch exits");
        assert!(
            status.success(),
            "casewatch exits cleanly on SIGTERM: {status}"
        );
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
