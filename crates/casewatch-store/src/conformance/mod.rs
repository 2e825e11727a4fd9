//! The [`ViewStore`] conformance suite, written once and run against every backend.
//!
//! Each check is a public async function taking a [`Harness`] that hands out fresh, empty
//! stores; [`view_store_conformance!`](crate::view_store_conformance) turns them all into
//! tests for one backend. The checks feed real domain values: a small two-partition log of
//! case steps, supervision actions, clock ticks and one unreadable record, folded through
//! the domain the way the projector does, and cut into batches of any size.
//!
//! The functions panic on failure, as tests do; they are not for production use.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use casewatch_domain::Timestamp;
use casewatch_domain::access::{Principal, Role};
use casewatch_domain::alert::{Alert, AlertState, Cause};
use casewatch_domain::case::{Case, CaseStatus, Disposition, Light, Policy};
use casewatch_domain::catalogue::{Category, Level, RuleId};
use casewatch_domain::event::{
    Actor, Applicant, ApplicantKind, CaseEvent, CaseType, Channel, CompletionResult, Decision,
    Limit, ReviewOutcome, Step,
};
use casewatch_domain::ids::{AlertId, CaseNo, DeptCode, EventId, ItemCode, RegionCode};
use casewatch_domain::log::{GENESIS, chain};
use casewatch_domain::record::{Content, Record as Said};
use casewatch_domain::stats::{Counters, StatKey};
use casewatch_domain::supervision::{ClockTick, SupervisionAction, SupervisionEvent};
use chrono::NaiveDate;

use crate::{
    AlertChangeRow, AlertFilter, CaseFilter, CaseRow, ChainLink, Checkpoint, CommittedAlert, Hash,
    OverdueFilter, Partition, Position, QuarantineRow, RecordKind, RefusalRow, StepHash, StepRow,
    StoreError, ViewBatch, ViewStore,
};

/// Hands out fresh, empty stores of one backend.
#[async_trait::async_trait]
pub trait Harness: Send {
    /// The backend under test.
    type Store: ViewStore;

    /// A new store with nothing in it (its own database file or schema).
    async fn fresh(&mut self) -> Self::Store;

    /// Cleans up after a check that passed (drops the schemas a server keeps, say).
    async fn finish(&mut self) {}
}

/// Generates one `#[tokio::test]` per conformance check, each with its own harness.
///
/// - `view_store_conformance!(harness)`: `harness` is an expression evaluating to a
///   [`Harness`].
/// - `view_store_conformance!(optional opener)`: `opener` is a future of
///   `Option<impl Harness>`, `None` when the backend is not available here (a database
///   server that does not answer); each test then returns at once, having said so.
#[macro_export]
macro_rules! view_store_conformance {
    (optional $opener:expr) => {
        $crate::view_store_conformance!(@checks $opener);
    };
    (@checks $opener:expr) => {
        $crate::view_store_conformance!(@tests $opener;
            empty_store_has_no_checkpoints_and_a_stable_digest,
            applied_batches_read_back,
            stale_batches_are_fenced_and_change_nothing,
            batches_of_partitions_apply_together_or_not_at_all,
            cursors_grow_across_batches_and_resume_exactly,
            alert_changes_follow_filters,
            list_alerts_shows_current_state_newest_first,
            list_cases_filters_and_pages,
            list_cases_filters_open_cases_past_a_limit,
            overdue_cases_are_those_open_and_past_the_promise_at_an_instant,
            alerts_as_of_an_instant_are_as_they_stood_then,
            alert_changes_between_take_from_inclusive_to_exclusive,
            statistics_add_up,
            zero_statistics_do_not_count,
            every_counter_reads_back_and_counts_in_the_digest,
            digest_ignores_batch_splits_and_partition_order,
            digest_changes_with_content,
            held_steps_become_applied,
            step_hashes_page_through_a_partition_in_offset_order,
            chain_links_page_through_a_partition_in_offset_order,
            quarantined_records_are_kept,
            concurrent_partitions_skip_no_alert,
            the_log_identity_is_set_once,
            partition_policy_and_its_history_read_back,
        );
    };
    (@tests $opener:expr; $($check:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(mut harness) = $opener.await else {
                    return;
                };
                $crate::conformance::$check(&mut harness).await;
                $crate::conformance::Harness::finish(&mut harness).await;
            }
        )*
    };
    ($harness:expr) => {
        $crate::view_store_conformance!(@checks async { ::core::option::Option::Some($harness) });
    };
}

mod archive;
mod batches;
mod cases;
mod model;
mod sample;

pub use archive::*;
pub use batches::*;
pub use cases::*;
use model::*;
use sample::*;
pub use sample::{sample_batches, sample_partitions};
