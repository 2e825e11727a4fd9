//! What a Rust client of Casewatch needs beside the generated clients: its credentials on
//! every call.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// Adds `authorization: Bearer <token>` to every call of a client:
/// `MonitorServiceClient::with_interceptor(channel, Bearer::new(token)?)`. A client that
/// authenticates with its certificate (mutual TLS) uses [`Bearer::none`].
#[derive(Debug, Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

/// A channel whose calls carry a [`Bearer`] token.
pub type Authorized<T> = InterceptedService<T, Bearer>;

/// A token that cannot travel in a header.
#[derive(Debug, thiserror::Error)]
#[error("the token is not a printable ascii string")]
pub struct BadToken;

/// Why [`connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Token(#[from] BadToken),
    #[error("cannot connect to `{url}`: {source}")]
    Transport {
        url: String,
        source: tonic::transport::Error,
    },
}

/// A plain-text channel to `url` whose calls carry `token`; for a server on this machine
/// or behind a trusted boundary (use an [`Endpoint`] with TLS otherwise).
pub async fn connect(url: &str, token: &str) -> Result<Authorized<Channel>, ConnectError> {
    let bearer = Bearer::new(token)?;
    let transport = |source| ConnectError::Transport {
        url: url.to_owned(),
        source,
    };
    let channel = Endpoint::from_shared(url.to_owned())
        .map_err(transport)?
        .connect()
        .await
        .map_err(transport)?;
    Ok(InterceptedService::new(channel, bearer))
}

impl Bearer {
    /// The token `token`.
    pub fn new(token: &str) -> Result<Self, BadToken> {
        format!("Bearer {}", token.trim())
            .parse()
            .map(|value| Self(Some(value)))
            .map_err(|_| BadToken)
    }

    /// No token.
    pub fn none() -> Self {
        Self(None)
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}
