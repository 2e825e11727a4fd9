//! The Casewatch binary: parses the command line and hands over to a role.

// A command-line program reports on standard output.
#![allow(clippy::print_stdout)]

use clap::Parser;

mod cli;
mod client;
mod commands;
mod demo;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASEWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        cli::Command::Serve(args) => commands::serve(args).await,
        cli::Command::Demo(args) => demo::run(args).await,
        cli::Command::Simulate(args) => commands::simulate(args).await,
        cli::Command::Replay(args) => commands::replay(args).await,
        cli::Command::Verify(args) => commands::verify(args).await,
        cli::Command::Rebuild(args) => commands::rebuild(args).await,
        cli::Command::Migrate(args) => commands::migrate(args).await,
    }
}
