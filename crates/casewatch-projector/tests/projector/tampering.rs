//! Tamper evidence for every kind of record: a partition of case steps, a staff action, an
//! unreadable record, clock ticks and a change of policy is folded by the projector; then,
//! one at a time, a record of each kind is rewritten behind the log's back (a byte flipped,
//! the record removed, swapped with the record after it, the partition cut at it) or a
//! hash the views hold for it is changed. Verification of the log, and of the case the record belongs to,
//! must each name the very first record that no longer holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use casewatch_domain::policy::PolicyPart;
use casewatch_log::embedded::{EmbeddedLog, tamper};
use casewatch_log::{Destination, EventLog, NewRecord, Position};
use casewatch_projector::audit::{self, Mismatch, VerifyReport};
use casewatch_proto::pb;
use casewatch_proto::pb::act_on_alert_request::Action;
use casewatch_proto::pb::supervision_event::Acknowledge;
use casewatch_store::sqlite::SqliteStore;
use casewatch_store::{RecordKind, ViewStore};
use casewatch_tests::{Input, Scripted, acceptance, local, record_bytes, submission};

use crate::common;

/// The case most records are about, reported in 西湖区.
pub(crate) const CASE: &str = "330106-T-TAMPER";
/// Another case of the partition.
pub(crate) const OTHER: &str = "330106-T-OTHER";
const REGION: &str = "330106";
/// The views' database file, beside the log's directory.
const VIEWS: &str = "views.db";
const LOG: &str = "log";

/// The kinds of record the partition holds, each at one offset.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `CASE`'s acceptance (its second step).
    Step,
    /// An acknowledgement of `CASE`'s late-report warning.
    Action,
    /// Bytes keyed by `CASE` that do not read.
    Unreadable,
    /// A clock tick between `CASE`'s acceptance and `OTHER`'s submission.
    Tick,
    /// A change of policy after `OTHER`'s acceptance.
    Policy,
}

impl Kind {
    fn offset(self) -> u64 {
        match self {
            Kind::Action => 3,
            Kind::Unreadable => 4,
            Kind::Step => 5,
            Kind::Tick => 6,
            Kind::Policy => 10,
        }
    }
}

/// What is done to a record of some kind, or to a hash the views hold for it.
#[derive(Debug, Clone, Copy)]
enum Tampering {
    /// The last byte of the record flipped on the log.
    FlipByte,
    /// The record removed from the log.
    Remove,
    /// The record swapped with the one after it on the log.
    SwapWithNext,
    /// The partition cut short at the record.
    TruncateAt,
    /// The hash after the record changed in its case's archive (`steps.hash`), or in the
    /// partition's chain links for a record no case holds (`chain_links.hash`).
    StoredHash,
    /// The hash before the record changed in its case's archive (`steps.previous_hash`).
    StoredPreviousHash,
}

const BYTES_DIFFER: &str = "the record's bytes differ from those the views hashed";
const LINK_DIFFERS: &str = "the record's bytes differ from those the partition's chain hashed";
const MISSING: &str = "the record is missing from the log";
const PREVIOUS_DIFFERS: &str =
    "the archive's hash before this record differs from the case's chain";
const KEYED_AS_TICK: &str =
    "the record at this position is keyed ``, not by the case the views archived there";

/// Every kind of record, every tampering, and the offset and reason of the first mismatch
/// `verify_log` must report, worked out from the partition's layout (see [`records`]).
/// The mismatch names `CASE` for its records, no case for a tick; `verify_case(CASE)` must
/// report the same for `CASE`'s records and nothing for a tick (a case's verification
/// covers its own records only).
const TABLE: &[(Kind, Tampering, u64, &str)] = {
    use Kind::*;
    use Tampering::*;
    &[
        (Step, FlipByte, 5, BYTES_DIFFER),
        (Step, Remove, 5, MISSING),
        // The tick now lies where the acceptance was archived.
        (Step, SwapWithNext, 5, KEYED_AS_TICK),
        (Step, TruncateAt, 5, MISSING),
        (Step, StoredHash, 5, BYTES_DIFFER),
        (Step, StoredPreviousHash, 5, PREVIOUS_DIFFERS),
        (Action, FlipByte, 3, BYTES_DIFFER),
        (Action, Remove, 3, MISSING),
        // Both records are the case's: its chain breaks at the first.
        (Action, SwapWithNext, 3, BYTES_DIFFER),
        (Action, TruncateAt, 3, MISSING),
        (Action, StoredHash, 3, BYTES_DIFFER),
        (Action, StoredPreviousHash, 3, PREVIOUS_DIFFERS),
        (Unreadable, FlipByte, 4, BYTES_DIFFER),
        (Unreadable, Remove, 4, MISSING),
        (Unreadable, SwapWithNext, 4, BYTES_DIFFER),
        (Unreadable, TruncateAt, 4, MISSING),
        (Unreadable, StoredHash, 4, BYTES_DIFFER),
        (Unreadable, StoredPreviousHash, 4, PREVIOUS_DIFFERS),
        (Tick, FlipByte, 6, LINK_DIFFERS),
        (Tick, Remove, 6, MISSING),
        // The other case's submission now lies where the tick was linked.
        (Tick, SwapWithNext, 6, LINK_DIFFERS),
        (Tick, TruncateAt, 6, MISSING),
        (Tick, StoredHash, 6, LINK_DIFFERS),
        (Policy, FlipByte, 10, LINK_DIFFERS),
        (Policy, Remove, 10, MISSING),
        // The tick after it now lies where the change was linked.
        (Policy, SwapWithNext, 10, LINK_DIFFERS),
        (Policy, TruncateAt, 10, MISSING),
        (Policy, StoredHash, 10, LINK_DIFFERS),
    ]
};

fn position(offset: u64) -> Position {
    Position {
        partition: 0,
        offset,
    }
}

fn keyed(case_no: &str, bytes: Vec<u8>) -> NewRecord {
    NewRecord {
        destination: Destination::Key(case_no.to_owned()),
        bytes,
        idempotency_key: None,
        headers: Vec::new(),
    }
}

pub(crate) fn tick(at: &str) -> NewRecord {
    NewRecord {
        destination: Destination::Partition(0),
        bytes: record_bytes(&Input::Tick(local(at))),
        idempotency_key: None,
        headers: Vec::new(),
    }
}

pub(crate) fn step(event: pb::CaseEvent, recorded_at: &str) -> NewRecord {
    let case_no = event.case_no.clone();
    let input = Input::Step {
        event: Box::new(event),
        recorded_at: local(recorded_at),
    };
    keyed(&case_no, record_bytes(&input))
}

/// The partition, offset by offset: `CASE` submitted on Monday and reported on Thursday,
/// which raises its late-report warning (C2); the warning acknowledged; an unreadable
/// record keyed by `CASE`; `CASE` accepted; `OTHER` submitted and accepted; a change of
/// policy; ticks between.
pub(crate) fn records() -> Vec<NewRecord> {
    let acknowledgement = Scripted::Act {
        at: local("2026-03-05 11:30"),
        request: pb::ActOnAlertRequest {
            event_id: "ack-c2".into(),
            alert_id: format!("{CASE}/C2/1"),
            action: Some(Action::Acknowledge(Acknowledge {
                note: "收到".into(),
            })),
            await_projection: false,
        },
    };
    vec![
        /* 0 */ tick("2026-03-05 09:00"),
        /* 1 */
        step(
            submission(CASE, REGION, local("2026-03-02 09:00")),
            "2026-03-05 10:00",
        ),
        /* 2 */ tick("2026-03-05 11:00"),
        /* 3 */ keyed(CASE, acknowledgement.record_bytes()),
        /* 4 */ keyed(CASE, b"\xff\x00 not a record".to_vec()),
        /* 5 */
        step(
            acceptance(CASE, REGION, local("2026-03-05 12:00"), 5),
            "2026-03-05 12:01",
        ),
        /* 6 */ tick("2026-03-05 14:00"),
        /* 7 */
        step(
            submission(OTHER, REGION, local("2026-03-05 14:30")),
            "2026-03-05 14:31",
        ),
        /* 8 */ tick("2026-03-05 15:00"),
        /* 9 */
        step(
            acceptance(OTHER, REGION, local("2026-03-05 15:30"), 5),
            "2026-03-05 15:31",
        ),
        /* 10 */
        crate::policy::policy(
            PolicyPart::RegionCalendar,
            2,
            "region = \"330100\"\n\
             holidays = [{ name = \"local\", from = \"2026-03-20\", to = \"2026-03-20\" }]\n",
            "2026-03-05 15:45",
            "2026-03-05 15:45",
        ),
        /* 11 */ tick("2026-03-05 16:00"),
    ]
}

/// A data directory: the log in `log/`, the views in `views.db`.
pub(crate) struct Data {
    dir: tempfile::TempDir,
}

impl Data {
    pub(crate) fn log_dir(&self) -> PathBuf {
        self.dir.path().join(LOG)
    }

    pub(crate) fn views(&self) -> PathBuf {
        self.dir.path().join(VIEWS)
    }

    /// A copy of the stopped log and views, to tamper with.
    pub(crate) fn copy(&self) -> Data {
        let copy = Data {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        copy_dir(self.dir.path(), copy.dir.path());
        copy
    }

    /// Verifies the log and `CASE`, on the log and views as they now are.
    async fn verify(&self) -> (VerifyReport, VerifyReport) {
        let log = EmbeddedLog::open_read_only(&self.log_dir()).expect("the log opens");
        let store = SqliteStore::open(&self.views())
            .await
            .expect("the views open");
        let whole = audit::verify_log(&log, &store, &[])
            .await
            .expect("the log verifies");
        let case = audit::verify_case(&log, &store, CASE)
            .await
            .expect("the case verifies");
        store.close().await;
        (whole, case)
    }

    /// Changes `column` of the views' row of `table` at `offset` to a hash of 0x5a bytes.
    fn overwrite_hash(&self, table: &str, column: &str, offset: u64) {
        let views = rusqlite::Connection::open(self.views()).expect("the views' file opens");
        let changed = views
            .execute(
                &format!(
                    "UPDATE {table} SET {column} = ?1 WHERE partition = 0 AND log_offset = ?2"
                ),
                rusqlite::params![[0x5a_u8; 32].to_vec(), offset as i64],
            )
            .expect("the row is rewritten");
        assert_eq!(changed, 1, "{table} at offset {offset}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("the directory reads") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            std::fs::create_dir(&target).expect("a directory");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("the file copies");
        }
    }
}

/// The partition folded by the projector into views on disk, log and views stopped.
pub(crate) async fn folded() -> Data {
    let data = Data {
        dir: tempfile::tempdir().expect("a temporary directory"),
    };
    let log = Arc::new(EmbeddedLog::open(&data.log_dir(), 1).expect("the log opens"));
    log.append(records()).await.expect("the records append");
    let store = Arc::new(
        SqliteStore::open(&data.views())
            .await
            .expect("the views open"),
    );
    common::catch_up(log.clone(), store.clone(), 1, 3).await;

    // The layout the table counts on: the case's records in its archive, the others
    // linked into the partition's chain.
    let archived: Vec<(u64, RecordKind)> = store
        .steps(CASE)
        .await
        .expect("the archive reads")
        .iter()
        .map(|step| (step.position.offset, step.kind))
        .collect();
    assert_eq!(
        archived,
        [
            (
                1,
                RecordKind::Step(casewatch_domain::event::StepKind::Submitted)
            ),
            (Kind::Action.offset(), RecordKind::Supervision),
            (Kind::Unreadable.offset(), RecordKind::Unreadable),
            (
                Kind::Step.offset(),
                RecordKind::Step(casewatch_domain::event::StepKind::Accepted)
            ),
        ]
    );
    let linked: Vec<u64> = store
        .chain_links(0, 0, 100)
        .await
        .expect("the links read")
        .iter()
        .map(|link| link.position.offset)
        .collect();
    assert_eq!(
        linked,
        [0, 2, Kind::Tick.offset(), 8, Kind::Policy.offset(), 11]
    );
    let acknowledged = store
        .case(CASE)
        .await
        .expect("the case reads")
        .expect("the case is held");
    assert!(
        acknowledged
            .case
            .alerts
            .iter()
            .any(|alert| alert.id.to_string() == format!("{CASE}/C2/1")
                && alert.state == casewatch_domain::alert::AlertState::Acknowledged),
        "the action applied: {:?}",
        acknowledged.case.alerts
    );
    log.close().await.expect("the log closes");
    store.close().await;
    drop((log, store));
    data
}

fn named(report: &VerifyReport) -> Option<(u64, &str, &str)> {
    report.first_mismatch.as_ref().map(|mismatch: &Mismatch| {
        assert_eq!(mismatch.position.partition, 0);
        (
            mismatch.position.offset,
            mismatch.case_no.as_str(),
            mismatch.reason.as_str(),
        )
    })
}

#[tokio::test]
async fn every_kind_of_record_tampered_with_is_named_by_verification() {
    let clean = folded().await;
    let (whole, case) = clean.verify().await;
    assert_eq!(named(&whole), None);
    assert_eq!(whole.records_checked, 12);
    assert_eq!(named(&case), None);
    assert_eq!(case.records_checked, 4);

    let mut failures = Vec::new();
    for &(kind, tampering, offset, reason) in TABLE {
        let (log_names, case_names) = match kind {
            Kind::Tick | Kind::Policy => (Some((offset, "", reason)), None),
            _ => (Some((offset, CASE, reason)), Some((offset, CASE, reason))),
        };
        let data = clean.copy();
        let at = position(kind.offset());
        match (tampering, kind) {
            (Tampering::FlipByte, _) => tamper::flip_byte(&data.log_dir(), at),
            (Tampering::Remove, _) => tamper::remove(&data.log_dir(), at),
            (Tampering::SwapWithNext, _) => {
                tamper::swap(&data.log_dir(), at, position(kind.offset() + 1));
            }
            (Tampering::TruncateAt, _) => tamper::truncate(&data.log_dir(), at),
            (Tampering::StoredHash, Kind::Tick | Kind::Policy) => {
                data.overwrite_hash("chain_links", "hash", kind.offset());
            }
            (Tampering::StoredHash, _) => data.overwrite_hash("steps", "hash", kind.offset()),
            (Tampering::StoredPreviousHash, _) => {
                data.overwrite_hash("steps", "previous_hash", kind.offset());
            }
        }
        let (whole, case) = data.verify().await;
        if named(&whole) != log_names || named(&case) != case_names {
            failures.push(format!(
                "{kind:?} × {tampering:?}: verify_log named {:?} (expected {log_names:?}), \
                 verify_case named {:?} (expected {case_names:?})",
                named(&whole),
                named(&case)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A log grown since the views' checkpoint (its projector behind, or stopped) verifies
/// clean: a record not folded yet is no mismatch, and the log does not end before the
/// checkpoint.
#[tokio::test]
async fn records_past_the_checkpoint_are_no_mismatch() {
    let data = folded().await;
    {
        let log = EmbeddedLog::open(&data.log_dir(), 1).expect("the log opens");
        log.append(vec![tick("2026-03-05 17:00")])
            .await
            .expect("a tick appends");
        log.close().await.expect("the log closes");
    }
    let (whole, case) = data.verify().await;
    assert_eq!((named(&whole), whole.records_checked), (None, 12));
    assert_eq!((named(&case), case.records_checked), (None, 4));
}

#[tokio::test]
async fn a_changed_chain_head_or_checkpoint_is_named() {
    let clean = folded().await;

    // The case row's head: the case's verification compares it with its archive, at the
    // case's last record. The log's verification reads no case rows: a live projector
    // moves them past the checkpoint it verifies up to.
    let data = clean.copy();
    {
        let views = rusqlite::Connection::open(data.views()).expect("the views' file opens");
        let changed = views
            .execute(
                "UPDATE cases SET chain_head = ?1 WHERE case_no = ?2",
                rusqlite::params![[0x5a_u8; 32].to_vec(), CASE],
            )
            .expect("the head is rewritten");
        assert_eq!(changed, 1);
    }
    let (whole, case) = data.verify().await;
    assert_eq!(named(&whole), None);
    assert_eq!(
        named(&case),
        Some((
            Kind::Step.offset(),
            CASE,
            "the case's chain head differs from its archive"
        ))
    );

    // The checkpoint's running hash: named at the last record it covers.
    let data = clean.copy();
    {
        let views = rusqlite::Connection::open(data.views()).expect("the views' file opens");
        let changed = views
            .execute(
                "UPDATE checkpoints SET chain_hash = ?1 WHERE partition = 0",
                rusqlite::params![[0x5a_u8; 32].to_vec()],
            )
            .expect("the checkpoint is rewritten");
        assert_eq!(changed, 1);
    }
    let (whole, case) = data.verify().await;
    assert_eq!(
        named(&whole),
        Some((
            11,
            "",
            "the partition's running chain differs from its checkpoint"
        ))
    );
    assert_eq!(named(&case), None);
}
