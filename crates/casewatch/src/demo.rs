//! The demo: simulated counties report cases, the supervision rules judge every step and
//! every hour, and each alert is printed as it is raised, escalated or resolved.

use std::collections::BTreeMap;
use std::io::Write;

use casewatch_domain::alert::{AlertChange, Cause, Level, RuleId};
use casewatch_domain::case::{Case, Light, Policy};
use casewatch_domain::ids::CaseNo;
use casewatch_domain::stats::Counters;
use casewatch_sim::{Output, SimConfig, Simulator, county_name};

use crate::cli::DemoArgs;

/// What to simulate.
#[derive(Debug, Clone)]
pub(crate) struct DemoConfig {
    pub(crate) sim: SimConfig,
}

impl From<DemoArgs> for DemoConfig {
    fn from(args: DemoArgs) -> Self {
        Self {
            sim: SimConfig {
                seed: args.seed,
                days: args.days,
                counties: usize::from(args.counties),
                cases_per_county_day: args.cases_per_day,
                ..SimConfig::default()
            },
        }
    }
}

/// The totals of a run.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) steps: u64,
    pub(crate) ticks: u64,
    pub(crate) totals: Counters,
    pub(crate) raised: BTreeMap<RuleId, u64>,
    pub(crate) lights: BTreeMap<Light, u64>,
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Warning => "预警 warning",
        Level::Yellow => "黄牌 yellow",
        Level::Red => "红牌 red",
        Level::Serious => "严重 serious",
    }
}

fn print_change(out: &mut impl Write, change: &AlertChange) -> std::io::Result<()> {
    let alert = &change.alert;
    let local = change
        .at
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset"));
    let what = match &change.cause {
        Cause::Raised => "raised",
        Cause::Escalated { .. } => "escalated",
        Cause::AutoResolved => "resolved",
        Cause::Action { .. } => "acted on",
    };
    writeln!(
        out,
        "{}  {:<14} {:<3} {:<9} {:<26} {}  {}: measured {}, threshold {}",
        local.format("%Y-%m-%d %H:%M"),
        level_name(alert.level),
        alert.rule(),
        what,
        alert.id.case_no,
        county_name(&alert.region_code),
        alert.detail,
        alert.measured,
        alert.threshold,
    )
}

/// Runs the simulation to its end, printing alert changes and a summary to `out`.
pub(crate) fn run(config: &DemoConfig, out: &mut impl Write) -> anyhow::Result<Summary> {
    let policy = Policy::default();
    let mut cases: BTreeMap<CaseNo, Case> = BTreeMap::new();
    let mut summary = Summary::default();
    writeln!(
        out,
        "Casewatch demo: {} counties, {} new cases a county each working day for {} days (seed {}).\n\
         Every step and every simulated hour goes through the supervision rules; alerts as they change:\n",
        config.sim.counties, config.sim.cases_per_county_day, config.sim.days, config.sim.seed
    )?;
    for output in Simulator::new(config.sim.clone()) {
        let effects = match output {
            Output::Step { event, recorded_at } => {
                summary.steps += 1;
                let case = cases
                    .entry(event.case_no.clone())
                    .or_insert_with(|| Case::new(&event));
                vec![case.handle_step(&event, recorded_at, &policy)]
            }
            Output::Tick(at) => {
                summary.ticks += 1;
                cases
                    .values_mut()
                    .filter(|case| case.is_time_sensitive())
                    .map(|case| case.advance(at, &policy))
                    .collect()
            }
        };
        for effects in effects {
            for delta in &effects.stats {
                summary.totals += &delta.counters;
            }
            for change in &effects.alerts {
                if change.cause == Cause::Raised {
                    *summary.raised.entry(change.alert.rule()).or_default() += 1;
                }
                print_change(out, change)?;
            }
        }
    }
    for case in cases.values().filter(|case| case.is_open()) {
        *summary.lights.entry(case.light()).or_default() += 1;
    }
    print_summary(out, &summary, cases.len())?;
    Ok(summary)
}

fn print_summary(out: &mut impl Write, summary: &Summary, cases: usize) -> std::io::Result<()> {
    let totals = &summary.totals;
    let rates = totals.rates(7 * 3600);
    let percent =
        |rate: Option<f64>| rate.map_or("-".to_owned(), |rate| format!("{:.1} %", rate * 100.0));
    writeln!(out, "\nSummary")?;
    writeln!(
        out,
        "  {cases} cases, {} steps, {} clock ticks; accepted {}, completed {} (on time {}), \
         online {}, window sign-off {}",
        summary.steps,
        summary.ticks,
        totals.accepted,
        totals.completed,
        percent(rates.on_time),
        percent(rates.online),
        percent(rates.window_direct_signoff),
    )?;
    writeln!(
        out,
        "  warnings {}, cards {}, appeals {}, fees charged {:.2} yuan",
        totals.warnings_raised,
        totals.cards_raised,
        totals.appeals,
        totals.fees_charged_fen as f64 / 100.0
    )?;
    let by_rule: Vec<String> = summary
        .raised
        .iter()
        .map(|(rule, count)| format!("{rule} {count}"))
        .collect();
    writeln!(out, "  alerts by rule: {}", by_rule.join(", "))?;
    let lights: Vec<String> = summary
        .lights
        .iter()
        .map(|(light, count)| format!("{light:?} {count}"))
        .collect();
    writeln!(
        out,
        "  open cases by light: {}",
        if lights.is_empty() {
            "none".to_owned()
        } else {
            lights.join(", ")
        }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_shows_the_rules_at_work() {
        let config = DemoConfig {
            sim: SimConfig {
                days: 3,
                counties: 2,
                cases_per_county_day: 40,
                ..SimConfig::default()
            },
        };
        let mut out = Vec::new();
        let summary = run(&config, &mut out).expect("the demo runs");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(summary.totals.accepted, 240);
        assert_eq!(summary.totals.completed, 240);
        // The simulated mix draws time, procedure and content alerts.
        for rule in [RuleId::T2, RuleId::P2, RuleId::C2, RuleId::C3] {
            assert!(
                summary.raised.contains_key(&rule),
                "no {rule} in {:?}",
                summary.raised
            );
        }
        assert!(text.contains("黄牌 yellow"), "{text}");
        assert!(text.contains("alerts by rule:"), "{text}");
    }
}
