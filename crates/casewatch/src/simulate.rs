//! `casewatch simulate`: simulated counties reporting into a running server as real ones
//! would. A server's clock is the wall clock (or the file its `server.clock_file` names),
//! so the simulated city runs on that clock: the history of the last `--days` working days
//! up to now is reported at once, in the order the counties report it (each case's steps in
//! the order they happened, none after now), and with `--follow` the rest is reported as
//! its time comes; with `--live` there is no history, only steps reported as they happen. Every run is new
//! cases: the case numbers carry the run's name, made from the instant it started.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use casewatch_domain::Timestamp;
use casewatch_domain::calendar::WorkingCalendar;
use casewatch_proto::pb;
use casewatch_server::{Clock, FileClock, SystemClock};
use casewatch_sim::{Output, SimConfig, Simulator};
use clap::Args;

use crate::client;
use crate::config::ToolLogArgs;
use crate::out::outln;

/// The longest a follower sleeps before it reads the clock again (a clock file may jump).
const CLOCK_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Seed of the simulated counties; the same seed gives the same run.
    #[arg(long, env = "CASEWATCH_SEED", default_value_t = 1)]
    pub(crate) seed: u64,
    /// Working days on which new cases arrive (for `simulate`, the last ones up to today).
    #[arg(long, env = "CASEWATCH_DAYS", default_value_t = 10)]
    pub(crate) days: u32,
    /// Counties reporting (1 to 6).
    #[arg(long, env = "CASEWATCH_COUNTIES", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=6))]
    pub(crate) counties: u8,
    /// New cases per county per working day.
    #[arg(long, env = "CASEWATCH_CASES_PER_DAY", default_value_t = 20)]
    pub(crate) cases_per_day: u32,
}

impl From<&SimArgs> for casewatch_sim::SimConfig {
    fn from(args: &SimArgs) -> Self {
        Self {
            seed: args.seed,
            days: args.days,
            counties: usize::from(args.counties),
            cases_per_county_day: args.cases_per_day,
            ..Self::default()
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    #[command(flatten)]
    pub(crate) client: client::ClientArgs,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
    /// Events per append request.
    #[arg(long, env = "CASEWATCH_BATCH", default_value_t = 500)]
    pub(crate) batch: usize,
    /// Events per second at most; unlimited when absent.
    #[arg(long, env = "CASEWATCH_RATE")]
    pub(crate) rate: Option<u32>,
    /// Stop after this long, even if the simulation has more.
    #[arg(long, env = "CASEWATCH_DURATION", value_parser = humantime::parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// After the history up to now, keep reporting the open cases' steps as their time
    /// comes on the server's clock, as the counties would live.
    #[arg(long, env = "CASEWATCH_FOLLOW")]
    pub(crate) follow: bool,
    /// No history: new cases arrive on the `--days` working days from now, and each step
    /// is reported as it happens on the server's clock (so none is reported late).
    #[arg(long, env = "CASEWATCH_LIVE", conflicts_with = "follow")]
    pub(crate) live: bool,
    /// The clock file of a server that reads its time from one (`server.clock_file`); the
    /// wall clock when absent.
    #[arg(long, env = "CASEWATCH_CLOCK_FILE")]
    pub(crate) clock_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) sim: SimArgs,
}

/// The name of a run started at `at`: its Unix milliseconds in base 36, eight characters
/// until the year 2059, so that two runs a moment apart still differ.
fn run_name(at: Timestamp) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut millis = u64::try_from(at.timestamp_millis()).unwrap_or_default();
    let mut name = Vec::new();
    loop {
        name.push(DIGITS[(millis % 36) as usize]);
        millis /= 36;
        if millis == 0 {
            break;
        }
    }
    name.reverse();
    String::from_utf8(name).expect("base-36 digits are ASCII")
}

/// Waits until `clock` reaches `at`.
async fn wait_until(clock: &dyn Clock, at: Timestamp) {
    while let Ok(ahead) = (at - clock.now()).to_std() {
        if ahead.is_zero() {
            return;
        }
        tokio::time::sleep(ahead.min(CLOCK_POLL)).await;
    }
}

pub(crate) async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let channel = args.client.connect().await?;
    let retry = args.client.retry();
    let mut ingest = pb::ingest_service_client::IngestServiceClient::new(channel);
    let clock: Arc<dyn Clock> = match &args.clock_file {
        Some(path) => Arc::new(FileClock::new(path)),
        None => Arc::new(SystemClock),
    };
    let now = clock.now();
    let run = run_name(now);
    let sim = SimConfig {
        run: Some(run.clone()),
        ..SimConfig::from(&args.sim)
    };
    let (sim, follow) = if args.live {
        (SimConfig { start: now, ..sim }, true)
    } else {
        (sim.ending_at(now), args.follow)
    };
    let local_now = now
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset"))
        .format("%Y-%m-%d %H:%M");
    if args.live {
        outln!(
            "run {run}: {} counties report the cases of the {} working days from {local_now} \
             as they happen (case numbers `…-{run}-…`)",
            sim.counties,
            sim.days,
        )?;
    } else {
        outln!(
            "run {run}: {} counties report the cases of the {} working days up to \
             {local_now} (case numbers `…-{run}-…`)",
            sim.counties,
            sim.days,
        )?;
    }
    let started = Instant::now();
    let mut batch = Vec::with_capacity(args.batch);
    let mut pushed = 0u64;
    let mut ahead = 0u64;
    // Steps reported more than a working day after they happened draw C2 (late reporting).
    let calendar = WorkingCalendar::national();
    let mut late = 0u64;
    let mut outputs = Simulator::new(sim);
    for output in outputs.by_ref() {
        let Output::Step { event, recorded_at } = output else {
            continue;
        };
        if recorded_at > clock.now() {
            if !follow {
                ahead = 1;
                break;
            }
            pushed += client::push_with(&mut ingest, std::mem::take(&mut batch), retry).await?;
            wait_until(&*clock, recorded_at).await;
        }
        if calendar.working_seconds(event.occurred_at, clock.now()) > calendar.day_seconds() {
            late += 1;
        }
        batch.push(pb::CaseEvent::from(*event));
        if batch.len() >= args.batch {
            pushed += client::push_with(&mut ingest, std::mem::take(&mut batch), retry).await?;
            if let Some(rate) = args.rate {
                let due = Duration::from_secs_f64(pushed as f64 / f64::from(rate.max(1)));
                tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
            }
        }
        if args
            .duration
            .is_some_and(|limit| started.elapsed() >= limit)
        {
            break;
        }
    }
    pushed += client::push_with(&mut ingest, batch, retry).await?;
    let seconds = started.elapsed().as_secs_f64();
    outln!(
        "{pushed} events appended in {seconds:.2} s: {:.0} events/s",
        pushed as f64 / seconds.max(1e-9)
    )?;
    if late > 0 {
        outln!(
            "{late} of them happened more than a working day before they were reported: late \
             reports, each drawing a C2 warning"
        )?;
    }
    if ahead > 0 {
        ahead += outputs
            .filter(|output| matches!(output, Output::Step { .. }))
            .count() as u64;
        outln!(
            "{ahead} steps of open cases are still to come: `--follow` reports them as their \
             time comes"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_are_short_and_differ_by_the_millisecond() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-07T14:16:19.617+08:00")
            .expect("a valid instant")
            .to_utc();
        let name = run_name(at);
        assert_eq!(name.len(), 8, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        assert_ne!(name, run_name(at + chrono::Duration::milliseconds(1)));
    }
}
