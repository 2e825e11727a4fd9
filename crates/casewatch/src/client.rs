//! What the commands that talk to a server share: connecting (TLS, credentials), pushing
//! batches of events, and waiting for a node's views to catch up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use backon::{ExponentialBuilder, Retryable as _};
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
    /// A file that holds the token [default: `dev-token` in `--data`, the development
    /// token of a `casewatch serve` on this machine, when it exists].
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
    /// How many times a call is tried again when the server cannot be reached or cannot
    /// take it now (over its limits), after pauses growing from 0.1 s to 5 s; each failure
    /// is reported on standard error, and then the command fails.
    #[arg(long, env = "CASEWATCH_RETRIES", default_value_t = Retry::default().times)]
    pub(crate) retries: usize,
    /// The data directory of a node on this machine: its development token is sent when
    /// no token is given (and `report` reads its views when not asking a server)
    /// [default: casewatch-data].
    #[arg(long, env = "CASEWATCH_DATA")]
    pub(crate) data: Option<PathBuf>,
}

/// How often, and after what pauses, a call the server could not take is tried again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// Tries after the first.
    pub(crate) times: usize,
}

impl Default for Retry {
    fn default() -> Self {
        Self { times: 8 }
    }
}

impl Retry {
    fn policy(self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(MAX_BACKOFF)
            .with_max_times(self.times)
    }
}

/// An error with its causes, which is what a person needs of a transport error.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("read {what} `{}`", path.display()))
}

impl ClientArgs {
    /// How calls are retried.
    pub(crate) fn retry(&self) -> Retry {
        Retry {
            times: self.retries,
        }
    }

    /// The token to send: the flag, the file, or the development token in the data
    /// directory. None is needed with a client certificate; otherwise its absence is an
    /// error that says where the development token was looked for.
    fn bearer(&self) -> anyhow::Result<Bearer> {
        let data = self
            .data
            .clone()
            .unwrap_or_else(|| PathBuf::from("casewatch-data"));
        let development = data.join(crate::access::DEV_TOKEN_FILE);
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => Some(String::from_utf8(read(path, "the token file")?)?),
            (None, None) if development.exists() => Some(String::from_utf8(read(
                &development,
                "the development token",
            )?)?),
            (None, None) if self.client_cert.is_some() => None,
            (None, None) => bail!(
                "no token: give --token, CASEWATCH_TOKEN or --token-file (no development token \
                 at `{}`; a `casewatch serve` on this machine with no principals writes one \
                 in its --data)",
                development.display()
            ),
        };
        match token {
            Some(token) => Bearer::new(token.trim()).context("--token"),
            None => Ok(Bearer::none()),
        }
    }

    /// A channel to the server whose calls carry the credentials. A server that cannot be
    /// reached is tried again (`--retries`), each failure reported on standard error.
    pub(crate) async fn connect(&self) -> anyhow::Result<Authorized<Channel>> {
        let bearer = self.bearer()?;
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
        let endpoint = endpoint.connect_timeout(CONNECT_TIMEOUT);
        let channel = (|| endpoint.connect())
            .retry(self.retry().policy())
            .notify(|error, pause| {
                eprintln!(
                    "cannot reach `{url}`: {}; trying again in {:.1} s",
                    with_causes(error),
                    pause.as_secs_f64()
                );
            })
            .await
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot reach `{url}` after {} tries: {}",
                    self.retries + 1,
                    with_causes(&error)
                )
            })?;
        Ok(tonic::service::interceptor::InterceptedService::new(
            channel, bearer,
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

/// The longest a client waits before trying a call again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest a connection attempt waits for the server to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// [`push_with`] with the default retries.
pub(crate) async fn push(
    ingest: &mut IngestServiceClient<Authorized<Channel>>,
    events: Vec<pb::CaseEvent>,
) -> anyhow::Result<u64> {
    push_with(ingest, events, Retry::default()).await
}

/// Appends a batch; returns how many events were appended. A server that is over its
/// limits or cannot be reached (or cannot reach its log) is asked again after a growing
/// pause, as often as `retry` says, each time reported on standard error (re-sending is
/// safe: steps are idempotent). Refused events are reported on standard error; any other
/// failed call is an error.
pub(crate) async fn push_with(
    ingest: &mut IngestServiceClient<Authorized<Channel>>,
    events: Vec<pb::CaseEvent>,
    retry: Retry,
) -> anyhow::Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let request = pb::AppendRequest {
        events,
        request_id: String::new(),
    };
    let response = (|| {
        let mut ingest = ingest.clone();
        let request = request.clone();
        async move { ingest.append(request).await }
    })
    .retry(retry.policy())
    .when(|status| {
        matches!(
            status.code(),
            tonic::Code::ResourceExhausted | tonic::Code::Unavailable
        )
    })
    .notify(|status, pause| {
        eprintln!(
            "the server did not take {} events ({:?}: {}); trying again in {:.1} s",
            request.events.len(),
            status.code(),
            status.message(),
            pause.as_secs_f64()
        );
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
