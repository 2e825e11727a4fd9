//! A case as it was at past instants (`audit::case_as_of`, behind `GetCaseAsOf`), read
//! from the partition `tampering` folds: at each instant, the case must be the one the
//! domain makes of the partition's records up to that instant, folded straight from the
//! list appended, and must show what the records say by hand. A record that became
//! unreadable after it was folded is left out; one that was unreadable from the first is
//! folded like any other.

use casewatch_domain::Timestamp;
use casewatch_domain::alert::AlertState;
use casewatch_domain::case::{Case, CaseStatus};
use casewatch_domain::policy::PolicyInForce;
use casewatch_domain::record::PartitionFold;
use casewatch_log::embedded::{EmbeddedLog, tamper};
use casewatch_log::{Destination, Position};
use casewatch_projector::audit;
use casewatch_proto::read_record;
use casewatch_store::sqlite::SqliteStore;
use casewatch_tests::local;

use crate::tampering::{self, CASE, Data, OTHER};

/// The partition's records as appended, up to the first recorded after `until` (all of
/// them without it) and without the one at offset `left_out`, folded by the domain's
/// partition fold.
fn fold_the_list(until: Option<Timestamp>, left_out: Option<u64>) -> PartitionFold {
    let mut fold = PartitionFold::default();
    for (offset, record) in (0..).zip(tampering::records()) {
        if Some(offset) == left_out {
            continue;
        }
        let key = match &record.destination {
            Destination::Key(key) => key.as_str(),
            Destination::Partition(_) => "",
        };
        let read = read_record(&record.bytes, key);
        if until.is_some_and(|until| read.clock_after(None).is_some_and(|time| time > until)) {
            break;
        }
        let _ = fold.fold(&read, &record.bytes);
    }
    fold
}

/// `CASE` as the appended records up to `at` make it (the one at `left_out` left out),
/// time then advanced to `at`; `None` if no record of the case was recorded by then.
fn folded_from_the_list(at: Timestamp, left_out: Option<u64>) -> Option<Case> {
    fold_the_list(Some(at), left_out)
        .into_cases_as_of(at)
        .1
        .find(|case| case.case_no.as_str() == CASE)
}

/// `CASE` as `audit::case_as_of` reads it at `at` from the log and views of `data`.
async fn as_of(data: &Data, at: Timestamp) -> Option<Case> {
    let log = EmbeddedLog::open_read_only(&data.log_dir()).expect("the log opens");
    let store = SqliteStore::open(&data.views())
        .await
        .expect("the views open");
    let case = audit::case_as_of(&log, &store, &PolicyInForce::shipped(), CASE, at)
        .await
        .expect("the case reads as of an instant")
        .map(|as_of| as_of.case);
    store.close().await;
    case
}

/// What the records say of `CASE` at an instant: its status, and its late-report warning
/// (C2) with its state; the unreadable record keyed by it raises one alert more.
struct ByHand {
    at: &'static str,
    status: CaseStatus,
    c2: AlertState,
    unreadable_seen: bool,
}

/// The instants looked at, each at or just before a record's time: a record recorded at
/// the very instant asked for is part of the case as of then.
const BY_HAND: &[ByHand] = &[
    // Submitted (recorded Thursday 10:00) three days after the fact: warned at once.
    ByHand {
        at: "2026-03-05 10:00:00",
        status: CaseStatus::Submitted,
        c2: AlertState::Raised,
        unreadable_seen: false,
    },
    ByHand {
        at: "2026-03-05 11:29:59",
        status: CaseStatus::Submitted,
        c2: AlertState::Raised,
        unreadable_seen: false,
    },
    // The acknowledgement, and the unreadable record after it, which tells no time.
    ByHand {
        at: "2026-03-05 11:30:00",
        status: CaseStatus::Submitted,
        c2: AlertState::Acknowledged,
        unreadable_seen: true,
    },
    // Accepted at 12:00, recorded at 12:01.
    ByHand {
        at: "2026-03-05 12:00:59",
        status: CaseStatus::Submitted,
        c2: AlertState::Acknowledged,
        unreadable_seen: true,
    },
    ByHand {
        at: "2026-03-05 12:01:00",
        status: CaseStatus::Accepted,
        c2: AlertState::Acknowledged,
        unreadable_seen: true,
    },
    // After every record of the partition.
    ByHand {
        at: "2026-03-09 10:00:00",
        status: CaseStatus::Accepted,
        c2: AlertState::Acknowledged,
        unreadable_seen: true,
    },
];

fn c2_state(case: &Case) -> Option<AlertState> {
    let c2 = format!("{CASE}/C2/1");
    case.alerts
        .iter()
        .find(|alert| alert.id.to_string() == c2)
        .map(|alert| alert.state)
}

#[tokio::test]
async fn a_case_as_of_past_instants_is_the_fold_of_its_records_up_to_then() {
    let data = tampering::folded().await;
    assert_eq!(
        as_of(&data, local("2026-03-05 09:59:59")).await,
        None,
        "before the case's first record"
    );
    let alerts_before_the_unreadable = 1;
    for expected in BY_HAND {
        let at = local(expected.at);
        let case = as_of(&data, at)
            .await
            .unwrap_or_else(|| panic!("{CASE} as of {}", expected.at));
        assert_eq!(
            (case.status, c2_state(&case), case.alerts.len()),
            (
                expected.status,
                Some(expected.c2),
                alerts_before_the_unreadable + usize::from(expected.unreadable_seen)
            ),
            "{CASE} as of {}, by hand: {:?}",
            expected.at,
            case.alerts
        );
        assert_eq!(
            Some(case),
            folded_from_the_list(at, None),
            "{CASE} as of {}, against its records folded",
            expected.at
        );
    }
}

#[tokio::test]
async fn a_record_that_reads_no_longer_is_left_out_of_the_case_as_of_an_instant() {
    let clean = tampering::folded().await;
    let data = clean.copy();
    let acceptance = 5;
    tamper::overwrite(
        &data.log_dir(),
        Position {
            partition: 0,
            offset: acceptance,
        },
        b"\xff\x00 no longer a record",
    );
    for at in ["2026-03-05 12:01:00", "2026-03-09 10:00:00"] {
        let at = local(at);
        let case = as_of(&data, at).await.expect("the case as of then");
        assert_eq!(
            case.status,
            CaseStatus::Submitted,
            "not accepted as of {at}"
        );
        assert_eq!(
            Some(case),
            folded_from_the_list(at, Some(acceptance)),
            "{CASE} as of {at}, its acceptance left out"
        );
    }
}

/// What `WhatIf` folds: the whole log in memory, the cases kept as the selection says.
#[tokio::test]
async fn the_log_folded_in_memory_is_the_fold_of_every_record_selected() {
    let data = tampering::folded().await;
    let log = EmbeddedLog::open_read_only(&data.log_dir()).expect("the log opens");
    let policy = PolicyInForce::shipped();
    let every: Vec<Case> = fold_the_list(None, None).into_cases().collect();
    assert_eq!(
        every
            .iter()
            .map(|case| case.case_no.as_str())
            .collect::<Vec<_>>(),
        [OTHER, CASE],
        "in case number order"
    );
    let all = audit::fold_all(&log, &policy, |_| true)
        .await
        .expect("the log folds");
    assert_eq!(all, every);
    let other = audit::fold_all(&log, &policy, |case| case.case_no.as_str() == OTHER)
        .await
        .expect("the log folds");
    assert_eq!(other, every[..1]);
}
