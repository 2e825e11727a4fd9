//! The configuration of a Casewatch process. Three layers, each overriding the one before:
//! a TOML file (`--config`, or `CASEWATCH_CONFIG`), `CASEWATCH_*` environment variables,
//! and flags. With none of them, a process runs on the embedded backends in
//! `./casewatch-data`, listening on loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use casewatch_domain::access::Role;
use clap::ValueEnum;
use serde::{Deserialize, Deserializer};

mod flags;

pub(crate) use flags::{
    ConfigArgs, GroupArgs, NewLogArgs, RoleArgs, TickArgs, ToolLogArgs, ViewsArgs,
};

/// Everything a process can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// Where the embedded log and the SQLite views live.
    pub(crate) data: PathBuf,
    pub(crate) log: LogConfig,
    pub(crate) views: ViewsConfig,
    pub(crate) server: ServerConfig,
    pub(crate) projector: ProjectorConfig,
    pub(crate) telemetry: casewatch_telemetry::TelemetryConfig,
    /// The callers the serving roles accept (`[[principals]]`).
    pub(crate) principals: Vec<PrincipalSection>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data: PathBuf::from("casewatch-data"),
            log: LogConfig::default(),
            views: ViewsConfig::default(),
            server: ServerConfig::default(),
            projector: ProjectorConfig::default(),
            telemetry: casewatch_telemetry::TelemetryConfig::default(),
            principals: Vec::new(),
        }
    }
}

/// Which log backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogBackend {
    /// A SQLite file in the data directory: one machine.
    Embedded,
    /// An Apache Kafka topic (or any Kafka-protocol broker).
    Kafka,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LogConfig {
    pub(crate) backend: LogBackend,
    /// Partitions of a new log; an existing log must have this many (Kafka) or keeps its
    /// own (embedded).
    pub(crate) partitions: u32,
    pub(crate) kafka: KafkaSection,
    pub(crate) embedded: EmbeddedSection,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            backend: LogBackend::Embedded,
            partitions: 8,
            kafka: KafkaSection::default(),
            embedded: EmbeddedSection::default(),
        }
    }
}

/// `[log.kafka]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct KafkaSection {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub(crate) brokers: String,
    pub(crate) topic: String,
    /// Replicas of each partition when `casewatch migrate` creates the topic.
    pub(crate) replication: i32,
    /// The consumer group projectors share the partitions through.
    pub(crate) group: String,
    /// How long an append waits for the brokers before it fails as unavailable.
    #[serde(with = "humantime_serde")]
    pub(crate) append_timeout: Duration,
    /// Further librdkafka settings (`security.protocol`, `sasl.*`, …), applied last.
    pub(crate) properties: BTreeMap<String, String>,
    /// `retention.ms` of the topic `casewatch migrate` creates: -1, for ever. Only for a
    /// broker that misreads -1 (tansu 0.6 empties such a topic when it restarts).
    pub(crate) retention_ms: i64,
}

impl Default for KafkaSection {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".to_owned(),
            topic: "casewatch.records".to_owned(),
            replication: 1,
            group: "casewatch-projectors".to_owned(),
            append_timeout: Duration::from_secs(10),
            properties: BTreeMap::new(),
            retention_ms: -1,
        }
    }
}

/// `[log.embedded]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct EmbeddedSection {
    /// The most the log file may grow to (`"50GiB"`, or bytes): appends beyond it are
    /// answered `UNAVAILABLE`, so a flood cannot fill a disk the views share. None: until
    /// the disk is full.
    #[serde(deserialize_with = "size_limit")]
    pub(crate) max_size: Option<u64>,
}

impl EmbeddedSection {
    /// The embedded log's tuning.
    pub(crate) fn options(&self) -> casewatch_log::embedded::EmbeddedOptions {
        casewatch_log::embedded::EmbeddedOptions {
            max_bytes: self.max_size,
            ..Default::default()
        }
    }
}

fn size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Ok(bytesize::ByteSize::deserialize(deserializer)?.as_u64())
}

fn size_limit<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match bytesize::ByteSize::deserialize(deserializer)?.as_u64() {
        0 => Err(serde::de::Error::custom(
            "a size limit of 0 bytes leaves no room",
        )),
        bytes => Ok(Some(bytes)),
    }
}

/// Which view store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ViewsBackend {
    /// A SQLite file in the data directory.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// `[views]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ViewsConfig {
    pub(crate) backend: ViewsBackend,
    /// The PostgreSQL URL (`postgres://user@host:5432/db`).
    pub(crate) url: Option<String>,
    /// How long to wait for a PostgreSQL connection: at start (a server that refuses or
    /// does not answer stops the process, naming it and the cause), and for each read or
    /// batch while the database is away.
    #[serde(with = "humantime_serde")]
    pub(crate) connect_timeout: Duration,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        Self {
            backend: ViewsBackend::Sqlite,
            url: None,
            connect_timeout: casewatch_store::postgres::DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ServerConfig {
    /// The gRPC listen address; a host name is resolved (see [`parse_listen`]).
    #[serde(deserialize_with = "listen")]
    pub(crate) listen: SocketAddr,
    /// TLS for the listener (and mutual TLS with `client_ca`).
    pub(crate) tls: Option<TlsSection>,
    /// Listen on a non-loopback address without TLS: only behind a network boundary of
    /// the deployment's own (a service mesh that terminates TLS), and said deliberately.
    pub(crate) allow_insecure_public: bool,
    /// What each principal may ask, unless its own entry says otherwise.
    pub(crate) limits: LimitsSection,
    /// How often the ingest role appends a clock tick to every partition; `0s` appends
    /// none (another replica, or a rehearsal script, ticks instead).
    #[serde(with = "humantime_serde")]
    pub(crate) tick_interval: Duration,
    /// Read the time from this file instead of the wall clock: for rehearsals and
    /// end-to-end tests that play a scripted timeline (see `FileClock`).
    pub(crate) clock_file: Option<PathBuf>,
    /// The longest a read waits for the views to reach a position it asked for.
    #[serde(with = "humantime_serde")]
    pub(crate) max_consistency_wait: Duration,
    /// Events in one append request, at most.
    pub(crate) max_events_per_request: usize,
    /// The largest request message (`"4MiB"`, or bytes).
    #[serde(deserialize_with = "size")]
    pub(crate) max_message_size: u64,
    /// The bytes of append requests held at once across every caller: beyond it streams
    /// wait, and unary calls wait up to two seconds, then are answered `RESOURCE_EXHAUSTED`.
    #[serde(deserialize_with = "size")]
    pub(crate) max_inflight_appends: u64,
    /// How far ahead of the server's clock a step may be dated.
    #[serde(with = "humantime_serde")]
    pub(crate) max_clock_skew: Duration,
    /// How long a stopping server lets calls in progress finish before it closes their
    /// connections.
    #[serde(with = "humantime_serde")]
    pub(crate) shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let options = casewatch_server::ServerOptions::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            tls: None,
            allow_insecure_public: false,
            limits: LimitsSection::default(),
            tick_interval: Duration::from_secs(5),
            clock_file: None,
            max_consistency_wait: options.max_consistency_wait,
            max_events_per_request: options.max_events_per_request,
            max_message_size: options.max_message_bytes as u64,
            max_inflight_appends: options.max_inflight_bytes as u64,
            max_clock_skew: options.max_clock_skew.to_std().unwrap_or_default(),
            shutdown_grace: options.shutdown_grace,
        }
    }
}

/// `[projector]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ProjectorConfig {
    /// Records folded and committed per batch, at most.
    pub(crate) batch_size: usize,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self { batch_size: 1000 }
    }
}

/// `[[principals]]`: one configured caller.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrincipalSection {
    /// The unique name recorded with the principal's actions.
    pub(crate) name: String,
    /// A person's or system's display name.
    #[serde(default)]
    pub(crate) display_name: String,
    pub(crate) role: Role,
    /// Region codes whose subtrees the principal covers (`000000`: every region).
    pub(crate) regions: Vec<String>,
    /// The department (统一社会信用代码) a department principal speaks for; a county
    /// system may be limited to one too.
    pub(crate) dept: Option<String>,
    /// The SHA-256 of its bearer token, in hex (`casewatch token` makes both).
    pub(crate) token_sha256: Option<String>,
    /// The subject of its client certificate for mutual TLS, `CN=…,O=…`.
    pub(crate) cert_subject: Option<String>,
    /// Its own limits, over `[server.limits]`.
    #[serde(flatten)]
    pub(crate) limits: LimitOverrides,
}

/// Limits a principal may set for itself; each absent one is `[server.limits]`'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitOverrides {
    pub(crate) requests_per_second: Option<u32>,
    pub(crate) requests_burst: Option<u32>,
    pub(crate) events_per_second: Option<u32>,
    pub(crate) events_burst: Option<u32>,
    pub(crate) streams: Option<u32>,
}

/// `[server.limits]`: what each principal may ask of the server unless it says otherwise.
/// A rate of 0 is no limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LimitsSection {
    /// RPCs of any kind per second, and the burst above it.
    pub(crate) requests_per_second: u32,
    pub(crate) requests_burst: u32,
    /// Case steps reported per second, and the burst above it (at least the events one
    /// request may carry).
    pub(crate) events_per_second: u32,
    pub(crate) events_burst: u32,
    /// Streams open at once: appends, alert feeds, log reads, replays.
    pub(crate) streams: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            requests_per_second: 500,
            requests_burst: 1000,
            events_per_second: 10_000,
            events_burst: 50_000,
            streams: 16,
        }
    }
}

/// `[server.tls]`: the server's certificate and, for mutual TLS, the authority that signs
/// its clients' certificates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSection {
    /// The server's certificate chain, PEM.
    pub(crate) cert: PathBuf,
    /// The server's private key, PEM.
    pub(crate) key: PathBuf,
    /// The certificate authority of client certificates, PEM: mutual TLS.
    pub(crate) client_ca: Option<PathBuf>,
    /// With `client_ca`: refuse connections without a client certificate (otherwise a
    /// client may authenticate with a bearer token instead).
    #[serde(default)]
    pub(crate) require_client_cert: bool,
}

/// A listen address, `host:port`: a host name is resolved, and its first IPv4 address
/// taken if it has one (`localhost` is then 127.0.0.1 on a machine without IPv6).
pub(crate) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if text.rsplit_once(':').is_none() {
        return Err(format!("`{text}` is not `host:port`"));
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(text)
        .map_err(|error| format!("`{text}` does not resolve: {error}"))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("`{text}` resolves to no address"))
}

fn listen<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    parse_listen(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

impl Config {
    /// Reads a TOML file.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read the configuration `{}`", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("the configuration `{}` is not valid", path.display()))
    }

    /// Refuses settings that cannot work together, naming the setting.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if !(1..=1024).contains(&self.log.partitions) {
            bail!(
                "log.partitions must be between 1 and 1024, not {}",
                self.log.partitions
            );
        }
        if self.views.backend == ViewsBackend::Postgres && self.views.url.is_none() {
            bail!("views.url (or CASEWATCH_VIEWS_URL) is required with the postgres views");
        }
        if self.views.connect_timeout.is_zero() {
            bail!("views.connect_timeout must be longer than 0s");
        }
        if self.log.backend == LogBackend::Kafka && self.log.kafka.brokers.trim().is_empty() {
            bail!("log.kafka.brokers (or CASEWATCH_KAFKA_BROKERS) is required with the kafka log");
        }
        if self.projector.batch_size == 0 {
            bail!("projector.batch_size must be at least 1");
        }
        if self.server.max_inflight_appends < self.server.max_message_size {
            bail!(
                "server.max_inflight_appends ({} bytes) must hold at least one message of \
                 server.max_message_size ({} bytes)",
                self.server.max_inflight_appends,
                self.server.max_message_size
            );
        }
        Ok(())
    }

    /// Refuses to listen beyond loopback without TLS unless the operator said so.
    pub(crate) fn check_listen(&self) -> anyhow::Result<()> {
        let public = !self.server.listen.ip().is_loopback();
        if public && self.server.tls.is_none() && !self.server.allow_insecure_public {
            bail!(
                "server.listen {} is not a loopback address: configure [server.tls], or set \
                 server.allow_insecure_public = true to serve plain text behind a network \
                 boundary of your own",
                self.server.listen
            );
        }
        Ok(())
    }

    /// Where `recorded_at` and clock ticks come from.
    pub(crate) fn clock(&self) -> std::sync::Arc<dyn casewatch_server::Clock> {
        match &self.server.clock_file {
            Some(path) => std::sync::Arc::new(casewatch_server::FileClock::new(path)),
            None => std::sync::Arc::new(casewatch_server::SystemClock),
        }
    }

    /// How often to tick, if at all.
    pub(crate) fn ticks(&self) -> Option<Duration> {
        Some(self.server.tick_interval).filter(|every| !every.is_zero())
    }

    /// The services' limits.
    pub(crate) fn server_options(&self) -> casewatch_server::ServerOptions {
        let bytes = |size: u64| usize::try_from(size).unwrap_or(usize::MAX);
        casewatch_server::ServerOptions {
            max_consistency_wait: self.server.max_consistency_wait,
            max_events_per_request: self.server.max_events_per_request,
            max_message_bytes: bytes(self.server.max_message_size),
            max_inflight_bytes: bytes(self.server.max_inflight_appends),
            max_clock_skew: chrono::TimeDelta::from_std(self.server.max_clock_skew)
                .unwrap_or(chrono::TimeDelta::MAX),
            shutdown_grace: self.server.shutdown_grace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_settings_and_bad_durations_are_refused() {
        let error = toml::from_str::<Config>("[server]\nlisten_on = \"x\"\n").expect_err("unknown");
        assert!(error.to_string().contains("listen_on"), "{error}");
        let error =
            toml::from_str::<Config>("[server]\ntick_interval = \"often\"\n").expect_err("bad");
        assert!(
            error.to_string().contains("tick_interval") || error.to_string().contains("often"),
            "{error}"
        );
    }

    #[test]
    fn the_embedded_log_size_limit_reads_as_a_human_size_or_bytes() {
        let limit = |text: &str| {
            toml::from_str::<Config>(&format!("[log.embedded]\nmax_size = {text}\n"))
                .map(|config| config.log.embedded.options().max_bytes)
        };
        assert_eq!(limit("\"50GiB\"").expect("a human size"), Some(50 << 30));
        assert_eq!(limit("\"1.5 MB\"").expect("a decimal one"), Some(1_500_000));
        assert_eq!(limit("1048576").expect("bytes"), Some(1 << 20));
        assert_eq!(Config::default().log.embedded.options().max_bytes, None);
        let error = limit("\"a lot\"").expect_err("not a size");
        assert!(error.to_string().contains("max_size"), "{error}");
        let error = limit("0").expect_err("no room");
        assert!(error.to_string().contains("0 bytes"), "{error}");
    }

    #[test]
    fn listen_addresses_take_host_names() {
        let addr = parse_listen("localhost:50051").expect("a host name");
        assert!(addr.ip().is_loopback() && addr.port() == 50051, "{addr}");
        assert_eq!(
            parse_listen("127.0.0.1:7").expect("an address"),
            SocketAddr::from(([127, 0, 0, 1], 7))
        );
        let error = parse_listen("localhost").expect_err("no port");
        assert!(error.contains("`localhost` is not `host:port`"), "{error}");
        let config: Config =
            toml::from_str("[server]\nlisten = \"localhost:0\"\n").expect("a host name");
        assert!(config.server.listen.ip().is_loopback());
    }

    #[test]
    fn a_public_address_needs_consent() {
        let mut config = Config::default();
        config.server.listen = "0.0.0.0:50051".parse().expect("an address");
        assert!(config.check_listen().is_err());
        config.server.allow_insecure_public = true;
        config.check_listen().expect("consented");
    }
}
