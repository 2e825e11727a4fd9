//! `casewatch bench`: measures Casewatch on this machine, scenario by scenario, each beside
//! a reference measured in the same run (the storage it sits on, or what an operator would
//! build instead), so that the ratios stand even on a noisy machine. BENCHMARKS.md lists the
//! scenarios, the targets and the latest numbers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_log::{EventLog, NewRecord};
use casewatch_store::postgres::{PgStore, testing::TestSchema};
use casewatch_store::sqlite::SqliteStore;
use clap::Args;
use futures::StreamExt;

use crate::config::ToolLogArgs;

mod alert;
mod ingest;
mod project;
mod publish;
mod report;
mod workload;

use report::Report;
use workload::Workload;

/// The scenarios, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Scenario {
    /// Concurrent `AppendStream` clients over loopback gRPC, against the log alone and a
    /// raw PostgreSQL insert.
    StreamIngest,
    /// `Append` calls at a fixed offered load: latency.
    UnaryIngest,
    /// A pre-filled log folded into fresh SQLite and PostgreSQL views.
    Projector,
    /// From the ingest call whose event makes a rule fire to the alert at a subscriber.
    PushAlert,
    /// Read the whole log and recompute every hash chain.
    Verify,
    /// The four published reports of the workload's city, from the projector scenario's
    /// SQLite and PostgreSQL views.
    Report,
    /// Memory per open case, and under a tenfold overload of stream ingest.
    Memory,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// A smaller run (under a minute) with the same scenarios: a smoke test of the
    /// instrument, not numbers to publish.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Only these scenarios (comma-separated); every scenario when absent.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub(crate) scenario: Vec<Scenario>,
    /// Seed of the simulated workload.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Events in the workload (default: 1,000,000; 100,000 with `--quick`).
    #[arg(long)]
    pub(crate) events: Option<usize>,
    /// Concurrent `AppendStream` clients of the stream ingest scenario.
    #[arg(long, default_value_t = 4)]
    pub(crate) clients: usize,
    /// Events per append request.
    #[arg(long, default_value_t = 100)]
    pub(crate) batch: usize,
    /// The offered load of the unary scenario, in calls (one event each) per second.
    #[arg(long, default_value_t = 5000)]
    pub(crate) unary_rate: u32,
    /// PostgreSQL for the views and the raw-insert reference (a fresh schema is created
    /// and dropped); the scenarios that need it say they were skipped when it does not
    /// answer.
    #[arg(
        long,
        env = "CASEWATCH_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub(crate) postgres: String,
    /// A Kafka broker (`host:port`): the ingest and alert scenarios also run on a Kafka log
    /// there (topics named `casewatch-bench-…` are created).
    #[arg(long, env = "CASEWATCH_BENCH_KAFKA")]
    pub(crate) kafka: Option<String>,
    /// Where the scenarios keep their data; a fresh temporary directory when absent.
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Print only the JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
}

/// Partitions of the logs the scenarios create.
const PARTITIONS: u32 = 8;

/// What the scenarios share: the settings, the workload and a scratch directory.
struct Bench {
    args: BenchArgs,
    workload: Workload,
    dir: PathBuf,
    /// The PostgreSQL URL, if it answers.
    postgres: Option<String>,
    /// The log of the projector scenario and its SQLite views, for the verify scenario.
    projected: Option<Projected>,
}

/// A pre-filled log and the views folded from it, open until the run ends.
struct Projected {
    log: Arc<EmbeddedLog>,
    sqlite: Arc<SqliteStore>,
    /// The PostgreSQL views, in their throwaway schema, when PostgreSQL answers.
    postgres: Option<(Arc<PgStore>, TestSchema)>,
    records: u64,
}

impl Projected {
    /// Closes the views and drops the PostgreSQL schema.
    async fn close(self) -> anyhow::Result<()> {
        self.sqlite.close().await;
        if let Some((store, schema)) = self.postgres {
            store.close().await;
            schema.remove().await?;
        }
        Ok(())
    }
}

impl Bench {
    fn quick(&self) -> bool {
        self.args.quick
    }

    /// A fresh directory for one part of a scenario.
    fn scratch(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.dir.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clear `{}`", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("create `{}`", dir.display()))?;
        Ok(dir)
    }

    /// A fresh embedded log.
    fn embedded_log(&self, name: &str) -> anyhow::Result<Arc<EmbeddedLog>> {
        let dir = self.scratch(name)?;
        Ok(Arc::new(EmbeddedLog::open(&dir, PARTITIONS)?))
    }

    /// A fresh Kafka topic on the broker named by `--kafka`, and a log over it.
    #[cfg(feature = "kafka")]
    async fn kafka_log(&self, broker: &str, name: &str) -> anyhow::Result<Arc<dyn EventLog>> {
        use casewatch_log::kafka::{KafkaConfig, KafkaLog, ensure_topic};
        let config = KafkaConfig::new(
            broker,
            format!("casewatch-bench-{name}-{}", std::process::id()),
            PARTITIONS,
        );
        ensure_topic(&config)
            .await
            .context("create the benchmark's Kafka topic")?;
        Ok(Arc::new(KafkaLog::connect(config).await?))
    }

    #[cfg(not(feature = "kafka"))]
    async fn kafka_log(&self, _broker: &str, _name: &str) -> anyhow::Result<Arc<dyn EventLog>> {
        anyhow::bail!("this casewatch was built without the `kafka` feature")
    }

    /// Fresh views in a throwaway PostgreSQL schema, if PostgreSQL answers.
    async fn postgres_views(&self) -> anyhow::Result<Option<(PgStore, TestSchema)>> {
        let Some(url) = &self.postgres else {
            return Ok(None);
        };
        let schema = TestSchema::create(url).await?;
        let store = PgStore::connect(&schema.url).await?;
        Ok(Some((store, schema)))
    }
}

/// Runs the scenarios asked for.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let events = args
        .events
        .unwrap_or(if args.quick { 100_000 } else { 1_000_000 });
    let temporary = tempfile::tempdir().context("create a temporary directory")?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temporary.path().to_owned());
    let mut scenarios = args.scenario.clone();
    if scenarios.is_empty() {
        scenarios = vec![
            Scenario::StreamIngest,
            Scenario::UnaryIngest,
            Scenario::Projector,
            Scenario::PushAlert,
            Scenario::Verify,
            Scenario::Report,
            Scenario::Memory,
        ];
    }
    scenarios.sort();
    scenarios.dedup();

    let started = Instant::now();
    let workload = Workload::generate(args.seed, events);
    let mut report = machine();
    report.value("events", "workload events", workload.steps.len());
    let (smallest, mean, largest) = workload.event_sizes();
    report.value(
        "event_bytes",
        "event size (bytes)",
        format!("min {smallest}  mean {mean}  max {largest}"),
    );
    report.value(
        "workload_seconds",
        "workload generated in (s)",
        (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
    );
    let postgres = reachable(&args.postgres).await;
    match &postgres {
        Some(url) => report.value("postgres", "PostgreSQL", url.clone()),
        None => report.skipped(
            "postgres",
            &format!("PostgreSQL not reachable at {}", args.postgres),
        ),
    }
    report.print(args.json);

    let mut bench = Bench {
        args,
        workload,
        dir,
        postgres,
        projected: None,
    };
    for scenario in scenarios {
        let reports = match scenario {
            Scenario::StreamIngest => ingest::stream(&bench).await?,
            Scenario::UnaryIngest => ingest::unary(&bench).await?,
            Scenario::Projector => project::catch_up(&mut bench).await?,
            Scenario::PushAlert => alert::push_to_alert(&bench).await?,
            Scenario::Verify => project::verify(&mut bench).await?,
            Scenario::Report => publish::reports(&mut bench).await?,
            Scenario::Memory => {
                let mut reports = project::open_cases(&bench).await?;
                reports.push(ingest::overload(&bench).await?);
                reports
            }
        };
        for report in reports {
            report.print(bench.args.json);
        }
    }
    if let Some(projected) = bench.projected.take() {
        projected.close().await?;
    }
    Ok(())
}

/// The machine the numbers come from.
fn machine() -> Report {
    let mut report = Report::new("machine", "-");
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    report.value("cpu", "CPU", model);
    report.value(
        "cores",
        "cores",
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(total) = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
    {
        report.value("memory_gib", "memory (GiB)", total / (1024 * 1024));
    }
    report.value("version", "casewatch", env!("CARGO_PKG_VERSION"));
    report
}

/// `url` if a PostgreSQL server answers there within five seconds.
async fn reachable(url: &str) -> Option<String> {
    use sqlx::Connection;
    let connect = sqlx::PgConnection::connect(url);
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Some(url.to_owned())
        }
        _ => None,
    }
}

/// Appends `batches` to `log` with `concurrency` appends in flight; returns the records
/// appended and how long it took.
async fn append_all(
    log: Arc<dyn EventLog>,
    batches: impl Iterator<Item = Vec<NewRecord>>,
    concurrency: usize,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut appended = 0;
    let mut appends = futures::stream::iter(batches.map(|batch| {
        let log = log.clone();
        async move { log.append(batch).await }
    }))
    .buffer_unordered(concurrency.max(1));
    while let Some(result) = appends.next().await {
        appended += result?.len() as u64;
    }
    Ok((appended, started.elapsed()))
}
