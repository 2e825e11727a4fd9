//! `casewatch report`: the daily statistics, weekly ranking, ten-day dispatch list and
//! monthly bulletin of a region, read from the views of any backend, written as Markdown,
//! CSV, JSON or printable HTML.

pub(crate) mod render;

use std::path::PathBuf;

use anyhow::Context as _;
use casewatch_domain::case::Policy;
use casewatch_domain::ids::RegionCode;
use casewatch_domain::policy::PolicyInForce;
use casewatch_server::reports::{self, Reach};
use casewatch_store::ViewStore;
use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use casewatch_domain::report::{DailyReport, DispatchList, MonthlyBulletin, WeeklyRanking};
use casewatch_proto::convert::date_to_pb;
use casewatch_proto::pb;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;

use crate::backends::Views;
use crate::client::ClientArgs;
use crate::config::{ConfigArgs, ToolLogArgs, ViewsArgs};

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
    // Where the views are, unless `--server`: the client's `--data` (which also says where
    // a development token is), or the configuration's, with these over them.
    /// A TOML configuration file (its `data` and `[views]`).
    #[arg(long, env = "CASEWATCH_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) views: ViewsArgs,
    /// With `--server` (or `CASEWATCH_SERVER`): ask that server for the report instead of
    /// reading views, as the principal of the token.
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
}

/// Makes the report and writes it.
pub(crate) async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let region =
        RegionCode::parse(&args.region).map_err(|error| anyhow::anyhow!("--region: {error}"))?;
    let config = ConfigArgs {
        config: args.config.clone(),
        data: args.client.data.clone(),
        views: args.views.clone(),
        ..ConfigArgs::default()
    };
    let report = if args.client.server.is_some() {
        let mut client = args.client.clone();
        client.data = Some(config.data_dir()?);
        from_server(&client, &region, args.kind, args.date).await?
    } else {
        let config = config.load()?;
        crate::backends::ensure_existing(&config)?;
        let views = Views::open_read_only(&config).await?.shared();
        let policy =
            casewatch_projector::audit::policy_in_force(views.as_ref(), &PolicyInForce::shipped())
                .await?;
        make(
            views.as_ref(),
            policy.policy(),
            &region,
            args.kind,
            args.date,
        )
        .await?
    };
    let bytes = report.write(args.format)?;
    match &args.out {
        Some(path) => std::fs::write(path, bytes)
            .with_context(|| format!("write the report to `{}`", path.display())),
        None => crate::out::bytes(&bytes),
    }
}

/// A report made, of any kind.
pub(crate) enum Made {
    Daily(DailyReport),
    Weekly(WeeklyRanking),
    Dispatch(DispatchList),
    Monthly(MonthlyBulletin),
}

impl Made {
    /// The report in `format`.
    pub(crate) fn write(&self, format: Format) -> anyhow::Result<Vec<u8>> {
        match self {
            Made::Daily(report) => write(format, report, || render::daily(report)),
            Made::Weekly(report) => write(format, report, || render::weekly(report)),
            Made::Dispatch(report) => write(format, report, || render::dispatch(report)),
            Made::Monthly(report) => write(format, report, || render::monthly(report)),
        }
    }
}

/// The `kind` report of `region` for the period holding `day`, from `store`.
pub(crate) async fn make(
    store: &dyn ViewStore,
    policy: &Policy,
    region: &RegionCode,
    kind: Kind,
    day: NaiveDate,
) -> anyhow::Result<Made> {
    let reach = Reach::region(region);
    Ok(match kind {
        Kind::Daily => Made::Daily(reports::daily(store, region, &reach, day).await?),
        Kind::Weekly => Made::Weekly(reports::weekly(store, region, &reach, day).await?),
        Kind::Dispatch => {
            Made::Dispatch(reports::dispatch_list(store, policy, region, &reach, day).await?)
        }
        Kind::Monthly => {
            Made::Monthly(reports::monthly_bulletin(store, policy, region, &reach, day).await?)
        }
    })
}

/// The `kind` report as a server makes it for the caller of `client`.
async fn from_server(
    client: &ClientArgs,
    region: &RegionCode,
    kind: Kind,
    day: NaiveDate,
) -> anyhow::Result<Made> {
    let mut monitor = MonitorServiceClient::new(client.connect().await?);
    let request = pb::GetReportRequest {
        region: region.to_string(),
        date: Some(date_to_pb(day)),
        consistency: None,
    };
    let unreadable = "the server's report does not read as one";
    Ok(match kind {
        Kind::Daily => Made::Daily(
            monitor
                .get_daily_report(request)
                .await?
                .into_inner()
                .try_into()
                .context(unreadable)?,
        ),
        Kind::Weekly => Made::Weekly(
            monitor
                .get_weekly_ranking(request)
                .await?
                .into_inner()
                .try_into()
                .context(unreadable)?,
        ),
        Kind::Dispatch => Made::Dispatch(
            monitor
                .get_dispatch_list(request)
                .await?
                .into_inner()
                .try_into()
                .context(unreadable)?,
        ),
        Kind::Monthly => Made::Monthly(
            monitor
                .get_monthly_bulletin(request)
                .await?
                .into_inner()
                .try_into()
                .context(unreadable)?,
        ),
    })
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
