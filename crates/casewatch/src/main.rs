//! The Casewatch binary: parses the command line and hands over to a role.

// A command-line program reports on standard output.
#![allow(clippy::print_stdout)]

use clap::Parser;

mod backends;
mod cli;
mod client;
mod commands;
mod config;
mod demo;
mod roles;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Serve(args) => {
            let config = args.load()?;
            let _telemetry = telemetry(&config, "casewatch")?;
            roles::serve(config).await
        }
        cli::Command::Ingest(args) => {
            let config = args.load()?;
            let _telemetry = telemetry(&config, "casewatch-ingest")?;
            roles::ingest(config).await
        }
        cli::Command::Project(args) => {
            let config = args.load()?;
            let _telemetry = telemetry(&config, "casewatch-project")?;
            roles::project(config).await
        }
        cli::Command::Api(args) => {
            let config = args.load()?;
            let _telemetry = telemetry(&config, "casewatch-api")?;
            roles::api(config).await
        }
        command => {
            // The tools report on standard output; they log only what goes wrong.
            let _telemetry = casewatch_telemetry::init(
                &casewatch_telemetry::TelemetryConfig {
                    log_filter: Some(
                        std::env::var("CASEWATCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
                    ),
                    ..Default::default()
                },
                "casewatch",
            )?;
            match command {
                cli::Command::Demo(args) => demo::run(args).await,
                cli::Command::Simulate(args) => commands::simulate(args).await,
                cli::Command::Replay(args) => commands::replay(args).await,
                cli::Command::Verify(args) => commands::verify(args).await,
                cli::Command::Rebuild(args) => commands::rebuild(args).await,
                cli::Command::Migrate(args) => commands::migrate(args).await,
                cli::Command::Serve(_)
                | cli::Command::Ingest(_)
                | cli::Command::Project(_)
                | cli::Command::Api(_) => unreachable!("the roles are matched above"),
            }
        }
    }
}

/// Logging, and trace export when configured, for a role.
fn telemetry(
    config: &config::Config,
    service: &str,
) -> anyhow::Result<casewatch_telemetry::TelemetryGuard> {
    casewatch_telemetry::init(&config.telemetry, service)
}
