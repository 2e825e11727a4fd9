//! `casewatch report`: the daily statistics, weekly ranking, ten-day dispatch list and
//! monthly bulletin of a region, read from the views of any backend, written as Markdown,
//! CSV, JSON or printable HTML.

pub(crate) mod render;

use std::path::PathBuf;

use anyhow::Context as _;
use casewatch_domain::case::Policy;
use casewatch_domain::ids::RegionCode;
use casewatch_server::reports::{self, Reach};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use crate::backends::Views;
use crate::config::ConfigArgs;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// 日统计: the day's figures per child region and department.
    Daily,
    /// 周排名: the week's ranking (Monday to Sunday) of departments and counties.
    Weekly,
    /// 旬调度: overdue open cases and open red cards of the 旬, totals against the last.
    Dispatch,
    /// 月通报: the month's figures, best and worst, red cards, overdue cases at month end.
    Monthly,
}

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Md,
    /// UTF-8 with a byte-order mark, for spreadsheets.
    Csv,
    Json,
    /// A printable page.
    Html,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Which report.
    #[arg(value_enum)]
    pub(crate) kind: Kind,
    /// The region reported on: a 6-, 9- or 12-digit region code (`330100` for a city).
    #[arg(long)]
    pub(crate) region: String,
    /// Any day of the period (local date, YYYY-MM-DD).
    #[arg(long)]
    pub(crate) date: NaiveDate,
    /// How to write it.
    #[arg(long, value_enum, default_value = "md")]
    pub(crate) format: Format,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

/// Makes the report and writes it.
pub(crate) async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let region =
        RegionCode::parse(&args.region).map_err(|error| anyhow::anyhow!("--region: {error}"))?;
    let config = args.config.load()?;
    let views = Views::open(&config).await?.shared();
    let store = views.as_ref();
    let reach = Reach::region(&region);
    let policy = Policy::default();
    let day = args.date;
    let bytes = match args.kind {
        Kind::Daily => {
            let report = reports::daily(store, &region, &reach, day).await?;
            write(args.format, &report, || render::daily(&report))?
        }
        Kind::Weekly => {
            let report = reports::weekly(store, &region, &reach, day).await?;
            write(args.format, &report, || render::weekly(&report))?
        }
        Kind::Dispatch => {
            let report = reports::dispatch_list(store, &policy, &region, &reach, day).await?;
            write(args.format, &report, || render::dispatch(&report))?
        }
        Kind::Monthly => {
            let report = reports::monthly_bulletin(store, &policy, &region, &reach, day).await?;
            write(args.format, &report, || render::monthly(&report))?
        }
    };
    match &args.out {
        Some(path) => std::fs::write(path, bytes)
            .with_context(|| format!("write the report to `{}`", path.display())),
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(&bytes)
                .context("write the report to standard output")
        }
    }
}

/// A report in `format`: JSON from its data, the others from its document.
fn write<T: serde::Serialize>(
    format: Format,
    report: &T,
    document: impl FnOnce() -> render::Document,
) -> anyhow::Result<Vec<u8>> {
    Ok(match format {
        Format::Json => {
            let mut json = serde_json::to_vec_pretty(report).context("encode the report")?;
            json.push(b'\n');
            json
        }
        Format::Md => render::markdown(&document()).into_bytes(),
        Format::Csv => render::csv(&document())?,
        Format::Html => render::html(&document()).into_bytes(),
    })
}
