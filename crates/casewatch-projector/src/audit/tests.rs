//! The chain checks, against tampered views.

use casewatch_domain::Timestamp;
use casewatch_domain::case::Disposition;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_log::{Destination, NewRecord};
use casewatch_store::sqlite::SqliteStore;
use casewatch_store::{RecordKind, StepRow, ViewBatch};

use super::*;

/// A record of a one-partition log: the case it is keyed under (`None` for a tick) and
/// whether the views archived it under that case.
struct Entry {
    key: Option<&'static str>,
    archived: bool,
}

const TICK: Entry = Entry {
    key: None,
    archived: false,
};

const fn archived(case_no: &'static str) -> Entry {
    Entry {
        key: Some(case_no),
        archived: true,
    }
}

const fn refused(case_no: &'static str) -> Entry {
    Entry {
        key: Some(case_no),
        archived: false,
    }
}

/// Appends `entries` to a fresh log, builds the views the projector would have built
/// over it (an archive row for each archived entry, a chain link for each other one), lets
/// `tamper` change them, and verifies.
async fn verify(entries: &[Entry], tamper: impl FnOnce(&mut ViewBatch)) -> VerifyReport {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = EmbeddedLog::open(dir.path(), 1).expect("the log opens");
    let records = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| NewRecord {
            destination: entry.key.map_or(Destination::Partition(0), |key| {
                Destination::Key(key.to_owned())
            }),
            bytes: format!("record {index}").into_bytes(),
            idempotency_key: None,
            headers: Vec::new(),
        })
        .collect();
    log.append(records).await.expect("the records append");

    let mut running = GENESIS;
    let mut heads: HashMap<&str, Hash> = HashMap::new();
    let mut steps = Vec::new();
    let mut links = Vec::new();
    for (offset, entry) in (0..).zip(entries) {
        let bytes = format!("record {offset}").into_bytes();
        running = chain(&running, &bytes);
        let Some(case_no) = entry.key.filter(|_| entry.archived) else {
            links.push(ChainLink {
                position: position(offset),
                hash: running,
            });
            continue;
        };
        let head = heads.entry(case_no).or_insert(GENESIS);
        let previous_hash = *head;
        *head = chain(head, &bytes);
        steps.push(StepRow {
            case_no: case_no.parse().expect("a case number"),
            position: Position {
                partition: 0,
                offset,
            },
            seq: None,
            kind: RecordKind::Supervision,
            recorded_at: Timestamp::default(),
            disposition: Disposition::Applied,
            hash: *head,
            previous_hash,
        });
    }
    let mut batch = ViewBatch::new(
        0,
        0,
        Checkpoint {
            partition: 0,
            next_offset: entries.len() as u64,
            chain_hash: running,
            clock: None,
        },
    );
    batch.steps = steps;
    batch.links = links;
    tamper(&mut batch);
    let store = SqliteStore::open_in_memory()
        .await
        .expect("an in-memory store");
    store.apply(batch).await.expect("the views apply");
    verify_log(&log, &store, &[])
        .await
        .expect("verification runs")
}

fn position(offset: Offset) -> Position {
    Position {
        partition: 0,
        offset,
    }
}

#[tokio::test]
async fn chains_that_match_the_log_hold() {
    let entries = [
        archived("HZ-1"),
        TICK,
        archived("HZ-2"),
        refused("HZ-9"),
        archived("HZ-1"),
    ];
    let report = verify(&entries, |_| {}).await;
    assert_eq!(
        report,
        VerifyReport {
            records_checked: 5,
            first_mismatch: None,
        }
    );
}

#[tokio::test]
async fn the_first_changed_hash_is_named_with_its_case() {
    let entries = [
        archived("HZ-1"),
        archived("HZ-2"),
        archived("HZ-1"),
        archived("HZ-2"),
    ];
    let report = verify(&entries, |batch| {
        batch.steps[3].hash = [3; 32];
        batch.steps[2].hash = [2; 32];
    })
    .await;
    let mismatch = report.first_mismatch.expect("a mismatch");
    assert_eq!(mismatch.position, position(2));
    assert_eq!(mismatch.case_no, "HZ-1");
    assert_eq!(mismatch.expected, [2; 32]);
    assert_eq!(
        mismatch.reason,
        "the record's bytes differ from those the views hashed"
    );
}

#[tokio::test]
async fn a_record_of_an_archived_case_missing_from_the_archive_is_named() {
    let entries = [archived("HZ-1"), archived("HZ-1"), archived("HZ-1")];
    let report = verify(&entries, |batch| {
        batch.steps.remove(1);
    })
    .await;
    let mismatch = report.first_mismatch.expect("a mismatch");
    assert_eq!(mismatch.position, position(1));
    assert_eq!(
        mismatch.reason,
        "the views have no archive entry for this record"
    );
}

#[tokio::test]
async fn records_of_a_case_before_it_was_known_are_linked_into_the_partition_s_chain() {
    // An action on a case the views did not know yet was refused, and linked; the case's
    // chain starts at its first step.
    let entries = [refused("HZ-5"), refused("HZ-1"), archived("HZ-1")];
    let report = verify(&entries, |_| {}).await;
    assert_eq!(report.first_mismatch, None);
}

#[tokio::test]
async fn without_links_records_ahead_of_a_case_s_archive_count_once_it_is_archived() {
    // Views folded before chain links were kept. The case's first record is not archived
    // under it, its later one is; the case named only by another record's archive row is
    // found by its name.
    let entries = [refused("HZ-5"), refused("HZ-1"), archived("HZ-1")];
    let report = verify(&entries, |batch| batch.links.clear()).await;
    assert_eq!(
        report.first_mismatch.map(|mismatch| mismatch.position),
        Some(position(1))
    );
    let report = verify(&entries, |batch| {
        batch.links.clear();
        batch.steps[0].case_no = "HZ-5".parse().expect("a case number");
    })
    .await;
    let mismatch = report.first_mismatch.expect("a mismatch");
    assert_eq!(
        (mismatch.position, mismatch.case_no.as_str()),
        (position(0), "HZ-5")
    );
}

#[tokio::test]
async fn a_broken_running_chain_is_named_at_the_checkpoint_unless_a_case_broke_first() {
    let entries = [archived("HZ-1"), TICK, archived("HZ-1")];
    let report = verify(&entries, |batch| batch.checkpoint.chain_hash = [9; 32]).await;
    let mismatch = report.first_mismatch.expect("a mismatch");
    assert_eq!(mismatch.position, position(2));
    assert_eq!(mismatch.case_no, "");
    assert_eq!(
        mismatch.reason,
        "the partition's running chain differs from its checkpoint"
    );
    let report = verify(&entries, |batch| {
        batch.checkpoint.chain_hash = [9; 32];
        batch.steps[1].hash = [1; 32];
    })
    .await;
    assert_eq!(report.first_mismatch.expect("a mismatch").case_no, "HZ-1");
}

#[tokio::test]
async fn the_log_and_the_archive_merge_across_pages() {
    // Pages of records and of archive rows end at different offsets.
    let cases = ["HZ-1", "HZ-2", "HZ-3", "HZ-4", "HZ-5", "HZ-6", "HZ-7"];
    let entries: Vec<Entry> = (0..READ_BATCH * 3 + 17)
        .map(|index| match index % 3 {
            0 => TICK,
            _ => archived(cases[index % cases.len()]),
        })
        .collect();
    let report = verify(&entries, |_| {}).await;
    assert_eq!(
        report,
        VerifyReport {
            records_checked: entries.len() as u64,
            first_mismatch: None,
        }
    );
    let tampered = READ_BATCH * 2 + 1;
    let report = verify(&entries, |batch| {
        let step = batch
            .steps
            .iter_mut()
            .find(|step| step.position.offset == tampered as u64)
            .expect("the record is archived");
        step.hash = [7; 32];
    })
    .await;
    assert_eq!(
        report.first_mismatch.map(|mismatch| mismatch.position),
        Some(position(tampered as u64))
    );
}

/// Offsets `from..` of a log of `len` records, two to a page.
fn page_of_two(len: Offset, from: Offset) -> Vec<Offset> {
    (from..len).take(2).collect()
}

#[tokio::test]
async fn reading_ahead_hands_on_every_offset_below_the_end_page_by_page() {
    let (pages, mut taken) = mpsc::channel(1);
    let reading = read_ahead(
        |from| async move { Ok(page_of_two(7, from)) },
        |offset: &Offset| *offset,
        5,
        pages,
    );
    let taking = async {
        let mut all = Vec::new();
        while let Some(page) = taken.recv().await {
            all.push(page);
        }
        all
    };
    let (read, all) = tokio::join!(reading, taking);
    read.expect("the pages are read");
    assert_eq!(all, vec![vec![0, 1], vec![2, 3], vec![4]]);
}

#[tokio::test]
async fn filling_ahead_takes_pages_until_it_holds_the_offset_asked_and_no_more() {
    let (pages, received) = mpsc::channel(3);
    for page in [vec![0, 1], vec![2, 3], vec![4]] {
        pages.send(page).await.expect("room for the page");
    }
    drop(pages);
    let mut ahead = Ahead::new(received, |offset: &Offset| *offset);
    let mut rows = VecDeque::new();
    ahead.fill(&mut rows, 3).await;
    assert_eq!(rows, [0, 1, 2, 3]);
    ahead.fill(&mut rows, 9).await;
    assert_eq!(rows, [0, 1, 2, 3, 4], "the pages ran out");
}
