//! The command line: one binary, a subcommand per role. Every flag can also be set from
//! a `CASEWATCH_…` environment variable, and the roles read a TOML file (`--config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigArgs, GroupArgs, NewLogArgs, RoleArgs, TickArgs, ToolLogArgs};

/// Casewatch: electronic supervision (电子监察) of government service cases.
#[derive(Debug, Parser)]
#[command(name = "casewatch", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run every role in this process: the log, the views, a projector over every
    /// partition and every gRPC service (embedded backends unless configured otherwise).
    Serve(ServeArgs),
    /// Run the ingest role: `IngestService` and the clock ticker, stateless (many replicas).
    Ingest(IngestArgs),
    /// Run the projector role: fold the partitions the consumer group gives this member
    /// into the views (two or more share the partitions).
    Project(ProjectArgs),
    /// Run the api role: `MonitorService` and `AuditService` over the views, pushing the
    /// alerts any projector commits (many replicas).
    Api(RoleArgs),
    /// Start a node on an accelerated clock and push a simulated city into it over gRPC,
    /// printing the alerts as they arrive.
    Demo(DemoArgs),
    /// Push simulated counties' case steps into a running server: the history of the last
    /// `--days` working days up to the server's now, then (`--follow`) the rest live, or
    /// (`--live`) only live from now; every run is new cases.
    Simulate(SimulateArgs),
    /// Print the records of the log, or of one case.
    Replay(ReplayArgs),
    /// Recompute every hash chain from the log and compare it with the views.
    Verify(VerifyArgs),
    /// Fold the whole log into fresh views and print their digest beside the live one.
    Rebuild(RebuildArgs),
    /// Create the log (a Kafka topic: partitions, unlimited retention) and the views'
    /// schema, or check and bring them up to date.
    Migrate(MigrateArgs),
    /// Measure Casewatch against its references on this machine: ingest, projection,
    /// alert latency, verification and memory (see BENCHMARKS.md).
    Bench(BenchArgs),
    /// Write a report of a region read from the views: `daily` statistics (日统计), the
    /// `weekly` ranking (周排名), the ten-day `dispatch` list (旬调度) or the `monthly`
    /// bulletin (月通报), as Markdown, CSV, JSON or printable HTML.
    Report(crate::report::ReportArgs),
    /// Make a bearer token for a new principal: the `[[principals]]` entry that configures
    /// it (which holds only the token's SHA-256) on standard output, the token itself on
    /// standard error.
    Token(TokenArgs),
}

impl Command {
    /// What a tool logs, as `RUST_LOG` directives; `None` for a role, which logs as its
    /// configuration says.
    pub(crate) fn tool_log(&self) -> Option<String> {
        let log = match self {
            Command::Serve(_) | Command::Ingest(_) | Command::Project(_) | Command::Api(_) => {
                return None;
            }
            // It logs nothing of its own.
            Command::Token(_) => return Some(ToolLogArgs::default().filter()),
            Command::Demo(args) => &args.log,
            Command::Simulate(args) => &args.log,
            Command::Replay(args) => &args.log,
            Command::Verify(args) => &args.log,
            Command::Rebuild(args) => &args.log,
            Command::Migrate(args) => &args.log,
            Command::Bench(args) => &args.log,
            Command::Report(args) => &args.log,
        };
        Some(log.filter())
    }
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) role: RoleArgs,
    #[command(flatten)]
    pub(crate) tick: TickArgs,
    #[command(flatten)]
    pub(crate) group: GroupArgs,
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    #[command(flatten)]
    pub(crate) role: RoleArgs,
    #[command(flatten)]
    pub(crate) tick: TickArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ProjectArgs {
    #[command(flatten)]
    pub(crate) role: RoleArgs,
    #[command(flatten)]
    pub(crate) group: GroupArgs,
}

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
pub(crate) struct TokenArgs {
    /// The principal's unique name.
    #[arg(long)]
    pub(crate) name: String,
    /// Its role.
    #[arg(long, value_parser = ["county_system", "department", "monitor", "auditor", "admin"])]
    pub(crate) role: String,
    /// A region code it covers (repeat for several; `000000` for every region).
    #[arg(long = "region", required = true)]
    pub(crate) regions: Vec<String>,
    /// The department it speaks for (统一社会信用代码); required for a department.
    #[arg(long)]
    pub(crate) dept: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the demo keeps its data; a fresh temporary directory when absent.
    #[arg(long = "data", env = "CASEWATCH_DATA")]
    pub(crate) data: Option<PathBuf>,
    /// The gRPC listen address, `host:port` (the demo's node can be queried while it runs).
    #[arg(long, env = "CASEWATCH_LISTEN", default_value = "127.0.0.1:50051",
          value_parser = crate::config::parse_listen)]
    pub(crate) listen: SocketAddr,
    /// Real seconds per simulated day.
    #[arg(long, env = "CASEWATCH_SECONDS_PER_DAY", default_value_t = 4.0)]
    pub(crate) seconds_per_day: f64,
    #[command(flatten)]
    pub(crate) sim: SimArgs,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
}

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
    pub(crate) client: crate::client::ClientArgs,
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

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// A smaller run (under a minute) with the same scenarios: a smoke test of the
    /// instrument, not numbers to publish.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Only these scenarios (comma-separated); every scenario when absent.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub(crate) scenario: Vec<crate::bench::Scenario>,
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
