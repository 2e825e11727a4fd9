//! The Casewatch binary: parses the command line and hands over to a role.

// A command-line program reports on standard output.
#![allow(clippy::print_stdout)]

use clap::Parser;

mod access;
mod backends;
#[cfg(feature = "bench")]
mod bench;
mod cli;
mod client;
mod commands;
mod config;
mod demo;
mod lock;
mod out;
mod policy;
mod report;
mod roles;
mod simulate;

/// mimalloc rather than the system allocator: the fold and the ingest path allocate and
/// free many small strings and vectors per event (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    // A tool reports on standard output and logs only what goes wrong.
    let _telemetry = match cli.command.tool_log() {
        Some(log_filter) => Some(casewatch_telemetry::init(
            &casewatch_telemetry::TelemetryConfig {
                log_filter: Some(log_filter),
                ..Default::default()
            },
            "casewatch",
        )?),
        None => None,
    };
    let result = match cli.command {
        cli::Command::Serve(args) => role(args.config(), "casewatch", roles::serve).await,
        cli::Command::Ingest(args) => role(args.config(), "casewatch-ingest", roles::ingest).await,
        cli::Command::Project(args) => {
            role(args.config(), "casewatch-project", roles::project).await
        }
        cli::Command::Api(args) => role(args.load_with(|_| {}), "casewatch-api", roles::api).await,
        cli::Command::Demo(args) => tool(demo::run(args)).await,
        cli::Command::Simulate(args) => tool(simulate::run(args)).await,
        cli::Command::Replay(args) => tool(commands::replay(args)).await,
        cli::Command::Verify(args) => tool(commands::verify(args)).await,
        cli::Command::Rebuild(args) => tool(commands::rebuild(args)).await,
        cli::Command::Migrate(args) => tool(commands::migrate(args)).await,
        #[cfg(feature = "bench")]
        cli::Command::Bench(args) => tool(bench::run(args)).await,
        cli::Command::Report(args) => tool(report::run(args)).await,
        cli::Command::Policy(args) => tool(policy::run(args)).await,
        cli::Command::Token(args) => tool(async move { access::print_token(&args) }).await,
    };
    out::stop_if_closed(&result);
    result
}

/// Runs a role with its configuration, logging and trace export.
async fn role<F: std::future::Future<Output = anyhow::Result<()>>>(
    config: anyhow::Result<config::Config>,
    service: &str,
    run: impl FnOnce(config::Config) -> F,
) -> anyhow::Result<()> {
    let config = config?;
    let _telemetry = casewatch_telemetry::init(&config.telemetry, service)?;
    run(config).await
}

/// Runs a tool (its logging is set up by `main`).
async fn tool(run: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    run.await
}
