//! What the projector's suites share.

use std::sync::Arc;

use casewatch_log::EventLog;
use casewatch_projector::Projector;
use casewatch_store::ViewStore;

/// A projector of partitions `0..partitions` of `log` into `store` under the default
/// policy, folding at most `batch_size` records of a partition a round, with no alert feed.
pub(crate) async fn projector<L: EventLog, S: ViewStore>(
    log: Arc<L>,
    store: Arc<S>,
    partitions: u32,
    batch_size: usize,
) -> Projector<L, S> {
    Projector::builder(log, store)
        .partitions(0..partitions)
        .batch_size(batch_size)
        .open()
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
