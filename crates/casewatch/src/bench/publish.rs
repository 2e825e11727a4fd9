//! The published reports: the daily statistics, weekly ranking, ten-day dispatch list and
//! monthly bulletin of the workload's city, made from the projector scenario's views and
//! written as Markdown, as `casewatch report` makes them.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use casewatch_domain::case::Policy;
use casewatch_domain::ids::RegionCode;
use casewatch_store::ViewStore;
use chrono::NaiveDate;

use super::report::{Latencies, Report};
use super::{Bench, project};
use crate::report::{self, Format, Kind};

/// The city the workload's counties belong to (Hangzhou).
const CITY: &str = "330100";
/// Times each report is made; the first, with cold caches, counts too.
const RUNS: usize = 5;
/// The target for each report.
const TARGET: Duration = Duration::from_secs(1);

/// Scenario 7: each report of the city for the periods holding the last day new cases
/// arrive, on the SQLite views and then the PostgreSQL views of the projector scenario's log.
pub(super) async fn reports(bench: &mut Bench) -> anyhow::Result<Vec<Report>> {
    let policy = Policy::default();
    let last_submission = bench
        .workload
        .steps
        .iter()
        .rev()
        .find(|step| step.event.seq == 1)
        .context("a workload without cases")?
        .recorded_at;
    let day = policy.calendars.national().local_date(last_submission);
    let projected = project::projected(bench).await?;
    let mut measured = vec![measure("SQLite views", &*projected.sqlite, &policy, day).await?];
    match &projected.postgres {
        Some((store, _)) => {
            measured.push(measure("PostgreSQL views", &**store, &policy, day).await?);
        }
        None => {
            let mut report = Report::new("report", "PostgreSQL views");
            report.skipped("postgres", "PostgreSQL not reachable");
            measured.push(report);
        }
    }
    Ok(measured)
}

/// Every report of the city for the periods that hold `day`, `RUNS` times each, over
/// `store`.
async fn measure(
    backend: &str,
    store: &dyn ViewStore,
    policy: &Policy,
    day: NaiveDate,
) -> anyhow::Result<Report> {
    let city = RegionCode::parse(CITY).context("the workload's city code")?;
    let mut report = Report::new("report", backend);
    report.value("region", "region", CITY);
    report.value("date", "the last day new cases arrive", day.to_string());
    let mut slowest = Duration::ZERO;
    for kind in [Kind::Daily, Kind::Weekly, Kind::Dispatch, Kind::Monthly] {
        let mut latencies = Latencies::new();
        let mut bytes = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            bytes = report::make(store, policy, &city, kind, day)
                .await?
                .write(Format::Md)?
                .len();
            latencies.record(started.elapsed());
        }
        let name = format!("{kind:?}").to_lowercase();
        report.latencies(&name, &format!("{name} report"), &latencies);
        report.value(
            &format!("{name}_bytes"),
            &format!("{name} report (bytes of Markdown)"),
            bytes,
        );
        slowest = slowest.max(Duration::from_secs_f64(latencies.millis(1.0) / 1000.0));
    }
    report.target("≤ 1 s for each report", slowest <= TARGET);
    Ok(report)
}
