//! The embedded log when its storage fails: its size limit reached, its file system full,
//! its file system gone read-only under it. Each time the failing group is refused whole
//! (`Unavailable`, nothing of it stored, no offset or idempotency key taken), the writer
//! lives on, and once the storage can take records again appends succeed at the next
//! offsets: nothing acknowledged is lost, changed or doubled, before or after a reopen.
//!
//! The file-system tests mount small file systems of their own, which needs root. Without
//! it they print `skipped: …` and pass, unless `CASEWATCH_REQUIRE_TMPFS=1` (CI) makes that
//! a failure.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use casewatch_log::embedded::{DATABASE_FILE, EmbeddedLog, EmbeddedOptions};
use casewatch_log::{Appended, Destination, EventLog, LogError, NewRecord, Position};
use casewatch_testkit::{Need, skip, this_test};
use tempfile::TempDir;

const PARTITIONS: u32 = 2;
/// Records per append: each refused group has several, over both partitions.
const PER_APPEND: usize = 4;

#[tokio::test]
async fn a_log_at_its_size_limit_refuses_whole_appends_until_the_limit_is_raised() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let limit = 256 * 1024;
    let log = open_limited(dir.path(), limit);
    let mut ledger = Ledger::default();

    let (refused, reason) = ledger.fill(&log).await;
    assert!(
        reason.contains("the log reached its size limit of `262144` bytes"),
        "{reason}"
    );
    ledger.assert_holds_exactly(&log).await;
    let again = log.append(refused.clone()).await;
    assert!(
        matches!(again, Err(LogError::Unavailable(_))),
        "the writer lives on and still refuses: {again:?}"
    );
    assert!(log.stats().failed_transactions >= 2);
    let stored_bytes = {
        let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).expect("open");
        let pages: u64 = conn
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .expect("page count");
        let page_size: u64 = conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .expect("page size");
        pages * page_size
    };
    assert!(
        stored_bytes <= limit,
        "the log grew to {stored_bytes} bytes"
    );
    drop(log);

    // The operator raises the limit; the county re-sends what was refused.
    let log = open_limited(dir.path(), 2 * limit);
    ledger.assert_holds_exactly(&log).await;
    ledger
        .append(&log, refused)
        .await
        .expect("a raised limit takes the refused records");
    let more = ledger.make(PER_APPEND);
    ledger.append(&log, more).await.expect("and more");
    ledger.assert_holds_exactly(&log).await;
    ledger.assert_keys_held(&log).await;
}

#[tokio::test]
async fn a_full_file_system_refuses_whole_appends_and_the_log_recovers_when_space_is_freed() {
    let Some(disk) = Mount::tmpfs("4m") else {
        return;
    };
    let dir = disk.path().join("log");
    let log = EmbeddedLog::open(&dir, PARTITIONS).expect("the log opens");
    // Most of the file system goes to a file beside the log, so the log fills it soon.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0xa5; 3 << 20]).expect("the filler fits");
    let mut ledger = Ledger::default();

    let (refused, reason) = ledger.fill(&log).await;
    assert!(reason.contains("the log's disk is full"), "{reason}");
    ledger.assert_holds_exactly(&log).await;
    let again = log.append(refused.clone()).await;
    assert!(
        matches!(again, Err(LogError::Unavailable(_))),
        "the writer lives on and still refuses: {again:?}"
    );

    std::fs::remove_file(&filler).expect("remove the filler");
    ledger
        .append(&log, refused)
        .await
        .expect("with space again, the refused records go in");
    for _ in 0..10 {
        let more = ledger.make(PER_APPEND);
        ledger.append(&log, more).await.expect("and more");
    }
    ledger.assert_holds_exactly(&log).await;
    drop(log);

    let log = EmbeddedLog::open(&dir, PARTITIONS).expect("the log reopens");
    ledger.assert_holds_exactly(&log).await;
    ledger.assert_keys_held(&log).await;
}

/// A file system cannot be remounted read-only while files on it are open for writing (the
/// kernel answers `EBUSY`), so an operator cannot do this to an open log; the kernel can:
/// ext4 mounted `errors=remount-ro` turns read-only at its first error, open files or not.
/// The test triggers such an error through ext4's own fault switch in sysfs.
#[tokio::test]
async fn a_file_system_gone_read_only_under_the_log_loses_nothing_acknowledged() {
    let Some(disk) = Mount::ext4_image(16 << 20) else {
        return;
    };
    let dir = disk.path().join("log");
    let log = EmbeddedLog::open(&dir, PARTITIONS).expect("the log opens");
    let mut ledger = Ledger::default();
    for _ in 0..20 {
        let records = ledger.make(PER_APPEND);
        ledger
            .append(&log, records)
            .await
            .expect("a healthy append");
    }

    disk.fail();
    let refused = ledger.make(PER_APPEND);
    for _ in 0..2 {
        match log.append(refused.clone()).await {
            Err(LogError::Unavailable(reason)) => assert!(
                reason.contains("read-only") || reason.contains("i/o error"),
                "{reason}"
            ),
            other => panic!("expected the log to be unavailable, got {other:?}"),
        }
    }
    ledger.assert_holds_exactly(&log).await;
    drop(log);

    // SQLite would open the file read-only; a log that can never append is refused.
    match EmbeddedLog::open(&dir, PARTITIONS) {
        Err(LogError::Unavailable(reason)) => assert!(reason.contains("read-only"), "{reason}"),
        Ok(_) => panic!("a log on a read-only file system opened for writing"),
        Err(other) => panic!("expected the log to be unavailable, got {other}"),
    }

    disk.remount();
    let log = EmbeddedLog::open(&dir, PARTITIONS).expect("the log reopens");
    ledger.assert_holds_exactly(&log).await;
    ledger
        .append(&log, refused)
        .await
        .expect("the refused records go in");
    ledger.assert_holds_exactly(&log).await;
    ledger.assert_keys_held(&log).await;
}

fn open_limited(dir: &Path, max_bytes: u64) -> EmbeddedLog {
    let options = EmbeddedOptions {
        max_bytes: Some(max_bytes),
        ..EmbeddedOptions::default()
    };
    EmbeddedLog::open_with(dir, PARTITIONS, options).expect("the log opens")
}

/// Record `index`: about a KiB, keyed by one of a few cases, with an idempotency key.
fn record(index: u64) -> NewRecord {
    NewRecord {
        destination: Destination::Key(format!("330106-2026-{:06}", index % 5)),
        bytes: format!("record {index};").repeat(80).into_bytes(),
        idempotency_key: Some(format!("event-{index}")),
        headers: Vec::new(),
    }
}

/// What the log acknowledged, to compare it with what it holds.
#[derive(Default)]
struct Ledger {
    /// The bytes of every acknowledged record, by position.
    stored: BTreeMap<Position, Vec<u8>>,
    /// Where the record of each acknowledged idempotency key lies.
    keys: HashMap<String, Position>,
    /// Records made so far.
    made: u64,
}

impl Ledger {
    /// The next `count` records.
    fn make(&mut self, count: usize) -> Vec<NewRecord> {
        let records = (self.made..).take(count).map(record).collect();
        self.made += count as u64;
        records
    }

    /// Appends, and on success checks and notes the answer: a new record takes the next
    /// offset of its partition, a re-send names its original's position.
    async fn append(&mut self, log: &EmbeddedLog, records: Vec<NewRecord>) -> Result<(), LogError> {
        let appended = log.append(records.clone()).await?;
        assert_eq!(appended.len(), records.len());
        for (
            record,
            Appended {
                position,
                duplicate,
            },
        ) in records.into_iter().zip(appended)
        {
            let key = record.idempotency_key.expect("every record has a key");
            if duplicate {
                assert_eq!(self.keys.get(&key), Some(&position), "re-send of `{key}`");
                continue;
            }
            assert!(!self.keys.contains_key(&key), "`{key}` stored twice");
            let next = self
                .stored
                .keys()
                .filter(|stored| stored.partition == position.partition)
                .count() as u64;
            assert_eq!(position.offset, next, "`{key}` skipped or reused an offset");
            self.keys.insert(key, position);
            self.stored.insert(position, record.bytes);
        }
        Ok(())
    }

    /// Appends until the log refuses; returns the refused records and the reason.
    async fn fill(&mut self, log: &EmbeddedLog) -> (Vec<NewRecord>, String) {
        for _ in 0..100_000 {
            let records = self.make(PER_APPEND);
            match self.append(log, records.clone()).await {
                Ok(()) => {}
                Err(LogError::Unavailable(reason)) => return (records, reason),
                Err(other) => panic!("expected the log to be unavailable, got {other}"),
            }
        }
        panic!("the log never filled up");
    }

    /// The log holds exactly the acknowledged records, byte for byte, at dense offsets,
    /// and its high-water marks are right after them.
    async fn assert_holds_exactly(&self, log: &EmbeddedLog) {
        for partition in 0..PARTITIONS {
            let stored: Vec<(u64, Vec<u8>)> = log
                .read(partition, 0, usize::MAX)
                .await
                .expect("a read")
                .into_iter()
                .map(|record| (record.position.offset, record.bytes))
                .collect();
            let acknowledged: Vec<(u64, Vec<u8>)> = self
                .stored
                .iter()
                .filter(|(position, _)| position.partition == partition)
                .map(|(position, bytes)| (position.offset, bytes.clone()))
                .collect();
            assert!(
                stored == acknowledged,
                "partition {partition} holds {} records, {} were acknowledged",
                stored.len(),
                acknowledged.len()
            );
            assert_eq!(
                log.high_water(partition).await.expect("a high water"),
                acknowledged.len() as u64,
                "the high water of partition {partition}"
            );
        }
    }

    /// Re-sending every acknowledged record stores nothing and names where each lies.
    async fn assert_keys_held(&mut self, log: &EmbeddedLog) {
        let stored = self.stored.len();
        let indexes: Vec<u64> = (0..self.made)
            .filter(|index| self.keys.contains_key(&format!("event-{index}")))
            .collect();
        for chunk in indexes.chunks(64) {
            let records = chunk.iter().copied().map(record).collect();
            self.append(log, records).await.expect("re-sends append");
        }
        assert_eq!(self.stored.len(), stored, "a re-send was stored again");
    }
}

/// A file system mounted for one test on a directory of its own; unmounted on drop.
struct Mount {
    /// The mount point (inside `_scratch`).
    path: PathBuf,
    /// The device an ext4 image was first mounted on: `loop0`, …
    device: Option<String>,
    /// What `mount` needs to mount it again: its type and source.
    source: Vec<String>,
    _scratch: TempDir,
}

impl Mount {
    /// A tmpfs of `size` (`4m`), or `None` when this process may not mount one.
    fn tmpfs(size: &str) -> Option<Mount> {
        let scratch = tempfile::tempdir().expect("a temporary directory");
        let path = scratch.path().join("mnt");
        std::fs::create_dir(&path).expect("a mount point");
        let source: Vec<String> = ["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]
            .map(str::to_owned)
            .into();
        if let Err(why) = mount(&source, &path) {
            skip(
                &this_test(),
                Need::Mounts,
                &format!("cannot mount a tmpfs (needs root): {why}"),
            );
            return None;
        }
        Some(Mount {
            path,
            device: None,
            source,
            _scratch: scratch,
        })
    }

    /// An ext4 file system of `bytes` in an image file on a loop device, mounted to turn
    /// read-only at its first error; `None` when this machine cannot.
    fn ext4_image(bytes: u64) -> Option<Mount> {
        let scratch = tempfile::tempdir().expect("a temporary directory");
        let image = scratch.path().join("ext4.img");
        let path = scratch.path().join("mnt");
        std::fs::create_dir(&path).expect("a mount point");
        std::fs::File::create(&image)
            .and_then(|file| file.set_len(bytes))
            .expect("an image file");
        let made = succeeds(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
        let source: Vec<String> = [
            "-t".into(),
            "ext4".into(),
            "-o".into(),
            "loop,errors=remount-ro".into(),
            image.display().to_string(),
        ]
        .into();
        if let Err(why) = made.and_then(|()| mount(&source, &path)) {
            skip(
                &this_test(),
                Need::Mounts,
                &format!(
                    "cannot mount an ext4 image (needs root, mkfs.ext4 and a loop device): {why}"
                ),
            );
            return None;
        }
        let device = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(&path)
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|source| {
                Path::new(source.trim())
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            });
        Some(Mount {
            path,
            device: Some(device.expect("findmnt names the loop device")),
            source,
            _scratch: scratch,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Makes ext4 meet an error: it aborts its journal and turns read-only, with the log's
    /// files open. Their pages are written back first, so that whatever the log writes
    /// next must go to the file system.
    fn fail(&self) {
        let device = self.device.as_ref().expect("an ext4 image");
        succeeds(Command::new("sync").arg("-f").arg(&self.path)).expect("the file system syncs");
        std::fs::write(
            format!("/sys/fs/ext4/{device}/trigger_fs_error"),
            "casewatch fault test",
        )
        .expect("ext4 takes a triggered error");
    }

    /// Unmounts and mounts again, as an operator does after an error (ext4 refuses a plain
    /// remount read-write then); the journal is replayed.
    fn remount(&self) {
        succeeds(Command::new("umount").arg(&self.path)).expect("the file system unmounts");
        mount(&self.source, &self.path).expect("the file system mounts again");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if succeeds(Command::new("umount").arg(&self.path)).is_err() {
            // Still busy (a test failed with files open): detach it all the same.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

fn mount(source: &[String], path: &Path) -> Result<(), String> {
    succeeds(Command::new("mount").args(source).arg(path))
}

/// Runs a command; its error output if it fails.
fn succeeds(command: &mut Command) -> Result<(), String> {
    match command.output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(error) => Err(format!("{command:?} did not run: {error}")),
    }
}
