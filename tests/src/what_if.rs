//! The what-if fortnight: five promised cases of March 2026 under a rule book in which
//! 西湖区 warns later than the rest of the city, and what a trial of other thresholds makes
//! of them, worked out by hand from the rules of DOMAIN.md — never computed by the code
//! under test.
//!
//! # The calendar and the clock
//!
//! March 2026 has no holiday. Working days: Mon 2 (1) … Fri 6 (5), Mon 9 (6) … Fri 13
//! (10), Mon 16 (11), Tue 17 (12); office hours 09:00–12:00 and 13:30–17:30 (7 hours). The
//! clock ticks every day at 18:00. Every case promises 10 working days (the law 20): by
//! the statute's counting, accepted on working day *k* it is due at 17:30 on day *k + 10*,
//! and T1 warns at the first tick with at most *d* promised days left, where *d* is the
//! case's `t1_days_left`: at 18:00 on working day *k + 10 − d*. Each case is reviewed and
//! decided early, by other people than its acceptor, and completed with its certificate;
//! every step is reported a minute after it happened, but for W4's.
//!
//! # The rule book and the trial
//!
//! The rule book keeps the defaults (`t1_days_left` 2, `c2_report_within_days` 1) but for
//! one override: 西湖区 (`330106`) warns with 1 day left. The trial sets `t1_days_left` 3
//! and `c2_report_within_days` 5; the override still applies over the trial's defaults.
//!
//! | case | county | accepted | completed | actual | trial |
//! |---|---|---|---|---|---|
//! | W1 | 330102 | Mon 2 (1) | Thu 12 10:00 | T1 due Thu 12 18:00: none | T1 Wed 11 18:00 |
//! | W2 | 330106 | Mon 2 (1) | Fri 13 10:00 | T1 (override, 1 day) due Fri 13 18:00: none | the same: none (3 days would warn Wed 11) |
//! | W3 | 330102 | Mon 2 (1) | Mon 16 10:00 | T1 Thu 12 18:00 | T1 Wed 11 18:00: the same alert |
//! | W4 | 330102 | Mon 2 (1), reported Thu 5 10:00 | Tue 10 10:00 | C2 (3 working days late) | none (within 5) |
//! | W5 | 330102 | Tue 3 (2) | Fri 13 10:00 | T1 due Fri 13 18:00: none | T1 Thu 12 18:00 |
//!
//! Over the cases accepted on Monday 2 March (W1 to W4; W5 was accepted the next day) the
//! trial raises `W1/T1/1` and `W3/T1/1` where the rule book raised `W3/T1/1` and `W4/C2/1`:
//! `W1/T1/1` only in the trial, `W4/C2/1` only in fact.

use casewatch_domain::ids::RegionCode;
use casewatch_domain::policy::{PolicyInForce, PolicySnapshot, PolicySources};
use casewatch_domain::rulebook::{RuleBook, RuleOverride, ThresholdPatch};
use casewatch_proto::pb;

use crate::{CaseScript, Input, accepted_within, completed, decided, local, reviewed};

/// 上城区: the defaults apply.
pub const SHANGCHENG: &str = "330102";
/// 西湖区: T1 warns with 1 day left.
pub const XIHU: &str = "330106";

/// The rule book in force: the defaults, and 西湖区's override.
pub fn policy() -> PolicyInForce {
    let sources = PolicySources {
        rule_book: RuleBook {
            overrides: vec![RuleOverride {
                region: Some(RegionCode::parse(XIHU).expect("a valid region")),
                item: None,
                patch: ThresholdPatch {
                    t1_days_left: Some(1),
                    ..ThresholdPatch::default()
                },
            }],
            ..RuleBook::default()
        },
        ..PolicySources::shipped()
    };
    PolicyInForce::restore(PolicySnapshot {
        sources,
        pending: Vec::new(),
    })
    .expect("the policy compiles")
}

/// The thresholds tried.
pub fn trial() -> pb::RuleThresholds {
    pb::RuleThresholds {
        t1_days_left: Some(3),
        c2_report_within_days: Some(5),
        ..pb::RuleThresholds::default()
    }
}

/// The day whose cases the trial re-runs: Monday 2 March 2026.
pub fn period() -> pb::Date {
    pb::Date {
        year: 2026,
        month: 3,
        day: 2,
    }
}

/// The ids of the alerts only the trial raises over [`period`]'s cases.
pub const ONLY_IN_TRIAL: &[&str] = &["W1/T1/1"];
/// The ids of the alerts only the rule book raised over them.
pub const ONLY_IN_FACT: &[&str] = &["W4/C2/1"];
/// The ids of every alert the trial raises over them.
pub const TRIAL_RAISES: &[&str] = &["W1/T1/1", "W3/T1/1"];
/// The ids of every alert the rule book raised over them.
pub const FACT_RAISED: &[&str] = &["W3/T1/1", "W4/C2/1"];
/// The cases accepted in the period.
pub const CASES_RE_RUN: u64 = 4;

/// A promised case of `region` accepted at `accepted` (reported a minute later), reviewed
/// and decided at `reviewed` and `decided`, completed at `completed`.
fn case(
    case_no: &'static str,
    region: &'static str,
    [accepted, reviewed_at, decided_at, completed_at]: [&str; 4],
) -> CaseScript {
    CaseScript::new(case_no, region)
        .step(accepted, "clerk", accepted_within(10, 20))
        .step(reviewed_at, "reviewer", reviewed())
        .step(decided_at, "chief", decided())
        .step(completed_at, "clerk", completed())
}

/// The fortnight's steps and daily ticks, in arrival order.
pub fn fortnight() -> Vec<Input> {
    let early = |completed_at| {
        [
            "2026-03-02 09:00",
            "2026-03-03 10:00",
            "2026-03-04 10:00",
            completed_at,
        ]
    };
    let late_report = {
        let mut script = CaseScript::new("W4", SHANGCHENG);
        let accepted = script.event(
            1,
            "clerk",
            local("2026-03-02 09:00"),
            accepted_within(10, 20),
        );
        script.next_seq = 2;
        script.send(accepted, local("2026-03-05 10:00"))
    }
    .step("2026-03-05 10:00", "reviewer", reviewed())
    .step("2026-03-06 10:00", "chief", decided())
    .step("2026-03-10 10:00", "clerk", completed());
    let cases = [
        case("W1", SHANGCHENG, early("2026-03-12 10:00")),
        case("W2", XIHU, early("2026-03-13 10:00")),
        case("W3", SHANGCHENG, early("2026-03-16 10:00")),
        late_report,
        case(
            "W5",
            SHANGCHENG,
            [
                "2026-03-03 09:00",
                "2026-03-04 10:00",
                "2026-03-05 10:00",
                "2026-03-13 10:00",
            ],
        ),
    ];
    let mut inputs: Vec<Input> = cases.into_iter().flat_map(|case| case.inputs).collect();
    let mut tick = local("2026-03-02 18:00");
    while tick <= local("2026-03-17 18:00") {
        inputs.push(Input::Tick(tick));
        tick += chrono::Duration::days(1);
    }
    // Arrival order; the sort is stable, so the steps of one case keep their order.
    inputs.sort_by_key(|input| match input {
        Input::Step { recorded_at, .. } => (*recorded_at, 0),
        Input::Tick(at) => (*at, 1),
    });
    inputs
}
