//! The command line: one binary, a subcommand per role. Every flag can also be set from
//! a `CASEWATCH_…` environment variable.

use clap::{Args, Parser, Subcommand};

/// Casewatch: electronic supervision (电子监察) of government service cases.
#[derive(Debug, Parser)]
#[command(name = "casewatch", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Simulate several counties reporting cases and print the supervision alerts they draw.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Seed of the simulated counties; the same seed gives the same run.
    #[arg(long, env = "CASEWATCH_SEED", default_value_t = 1)]
    pub(crate) seed: u64,
    /// Working days on which new cases arrive.
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
