//! The long-running parts of a process (projector, ticker, gRPC server, commit relay),
//! started together and stopped together: when one fails, the others are told to stop.

use std::fmt::Display;
use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::error;

/// Tasks sharing one shutdown token.
#[derive(Debug)]
pub struct Tasks {
    shutdown: CancellationToken,
    handles: Vec<JoinHandle<()>>,
}

impl Tasks {
    /// No tasks yet; `shutdown` stops them all.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            shutdown,
            handles: Vec::new(),
        }
    }

    /// The token that stops every task.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs a task whose failure stops the process: the error is logged under `what` and
    /// the shutdown token cancelled.
    pub fn spawn<E: Display>(
        &mut self,
        what: &'static str,
        task: impl Future<Output = Result<(), E>> + Send + 'static,
    ) {
        let stop = self.shutdown.clone();
        self.handles.push(tokio::spawn(async move {
            if let Err(error) = task.await {
                error!(%error, "{what} stopped");
                stop.cancel();
            }
        }));
    }

    /// Resolves once the shutdown token is cancelled (by the caller or a failed task) and
    /// every task has finished.
    pub async fn stopped(self) {
        self.shutdown.cancelled().await;
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}
