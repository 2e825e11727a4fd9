//! Opening the log and the views the configuration names.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use casewatch_log::EventLog;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_store::ViewStore;
use casewatch_store::postgres::{CommitFeed, PgStore};
use casewatch_store::sqlite::SqliteStore;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, LogBackend, ViewsBackend};

/// Refuses to read data that is not there: the tools that only read (`verify`, `replay`,
/// `rebuild`, `report`) create nothing, so a mistyped `--data` is an error naming what is
/// missing rather than an empty log that verifies.
pub(crate) fn ensure_existing(config: &Config) -> anyhow::Result<()> {
    let mut needed = Vec::new();
    if config.log.backend == LogBackend::Embedded {
        needed.push(config.data.join("log"));
    }
    if config.views.backend == ViewsBackend::Sqlite {
        needed.push(config.data.join("views.db"));
    }
    for path in needed {
        if !path.exists() {
            bail!(
                "no Casewatch data at `{}`: `{}` does not exist (is --data right?)",
                config.data.display(),
                path.display()
            );
        }
    }
    Ok(())
}

fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// The PostgreSQL server and database a `views.url` names: a `postgres://` URL, or libpq's
/// keyword form (`host=127.0.0.1 port=5432 dbname=casewatch user=casewatch`, values
/// without spaces or quotes). Anything else is refused by name, never taken for a file.
fn postgres_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    if is_postgres_url(url) {
        return url
            .parse()
            .map_err(|error| anyhow::anyhow!("views.url: not a PostgreSQL URL: {error}"));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        bail!(
            "views.url: `{scheme}://` is not PostgreSQL; give a postgres:// URL or libpq's \
             `host=… dbname=…`"
        );
    }
    let mut options = PgConnectOptions::new();
    let mut named = false;
    for pair in url.split_whitespace() {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("views.url: `{pair}` is not a `key=value` setting");
        };
        options = match key {
            "host" | "hostaddr" => options.host(value),
            "port" => options.port(
                value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("views.url: port `{value}` is not a port"))?,
            ),
            "dbname" => options.database(value),
            "user" => options.username(value),
            "password" => options.password(value),
            "application_name" => options.application_name(value),
            "sslmode" => options.ssl_mode(
                value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("views.url: sslmode `{value}` is not one"))?,
            ),
            other => bail!(
                "views.url: `{other}` is not a setting Casewatch passes on (host, hostaddr, \
                 port, dbname, user, password, application_name, sslmode)"
            ),
        };
        named = true;
    }
    if !named {
        bail!("views.url: empty; give a postgres:// URL or libpq's `host=… dbname=…`");
    }
    Ok(options)
}

/// The log, as its backend.
pub(crate) enum Log {
    Embedded(Arc<EmbeddedLog>),
    #[cfg(feature = "kafka")]
    Kafka(Arc<casewatch_log::kafka::KafkaLog>),
}

impl Log {
    /// Opens the configured log; an embedded one is created on first use, a Kafka topic
    /// must exist (`casewatch migrate` creates it).
    pub(crate) async fn open(config: &Config) -> anyhow::Result<Log> {
        match config.log.backend {
            LogBackend::Embedded => {
                let dir = config.data.join("log");
                std::fs::create_dir_all(&config.data).with_context(|| {
                    format!("create the data directory `{}`", config.data.display())
                })?;
                let options = config.log.embedded.options();
                let log = EmbeddedLog::open_with(&dir, config.log.partitions, options)
                    .with_context(|| format!("open the embedded log in `{}`", dir.display()))?;
                Ok(Log::Embedded(Arc::new(log)))
            }
            LogBackend::Kafka => open_kafka(config).await,
        }
    }

    /// Opens the configured log to read it only, as the auditor's tools do: an embedded log
    /// must exist and is neither created nor written, and the partition count is the
    /// log's own, whatever the configuration says.
    pub(crate) async fn open_read_only(config: &Config) -> anyhow::Result<Log> {
        match config.log.backend {
            LogBackend::Embedded => {
                let dir = config.data.join("log");
                let log = EmbeddedLog::open_read_only(&dir)
                    .with_context(|| format!("open the embedded log in `{}`", dir.display()))?;
                Ok(Log::Embedded(Arc::new(log)))
            }
            LogBackend::Kafka => read_kafka(config).await,
        }
    }

    /// The log behind its interface.
    pub(crate) fn shared(&self) -> Arc<dyn EventLog> {
        match self {
            Log::Embedded(log) => log.clone(),
            #[cfg(feature = "kafka")]
            Log::Kafka(log) => log.clone(),
        }
    }

    /// The partitions this process's projector folds: a consumer group's share on Kafka,
    /// every partition on the embedded log (one machine, one projector).
    pub(crate) fn assignment(
        &self,
        config: &Config,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Assignment> {
        match self {
            Log::Embedded(log) => {
                let _ = (config, shutdown);
                let (fixed, partitions) = watch::channel((0..log.partitions()).collect());
                Ok(Assignment {
                    partitions,
                    source: Source::Fixed(fixed),
                })
            }
            #[cfg(feature = "kafka")]
            Log::Kafka(log) => {
                let membership = log
                    .join_group(&config.log.kafka.group, shutdown.clone())
                    .context("join the projectors' consumer group")?;
                Ok(Assignment {
                    partitions: membership.assignment(),
                    source: Source::Group(membership),
                })
            }
        }
    }
}

/// The partitions a projector folds, as they change.
pub(crate) struct Assignment {
    pub(crate) partitions: watch::Receiver<BTreeSet<u32>>,
    source: Source,
}

/// What keeps an assignment current.
enum Source {
    /// Every partition, for good.
    Fixed(watch::Sender<BTreeSet<u32>>),
    /// A consumer group membership.
    #[cfg(feature = "kafka")]
    Group(casewatch_log::kafka::Membership),
}

impl Assignment {
    /// Gives the partitions up: a group member leaves at once, so the others take its
    /// share without waiting for its session to time out.
    pub(crate) async fn leave(self) -> anyhow::Result<()> {
        match self.source {
            Source::Fixed(fixed) => drop(fixed),
            #[cfg(feature = "kafka")]
            Source::Group(membership) => membership
                .leave()
                .await
                .context("leave the projectors' consumer group")?,
        }
        Ok(())
    }
}

#[cfg(feature = "kafka")]
pub(crate) fn kafka_config(config: &Config) -> casewatch_log::kafka::KafkaConfig {
    let kafka = &config.log.kafka;
    casewatch_log::kafka::KafkaConfig {
        replication: kafka.replication,
        client_id: format!("casewatch-{}", std::process::id()),
        properties: kafka.properties.clone(),
        append_timeout: kafka.append_timeout,
        retention_ms: kafka.retention_ms,
        ..casewatch_log::kafka::KafkaConfig::new(
            kafka.brokers.clone(),
            kafka.topic.clone(),
            config.log.partitions,
        )
    }
}

#[cfg(feature = "kafka")]
async fn open_kafka(config: &Config) -> anyhow::Result<Log> {
    let log = casewatch_log::kafka::KafkaLog::connect(kafka_config(config))
        .await
        .with_context(|| format!("connect to the Kafka log at `{}`", config.log.kafka.brokers))?;
    Ok(Log::Kafka(Arc::new(log)))
}

#[cfg(not(feature = "kafka"))]
async fn open_kafka(_config: &Config) -> anyhow::Result<Log> {
    bail!("log.backend = \"kafka\", but this casewatch was built without the `kafka` feature")
}

/// The Kafka log with the partition count of its topic.
async fn read_kafka(config: &Config) -> anyhow::Result<Log> {
    #[cfg(feature = "kafka")]
    {
        let mut kafka = kafka_config(config);
        let first = casewatch_log::kafka::KafkaLog::connect(kafka.clone()).await;
        let log = match first {
            Err(casewatch_log::LogError::PartitionCount { found, .. }) => {
                kafka.partitions = found;
                casewatch_log::kafka::KafkaLog::connect(kafka).await
            }
            other => other,
        }
        .with_context(|| format!("connect to the Kafka log at `{}`", config.log.kafka.brokers))?;
        Ok(Log::Kafka(Arc::new(log)))
    }
    #[cfg(not(feature = "kafka"))]
    open_kafka(config).await
}

/// The views, as their backend.
pub(crate) enum Views {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl Views {
    /// Opens the configured views and brings their schema up to date.
    pub(crate) async fn open(config: &Config) -> anyhow::Result<Views> {
        match config.views.backend {
            ViewsBackend::Sqlite => {
                std::fs::create_dir_all(&config.data).with_context(|| {
                    format!("create the data directory `{}`", config.data.display())
                })?;
                Self::open_target(&config.data.join("views.db").display().to_string()).await
            }
            ViewsBackend::Postgres => {
                let Some(url) = &config.views.url else {
                    bail!("views.url is required with the postgres views");
                };
                Self::open_postgres(postgres_options(url)?, config.views.connect_timeout).await
            }
        }
    }

    /// Opens the configured views to read them only: SQLite views must exist and are
    /// neither created, migrated nor written. PostgreSQL views open as usual.
    pub(crate) async fn open_read_only(config: &Config) -> anyhow::Result<Views> {
        match config.views.backend {
            ViewsBackend::Sqlite => {
                let path = config.data.join("views.db");
                let store = SqliteStore::open_read_only(&path)
                    .await
                    .with_context(|| format!("open the SQLite views `{}`", path.display()))?;
                Ok(Views::Sqlite(Arc::new(store)))
            }
            ViewsBackend::Postgres => Self::open(config).await,
        }
    }

    async fn open_postgres(options: PgConnectOptions, timeout: Duration) -> anyhow::Result<Views> {
        let store = PgStore::connect_within(options, timeout)
            .await
            .context("open the PostgreSQL views")?;
        Ok(Views::Postgres(Arc::new(store)))
    }

    /// Opens views by address: a `postgres://` URL, or else a SQLite file path; an
    /// address of any other scheme is refused.
    pub(crate) async fn open_target(target: &str) -> anyhow::Result<Views> {
        if is_postgres_url(target) {
            Self::open_postgres(
                postgres_options(target)?,
                casewatch_store::postgres::DEFAULT_CONNECT_TIMEOUT,
            )
            .await
        } else if let Some((scheme, _)) = target.split_once("://") {
            bail!(
                "`{target}`: `{scheme}://` views are not supported (postgres:// or a SQLite file path)"
            )
        } else {
            let store = SqliteStore::open(std::path::Path::new(target))
                .await
                .with_context(|| format!("open the SQLite views `{target}`"))?;
            Ok(Views::Sqlite(Arc::new(store)))
        }
    }

    /// The views behind their interface.
    pub(crate) fn shared(&self) -> Arc<dyn ViewStore> {
        match self {
            Views::Sqlite(store) => store.clone(),
            Views::Postgres(store) => store.clone(),
        }
    }

    /// Commit notices from other processes, where the backend sends them.
    pub(crate) async fn commit_feed(&self) -> anyhow::Result<Option<CommitFeed>> {
        match self {
            Views::Sqlite(_) => Ok(None),
            Views::Postgres(store) => Ok(Some(
                store
                    .commit_feed()
                    .await
                    .context("listen for commit notices")?,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_urls_are_postgres_urls_or_libpq_settings() {
        let options = postgres_options("host=db.internal port=6432 dbname=views user=casewatch")
            .expect("libpq's keyword form");
        assert_eq!(options.get_host(), "db.internal");
        assert_eq!(options.get_port(), 6432);
        assert_eq!(options.get_database(), Some("views"));
        assert_eq!(options.get_username(), "casewatch");

        let options = postgres_options("postgres://casewatch@db.internal/views").expect("a URL");
        assert_eq!(options.get_database(), Some("views"));

        for (url, named) in [
            ("mysql://db/views", "`mysql://` is not PostgreSQL"),
            ("host=db dbnmae=views", "`dbnmae` is not a setting"),
            ("host=db port=fifty", "port `fifty`"),
            ("views.db", "`views.db` is not a `key=value` setting"),
            ("  ", "empty"),
        ] {
            let error = postgres_options(url).expect_err(url).to_string();
            assert!(error.contains(named), "{url}: {error}");
            assert!(error.starts_with("views.url"), "{url}: {error}");
        }
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
        let kafka = kafka_config(&config);
        assert_eq!(kafka.brokers, "kafka-1:9092,kafka-2:9092");
        assert_eq!(kafka.topic, "casewatch.records");
        assert_eq!(kafka.partitions, 12);
        assert_eq!(kafka.append_timeout, Duration::from_secs(5));
        assert_eq!(kafka.retention_ms, -1);
        assert_eq!(kafka.properties["security.protocol"], "ssl");
        let defaults = kafka_config(&Config::default());
        assert_eq!(defaults.brokers, "127.0.0.1:9092");
        assert_eq!(defaults.append_timeout, Duration::from_secs(10));

        let error = toml::from_str::<Config>("[log.kafka]\nappend_timeout = \"soon\"\n")
            .expect_err("not a duration");
        assert!(error.to_string().contains("soon"), "{error}");
        let error = toml::from_str::<Config>("[log.kafka]\npartitons = 12\n").expect_err("unknown");
        assert!(error.to_string().contains("partitons"), "{error}");
    }
}
