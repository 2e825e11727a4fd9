//! The commands other than the roles, the demo and the simulator: replay, verify,
//! rebuild, migrate.

use std::time::Instant;

use anyhow::{Context, bail};
use casewatch_domain::record::Content;
use casewatch_projector::{Projector, audit};
use casewatch_proto::decode_record;
use clap::Args;

use crate::backends::{Log, Views, ensure_existing};
use crate::config::{Config, ConfigArgs, LogBackend, NewLogArgs, ToolLogArgs};
use crate::lock::DataLock;
use crate::out::outln;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) new_log: NewLogArgs,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Only the records of this case.
    #[arg(long)]
    pub(crate) case_no: Option<String>,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RebuildArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Where to build the fresh views: a SQLite file, or a `postgres://` URL of an empty
    /// database; a temporary SQLite file when absent.
    #[arg(long)]
    pub(crate) into: Option<String>,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
}

fn describe(bytes: &[u8]) -> String {
    match decode_record(bytes) {
        Ok((at, Content::Step(event))) => format!(
            "{at}  step  {} #{} {}",
            event.case_no,
            event.seq,
            event.step.name()
        ),
        Ok((at, Content::Action(action))) => format!(
            "{at}  staff {} {:?} by {}",
            action.alert_id,
            action.action.kind(),
            action.principal.id
        ),
        Ok((at, Content::Tick(tick))) => format!("{at}  tick  {}", tick.at),
        Ok((at, Content::Policy(change))) => format!(
            "{at}  policy {} version {} by {}, from {}: {}",
            change.content.part(),
            change.content.version(),
            change.author,
            change.applies_from,
            change.reason
        ),
        Err(error) => format!("unreadable record: {error}"),
    }
}

pub(crate) async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    ensure_existing(&config)?;
    let log = Log::open_read_only(&config).await?.shared();
    let store = Views::open_read_only(&config).await?.shared();
    if let Some(case_no) = &args.case_no {
        let steps = store.steps(case_no).await?;
        if steps.is_empty() {
            bail!("case `{case_no}` is not in the views (no such case, or not folded yet)");
        }
        for step in steps {
            let record = log
                .read(step.position.partition, step.position.offset, 1)
                .await?
                .into_iter()
                .next()
                .context("a record of the case's archive is missing from the log")?;
            outln!(
                "{}:{}  {:?}  {}  {}",
                step.position.partition,
                step.position.offset,
                step.disposition,
                hex::encode(&step.hash[..8]),
                describe(&record.bytes)
            )?;
        }
        return Ok(());
    }
    for partition in 0..log.partitions() {
        let mut next = 0;
        loop {
            let records = log.read(partition, next, 1000).await?;
            let Some(last) = records.last() else { break };
            next = last.position.offset + 1;
            for record in records {
                outln!(
                    "{}:{}  {}",
                    record.position.partition,
                    record.position.offset,
                    describe(&record.bytes)
                )?;
            }
        }
    }
    Ok(())
}

pub(crate) async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    ensure_existing(&config)?;
    let log = Log::open_read_only(&config).await?.shared();
    let store = Views::open_read_only(&config).await?.shared();
    let report = audit::verify_log(&*log, &*store, &[]).await?;
    match report.first_mismatch {
        None => {
            outln!(
                "verified {} records: every hash chain matches",
                report.records_checked
            )
        }
        Some(mismatch) => {
            outln!(
                "MISMATCH at partition {} offset {}{}: {} (views hold {}, the log gives {})",
                mismatch.position.partition,
                mismatch.position.offset,
                if mismatch.case_no.is_empty() {
                    String::new()
                } else {
                    format!(" (case {})", mismatch.case_no)
                },
                mismatch.reason,
                hex::encode(mismatch.expected),
                hex::encode(mismatch.actual),
            )?;
            bail!(
                "verification failed after {} records",
                report.records_checked
            )
        }
    }
}

pub(crate) async fn rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    ensure_existing(&config)?;
    let log = Log::open_read_only(&config).await?.shared();
    let live = Views::open_read_only(&config).await?.shared();
    let temporary = tempfile::tempdir().context("create a temporary directory")?;
    let target = args.into.unwrap_or_else(|| {
        temporary
            .path()
            .join("rebuilt-views.db")
            .display()
            .to_string()
    });
    let fresh = Views::open_target(&target).await?.shared();
    if !fresh.checkpoints().await?.is_empty() {
        bail!("`{target}` already holds views: rebuild into an empty database");
    }
    let started = Instant::now();
    let mut projector = Projector::builder(log.clone(), fresh.clone())
        .partitions(0..log.partitions())
        .batch_size(5000)
        .open()
        .await?;
    let folded = projector.run_until_caught_up().await?;
    let seconds = started.elapsed().as_secs_f64();
    let rebuilt = fresh.digest().await?;
    let current = live.digest().await?;
    outln!("rebuilt {folded} records in {seconds:.2} s into {target}")?;
    outln!("rebuilt digest {}", hex::encode(rebuilt))?;
    outln!("live digest    {}", hex::encode(current))?;
    if rebuilt != current {
        bail!("the live views differ from a rebuild of the log (they may be behind it)");
    }
    outln!("the live views equal a rebuild from the log")
}

pub(crate) async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let config = args.new_log.load(&args.config)?;
    let _lock = DataLock::for_config(&config)?;
    prepare_log(&config).await?;
    let views = Views::open(&config).await?;
    let where_ = match views {
        Views::Sqlite(_) => format!("SQLite in {}", config.data.display()),
        Views::Postgres(_) => "PostgreSQL".to_owned(),
    };
    outln!("views ready ({where_})")
}

/// Creates the log, or checks the one there.
async fn prepare_log(config: &Config) -> anyhow::Result<()> {
    match config.log.backend {
        LogBackend::Embedded => {
            let log = Log::open(config).await?.shared();
            outln!(
                "embedded log ready in {} ({} partitions)",
                config.data.display(),
                log.partitions()
            )?;
        }
        LogBackend::Kafka => prepare_kafka(config).await?,
    }
    Ok(())
}

#[cfg(feature = "kafka")]
async fn prepare_kafka(config: &Config) -> anyhow::Result<()> {
    let status = casewatch_log::kafka::ensure_topic(&crate::backends::kafka_config(config))
        .await
        .context("create or check the Kafka topic")?;
    outln!(
        "Kafka topic `{}` {status:?} ({} partitions, unlimited retention)",
        config.log.kafka.topic,
        config.log.partitions
    )
}

#[cfg(not(feature = "kafka"))]
async fn prepare_kafka(_config: &Config) -> anyhow::Result<()> {
    bail!("log.backend = \"kafka\", but this casewatch was built without the `kafka` feature")
}
