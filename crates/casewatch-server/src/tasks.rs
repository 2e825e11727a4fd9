//! The long-running parts of a process (projector, ticker, gRPC server, commit relay),
//! started together and stopped together: when one fails, the others are told to stop,
//! and the process ends with that failure.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::error;

/// The first part of a process that failed, which stopped the others.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed")]
pub struct TaskFailed {
    /// Which part: `the projector`, `the gRPC server`, ….
    pub what: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Tasks sharing one shutdown token.
#[derive(Debug)]
pub struct Tasks {
    shutdown: CancellationToken,
    tracker: TaskTracker,
    failure: Arc<Mutex<Option<TaskFailed>>>,
}

impl Tasks {
    /// No tasks yet; `shutdown` stops them all.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            shutdown,
            tracker: TaskTracker::new(),
            failure: Arc::default(),
        }
    }

    /// The token that stops every task.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs a task whose failure stops the process: the error is logged under `what`,
    /// kept for [`Tasks::stopped`] if it is the first, and the shutdown token cancelled.
    pub fn spawn<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
        &mut self,
        what: &'static str,
        task: impl Future<Output = Result<(), E>> + Send + 'static,
    ) {
        let stop = self.shutdown.clone();
        let failure = self.failure.clone();
        self.tracker.spawn(async move {
            if let Err(error) = task.await {
                let source = error.into();
                error!(error = %source, "{what} stopped");
                failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get_or_insert(TaskFailed { what, source });
                stop.cancel();
            }
        });
    }

    /// Resolves once the shutdown token is cancelled (by the caller or a failed task) and
    /// every task has finished: `Ok` when they were asked to stop, else the first failure.
    pub async fn stopped(self) -> Result<(), TaskFailed> {
        self.shutdown.cancelled().await;
        self.tracker.close();
        self.tracker.wait().await;
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_failure_stops_every_task_and_is_what_they_stopped_with() {
        let mut tasks = Tasks::new(CancellationToken::new());
        let waiting = tasks.shutdown_token();
        tasks.spawn("the waiter", async move {
            waiting.cancelled().await;
            Ok::<(), std::io::Error>(())
        });
        tasks.spawn("the projector", async {
            Err(std::io::Error::other("the views refused a batch"))
        });
        let failed = tasks.stopped().await.expect_err("a part failed");
        assert_eq!(failed.to_string(), "the projector failed");
        let cause = std::error::Error::source(&failed).expect("its cause");
        assert_eq!(cause.to_string(), "the views refused a batch");
    }

    #[tokio::test]
    async fn tasks_asked_to_stop_stop_without_a_failure() {
        let mut tasks = Tasks::new(CancellationToken::new());
        let waiting = tasks.shutdown_token();
        tasks.spawn("the waiter", async move {
            waiting.cancelled().await;
            Ok::<(), std::io::Error>(())
        });
        tasks.shutdown_token().cancel();
        tasks.stopped().await.expect("stopped as asked");
    }
}
