//! The projector: reads the log's records in batches, folds them through the domain and
//! writes each batch to the views in one transaction, checkpoint included, so every record
//! counts exactly once. It keeps the cases of its partitions in memory, so a batch never
//! re-reads rows it just wrote.
//!
//! Time comes only from the log: clock ticks and the records' `recorded_at`. Replaying the
//! log therefore gives the same alerts at the same moments as the live run. The projector
//! holds no business rules of its own; it only moves records to the domain and results to
//! the store.
//!
//! A record it cannot read — undecodable, invalid, or not keyed by the case it is about —
//! never stops it: the record goes to the quarantine with the reason. When its key names a
//! case the partition knows, the case's archive keeps the record as
//! [`Disposition::Unreadable`] and the domain raises C5 on the case; otherwise the
//! projector logs an error and counts the record in the
//! `casewatch.projector.records_quarantined` metric, for operators to act on.

use std::time::Duration;

use casewatch_log::{EventLog, LogError};
use casewatch_store::{StoreError, ViewStore};

pub mod audit;
mod cache;
mod calendar_years;
mod fold;
mod metrics;
mod progress;
mod projector;
mod retry;

pub use casewatch_domain::log::{GENESIS, chain};
pub use progress::Progress;
pub use projector::{Projector, ProjectorBuilder};

/// Why projecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The policy the views saved for a partition no longer compiles (this build reads
    /// the calendars or rule book differently from the one that saved it).
    #[error("the policy saved for partition {partition} does not compile: {error}")]
    SavedPolicy {
        partition: u32,
        #[source]
        error: casewatch_domain::policy::PolicyError,
    },
    /// The views were folded from another log.
    #[error(
        "the views belong to the {views}, not to this {log}: point the views at this log's \
         own (or at an empty database to fold it there)"
    )]
    OtherLog { views: String, log: String },
    /// Views without a log identity (folded before identities were recorded) claim more
    /// of a partition than the log holds: they are another log's.
    #[error(
        "the views have folded partition {partition} up to offset {folded}, but this {log} \
         holds {held} records there: they are another log's views"
    )]
    AheadOfLog {
        log: String,
        partition: u32,
        folded: u64,
        held: u64,
    },
    /// The log or the views failed for longer than the projector waits.
    #[error(
        "the log or the views failed for {} in a row; the last failure: {last}",
        humantime::format_duration(*after)
    )]
    GaveUp {
        after: Duration,
        #[source]
        last: Box<ProjectError>,
    },
}

/// Pairs the views with the log they are folded from: views that name a log must name this
/// one; views that name none take this log's identity, once their checkpoints are found
/// within it (views folded before identities were recorded).
pub async fn bind_views<L, S>(log: &L, store: &S) -> Result<()>
where
    L: EventLog + ?Sized,
    S: ViewStore + ?Sized,
{
    let identity = log.identity().await?;
    match store.log_identity().await? {
        Some(views) if views == identity => return Ok(()),
        Some(views) => {
            return Err(ProjectError::OtherLog {
                views,
                log: identity,
            });
        }
        None => {}
    }
    for checkpoint in store.checkpoints().await? {
        let held = log.high_water(checkpoint.partition).await?;
        if checkpoint.next_offset > held {
            return Err(ProjectError::AheadOfLog {
                log: identity,
                partition: checkpoint.partition,
                folded: checkpoint.next_offset,
                held,
            });
        }
    }
    store.set_log_identity(&identity).await?;
    Ok(())
}

/// A `Result` with a [`ProjectError`].
pub type Result<T, E = ProjectError> = std::result::Result<T, E>;
