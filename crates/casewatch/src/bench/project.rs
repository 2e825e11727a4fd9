//! The scenarios over a pre-filled log: projector catch-up into fresh views, replay and
//! verification of every hash chain, and the memory an open case takes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use casewatch_log::EventLog;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_projector::{Projector, audit};
use casewatch_proto::pb;
use casewatch_store::ViewStore;
use casewatch_store::sqlite::SqliteStore;

use super::report::{Report, rss_bytes};
use super::workload::{Step, step_record};
use super::{Bench, PARTITIONS, Projected, append_all};

/// Records per projector batch, as `casewatch rebuild` folds.
const BATCH: usize = 5000;

/// A projector folding every partition of `log` into `store` as a rebuild does.
async fn rebuilding(
    log: Arc<EmbeddedLog>,
    store: Arc<dyn ViewStore>,
) -> anyhow::Result<Projector<EmbeddedLog, dyn ViewStore>> {
    Ok(Projector::builder(log.clone(), store)
        .partitions(0..log.partitions())
        .batch_size(BATCH)
        .open()
        .await?)
}

/// Folds the whole of `log` into `store`; returns the records folded and how long it took.
async fn fold(log: Arc<EmbeddedLog>, store: Arc<dyn ViewStore>) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let folded = rebuilding(log, store).await?.run_until_caught_up().await?;
    Ok((folded, started.elapsed()))
}

/// The workload's log, written as ingest would have written it.
async fn prefill(bench: &Bench, report: &mut Report) -> anyhow::Result<Arc<EmbeddedLog>> {
    let log = bench.embedded_log("projector-log")?;
    let batches = bench.workload.log_batches(PARTITIONS, BATCH);
    let (appended, elapsed) = append_all(log.clone(), batches, 2).await?;
    report.rate(
        "prefill_per_s",
        "pre-fill: records appended to the log",
        appended,
        elapsed,
    );
    Ok(log)
}

/// Scenario 3: the pre-filled log folded into fresh SQLite views and fresh PostgreSQL
/// views, beside reading and decoding it alone.
pub(super) async fn catch_up(bench: &mut Bench) -> anyhow::Result<Vec<Report>> {
    let mut report = Report::new("projector", "embedded log");
    let log = prefill(bench, &mut report).await?;
    let read = read_all(&log, true).await?;
    let reference = report.rate(
        "read_decode_per_s",
        "reference: reading and decoding the log alone",
        read.0,
        read.1,
    );

    let views = bench.scratch("projector-views")?.join("views.db");
    let sqlite = Arc::new(SqliteStore::open(&views).await?);
    let (folded, elapsed) = fold(log.clone(), sqlite.clone()).await?;
    let rate = report.rate(
        "sqlite_events_per_s",
        "Casewatch: into SQLite views",
        folded,
        elapsed,
    );
    report.ratio(
        "sqlite_ratio",
        "SQLite / reading and decoding",
        rate,
        reference,
    );
    report.target("≥ 200,000 events/s into SQLite", rate >= 200_000.0);
    let digest = sqlite.digest().await?;

    let postgres = match bench.postgres_views().await? {
        Some((store, schema)) => {
            let store = Arc::new(store);
            let (folded, elapsed) = fold(log.clone(), store.clone()).await?;
            let rate = report.rate(
                "postgres_events_per_s",
                "Casewatch: into PostgreSQL views",
                folded,
                elapsed,
            );
            report.target("≥ 100,000 events/s into PostgreSQL", rate >= 100_000.0);
            let same = store.digest().await? == digest;
            report.value(
                "same_digest",
                "PostgreSQL views equal the SQLite views",
                same,
            );
            ensure!(
                same,
                "the PostgreSQL views differ from the SQLite views of the same log"
            );
            Some((store, schema))
        }
        None => {
            report.skipped("postgres", "PostgreSQL not reachable");
            None
        }
    };
    bench.projected = Some(Projected {
        log,
        sqlite,
        postgres,
        records: folded,
    });
    Ok(vec![report])
}

/// The projector scenario's log and views; the scenario runs (and prints its report) first
/// when it has not.
pub(super) async fn projected(bench: &mut Bench) -> anyhow::Result<&Projected> {
    if bench.projected.is_none() {
        for report in catch_up(bench).await? {
            report.print(bench.args.json);
        }
    }
    bench
        .projected
        .as_ref()
        .context("the projector scenario keeps its log and views")
}

/// Reads every record of every partition (and decodes it, if asked); returns the records
/// and how long it took.
async fn read_all(log: &EmbeddedLog, decode: bool) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut records = 0;
    for partition in 0..log.partitions() {
        let mut next = 0;
        loop {
            let batch = log.read(partition, next, BATCH).await?;
            let Some(last) = batch.last() else { break };
            next = last.position.offset + 1;
            records += batch.len() as u64;
            if decode {
                for record in &batch {
                    casewatch_proto::decode_record(&record.bytes)
                        .context("a record of the benchmark's log does not decode")?;
                }
            }
        }
    }
    Ok((records, started.elapsed()))
}

/// Scenario 5: every hash chain recomputed from the log and compared with the views,
/// beside reading the log alone.
pub(super) async fn verify(bench: &mut Bench) -> anyhow::Result<Vec<Report>> {
    let projected = projected(bench).await?;
    let mut report = Report::new("verify", "embedded log, SQLite views");
    let (read, elapsed) = read_all(&projected.log, false).await?;
    let reference = report.rate(
        "read_per_s",
        "reference: reading the log alone",
        read,
        elapsed,
    );
    let started = Instant::now();
    let verified = audit::verify_log(&*projected.log, &*projected.sqlite, &[]).await?;
    let elapsed = started.elapsed();
    ensure!(
        verified.first_mismatch.is_none(),
        "verification of an untouched log failed: {:?}",
        verified.first_mismatch
    );
    ensure!(
        verified.records_checked == projected.records,
        "verified {} records of {}",
        verified.records_checked,
        projected.records
    );
    let rate = report.rate(
        "events_per_s",
        "Casewatch: read and verify every chain",
        verified.records_checked,
        elapsed,
    );
    report.ratio("read_ratio", "verify / reading alone", rate, reference);
    report.target("≥ 1,000,000 events/s", rate >= 1_000_000.0);
    Ok(vec![report])
}

/// Scenario 6a: the projector's memory per open case: many cases submitted and accepted,
/// none finished, folded into fresh views in two halves. The growth of the resident set
/// over the second half, per case, is what one more open case costs (the caches of the log
/// and the views are full by then); the growth over both halves is reported beside it.
pub(super) async fn open_cases(bench: &Bench) -> anyhow::Result<Vec<Report>> {
    let cases = if bench.quick() { 50_000 } else { 1_000_000 };
    let half = cases / 2;
    let opening = &opening_steps(&bench.workload.steps)?;
    let log = bench.embedded_log("open-cases-log")?;
    let append = |cases: std::ops::Range<usize>| {
        let end = cases.end;
        let batches = cases.step_by(BATCH / 2).map(move |first| {
            (first..(first + BATCH / 2).min(end))
                .flat_map(|case| opening.iter().map(move |step| renamed(step, case)))
                .map(|step| step_record(&step, step.recorded_at))
                .collect()
        });
        append_all(log.clone(), batches, 2)
    };
    append(0..half).await?;

    let mut report = Report::new("open_cases", "embedded log, SQLite views");
    report.value("cases", "open cases", cases);
    let views = bench.scratch("open-cases-views")?.join("views.db");
    let store = Arc::new(SqliteStore::open(&views).await?);
    let before = rss_bytes().context("this platform does not report RSS")?;
    let started = Instant::now();
    let mut projector = rebuilding(log.clone(), store.clone()).await?;
    let mut folded = projector.run_until_caught_up().await?;
    let mut elapsed = started.elapsed();
    let middle = rss_bytes().context("this platform does not report RSS")?;
    append(half..cases).await?;
    let started = Instant::now();
    folded += projector.run_until_caught_up().await?;
    elapsed += started.elapsed();
    let after = rss_bytes().context("this platform does not report RSS")?;
    report.rate("events_per_s", "folded (two steps a case)", folded, elapsed);
    let mib = |bytes: u64| bytes / (1024 * 1024);
    report.value(
        "rss_growth_mib",
        "RSS growth (MiB)",
        mib(after.saturating_sub(before)),
    );
    report.value(
        "bytes_per_case_overall",
        "RSS growth per open case, caches included (bytes)",
        (after.saturating_sub(before) as f64 / cases as f64).round(),
    );
    let per_case = after.saturating_sub(middle) as f64 / (cases - half) as f64;
    report.value(
        "bytes_per_case",
        "RSS growth per open case, second half (bytes)",
        per_case.round(),
    );
    report.target("≤ 512 bytes per open case", per_case <= 512.0);
    drop(projector);
    store.close().await;
    Ok(vec![report])
}

/// The first two steps of the workload's first case (submitted, accepted): a case whose
/// clock runs.
fn opening_steps(steps: &[Step]) -> anyhow::Result<Vec<Step>> {
    let first = steps.first().context("an empty workload")?;
    let opening: Vec<Step> = steps
        .iter()
        .filter(|step| step.event.case_no == first.event.case_no && step.event.seq <= 2)
        .cloned()
        .collect();
    ensure!(
        opening
            .iter()
            .any(|step| matches!(step.event.step, Some(pb::case_event::Step::Accepted(_)))),
        "the workload's first case was not accepted in its first two steps"
    );
    Ok(opening)
}

/// `step` of the `case`th copy of its case.
fn renamed(step: &Step, case: usize) -> Step {
    let mut step = step.clone();
    step.event.case_no = format!("{}-{case:07}", step.event.case_no);
    step.event.event_id = format!("{}-{}", step.event.case_no, step.event.seq);
    step
}
