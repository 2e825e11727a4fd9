//! The Casewatch binary: parses the command line and hands over to a role.

use clap::Parser;

mod cli;
mod demo;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASEWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        cli::Command::Demo(args) => {
            let stdout = std::io::stdout();
            demo::run(&args.into(), &mut stdout.lock())?;
        }
    }
    Ok(())
}
