//! `casewatch` as a child process, for the suites that run the binary itself.

#![allow(dead_code)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
