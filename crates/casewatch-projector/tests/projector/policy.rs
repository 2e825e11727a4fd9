//! Policy on the log, folded by the projector: a region's calendar corrected while a case
//! is open moves its due instant; a rule book received for a later instant waits for it;
//! a re-sent change is refused; the views keep the history and the policy in force, a
//! projector restarted at any batch boundary resumes under the policy it saved, and a
//! rebuild from the log gives the live views' digest.

use std::sync::Arc;

use casewatch_domain::catalogue::RuleId;
use casewatch_domain::policy::PolicyPart;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_log::{Destination, EventLog, NewRecord};
use casewatch_proto::convert::{ProtoEnum, timestamp_to_pb};
use casewatch_proto::{encode_record, pb};
use casewatch_store::sqlite::SqliteStore;
use casewatch_store::{PolicyOutcome, ViewStore};
use casewatch_tests::{acceptance, local, submission};
use prost::Message;

use crate::common;
use crate::tampering::{step, tick};

const CASE: &str = "330106-P-POLICY";
/// 西湖区, whose calendar is corrected.
const REGION: &str = "330106";

/// A change of policy on partition 0, applying from `applies_from`, recorded at `at`.
pub(crate) fn policy(
    part: PolicyPart,
    version: u32,
    document: &str,
    applies_from: &str,
    at: &str,
) -> NewRecord {
    let event = pb::PolicyEvent {
        part: part.to_pb(),
        version,
        document: document.to_owned(),
        author: "city-admin".into(),
        reason: "杭州市政务办〔2026〕3号".into(),
        applies_from: Some(timestamp_to_pb(local(applies_from))),
    };
    NewRecord {
        destination: Destination::Partition(0),
        bytes: encode_record(
            pb::RecordKind::PolicyEvent,
            local(at),
            &event.encode_to_vec(),
        ),
        idempotency_key: None,
        headers: Vec::new(),
    }
}

/// Thursday 12 March a local rest day in 西湖区.
const CORRECTION: &str = r#"
region = "330106"
holidays = [{ name = "local festival", from = "2026-03-12", to = "2026-03-12" }]
"#;

/// T1 warns with 3 days left, from Friday 13 March.
const RULE_BOOK: &str = "version = 2\n[defaults]\nt1_days_left = 3\n";

/// The partition, offset by offset: the case accepted Monday 2 March with 10 promised
/// working days (due Monday 16 March 17:30); the calendar corrected on Tuesday 3 March (due
/// Tuesday 17 March 17:30); the rule book received the same day for Friday 13 March; the
/// correction re-sent; ticks up to Tuesday 17 March 10:00, which the old calendar would
/// have found late.
fn records() -> Vec<NewRecord> {
    vec![
        /* 0 */
        step(
            submission(CASE, REGION, local("2026-03-02 09:00")),
            "2026-03-02 09:00",
        ),
        /* 1 */
        step(
            acceptance(CASE, REGION, local("2026-03-02 09:00"), 10),
            "2026-03-02 09:01",
        ),
        /* 2 */ tick("2026-03-03 09:00"),
        /* 3 */
        policy(
            PolicyPart::RegionCalendar,
            2,
            CORRECTION,
            "2026-03-03 10:00",
            "2026-03-03 10:00",
        ),
        /* 4 */
        policy(
            PolicyPart::RuleBook,
            2,
            RULE_BOOK,
            "2026-03-13 00:00",
            "2026-03-03 11:00",
        ),
        /* 5 */
        policy(
            PolicyPart::RegionCalendar,
            2,
            CORRECTION,
            "2026-03-03 10:00",
            "2026-03-03 12:00",
        ),
        /* 6 */ tick("2026-03-13 10:00"),
        /* 7 */ tick("2026-03-16 10:00"),
        /* 8 */ tick("2026-03-17 10:00"),
    ]
}

async fn folded_into(
    log: Arc<EmbeddedLog>,
    views: &std::path::Path,
    batch_size: usize,
) -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::open(views).await.expect("the views open"));
    common::catch_up(log, store.clone(), 1, batch_size).await;
    store
}

#[tokio::test]
async fn a_calendar_corrected_and_a_rule_book_to_come_are_folded_as_the_log_says() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = Arc::new(EmbeddedLog::open(&dir.path().join("log"), 1).expect("the log opens"));
    log.append(records()).await.expect("the records append");
    let live = folded_into(log.clone(), &dir.path().join("live.db"), 100).await;

    let history: Vec<(u64, PolicyOutcome)> = live
        .policy_records(0)
        .await
        .expect("the history reads")
        .into_iter()
        .map(|row| (row.position.offset, row.outcome))
        .collect();
    assert_eq!(
        history,
        [
            (3, PolicyOutcome::Applied),
            (4, PolicyOutcome::Held),
            (
                5,
                PolicyOutcome::Refused(
                    "calendar version 2 does not follow version 2, the one in force".into()
                )
            ),
        ]
    );
    let saved = live
        .partition_policy(0)
        .await
        .expect("the policy reads")
        .expect("the batch changed it");
    assert_eq!(
        (
            saved.sources.calendar_version,
            saved.sources.rule_book.version
        ),
        (2, 2),
        "the rule book applied at the tick of Friday 13 March"
    );
    assert!(saved.pending.is_empty());

    let row = live
        .case(CASE)
        .await
        .expect("the case reads")
        .expect("held");
    assert_eq!(
        row.promised_due,
        Some(local("2026-03-17 17:30")),
        "a day later"
    );
    let rules: Vec<RuleId> = row.case.alerts.iter().map(|alert| alert.rule()).collect();
    // Friday 13 March 10:00: 2 days 6 hours left, which T1 of the new rule book warns
    // (3 days) and the old one would not have (2 days).
    assert_eq!(rules, [RuleId::T1], "not late on Tuesday morning");
    let warned = &row.case.alerts[0];
    assert_eq!(
        (
            warned.raised_at,
            warned.rules_version,
            warned.calendar_version
        ),
        (local("2026-03-13 10:00"), 2, 2),
        "raised under the new rule book, timed by the corrected calendar"
    );

    // A projector restarted at every batch of two records resumes under the policy it
    // saved; a rebuild from the log gives the live digest.
    let stepwise = Arc::new(
        SqliteStore::open(&dir.path().join("stepwise.db"))
            .await
            .expect("the views open"),
    );
    loop {
        let mut restarted = common::projector(log.clone(), stepwise.clone(), 1, 2).await;
        if restarted.step().await.expect("a batch folds") == 0 {
            break;
        }
    }
    let rebuilt = folded_into(log, &dir.path().join("rebuilt.db"), 1000).await;
    let digest = live.digest().await.expect("the digest");
    assert_eq!(stepwise.digest().await.expect("the digest"), digest);
    assert_eq!(rebuilt.digest().await.expect("the digest"), digest);
    assert_eq!(
        stepwise.partition_policy(0).await.expect("reads"),
        Some(saved)
    );
    assert_eq!(
        stepwise.case(CASE).await.expect("reads").expect("held"),
        row
    );
}
