//! Who is calling. Every RPC but health and reflection carries a credential — a bearer
//! token (configured only as its SHA-256 digest) or a client certificate presented over
//! mutual TLS — that names a configured principal; the principal's [`Grant`] then answers
//! what it may do (`casewatch_domain::access`), and its limits how much.
//!
//! Tokens are long random strings made by [`generate_token`], not passwords, so one round
//! of SHA-256 protects them at rest: a digest cannot be turned back into a token that is
//! 256 bits of chance.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use casewatch_domain::access::{Denied, Grant, Operation, Principal, RegionScope, Role};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};
use tracing::{debug, warn};

/// The digest under which a token is configured.
pub type TokenDigest = [u8; 32];

/// The metadata key of the bearer token.
const AUTHORIZATION: &str = "authorization";

/// The SHA-256 digest of a token, as `token_sha256` holds it.
pub fn token_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh bearer token: `cw_` and 64 hex digits from the operating system's random source.
pub fn generate_token() -> String {
    use rand::TryRngCore as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source answers");
    format!("cw_{}", hex::encode(bytes))
}

/// A sustained rate with the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

/// How much one principal may ask of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// RPCs of any kind; `None`: unlimited.
    pub requests: Option<Rate>,
    /// Case steps reported; `None`: unlimited.
    pub events: Option<Rate>,
    /// Streaming RPCs open at once (appends, alert feeds, log reads, replays).
    pub streams: u32,
}

impl Limits {
    /// No limit but a generous number of streams: the development principal's.
    pub const UNLIMITED: Limits = Limits {
        requests: None,
        events: None,
        streams: 1024,
    };
}

/// A client certificate's subject, as a set of attributes (`CN=county-330106,O=…`):
/// compared without regard to order, spacing or the case of attribute names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CertSubject(BTreeSet<(String, String)>);

impl CertSubject {
    /// Parses `NAME=value` attributes separated by commas (a value may not hold a comma).
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let mut attributes = BTreeSet::new();
        for part in text.split(',') {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| AuthError::Subject(format!("`{part}` is not `NAME=value`")))?;
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() || value.is_empty() {
                return Err(AuthError::Subject(format!(
                    "`{part}` needs a name and a value"
                )));
            }
            attributes.insert((name.to_ascii_uppercase(), value.to_owned()));
        }
        Ok(Self(attributes))
    }

    /// The subject of a DER certificate, or `None` when it cannot be read.
    pub fn of_certificate(der: &[u8]) -> Option<Self> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
        let registry = x509_parser::objects::oid_registry();
        let mut attributes = BTreeSet::new();
        for attribute in certificate.subject().iter_attributes() {
            let name = x509_parser::objects::oid2abbrev(attribute.attr_type(), registry)
                .map_or_else(|_| attribute.attr_type().to_id_string(), str::to_owned);
            let value = attribute.as_str().ok()?;
            attributes.insert((name.to_ascii_uppercase(), value.to_owned()));
        }
        Some(Self(attributes))
    }
}

impl fmt::Display for CertSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (name, value)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

/// A configured principal: its grant, its credentials (at least one) and its limits.
#[derive(Debug, Clone)]
pub struct PrincipalSpec {
    pub grant: Grant,
    pub token_sha256: Option<TokenDigest>,
    pub cert_subject: Option<CertSubject>,
    pub limits: Limits,
}

impl PrincipalSpec {
    /// A principal of every region without limits, known by `token`: for development
    /// nodes, demos and tests.
    pub fn unlimited(id: &str, role: Role, token: &str) -> Self {
        Self {
            grant: Grant {
                principal: Principal {
                    id: id.to_owned(),
                    name: String::new(),
                    role,
                },
                scope: RegionScope::everywhere(),
                dept: None,
            },
            token_sha256: Some(token_digest(token)),
            cert_subject: None,
            limits: Limits::UNLIMITED,
        }
    }
}

/// Why the configured principals cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("principal `{0}` is configured twice")]
    DuplicateName(String),
    #[error("principal `{0}` has no credential: give it a token_sha256 or a cert_subject")]
    NoCredential(String),
    #[error("principals `{0}` and `{1}` have the same token")]
    SharedToken(String, String),
    #[error("principals `{0}` and `{1}` have the same certificate subject")]
    SharedSubject(String, String),
    #[error("a department principal must name its department: `{0}`")]
    DepartmentWithoutDept(String),
    #[error("cert_subject: {0}")]
    Subject(String),
}

/// An authenticated caller: its grant and what is left of its limits.
pub struct Caller {
    pub grant: Grant,
    requests: Option<DefaultDirectRateLimiter>,
    events: Option<(DefaultDirectRateLimiter, Rate)>,
    streams: Arc<Semaphore>,
    max_streams: u32,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

fn limiter(rate: Rate) -> DefaultDirectRateLimiter {
    RateLimiter::direct(Quota::per_second(rate.per_second).allow_burst(rate.burst))
}

impl Caller {
    fn new(grant: Grant, limits: Limits) -> Self {
        Self {
            grant,
            requests: limits.requests.map(limiter),
            events: limits.events.map(|rate| (limiter(rate), rate)),
            streams: Arc::new(Semaphore::new(limits.streams as usize)),
            max_streams: limits.streams,
        }
    }

    /// The principal as its actions are recorded.
    pub fn principal(&self) -> &Principal {
        &self.grant.principal
    }

    /// Refuses the operation unless the role may perform it.
    pub fn may(&self, operation: Operation) -> Result<(), Status> {
        self.grant
            .may(operation)
            .map_err(|denied| self.denied(denied))
    }

    /// A refusal as the caller sees it, logged with the principal.
    pub fn denied(&self, denied: Denied) -> Status {
        let principal = &self.grant.principal;
        warn!(principal = %principal.id, role = %principal.role, reason = %denied, "permission denied");
        Status::permission_denied(denied.to_string())
    }

    /// Takes `count` case steps from the event rate now, or refuses them all.
    pub fn admit_events_now(&self, count: usize) -> Result<(), Status> {
        let Some((limiter, rate)) = &self.events else {
            return Ok(());
        };
        let Some(count) = NonZeroU32::new(u32::try_from(count).unwrap_or(u32::MAX)) else {
            return Ok(());
        };
        match limiter.check_n(count) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(Status::resource_exhausted(format!(
                    "`{}` is over its rate of {} events/s: retry in {} ms",
                    self.grant.principal.id,
                    rate.per_second,
                    wait.as_millis().max(1)
                )))
            }
            Err(_) => Err(self.over_burst(count, *rate)),
        }
    }

    /// Waits until the event rate has room for `count` case steps: a stream is slowed
    /// down, not refused. Only more than the whole burst at once is refused.
    pub async fn admit_events(&self, count: usize) -> Result<(), Status> {
        let Some((limiter, rate)) = &self.events else {
            return Ok(());
        };
        let Some(count) = NonZeroU32::new(u32::try_from(count).unwrap_or(u32::MAX)) else {
            return Ok(());
        };
        limiter
            .until_n_ready(count)
            .await
            .map_err(|_| self.over_burst(count, *rate))
    }

    fn over_burst(&self, count: NonZeroU32, rate: Rate) -> Status {
        Status::resource_exhausted(format!(
            "`{}` may send at most {} events at once, this request has {count}",
            self.grant.principal.id, rate.burst
        ))
    }

    /// Opens one of the caller's streams; the stream holds the permit while it lasts.
    pub fn open_stream(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.streams.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "`{}` already has {} streams open: close one first",
                self.grant.principal.id, self.max_streams
            ))
        })
    }

    fn admit_request(&self) -> Result<(), Status> {
        match &self.requests {
            Some(limiter) if limiter.check().is_err() => Err(Status::resource_exhausted(format!(
                "`{}` is over its request rate",
                self.grant.principal.id
            ))),
            _ => Ok(()),
        }
    }
}

/// The configured principals, looked up by credential; a tonic interceptor that puts the
/// caller into each request's extensions.
#[derive(Clone, Default)]
pub struct Authenticator {
    by_token: Arc<HashMap<TokenDigest, Arc<Caller>>>,
    by_subject: Arc<HashMap<CertSubject, Arc<Caller>>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("token_principals", &self.by_token.len())
            .field("certificate_principals", &self.by_subject.len())
            .finish()
    }
}

impl Authenticator {
    /// The authenticator of `principals`, refusing duplicate names or credentials.
    pub fn new(principals: Vec<PrincipalSpec>) -> Result<Self, AuthError> {
        let mut names = HashMap::new();
        let mut by_token: HashMap<TokenDigest, Arc<Caller>> = HashMap::new();
        let mut by_subject: HashMap<CertSubject, Arc<Caller>> = HashMap::new();
        for spec in principals {
            let name = spec.grant.principal.id.clone();
            if names.insert(name.clone(), ()).is_some() {
                return Err(AuthError::DuplicateName(name));
            }
            if spec.grant.principal.role == Role::Department && spec.grant.dept.is_none() {
                return Err(AuthError::DepartmentWithoutDept(name));
            }
            if spec.token_sha256.is_none() && spec.cert_subject.is_none() {
                return Err(AuthError::NoCredential(name));
            }
            let caller = Arc::new(Caller::new(spec.grant, spec.limits));
            if let Some(digest) = spec.token_sha256
                && let Some(other) = by_token.insert(digest, caller.clone())
            {
                return Err(AuthError::SharedToken(
                    other.grant.principal.id.clone(),
                    name,
                ));
            }
            if let Some(subject) = spec.cert_subject
                && let Some(other) = by_subject.insert(subject, caller.clone())
            {
                return Err(AuthError::SharedSubject(
                    other.grant.principal.id.clone(),
                    name,
                ));
            }
        }
        Ok(Self {
            by_token: Arc::new(by_token),
            by_subject: Arc::new(by_subject),
        })
    }

    /// A development administrator of every region with a fresh token, for a node on
    /// loopback that has no principals configured: the token is returned to be shown.
    pub fn development() -> (Self, String) {
        let token = generate_token();
        let spec = PrincipalSpec::unlimited("dev-admin", Role::Admin, &token);
        let authenticator = Self::new(vec![spec]).expect("one principal with a token is valid");
        (authenticator, token)
    }

    /// Whether no principal is configured (every call would be refused).
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty() && self.by_subject.is_empty()
    }

    /// The caller a request's credentials name.
    fn authenticate<T>(&self, request: &Request<T>) -> Result<Arc<Caller>, Status> {
        if let Some(value) = request.metadata().get(AUTHORIZATION) {
            let token = bearer(request.metadata()).ok_or_else(|| {
                debug!(?value, "malformed authorization metadata");
                Status::unauthenticated("authorization: expected `Bearer <token>`")
            })?;
            return self
                .by_token
                .get(&token_digest(token))
                .cloned()
                .ok_or_else(|| {
                    warn!(peer = ?request.remote_addr(), "unknown bearer token refused");
                    Status::unauthenticated("authorization: the token names no principal")
                });
        }
        if let Some(certificates) = request.peer_certs() {
            let subject = certificates
                .first()
                .and_then(|certificate| CertSubject::of_certificate(certificate.as_ref()))
                .ok_or_else(|| Status::unauthenticated("the client certificate cannot be read"))?;
            return self.by_subject.get(&subject).cloned().ok_or_else(|| {
                warn!(peer = ?request.remote_addr(), %subject, "unknown certificate subject refused");
                Status::unauthenticated(format!(
                    "the client certificate's subject `{subject}` names no principal"
                ))
            });
        }
        Err(Status::unauthenticated(
            "no credentials: send `authorization: Bearer <token>` or a client certificate",
        ))
    }
}

fn bearer(metadata: &MetadataMap) -> Option<&str> {
    let value = metadata.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let caller = self.authenticate(&request)?;
        caller.admit_request()?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The authenticated caller of a request, and the operation checked against its role.
pub(crate) fn authorize<T>(
    request: &Request<T>,
    operation: Operation,
) -> Result<Arc<Caller>, Status> {
    let caller = request
        .extensions()
        .get::<Arc<Caller>>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("the request was not authenticated"))?;
    caller.may(operation)?;
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_compare_as_sets_of_attributes() {
        let configured = CertSubject::parse("CN=county-330106, o=Casewatch").expect("parses");
        assert_eq!(
            configured,
            CertSubject::parse("O=Casewatch,CN=county-330106").expect("parses")
        );
        assert_ne!(
            configured,
            CertSubject::parse("CN=county-330106").expect("parses")
        );
        assert_eq!(configured.to_string(), "CN=county-330106,O=Casewatch");
        assert!(CertSubject::parse("county").is_err());
        assert!(CertSubject::parse("CN=").is_err());
    }

    #[test]
    fn tokens_are_random_and_only_their_digest_is_kept() {
        let (first, second) = (generate_token(), generate_token());
        assert_ne!(first, second);
        assert!(first.starts_with("cw_") && first.len() == 67, "{first}");
        assert_eq!(token_digest(&first), token_digest(&first.clone()));
        assert_ne!(token_digest(&first), token_digest(&second));
    }

    fn spec(name: &str, token: Option<&str>, role: Role) -> PrincipalSpec {
        PrincipalSpec {
            token_sha256: token.map(token_digest),
            ..PrincipalSpec::unlimited(name, role, "")
        }
    }

    #[test]
    fn principals_must_be_distinct_and_have_a_credential() {
        let error = |specs| Authenticator::new(specs).expect_err("refused").to_string();
        assert_eq!(
            error(vec![
                spec("a", Some("x"), Role::Admin),
                spec("a", Some("y"), Role::Admin)
            ]),
            "principal `a` is configured twice"
        );
        assert_eq!(
            error(vec![
                spec("a", Some("x"), Role::Admin),
                spec("b", Some("x"), Role::Admin)
            ]),
            "principals `a` and `b` have the same token"
        );
        assert_eq!(
            error(vec![spec("a", None, Role::Admin)]),
            "principal `a` has no credential: give it a token_sha256 or a cert_subject"
        );
        assert_eq!(
            error(vec![spec("d", Some("x"), Role::Department)]),
            "a department principal must name its department: `d`"
        );
    }

    fn request_with(token: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(token) = token {
            request.metadata_mut().insert(
                AUTHORIZATION,
                token.parse().expect("an ascii metadata value"),
            );
        }
        request
    }

    #[test]
    fn a_request_is_authenticated_by_its_bearer_token() {
        use tonic::service::Interceptor as _;
        let mut authenticator =
            Authenticator::new(vec![spec("county", Some("secret"), Role::CountySystem)])
                .expect("valid");
        let request = authenticator
            .call(request_with(Some("Bearer secret")))
            .expect("known token");
        let caller = authorize(&request, Operation::AppendSteps).expect("a county appends");
        assert_eq!(caller.principal().id, "county");
        let denied = authorize(&request, Operation::Audit).expect_err("not an auditor");
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(denied.message(), "a county system may not audit");

        for (credentials, message) in [
            (
                None,
                "no credentials: send `authorization: Bearer <token>` or a client certificate",
            ),
            (
                Some("Bearer other"),
                "authorization: the token names no principal",
            ),
            (
                Some("Basic c2VjcmV0"),
                "authorization: expected `Bearer <token>`",
            ),
        ] {
            let status = authenticator
                .call(request_with(credentials))
                .expect_err("refused");
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert_eq!(status.message(), message);
        }
    }

    #[test]
    fn the_event_rate_refuses_a_unary_call_over_it_and_the_burst_bounds_any_one_call() {
        let caller = Caller::new(
            spec("county", Some("t"), Role::CountySystem).grant,
            Limits {
                events: Some(Rate {
                    per_second: NonZeroU32::new(1).expect("non-zero"),
                    burst: NonZeroU32::new(100).expect("non-zero"),
                }),
                ..Limits::UNLIMITED
            },
        );
        caller.admit_events_now(60).expect("within the burst");
        let refused = caller.admit_events_now(60).expect_err("the burst is spent");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused
                .message()
                .starts_with("`county` is over its rate of 1 events/s: retry in "),
            "{}",
            refused.message()
        );
        let too_many = caller.admit_events_now(101).expect_err("above the burst");
        assert_eq!(
            too_many.message(),
            "`county` may send at most 100 events at once, this request has 101"
        );
    }

    #[test]
    fn a_principal_has_a_bounded_number_of_streams() {
        let caller = Caller::new(
            spec("auditor", Some("t"), Role::Auditor).grant,
            Limits {
                streams: 2,
                ..Limits::UNLIMITED
            },
        );
        let first = caller.open_stream().expect("one");
        let _second = caller.open_stream().expect("two");
        let refused = caller.open_stream().expect_err("three");
        assert_eq!(
            refused.message(),
            "`auditor` already has 2 streams open: close one first"
        );
        drop(first);
        let _reopened = caller
            .open_stream()
            .expect("a closed stream frees its place");
    }
}
