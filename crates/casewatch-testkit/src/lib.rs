//! What Casewatch's test suites share across crates.
//!
//! A test that needs something this machine may lack (a PostgreSQL server, root to mount
//! a file system, a command to restart PostgreSQL) calls [`skip`] when it is missing. On a
//! developer's machine the test then passes, says `skipped: …` on stderr and adds a line to
//! the file named by `CASEWATCH_SKIPPED`, which `make test` prints at the end (the test
//! harness hides what a passing test prints). Where the need's variable is `1`, as in CI,
//! the skip is a failure instead.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable naming the file every skip is written to, one line each.
pub const SKIPPED_VARIABLE: &str = "CASEWATCH_SKIPPED";

/// Something a test needs that a machine may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A reachable PostgreSQL server, and a way to restart it.
    Postgres,
    /// Root, to mount a tmpfs or an ext4 image.
    Mounts,
}

impl Need {
    /// The variable that, set to `1`, makes a skip for this need a failure.
    pub fn variable(self) -> &'static str {
        match self {
            Need::Postgres => "CASEWATCH_REQUIRE_POSTGRES",
            Need::Mounts => "CASEWATCH_REQUIRE_TMPFS",
        }
    }

    /// Whether skipping for this need is forbidden here.
    pub fn required(self) -> bool {
        std::env::var(self.variable()).is_ok_and(|value| value == "1")
    }
}

/// The name of the test running on this thread (the test harness names each test's
/// thread after it), or `unnamed test`.
pub fn this_test() -> String {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("unnamed test")
        .to_owned()
}

/// Skips `test` for lack of `need` (`why` says what is missing), or panics where `need` is
/// required. The caller returns right after.
pub fn skip(test: &str, need: Need, why: &str) {
    let file = std::env::var_os(SKIPPED_VARIABLE).map(PathBuf::from);
    note_skip(
        test,
        why,
        need.required().then_some(need.variable()),
        file.as_deref(),
    );
}

/// [`skip`] with its settings read: `forbidden_by` names the variable that forbids it.
fn note_skip(test: &str, why: &str, forbidden_by: Option<&str>, file: Option<&Path>) {
    if let Some(variable) = forbidden_by {
        panic!("{test}: {why}, and {variable}=1 forbids skipping it");
    }
    eprintln!("skipped: {why} ({test})");
    if let Some(path) = file {
        let line = format!("{test}: {why}\n");
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(error) = written {
            eprintln!("could not note the skip in {}: {error}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "a test: no server, and CASEWATCH_REQUIRE_POSTGRES=1 forbids")]
    fn a_required_need_makes_the_skip_a_failure() {
        note_skip("a test", "no server", Some(Need::Postgres.variable()), None);
    }

    #[test]
    fn each_skip_adds_its_test_and_reason_to_the_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("skipped.txt");
        note_skip("first", "no server", None, Some(&file));
        note_skip("second", "not root", None, Some(&file));
        let written = std::fs::read_to_string(&file).expect("the file");
        assert_eq!(written, "first: no server\nsecond: not root\n");
    }
}
