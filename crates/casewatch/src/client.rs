//! What the commands that talk to a server share: connecting (TLS, credentials), pushing
//! batches of events, and waiting for a node's views to catch up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use casewatch_proto::client::{Authorized, Bearer};
use casewatch_proto::pb;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_server::AppState;
use clap::Args;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// The server called when none is named: a `casewatch serve` on this machine.
const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// How to reach a server and who to be there.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// The server to call (`https://…` for TLS) [default: http://127.0.0.1:50051].
    #[arg(long, env = "CASEWATCH_SERVER")]
    pub(crate) server: Option<String>,
    /// The bearer token of the principal to call as.
    #[arg(long, env = "CASEWATCH_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// A file that holds the token [default: `casewatch-data/dev-token`, the development
    /// token of a `casewatch serve` started here, when it exists].
    #[arg(long, env = "CASEWATCH_TOKEN_FILE", conflicts_with = "token")]
    pub(crate) token_file: Option<PathBuf>,
    /// The authority that signed the server's certificate (PEM).
    #[arg(long, env = "CASEWATCH_CA_CERT")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// This client's certificate (PEM), for mutual TLS.
    #[arg(long, env = "CASEWATCH_CLIENT_CERT", requires = "client_key")]
    pub(crate) client_cert: Option<PathBuf>,
    /// This client's private key (PEM), for mutual TLS.
    #[arg(long, env = "CASEWATCH_CLIENT_KEY", requires = "client_cert")]
    pub(crate) client_key: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("read {what} `{}`", path.display()))
}

impl ClientArgs {
    /// The token to send: the flag, the file, or the development token beside us.
    fn bearer(&self) -> anyhow::Result<Bearer> {
        let development = Path::new("casewatch-data").join(crate::access::DEV_TOKEN_FILE);
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => Some(String::from_utf8(read(path, "the token file")?)?),
            (None, None) if development.exists() => Some(String::from_utf8(read(
                &development,
                "the development token",
            )?)?),
            (None, None) => None,
        };
        match token {
            Some(token) => Bearer::new(&token).context("--token"),
            None => Ok(Bearer::none()),
        }
    }

    /// A channel to the server whose calls carry the credentials.
    pub(crate) async fn connect(&self) -> anyhow::Result<Authorized<Channel>> {
        let url = self.server.as_deref().unwrap_or(DEFAULT_SERVER);
        let mut endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("`{url}` is not a server address"))?;
        if url.starts_with("https://") || self.ca_cert.is_some() || self.client_cert.is_some() {
            let mut tls = ClientTlsConfig::new().with_enabled_roots();
            if let Some(ca) = &self.ca_cert {
                tls = tls.ca_certificate(Certificate::from_pem(read(ca, "--ca-cert")?));
            }
            if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
                tls = tls.identity(Identity::from_pem(
                    read(cert, "--client-cert")?,
                    read(key, "--client-key")?,
                ));
            }
            endpoint = endpoint.tls_config(tls).context("the TLS settings")?;
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connect to `{url}`"))?;
        Ok(tonic::service::interceptor::InterceptedService::new(
            channel,
            self.bearer()?,
        ))
    }
}

/// A channel to a server on this machine, calling with `token`.
pub(crate) async fn connect_local(
    addr: std::net::SocketAddr,
    token: &str,
) -> anyhow::Result<Authorized<Channel>> {
    Ok(casewatch_proto::client::connect(&format!("http://{addr}"), token).await?)
}

/// The longest a client waits before re-sending a batch the server could not take.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Appends a batch; returns how many events were appended. A server that is over its
/// limits or cannot reach its log is asked again, after a growing pause (re-sending is
/// safe: steps are idempotent). Refused events are reported on standard error; any other
/// failed call is an error.
pub(crate) async fn push(
    ingest: &mut IngestServiceClient<Authorized<Channel>>,
    events: Vec<pb::CaseEvent>,
) -> anyhow::Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let request = pb::AppendRequest {
        events,
        request_id: String::new(),
    };
    let mut pause = Duration::from_millis(50);
    let response = loop {
        match ingest.append(request.clone()).await {
            Ok(response) => break response.into_inner(),
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                ) =>
            {
                tracing::debug!(message = status.message(), ?pause, "append deferred");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
            }
            Err(status) => return Err(status).context("append events"),
        }
    };
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
