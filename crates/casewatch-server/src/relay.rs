//! The commit relay of an api process: projectors in other processes commit to the views,
//! and this brings their progress and alert changes to the process's own subscribers, so
//! read-your-writes waits and alert feeds work as they do in one process.
//!
//! Commit notices (PostgreSQL NOTIFY) say which partition moved and how far, and the last
//! alert cursor a batch took. Notices only wake the relay: what it pushes is read back
//! from the views by cursor, and cursors follow commit order, so a notice lost while the
//! listener reconnected costs nothing but a resync. Without notices (SQLite views written
//! by another process) the relay resyncs on a timer.

use std::sync::Arc;
use std::time::Duration;

use casewatch_projector::Progress;
use casewatch_store::postgres::CommitFeed;
use casewatch_store::{AlertFilter, CommitEvent, CommittedAlert, ViewStore};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Alert changes read per query while catching up.
const PAGE: u32 = 1000;

/// Relays commits made by other processes until `shutdown`.
pub struct CommitRelay {
    pub store: Arc<dyn ViewStore>,
    pub progress: Arc<Progress>,
    pub alerts: broadcast::Sender<Arc<CommittedAlert>>,
    /// How often to resync without a notice.
    pub resync_every: Duration,
}

impl std::fmt::Debug for CommitRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitRelay")
            .field("resync_every", &self.resync_every)
            .finish_non_exhaustive()
    }
}

impl CommitRelay {
    /// Runs the relay: `feed` wakes it on each commit, when there is one.
    pub async fn run(
        self,
        mut feed: Option<CommitFeed>,
        shutdown: CancellationToken,
    ) -> casewatch_store::Result<()> {
        let mut cursor = self.latest_cursor().await?;
        self.resync(&mut cursor).await?;
        let mut timer = tokio::time::interval(self.resync_every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let notice = async {
                match feed.as_mut() {
                    Some(feed) => feed.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = timer.tick() => self.resync(&mut cursor).await.or_else(unavailable)?,
                event = notice => match event {
                    Ok(CommitEvent::Commit(notice)) => {
                        self.progress.advance(notice.partition, notice.next_offset);
                        if notice.last_cursor.is_some_and(|last| last > cursor) {
                            self.push_after(&mut cursor).await.or_else(unavailable)?;
                        }
                    }
                    Ok(CommitEvent::Resync) => self.resync(&mut cursor).await.or_else(unavailable)?,
                    Err(error) => {
                        warn!(%error, "commit notices interrupted");
                        unavailable(error)?;
                        tokio::select! {
                            () = shutdown.cancelled() => return Ok(()),
                            () = tokio::time::sleep(self.resync_every) => {}
                        }
                    }
                },
            }
        }
    }

    /// The newest alert cursor in the views: a subscriber of this process starts after it
    /// (and catches up on anything older from the views itself).
    async fn latest_cursor(&self) -> casewatch_store::Result<u64> {
        let newest = self
            .store
            .list_alerts(&AlertFilter::default(), None, 1)
            .await?;
        Ok(newest.first().map_or(0, |alert| alert.cursor))
    }

    /// Brings progress and alerts up to the views as they are now.
    async fn resync(&self, cursor: &mut u64) -> casewatch_store::Result<()> {
        for checkpoint in self.store.checkpoints().await? {
            self.progress
                .advance(checkpoint.partition, checkpoint.next_offset);
        }
        self.push_after(cursor).await
    }

    /// Pushes every alert change after `cursor` to this process's subscribers.
    async fn push_after(&self, cursor: &mut u64) -> casewatch_store::Result<()> {
        loop {
            let changes = self
                .store
                .alert_changes_after(*cursor, &AlertFilter::default(), PAGE)
                .await?;
            let Some(last) = changes.last() else {
                return Ok(());
            };
            *cursor = last.cursor;
            debug!(count = changes.len(), cursor, "alert changes relayed");
            let full = changes.len() == PAGE as usize;
            for change in changes {
                // No subscriber is not an error: the views hold every change.
                let _ = self.alerts.send(Arc::new(change));
            }
            if !full {
                return Ok(());
            }
        }
    }
}

/// Keeps a transient store failure from stopping the relay: the next notice or timer
/// retries. Any other failure stops it, and the process.
fn unavailable(error: casewatch_store::StoreError) -> casewatch_store::Result<()> {
    if error.is_transient() {
        warn!(%error, "views unavailable; the relay retries");
        Ok(())
    } else {
        Err(error)
    }
}
