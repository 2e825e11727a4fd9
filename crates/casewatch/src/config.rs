//! The configuration of a Casewatch process. Three layers, each overriding the one before:
//! a TOML file (`--config`, or `CASEWATCH_CONFIG`), `CASEWATCH_*` environment variables,
//! and flags. With none of them, a process runs on the embedded backends in
//! `./casewatch-data`, listening on loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Deserializer};

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
    pub(crate) principals: Vec<crate::access::PrincipalSection>,
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
    pub(crate) tls: Option<crate::access::TlsSection>,
    /// Listen on a non-loopback address without TLS: only behind a network boundary of
    /// the deployment's own (a service mesh that terminates TLS), and said deliberately.
    pub(crate) allow_insecure_public: bool,
    /// What each principal may ask, unless its own entry says otherwise.
    pub(crate) limits: crate::access::LimitsSection,
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
            limits: crate::access::LimitsSection::default(),
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

/// The flags (and their `CASEWATCH_*` variables) of every command that finds the log and the
/// views: where they are. Each overrides the configuration file.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ConfigArgs {
    /// A TOML configuration file.
    #[arg(long, env = "CASEWATCH_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Where the embedded log and the SQLite views live [default: casewatch-data].
    #[arg(long, env = "CASEWATCH_DATA")]
    pub(crate) data: Option<PathBuf>,
    /// The log backend [default: embedded].
    #[arg(long, env = "CASEWATCH_LOG_BACKEND")]
    pub(crate) log_backend: Option<LogBackend>,
    /// Kafka bootstrap brokers.
    #[arg(long, env = "CASEWATCH_KAFKA_BROKERS")]
    pub(crate) kafka_brokers: Option<String>,
    /// The Kafka topic of the log [default: casewatch.records].
    #[arg(long, env = "CASEWATCH_KAFKA_TOPIC")]
    pub(crate) kafka_topic: Option<String>,
    /// The view store backend [default: sqlite].
    #[arg(long, env = "CASEWATCH_VIEWS_BACKEND")]
    pub(crate) views_backend: Option<ViewsBackend>,
    /// The PostgreSQL URL of the views.
    #[arg(long, env = "CASEWATCH_VIEWS_URL")]
    pub(crate) views_url: Option<String>,
}

/// The flag of the commands that may create the log (the roles and `migrate`); the tools
/// that read take the partition count of the log they find.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct NewLogArgs {
    /// Partitions of a new log [default: 8].
    #[arg(long, env = "CASEWATCH_PARTITIONS",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) partitions: Option<u32>,
}

/// The flags every serving role (`serve`, `ingest`, `project`, `api`) shares.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct RoleArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) new_log: NewLogArgs,
    /// The gRPC listen address, `host:port`; a host name is resolved, to its first IPv4
    /// address if it has one [default: 127.0.0.1:50051].
    #[arg(long, env = "CASEWATCH_LISTEN", value_parser = parse_listen)]
    pub(crate) listen: Option<SocketAddr>,
    /// What to log, as `RUST_LOG` directives [default: info].
    #[arg(long, env = "CASEWATCH_LOG")]
    pub(crate) log: Option<String>,
    /// Export traces over OTLP/gRPC to this collector.
    #[arg(long, env = "CASEWATCH_OTLP_ENDPOINT")]
    pub(crate) otlp_endpoint: Option<String>,
}

/// The flag of the roles that append clock ticks (`serve`, `ingest`).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct TickArgs {
    /// How often clock ticks are appended [default: 5s].
    #[arg(long, env = "CASEWATCH_TICK_EVERY", value_parser = humantime::parse_duration)]
    pub(crate) tick_every: Option<Duration>,
}

/// The flag of the roles that fold the log (`serve`, `project`).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct GroupArgs {
    /// The projectors' Kafka consumer group [default: casewatch-projectors].
    #[arg(long, env = "CASEWATCH_KAFKA_GROUP")]
    pub(crate) kafka_group: Option<String>,
}

/// The logging flag of the tools (every command but the roles).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ToolLogArgs {
    /// What to log on standard error, as `RUST_LOG` directives [default: warn].
    #[arg(long = "log", env = "CASEWATCH_LOG")]
    pub(crate) log: Option<String>,
}

impl ToolLogArgs {
    /// The directives a tool logs with.
    pub(crate) fn filter(&self) -> String {
        self.log.clone().unwrap_or_else(|| "warn".to_owned())
    }
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

fn set<T: Clone>(target: &mut T, value: Option<&T>) {
    if let Some(value) = value {
        *target = value.clone();
    }
}

impl ConfigArgs {
    /// The file's configuration (or the defaults) with the variables and flags over it,
    /// checked.
    pub(crate) fn load(&self) -> anyhow::Result<Config> {
        self.load_with(|_| {})
    }

    /// [`ConfigArgs::load`], with a command's own flags applied by `more` before the check.
    pub(crate) fn load_with(&self, more: impl FnOnce(&mut Config)) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::read(path)?,
            None => Config::default(),
        };
        self.apply(&mut config);
        more(&mut config);
        config.check()?;
        Ok(config)
    }

    /// The data directory, without the checks of a whole configuration: for the clients,
    /// which look there for a development token.
    pub(crate) fn data_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(data) = &self.data {
            return Ok(data.clone());
        }
        Ok(match &self.config {
            Some(path) => Config::read(path)?.data,
            None => Config::default().data,
        })
    }

    fn apply(&self, config: &mut Config) {
        set(&mut config.data, self.data.as_ref());
        set(&mut config.log.backend, self.log_backend.as_ref());
        set(&mut config.log.kafka.brokers, self.kafka_brokers.as_ref());
        set(&mut config.log.kafka.topic, self.kafka_topic.as_ref());
        set(&mut config.views.backend, self.views_backend.as_ref());
        if self.views_url.is_some() {
            config.views.url.clone_from(&self.views_url);
        }
    }
}

impl NewLogArgs {
    fn apply(&self, config: &mut Config) {
        set(&mut config.log.partitions, self.partitions.as_ref());
    }

    /// The configuration of a command that may create the log.
    pub(crate) fn load(&self, config: &ConfigArgs) -> anyhow::Result<Config> {
        config.load_with(|loaded| self.apply(loaded))
    }
}

impl RoleArgs {
    /// The role's configuration, with `more` (its own flags) applied too.
    pub(crate) fn load_with(&self, more: impl FnOnce(&mut Config)) -> anyhow::Result<Config> {
        self.config.load_with(|config| {
            self.new_log.apply(config);
            set(&mut config.server.listen, self.listen.as_ref());
            if self.log.is_some() {
                config.telemetry.log_filter.clone_from(&self.log);
            }
            if self.otlp_endpoint.is_some() {
                config
                    .telemetry
                    .otlp_endpoint
                    .clone_from(&self.otlp_endpoint);
            }
            more(config);
        })
    }
}

impl TickArgs {
    pub(crate) fn apply(&self, config: &mut Config) {
        set(&mut config.server.tick_interval, self.tick_every.as_ref());
    }
}

impl GroupArgs {
    pub(crate) fn apply(&self, config: &mut Config) {
        set(&mut config.log.kafka.group, self.kafka_group.as_ref());
    }
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
    fn the_deployment_file_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/casewatch.toml");
        let config = Config::read(&path).expect("deploy/casewatch.toml reads");
        assert_eq!(config.log.backend, LogBackend::Kafka);
        assert_eq!(config.views.backend, ViewsBackend::Postgres);
        let edge = crate::access::edge(&config).expect("its principals are valid");
        assert!(!edge.auth.is_empty());
    }

    #[test]
    fn flags_override_the_file_and_errors_name_the_setting() {
        let file: Config = toml::from_str(
            "[log]\nbackend = \"kafka\"\npartitions = 4\n[views]\nbackend = \"postgres\"\n",
        )
        .expect("parses");
        assert_eq!(file.log.partitions, 4);
        let error = file.check().expect_err("no url");
        assert!(error.to_string().contains("views.url"), "{error}");

        let args = ConfigArgs {
            views_url: Some("postgres://localhost/casewatch".to_owned()),
            ..ConfigArgs::default()
        };
        let mut config = file;
        args.apply(&mut config);
        NewLogArgs {
            partitions: Some(12),
        }
        .apply(&mut config);
        config.check().expect("complete now");
        assert_eq!(config.log.partitions, 12);
        assert_eq!(config.log.kafka.topic, "casewatch.records");
    }

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

    /// The binary is the one reader of configuration: `[log.kafka]`, with its defaults,
    /// becomes the log's settings.
    #[cfg(feature = "kafka")]
    #[test]
    fn the_kafka_section_is_what_the_log_gets() {
        let config: Config = toml::from_str(
            r#"
            [log]
            partitions = 12
            [log.kafka]
            brokers = "kafka-1:9092,kafka-2:9092"
            append_timeout = "5s"
            [log.kafka.properties]
            "security.protocol" = "ssl"
            "#,
        )
        .expect("valid settings");
        let kafka = crate::backends::kafka_config(&config);
        assert_eq!(kafka.brokers, "kafka-1:9092,kafka-2:9092");
        assert_eq!(kafka.topic, "casewatch.records");
        assert_eq!(kafka.partitions, 12);
        assert_eq!(kafka.append_timeout, Duration::from_secs(5));
        assert_eq!(kafka.retention_ms, -1);
        assert_eq!(kafka.properties["security.protocol"], "ssl");
        let defaults = crate::backends::kafka_config(&Config::default());
        assert_eq!(defaults.brokers, "127.0.0.1:9092");
        assert_eq!(defaults.append_timeout, Duration::from_secs(10));

        let error = toml::from_str::<Config>("[log.kafka]\nappend_timeout = \"soon\"\n")
            .expect_err("not a duration");
        assert!(error.to_string().contains("soon"), "{error}");
        let error = toml::from_str::<Config>("[log.kafka]\npartitons = 12\n").expect_err("unknown");
        assert!(error.to_string().contains("partitons"), "{error}");
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
