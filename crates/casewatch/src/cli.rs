//! The command line: one binary, a subcommand per role. Every flag can also be set from
//! a `CASEWATCH_…` environment variable, and the roles read a TOML file (`--config`).
//!
//! Each command's arguments live in the module that runs it; this module only assembles
//! them into [`Command`], so nothing reaches back into it.

use clap::{Parser, Subcommand};

use crate::access::TokenArgs;
#[cfg(feature = "bench")]
use crate::bench::BenchArgs;
use crate::commands::{MigrateArgs, RebuildArgs, ReplayArgs, VerifyArgs};
use crate::config::{RoleArgs, ToolLogArgs};
use crate::demo::DemoArgs;
use crate::policy::PolicyArgs;
use crate::report::ReportArgs;
use crate::roles::{IngestArgs, ProjectArgs, ServeArgs};
use crate::simulate::SimulateArgs;

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
    /// Run the api role: `MonitorService`, `AuditService` and `PolicyService` over the views, pushing the
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
    #[cfg(feature = "bench")]
    Bench(BenchArgs),
    /// Write a report of a region read from the views: `daily` statistics (日统计), the
    /// `weekly` ranking (周排名), the ten-day `dispatch` list (旬调度) or the `monthly`
    /// bulletin (月通报), as Markdown, CSV, JSON or printable HTML.
    Report(ReportArgs),
    /// The policy of a running node: `show` the rule book and the working calendars in
    /// force, their `history`, and `diff` or `apply` a change from a TOML file.
    Policy(PolicyArgs),
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
            #[cfg(feature = "bench")]
            Command::Bench(args) => &args.log,
            Command::Report(args) => &args.log,
            Command::Policy(args) => args.action.log(),
        };
        Some(log.filter())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
