//! What the projector's suites share.

use std::sync::Arc;

use casewatch_domain::case::Policy;
use casewatch_log::EventLog;
use casewatch_projector::{Progress, Projector, ProjectorOptions};
use casewatch_store::ViewStore;

/// A projector of partitions `0..partitions` of `log` into `store` under the default
/// policy, folding at most `batch_size` records of a partition a round, with no alert feed.
pub(crate) async fn projector<L: EventLog, S: ViewStore>(
    log: Arc<L>,
    store: Arc<S>,
    partitions: u32,
    batch_size: usize,
) -> Projector<L, S> {
    let owned: Vec<u32> = (0..partitions).collect();
    Projector::new(
        log,
        store,
        Arc::new(Policy::default()),
        &owned,
        ProjectorOptions {
            batch_size,
            ..ProjectorOptions::default()
        },
        None,
        Progress::new(partitions),
    )
    .await
    .expect("the projector loads its partitions")
}

/// A fresh [`projector`] run until it has folded everything on the log: a restart, or a
/// rebuild into an empty store.
pub(crate) async fn catch_up<L: EventLog, S: ViewStore>(
    log: Arc<L>,
    store: Arc<S>,
    partitions: u32,
    batch_size: usize,
) {
    projector(log, store, partitions, batch_size)
        .await
        .run_until_caught_up()
        .await
        .expect("the projector catches up");
}
