//! How far the views have folded each partition, for readers who wait to see their own
//! writes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How far the views have folded each partition, for readers who want to see their own
/// writes: `wait_for` resolves once a position is folded.
#[derive(Debug)]
pub struct Progress {
    partitions: Vec<watch::Sender<u64>>,
}

impl Progress {
    /// Progress of `partitions` partitions, none folded yet.
    pub fn new(partitions: u32) -> Arc<Self> {
        Arc::new(Self {
            partitions: (0..partitions).map(|_| watch::channel(0).0).collect(),
        })
    }

    /// Records that `partition` is folded up to `next_offset` (never backwards).
    pub fn advance(&self, partition: u32, next_offset: u64) {
        if let Some(sender) = self.partitions.get(partition as usize) {
            sender.send_if_modified(|current| {
                let moved = next_offset > *current;
                *current = (*current).max(next_offset);
                moved
            });
        }
    }

    /// The offset of the next record to fold on `partition`.
    pub fn next_offset(&self, partition: u32) -> u64 {
        self.partitions
            .get(partition as usize)
            .map_or(0, |sender| *sender.borrow())
    }

    /// Waits until the record at `offset` of `partition` is folded, or `timeout` passes;
    /// returns whether it was.
    pub async fn wait_for(&self, partition: u32, offset: u64, timeout: Duration) -> bool {
        let Some(sender) = self.partitions.get(partition as usize) else {
            return false;
        };
        let mut receiver = sender.subscribe();
        let folded = receiver.wait_for(|next| *next > offset);
        matches!(tokio::time::timeout(timeout, folded).await, Ok(Ok(_)))
    }
}
