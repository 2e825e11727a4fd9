//! The flags (and their `CASEWATCH_*` variables) that override the configuration file,
//! grouped as the commands share them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{Config, LogBackend, ViewsBackend, parse_listen};

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
    #[command(flatten)]
    pub(crate) views: ViewsArgs,
}

/// The flags that say which views: `ConfigArgs`' last two, and what `report` takes
/// beside a client's flags (whose `--data` also says where a development token is).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ViewsArgs {
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
        self.views.apply(config);
    }
}

impl ViewsArgs {
    fn apply(&self, config: &mut Config) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            views: ViewsArgs {
                views_url: Some("postgres://localhost/casewatch".to_owned()),
                ..ViewsArgs::default()
            },
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
}
