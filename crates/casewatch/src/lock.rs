//! One process at a time writes a data directory: the embedded log keeps its offsets in the
//! writer's memory, and a second writer's appends would fail against the first one's
//! records. A process that keeps its log or views there holds an exclusive lock on
//! `<data>/lock` (released by the kernel however the process ends) and writes its pid
//! into it, so a second one is refused at once, naming the first. The tools that only read
//! take no lock.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::Path;

use anyhow::{Context, bail};

use crate::config::{Config, LogBackend, ViewsBackend};

/// The lock file in the data directory.
pub(crate) const LOCK_FILE: &str = "lock";

/// The lock on a data directory, held until dropped.
#[derive(Debug)]
pub(crate) struct DataLock {
    _file: File,
}

impl DataLock {
    /// Locks the data directory of a process that writes its log or views there (the
    /// embedded log, or the SQLite views); `None` when it keeps nothing there.
    pub(crate) fn for_config(config: &Config) -> anyhow::Result<Option<DataLock>> {
        let writes_there = config.log.backend == LogBackend::Embedded
            || config.views.backend == ViewsBackend::Sqlite;
        if !writes_there {
            return Ok(None);
        }
        DataLock::acquire(&config.data).map(Some)
    }

    /// Locks `data`, creating it if needed; refuses at once if another process holds it.
    pub(crate) fn acquire(data: &Path) -> anyhow::Result<DataLock> {
        std::fs::create_dir_all(data)
            .with_context(|| format!("create the data directory `{}`", data.display()))?;
        let path = data.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("open the lock file `{}`", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // The holder writes its pid just after it locks; it may not have yet.
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_owned(),
                    pid => format!("process {pid}"),
                };
                bail!(
                    "the data directory `{}` is in use by {holder} (a casewatch holding `{}`): \
                     stop it, or give this one another --data",
                    data.display(),
                    path.display()
                );
            }
            Err(std::fs::TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("lock `{}`", path.display()));
            }
        }
        write_pid(&mut file, &path)?;
        Ok(DataLock { _file: file })
    }
}

fn write_pid(file: &mut File, path: &Path) -> anyhow::Result<()> {
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .with_context(|| format!("write this process's pid into `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_directory_is_refused_naming_the_holder() {
        let data = tempfile::tempdir().expect("a temporary directory");
        let held = DataLock::acquire(data.path()).expect("the first lock");
        let error = DataLock::acquire(data.path())
            .expect_err("a second lock")
            .to_string();
        assert!(
            error.contains(&format!("in use by process {}", std::process::id())),
            "{error}"
        );
        drop(held);
        DataLock::acquire(data.path()).expect("free again");
    }
}
