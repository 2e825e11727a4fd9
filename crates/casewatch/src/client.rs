//! What the commands that talk to a server share: connecting, pushing batches of events,
//! and waiting for a node's views to catch up.

use std::time::Duration;

use anyhow::{Context, bail};
use casewatch_proto::pb;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_server::AppState;
use tonic::transport::Channel;

/// A channel to a Casewatch server.
pub(crate) async fn connect(url: &str) -> anyhow::Result<Channel> {
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("`{url}` is not a server address"))?
        .connect()
        .await
        .with_context(|| format!("connect to `{url}`"))
}

/// Appends a batch; returns how many events were appended. Refused events are reported
/// on standard error; a failed call is an error.
pub(crate) async fn push(
    ingest: &mut IngestServiceClient<Channel>,
    events: Vec<pb::CaseEvent>,
) -> anyhow::Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let response = ingest
        .append(pb::AppendRequest {
            events,
            request_id: String::new(),
        })
        .await
        .context("append events")?
        .into_inner();
    let mut appended = 0;
    for result in response.results {
        match result.outcome {
            Some(pb::append_result::Outcome::Appended(_)) => appended += 1,
            Some(pb::append_result::Outcome::Error(error)) => {
                eprintln!(
                    "event `{}` refused: {} {}",
                    result.event_id, error.field, error.message
                );
            }
            None => bail!(
                "the server answered event `{}` with no outcome",
                result.event_id
            ),
        }
    }
    Ok(appended)
}

/// Waits until a node's projector has folded everything on its log.
pub(crate) async fn wait_until_projected(state: &AppState) -> anyhow::Result<()> {
    for partition in 0..state.log.partitions() {
        let high_water = state.log.high_water(partition).await?;
        if high_water > 0
            && !state
                .progress
                .wait_for(partition, high_water - 1, Duration::from_secs(60))
                .await
        {
            bail!("the views did not catch up with partition {partition} within a minute");
        }
    }
    Ok(())
}
