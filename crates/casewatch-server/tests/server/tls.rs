//! TLS and mutual TLS at the edge, with certificates made here: a server presents a
//! certificate of a test authority; clients authenticate by bearer token over TLS or by
//! a client certificate whose subject names a principal.

use std::sync::Arc;

use casewatch_domain::access::{Grant, Principal, RegionScope, Role};
use casewatch_domain::ids::RegionCode;
use casewatch_domain::policy::PolicyInForce;
use casewatch_proto::client::Bearer;
use casewatch_proto::pb;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::auth::{Authenticator, CertSubject, Limits, PrincipalSpec};
use casewatch_server::node::{Node, NodeConfig};
use casewatch_server::{Edge, ManualClock};
use casewatch_tests::{local, submission};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};

const ADMIN_TOKEN: &str = "cw_tls_test_admin";

/// A certificate authority made for one test.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, in PEM.
struct Issued {
    cert: String,
    key: String,
}

impl Authority {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(Vec::new()).expect("parameters");
        params.distinguished_name = subject(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let pem = params
            .self_signed(&key)
            .expect("a self-signed authority")
            .pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names) with subject `CN=<common_name>,O=Casewatch`.
    fn issue(&self, common_name: &str, names: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>(),
        )
        .expect("parameters");
        params.distinguished_name = subject(common_name);
        let cert = params.signed_by(&key, &self.issuer).expect("a certificate");
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn certificate(&self) -> Certificate {
        Certificate::from_pem(&self.pem)
    }
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Casewatch");
    name
}

/// A county system of 330106 known by its certificate's subject.
fn county_by_certificate() -> PrincipalSpec {
    PrincipalSpec {
        grant: Grant {
            principal: Principal {
                id: "county-330106".to_owned(),
                name: "Xihu district".to_owned(),
                role: Role::CountySystem,
            },
            scope: RegionScope::new(&[RegionCode::parse("330106").expect("a region")])
                .expect("a scope"),
            dept: None,
        },
        token_sha256: None,
        cert_subject: Some(CertSubject::parse("CN=county-330106,O=Casewatch").expect("a subject")),
        limits: Limits::UNLIMITED,
    }
}

/// A node on loopback presenting `server`'s certificate of `authority`; with `client_ca`
/// it asks clients for certificates of that authority (required or optional).
async fn node(
    authority: &Authority,
    client_ca: Option<(&Authority, bool)>,
) -> (Node, tempfile::TempDir) {
    let server = authority.issue("casewatch", &["localhost"]);
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(server.cert, server.key));
    if let Some((client_ca, required)) = client_ca {
        tls = tls
            .client_ca_root(client_ca.certificate())
            .client_auth_optional(!required);
    }
    let auth = Authenticator::new(vec![
        PrincipalSpec::unlimited("tls-admin", Role::Admin, ADMIN_TOKEN),
        county_by_certificate(),
    ])
    .expect("valid principals");
    let data = tempfile::tempdir().expect("a temporary directory");
    let mut config = NodeConfig::new(data.path());
    config.partitions = 2;
    config.options.tick_every = None;
    config.options.edge = Edge {
        auth,
        tls: Some(tls),
    };
    let node = Node::start(
        config,
        "127.0.0.1:0".parse().expect("an address"),
        Arc::new(ManualClock::new(local("2026-03-02 08:00"))),
        PolicyInForce::shipped(),
    )
    .await
    .expect("the node starts");
    (node, data)
}

/// A TLS channel to `node` trusting `authority`, presenting `identity` if any.
async fn connect(
    node: &Node,
    authority: &Authority,
    identity: Option<&Issued>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(authority.certificate())
        .domain_name("localhost");
    if let Some(issued) = identity {
        tls = tls.identity(Identity::from_pem(&issued.cert, &issued.key));
    }
    Endpoint::from_shared(format!("https://{}", node.addr))?
        .tls_config(tls)?
        .connect()
        .await
}

fn case_filter() -> pb::ListAlertsRequest {
    pb::ListAlertsRequest::default()
}

async fn append(
    channel: Channel,
    bearer: Bearer,
    region: &'static str,
) -> Result<pb::AppendResponse, tonic::Status> {
    let event = submission(
        &format!("{region}-TLS-1"),
        region,
        local("2026-03-02 07:00"),
    );
    IngestServiceClient::new(InterceptedService::new(channel, bearer))
        .append(pb::AppendRequest {
            events: vec![event],
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_token_travels_over_tls_and_plain_text_or_a_stranger_authority_is_refused() {
    let authority = Authority::new("Casewatch test authority");
    let (node, _data) = node(&authority, None).await;

    let channel = connect(&node, &authority, None)
        .await
        .expect("a TLS connection");
    let admin = Bearer::new(ADMIN_TOKEN).expect("a token");
    MonitorServiceClient::new(InterceptedService::new(channel, admin.clone()))
        .list_alerts(case_filter())
        .await
        .expect("the administrator reads alerts over TLS");

    let plain =
        casewatch_proto::client::connect(&format!("http://{}", node.addr), ADMIN_TOKEN).await;
    let refused = match plain {
        Err(_) => true,
        Ok(channel) => MonitorServiceClient::new(channel)
            .list_alerts(case_filter())
            .await
            .is_err(),
    };
    assert!(refused, "a plain-text call to a TLS listener must fail");

    let stranger = Authority::new("Some other authority");
    let untrusted = match connect(&node, &stranger, None).await {
        Err(_) => true,
        Ok(channel) => MonitorServiceClient::new(InterceptedService::new(channel, admin))
            .list_alerts(case_filter())
            .await
            .is_err(),
    };
    assert!(
        untrusted,
        "a server certificate of an unknown authority must not be trusted"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_client_certificate_subject_names_its_principal() {
    let servers = Authority::new("Casewatch server authority");
    let clients = Authority::new("Casewatch client authority");
    let (node, _data) = node(&servers, Some((&clients, false))).await;

    let county = clients.issue("county-330106", &[]);
    let channel = connect(&node, &servers, Some(&county))
        .await
        .expect("a mutual TLS connection");
    let response = append(channel.clone(), Bearer::none(), "330106")
        .await
        .expect("the county appends by certificate");
    assert_eq!(response.results.len(), 1);
    casewatch_tests::assert_appended(&response);
    let refused = MonitorServiceClient::new(InterceptedService::new(channel, Bearer::none()))
        .list_alerts(case_filter())
        .await
        .expect_err("a county system does not read alerts");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("county system"), "{refused:?}");

    let stranger = clients.issue("stranger", &[]);
    let channel = connect(&node, &servers, Some(&stranger))
        .await
        .expect("a mutual TLS connection");
    let unknown = append(channel, Bearer::none(), "330106")
        .await
        .expect_err("a certificate naming no principal authenticates nobody");
    assert_eq!(unknown.code(), Code::Unauthenticated, "{unknown:?}");
    assert!(
        unknown
            .message()
            .contains("`CN=stranger,O=Casewatch` names no principal"),
        "{unknown:?}"
    );

    let forged = Authority::new("Casewatch client authority").issue("county-330106", &[]);
    let forged_refused = match connect(&node, &servers, Some(&forged)).await {
        Err(_) => true,
        Ok(channel) => append(channel, Bearer::none(), "330106").await.is_err(),
    };
    assert!(
        forged_refused,
        "a certificate of another authority must not authenticate"
    );

    // Client certificates are optional here: a token over TLS still works.
    let channel = connect(&node, &servers, None)
        .await
        .expect("a TLS connection");
    append(
        channel,
        Bearer::new(ADMIN_TOKEN).expect("a token"),
        "330106",
    )
    .await
    .expect("a token over TLS authenticates");
    node.stop().await;
}

#[tokio::test]
async fn required_client_certificates_refuse_a_client_without_one() {
    let servers = Authority::new("Casewatch server authority");
    let clients = Authority::new("Casewatch client authority");
    let (node, _data) = node(&servers, Some((&clients, true))).await;

    let refused = match connect(&node, &servers, None).await {
        Err(_) => true,
        Ok(channel) => append(
            channel,
            Bearer::new(ADMIN_TOKEN).expect("a token"),
            "330106",
        )
        .await
        .is_err(),
    };
    assert!(
        refused,
        "without a client certificate the handshake must fail"
    );

    let county = clients.issue("county-330106", &[]);
    let channel = connect(&node, &servers, Some(&county))
        .await
        .expect("a mutual TLS connection");
    append(channel, Bearer::none(), "330106")
        .await
        .expect("with its certificate the county appends");
    node.stop().await;
}
