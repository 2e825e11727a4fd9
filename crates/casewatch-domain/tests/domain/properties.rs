//! Properties of the clock and the case machine that must hold for any input.

use std::collections::BTreeMap;

use casewatch_domain::Timestamp;
use casewatch_domain::calendar::WorkingCalendar;
use casewatch_domain::case::{Case, Disposition, Policy};
use casewatch_domain::clock::{Clock, Measure, PauseReason};
use casewatch_domain::event::{CaseEvent, Channel, Decision, Limit, ProcedureKind, Step};
use casewatch_domain::ids::CaseNo;
use casewatch_domain::stats::Counters;
use proptest::prelude::*;

use crate::support::*;

/// Instants in 2025–2026, by the minute.
fn instant() -> impl Strategy<Value = Timestamp> {
    let start = t("2025-01-01 00:00").timestamp() / 60;
    let end = t("2026-12-31 00:00").timestamp() / 60;
    (start..end).prop_map(|minute| {
        chrono::DateTime::from_timestamp(minute * 60, 0).expect("an instant in range")
    })
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// A clock started at some instant, with pauses (some open, some capped) after it.
fn clock() -> impl Strategy<Value = Clock> {
    let pause = (
        0i64..30_000,
        prop::option::of(0i64..20_000),
        prop::option::of(1u32..10),
    );
    (instant(), prop::collection::vec(pause, 0..4)).prop_map(|(start, pauses)| {
        let mut clock = Clock::default();
        clock.start(start);
        for (index, (offset, length, cap)) in pauses.into_iter().enumerate() {
            let reason = PauseReason::Procedure {
                proc_no: format!("P{index}"),
            };
            let from = start + minutes(offset);
            clock.pause(reason.clone(), from, cap.map(working_days));
            if let Some(length) = length {
                clock.resume(&reason, from + minutes(length));
            }
        }
        clock
    })
}

fn measure() -> impl Strategy<Value = Measure> {
    prop_oneof![Just(Measure::Working), Just(Measure::Calendar)]
}

proptest! {
    #[test]
    fn used_time_never_decreases_as_time_advances(
        clock in clock(),
        measure in measure(),
        offset in 0i64..60_000,
        later in 0i64..60_000,
    ) {
        let calendar = WorkingCalendar::national();
        let start = clock.started_at.expect("started");
        let earlier = start + minutes(offset);
        let used_then = clock.used(measure, &calendar, earlier);
        let used_later = clock.used(measure, &calendar, earlier + minutes(later));
        prop_assert!(used_then >= 0);
        prop_assert!(used_later >= used_then, "{used_later} < {used_then}");
    }

    #[test]
    fn a_pause_never_adds_time(
        clock in clock(),
        measure in measure(),
        pause_at in 0i64..30_000,
        pause_for in prop::option::of(0i64..20_000),
        now in 0i64..60_000,
    ) {
        let calendar = WorkingCalendar::national();
        let start = clock.started_at.expect("started");
        let now = start + minutes(now);
        let mut paused = clock.clone();
        paused.pause(PauseReason::Suspension, start + minutes(pause_at), None);
        if let Some(length) = pause_for {
            paused.resume(&PauseReason::Suspension, start + minutes(pause_at + length));
        }
        prop_assert!(paused.used(measure, &calendar, now) <= clock.used(measure, &calendar, now));
    }

    #[test]
    fn the_instant_a_limit_is_reached_is_where_used_time_gets_there(
        clock in clock(),
        measure in measure(),
        days in 1i64..30,
        count_after in prop::option::of(0i64..3000),
    ) {
        let calendar = WorkingCalendar::national();
        let seconds = days * calendar.day_seconds();
        let started = clock.started_at.expect("started");
        // From the acceptance instant, or from a count start after it (the statute's
        // next day, or any other instant).
        let from = count_after.map_or(started, |offset| started + minutes(offset));
        if let Some(due) = clock.reaches(from, measure, &calendar, seconds) {
            prop_assert_eq!(clock.used_since(from, measure, &calendar, due), seconds);
            prop_assert!(
                clock.used_since(from, measure, &calendar, due - chrono::Duration::seconds(1))
                    < seconds
            );
        }
    }
}

/// A clean promised case: accepted during office hours, reviewed, decided by someone else,
/// completed well before the warning window, every step reported as it happens.
fn clean_case() -> impl Strategy<Value = (Vec<(Timestamp, Step, &'static str)>, Vec<Timestamp>)> {
    (
        instant(),
        5u32..30,
        0u32..10,
        prop::collection::vec(0u32..1000, 0..6),
    )
        .prop_map(|(accepted_at, promised, spare, tick_permille)| {
            let calendar = WorkingCalendar::national();
            let accepted_at = calendar.add_working_seconds(accepted_at, 1);
            let day = calendar.day_seconds();
            // Done with 3 days to spare: the warning window is at most 2.
            let budget = i64::from(promised - 3) * day;
            let at =
                |fraction: i64| calendar.add_working_seconds(accepted_at, budget * fraction / 100);
            let steps = vec![
                (accepted_at, submitted(Channel::Web), "clerk"),
                (accepted_at, accepted(promised, promised + spare), "clerk"),
                (at(40), reviewed("review"), "reviewer"),
                (at(80), decided(Decision::Grant, "符合条件"), "chief"),
                (
                    at(100),
                    completed_with(
                        casewatch_domain::event::CompletionResult::IssuedCertificate,
                        Some(certificate()),
                        0,
                    ),
                    "clerk",
                ),
            ];
            let ticks = tick_permille
                .into_iter()
                .map(|permille| {
                    calendar
                        .add_working_seconds(accepted_at, budget * 2 * i64::from(permille) / 1000)
                })
                .collect();
            (steps, ticks)
        })
}

proptest! {
    #[test]
    fn a_clean_on_time_case_raises_no_alert((steps, ticks) in clean_case()) {
        let mut script = Script::default();
        let mut events: Vec<(Timestamp, Option<(Step, &str)>)> = steps
            .into_iter()
            .map(|(at, step, actor)| (at, Some((step, actor))))
            .collect();
        events.extend(ticks.into_iter().map(|at| (at, None)));
        events.sort_by_key(|(at, step)| (*at, step.is_none()));
        for (at, step) in events {
            match step {
                Some((step, actor)) => {
                    let seq = script.next_seq;
                    script.next_seq += 1;
                    let event = script.event(seq, actor, at, step);
                    script.send(event, at);
                }
                None if script.case.is_some() => {
                    let effects = script.case.as_mut().expect("case").advance(at, &script.policy);
                    prop_assert!(effects.alerts.is_empty(), "{:?}", effects.alerts);
                }
                None => {}
            }
        }
        prop_assert!(script.alerts().is_empty(), "{:?}", script.alerts());
        prop_assert!(script.case().ended_at.is_some());
    }
}

/// Any sequence of steps, sensible or not, at increasing times.
fn step_menu() -> impl Strategy<Value = Step> {
    let limit = (1u32..25).prop_map(working_days);
    prop_oneof![
        Just(submitted(Channel::Window)),
        (1u32..25, 1u32..40).prop_map(|(promised, legal)| accepted(promised, legal)),
        Just(reviewed("review")),
        Just(granted()),
        Just(decided(Decision::Deny, "")),
        Just(suspended()),
        Just(resumed()),
        Just(correction_requested()),
        Just(correction_received()),
        (limit.clone(), 0usize..3).prop_map(|(approved, index)| {
            let kind = [
                ProcedureKind::Extension,
                ProcedureKind::Hearing,
                ProcedureKind::Testing,
            ][index];
            procedure(&format!("P{index}"), kind, approved, "局长")
        }),
        (0usize..3).prop_map(|index| procedure_ended(&format!("P{index}"), "完毕")),
        (0u64..10_000, any::<bool>())
            .prop_map(|(amount, unified)| fee("T-1", amount, 5000, unified)),
        Just(completed()),
        Just(Step::Withdrawn {
            reason: "撤回".into()
        }),
        Just(Step::Queried {
            channel: Channel::Mobile
        }),
        Just(appealed("A-1")),
        Just(appeal_resolved("A-1")),
        (1u8..=5).prop_map(|level| rated("R-1", level)),
        Just(followed_up("R-1")),
    ]
}

/// A case's events: steps at increasing times, some reported late.
fn case_events(case_no: &'static str) -> impl Strategy<Value = Vec<(CaseEvent, Timestamp)>> {
    (
        instant(),
        prop::collection::vec((step_menu(), 0i64..3000, 0i64..3000), 1..14),
    )
        .prop_map(move |(start, steps)| {
            let script = Script::new(case_no);
            let mut at = start;
            steps
                .into_iter()
                .enumerate()
                .map(|(index, (step, gap, delay))| {
                    at += minutes(gap);
                    let seq = u32::try_from(index + 1).expect("few steps");
                    let actor = if index % 2 == 0 { "clerk" } else { "chief" };
                    (script.event(seq, actor, at, step), at + minutes(delay))
                })
                .collect()
        })
}

fn fold(events: &[(CaseEvent, Timestamp)], policy: &Policy) -> (BTreeMap<CaseNo, Case>, Counters) {
    let mut cases: BTreeMap<CaseNo, Case> = BTreeMap::new();
    let mut totals = Counters::default();
    for (event, recorded_at) in events {
        let case = cases
            .entry(event.case_no.clone())
            .or_insert_with(|| Case::new(event));
        for delta in case.handle_step(event, *recorded_at, policy).stats {
            totals += &delta.counters;
        }
    }
    (cases, totals)
}

proptest! {
    #[test]
    fn applying_a_duplicate_changes_nothing(
        events in case_events("HZ-DUP-1"),
        pick in any::<prop::sample::Index>(),
        later in 0i64..100_000,
    ) {
        let policy = Policy::default();
        let (mut cases, _) = fold(&events, &policy);
        let (event, recorded_at) = &events[pick.index(events.len())];
        let case = cases.get_mut(&event.case_no).expect("folded");
        let before = case.clone();
        // A re-send carries a new idempotency key and record version, same content.
        let mut resent = event.clone();
        resent.event_id = casewatch_domain::ids::EventId::parse("re-sent").expect("valid");
        resent.source_version += 1;
        let effects = case.handle_step(&resent, *recorded_at + minutes(later), &policy);
        prop_assert_eq!(&*case, &before);
        prop_assert!(effects.alerts.is_empty() && effects.stats.is_empty());
        prop_assert_eq!(effects.steps.len(), 1);
        prop_assert_eq!(effects.steps[0].disposition, Disposition::Duplicate);
    }

    #[test]
    fn interleaving_cases_gives_the_same_states_alerts_and_totals(
        first in case_events("HZ-A-1"),
        second in case_events("HZ-B-2"),
        third in case_events("HZ-C-3"),
        choices in prop::collection::vec(0usize..3, 64),
    ) {
        let policy = Policy::default();
        let sequential: Vec<_> = first.iter().chain(&second).chain(&third).cloned().collect();
        // Interleave the three cases at random, keeping each case's own order.
        let mut queues = [first.into_iter(), second.into_iter(), third.into_iter()];
        let mut interleaved = Vec::new();
        for choice in choices.into_iter().cycle().take(sequential.len() * 3) {
            if let Some(event) = queues[choice].next() {
                interleaved.push(event);
            }
        }
        for queue in &mut queues {
            interleaved.extend(queue.by_ref());
        }
        prop_assert_eq!(interleaved.len(), sequential.len());
        let (cases_a, totals_a) = fold(&sequential, &policy);
        let (cases_b, totals_b) = fold(&interleaved, &policy);
        prop_assert_eq!(cases_a, cases_b);
        prop_assert_eq!(totals_a, totals_b);
    }

    #[test]
    fn out_of_order_steps_give_the_same_case_once_the_gaps_fill(
        events in case_events("HZ-OOO-1"),
        swaps in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..6),
    ) {
        let policy = Policy::default();
        // Every step reported after all of them happened, so only the order differs.
        let last = events.iter().map(|(_, recorded)| *recorded).max().expect("steps");
        let in_order: Vec<_> = events.iter().map(|(event, _)| (event.clone(), last)).collect();
        let mut shuffled = in_order.clone();
        for (a, b) in swaps {
            let (a, b) = (a.index(shuffled.len()), b.index(shuffled.len()));
            shuffled.swap(a, b);
        }
        let (cases_a, totals_a) = fold(&in_order, &policy);
        let (cases_b, totals_b) = fold(&shuffled, &policy);
        let (a, b) = (&cases_a[&in_order[0].0.case_no], &cases_b[&in_order[0].0.case_no]);
        prop_assert_eq!(&a.alerts, &b.alerts);
        prop_assert_eq!(a.status, b.status);
        prop_assert_eq!(&a.clock, &b.clock);
        prop_assert_eq!(a.applied_through, b.applied_through);
        prop_assert!(b.held.is_empty());
        prop_assert_eq!(totals_a, totals_b);
    }
}

#[test]
fn supervision_actions_follow_the_lifecycle() {
    use casewatch_domain::access::Role;
    use casewatch_domain::alert::{AlertState, LifecycleError};
    use casewatch_domain::catalogue::RuleId;
    use casewatch_domain::supervision::{AppealDecision, SupervisionAction};
    let mut script = Script::default();
    // Promised two working days after Monday: due Wednesday 17:30.
    script
        .step("2026-03-02 09:00", accepted(2, 20))
        .tick("2026-03-05 10:00");
    assert!(script.alert(RuleId::T2).is_some());
    // An auditor never writes; a county system cannot act on alerts.
    for role in [Role::Auditor, Role::CountySystem] {
        let refused = script.try_act(
            RuleId::T2,
            role,
            "2026-03-05 10:10",
            SupervisionAction::Acknowledge {
                note: String::new(),
            },
        );
        assert!(
            matches!(refused, Err(LifecycleError::NotPermitted { .. })),
            "{refused:?}"
        );
    }
    script
        .act(
            RuleId::T2,
            Role::Department,
            "2026-03-05 10:30",
            SupervisionAction::Acknowledge {
                note: String::new(),
            },
        )
        .act(
            RuleId::T2,
            Role::Department,
            "2026-03-05 11:00",
            SupervisionAction::Appeal {
                reason: "系统故障".into(),
            },
        )
        .act(
            RuleId::T2,
            Role::Monitor,
            "2026-03-05 14:00",
            SupervisionAction::DecideAppeal {
                decision: AppealDecision::Escalate,
                reason: "请上级裁定".into(),
            },
        )
        .act(
            RuleId::T2,
            Role::Admin,
            "2026-03-06 09:00",
            SupervisionAction::DecideAppeal {
                decision: AppealDecision::Return,
                reason: "理由不成立".into(),
            },
        );
    assert_eq!(
        script.alert(RuleId::T2).expect("raised").state,
        AlertState::Returned
    );
    // One appeal per alert.
    let again = script.try_act(
        RuleId::T2,
        Role::Department,
        "2026-03-06 10:00",
        SupervisionAction::Appeal {
            reason: "再申诉".into(),
        },
    );
    assert_eq!(again, Err(LifecycleError::AlreadyAppealed));
    let past_due = script.try_act(
        RuleId::T2,
        Role::Monitor,
        "2026-03-06 10:00",
        SupervisionAction::IssueNotice {
            content: "限期整改".into(),
            feedback_due: t("2026-03-06 09:00"),
        },
    );
    assert_eq!(past_due, Err(LifecycleError::DueBeforeNotice));
    script
        .act(
            RuleId::T2,
            Role::Monitor,
            "2026-03-06 10:00",
            SupervisionAction::IssueNotice {
                content: "限期整改".into(),
                feedback_due: t("2026-03-10 17:30"),
            },
        )
        .act(
            RuleId::T2,
            Role::Department,
            "2026-03-09 10:00",
            SupervisionAction::SubmitFeedback {
                text: "已整改".into(),
            },
        )
        .act(
            RuleId::T2,
            Role::Monitor,
            "2026-03-09 11:00",
            SupervisionAction::Close {
                note: String::new(),
            },
        );
    let alert = script.alert(RuleId::T2).expect("raised");
    assert_eq!(alert.state, AlertState::Closed);
    assert_eq!(alert.level, casewatch_domain::catalogue::Level::Yellow);
    let closed = script.try_act(
        RuleId::T2,
        Role::Monitor,
        "2026-03-09 12:00",
        SupervisionAction::Revoke {
            reason: "误报".into(),
        },
    );
    assert!(matches!(closed, Err(LifecycleError::InvalidState { .. })));
}

#[test]
fn a_warning_resolves_when_the_case_completes_in_time() {
    use casewatch_domain::alert::AlertState;
    use casewatch_domain::case::Light;
    use casewatch_domain::catalogue::RuleId;
    let mut script = Script::default();
    script
        .step("2026-03-02 09:00", accepted(10, 20))
        .tick("2026-03-13 10:00");
    assert_eq!(script.case().light(), Light::Yellow);
    script
        .step("2026-03-13 11:00", reviewed("review"))
        .step_by("chief", "2026-03-13 14:00", granted())
        .step("2026-03-13 15:00", completed());
    assert_eq!(
        script.alert(RuleId::T1).expect("warned").state,
        AlertState::Resolved
    );
    assert_eq!(script.case().light(), Light::Green);
}

#[test]
fn statistics_count_a_case_from_acceptance_to_completion() {
    let mut script = Script::default();
    let mut totals = Counters::default();
    let mut count = |script: &mut Script, step: (&str, &str, Step)| {
        let seq = script.next_seq;
        script.next_seq += 1;
        let event = script.event(seq, step.1, t(step.0), step.2);
        let case = script.case.get_or_insert_with(|| Case::new(&event));
        for delta in case.handle_step(&event, t(step.0), &script.policy).stats {
            totals += &delta.counters;
        }
    };
    count(
        &mut script,
        ("2026-03-02 09:00", "clerk", submitted(Channel::Mobile)),
    );
    count(&mut script, ("2026-03-02 09:00", "clerk", accepted(10, 20)));
    count(
        &mut script,
        ("2026-03-03 09:00", "reviewer", reviewed("review")),
    );
    count(
        &mut script,
        (
            "2026-03-04 09:00",
            "chief",
            Step::Decided {
                decision: Decision::Grant,
                reason: "同意".into(),
                window_direct_signoff: true,
            },
        ),
    );
    count(&mut script, ("2026-03-04 10:00", "clerk", completed()));
    count(&mut script, ("2026-03-05 10:00", "clerk", rated("R-1", 1)));
    assert_eq!(totals.accepted, 1);
    assert_eq!(totals.online_accepted, 1);
    assert_eq!(totals.completed, 1);
    assert_eq!(totals.completed_early, 1);
    assert_eq!(totals.decisions, 1);
    assert_eq!(totals.direct_decisions, 1);
    assert_eq!(totals.rating_1, 1);
    assert_eq!(totals.used_working_seconds, 2 * 7 * 3600 + 3600);
    // Opened green and closed again: the gauge is back to zero.
    assert_eq!(totals.open_green, 0);
    let limit: Limit = working_days(10);
    assert_eq!(script.case().promised_limit, Some(limit));
}

#[test]
fn due_dates_move_with_pauses_and_extensions() {
    let mut script = Script::default();
    script.step("2026-03-02 09:00", accepted(5, 20));
    let calendar = script
        .policy
        .calendars
        .for_region(&script.case().region_code)
        .clone();
    // The day of acceptance does not count: five working days after Monday 2 March end
    // at the close of office on Monday 9 March.
    assert_eq!(
        script.case().promised_due(&calendar),
        Some(t("2026-03-09 17:30"))
    );
    // Suspended for a whole Tuesday: due a working day later, on Tuesday.
    script
        .step("2026-03-03 09:00", suspended())
        .step("2026-03-04 09:00", resumed());
    assert_eq!(
        script.case().promised_due(&calendar),
        Some(t("2026-03-10 17:30"))
    );
    // While suspended, the due date is as late as the suspension can make it: with no
    // days requested, its cap is the legal limit's length (20 working days, over the
    // Qingming holiday of Monday 6 April).
    script.step("2026-03-04 10:00", suspended());
    assert_eq!(
        script.case().promised_due(&calendar),
        Some(t("2026-04-08 17:30"))
    );
    script.step("2026-03-04 11:00", resumed());
    // An approved extension of 3 days moves both due dates by 3 working days: with the
    // day and the hour suspended, the promise runs out 9 days 1 hour after Tuesday's
    // start of office.
    script.step(
        "2026-03-04 12:00",
        procedure("E-1", ProcedureKind::Extension, working_days(3), "局长"),
    );
    assert_eq!(
        script.case().promised_due(&calendar),
        Some(t("2026-03-16 10:00"))
    );
    // The legal limit too, counted from Tuesday: Monday, the day of acceptance, the
    // suspended day and hour, then 20 + 3 working days.
    let legal = script.case().legal_due(&calendar).expect("known");
    assert_eq!(
        calendar.working_seconds(t("2026-03-02 09:00"), legal),
        (1 + 1 + 20 + 3) * 7 * 3600 + 3600
    );
}

proptest! {
    #[test]
    fn ticks_need_only_visit_time_sensitive_cases(
        events in case_events("HZ-TICK-1"),
        ticks in prop::collection::vec(0i64..40_000, 1..8),
    ) {
        let policy = Policy::default();
        let (cases, _) = fold(&events, &policy);
        let mut visited = cases[&events[0].0.case_no].clone();
        let mut all = visited.clone();
        let start = events.last().map(|(_, recorded)| *recorded).expect("steps");
        let mut ticks = ticks;
        ticks.sort_unstable();
        for offset in ticks {
            let at = start + minutes(offset);
            let effects = all.advance(at, &policy);
            if visited.is_time_sensitive() {
                visited.advance(at, &policy);
            } else {
                prop_assert!(effects.alerts.is_empty(), "{:?}", effects.alerts);
                prop_assert!(effects.stats.is_empty());
            }
        }
        prop_assert_eq!(&visited.alerts, &all.alerts);
    }
}

proptest! {
    /// The projector writes a case only when something visible changed; this is what makes
    /// views written at any batch boundary, and cases reloaded after a restart, the same.
    #[test]
    fn a_tick_that_changes_nothing_visible_leaves_the_case_as_it_was(
        events in case_events("HZ-QUIET-1"),
        later in 0i64..40_000,
    ) {
        let policy = Policy::default();
        let (cases, _) = fold(&events, &policy);
        let mut case = cases[&events[0].0.case_no].clone();
        let before = case.clone();
        let at = events.last().map(|(_, recorded)| *recorded).expect("steps") + minutes(later);
        let effects = case.advance(at, &policy);
        if effects.alerts.is_empty() && effects.stats.is_empty() {
            prop_assert_eq!(case, before);
        }
    }
}

/// Advances a copy of `case` to `at`; it must change nothing.
fn assert_quiet_at(case: &Case, at: Timestamp, policy: &Policy) -> Result<(), TestCaseError> {
    let mut copy = case.clone();
    let effects = copy.advance(at, policy);
    prop_assert!(effects.alerts.is_empty(), "{:?}", effects.alerts);
    prop_assert!(effects.stats.is_empty(), "{:?}", effects.stats);
    prop_assert_eq!(&copy, case);
    Ok(())
}

proptest! {
    /// The projector skips a case on ticks up to its horizon; a case that ticks visit only
    /// past it ends as one that every tick visits.
    #[test]
    fn ticks_up_to_the_horizon_change_nothing(
        events in case_events("HZ-HORIZON-1"),
        ticks in prop::collection::vec(0i64..40_000, 1..12),
    ) {
        let policy = Policy::default();
        let (cases, _) = fold(&events, &policy);
        let mut visited = cases[&events[0].0.case_no].clone();
        let mut all = visited.clone();
        let start = events.last().map(|(_, recorded)| *recorded).expect("steps");
        let mut horizon = None;
        let mut ticks = ticks;
        ticks.sort_unstable();
        for offset in ticks {
            let at = start + minutes(offset);
            let effects = all.advance(at, &policy);
            if horizon.is_some_and(|until| at <= until) {
                prop_assert!(effects.alerts.is_empty(), "{:?}", effects.alerts);
                prop_assert!(effects.stats.is_empty());
            } else {
                let (_, until) = visited.advance_with_horizon(at, &policy);
                if let Some(until) = until {
                    // Right up to the horizon, nothing happens.
                    assert_quiet_at(&visited, until, &policy)?;
                }
                horizon = Some(until.unwrap_or(Timestamp::MAX_UTC));
            }
            prop_assert_eq!(&visited, &all);
        }
    }
}

#[test]
fn a_notice_awaiting_feedback_is_due_back_at_its_feedback_date() {
    use casewatch_domain::access::Role;
    use casewatch_domain::catalogue::{Level, RuleId};
    use casewatch_domain::supervision::SupervisionAction;
    let mut script = Script::default();
    script
        .step("2026-03-02 09:00", accepted(2, 20))
        .tick("2026-03-05 10:00")
        .act(
            RuleId::T2,
            Role::Monitor,
            "2026-03-05 11:00",
            SupervisionAction::IssueNotice {
                content: "请说明超期原因".into(),
                feedback_due: t("2026-03-06 17:30"),
            },
        );
    let policy = Policy::default();
    let mut case = script.case().clone();
    let (effects, horizon) = case.advance_with_horizon(t("2026-03-05 12:00"), &policy);
    assert!(effects.alerts.is_empty(), "{:?}", effects.alerts);
    let horizon = horizon.expect("the notice is due back");
    assert!(horizon <= t("2026-03-06 17:30"), "{horizon}");
    assert_quiet_at(&case, horizon, &policy).expect("quiet up to the horizon");
    let effects = case.advance(t("2026-03-06 17:31"), &policy);
    assert_eq!(effects.alerts.len(), 1, "{:?}", effects.alerts);
    assert_eq!(effects.alerts[0].alert.level, Level::Red);
}

/// The regression of statistics counted in the last hours of 9999 (found by the
/// projector's adversarial fuzzing, with a tick at the last instant a record can carry):
/// they went to 10000-01-01 in China, a day the views' day ranges cannot reach, so the
/// open-case gauges read short.
#[test]
fn statistics_of_the_last_instants_count_on_the_last_day() {
    let last = chrono::DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z");
    let script = Script::default();
    let event = script.event(1, "clerk", last, accepted(5, 20));
    let mut case = Case::new(&event);
    let effects = case.handle_step(&event, last, &script.policy);
    let days: Vec<_> = effects.stats.iter().map(|delta| delta.key.day).collect();
    assert!(!days.is_empty());
    assert!(
        days.iter()
            .all(|day| *day == casewatch_domain::stats::LAST_DAY),
        "{days:?}"
    );
}

/// The regression of an open-case gauge that summed below zero (found by the projector's
/// adversarial fuzzing): a tick turned an accepted case red on Sunday, then a rejection
/// dated back to Monday took it off the red gauge on Monday, before the tick had put it
/// there.
#[test]
fn a_back_dated_step_never_takes_a_case_off_the_gauge_before_it_was_put_there() {
    let script = Script::default();
    let policy = script.policy.clone();
    let accepted = script.event(1, "clerk", t("2026-03-02 00:00"), accepted(1, 1));
    let rejected = script.event(
        2,
        "clerk",
        t("2026-03-02 00:00"),
        Step::Rejected {
            reason: String::new(),
        },
    );
    let mut case = Case::new(&accepted);
    let mut deltas = case
        .handle_step(&accepted, t("2026-03-02 00:00"), &policy)
        .stats;
    deltas.extend(case.advance(t("2026-03-08 00:00"), &policy).stats);
    deltas.extend(
        case.handle_step(&rejected, t("2026-03-02 00:00"), &policy)
            .stats,
    );
    deltas.sort_by_key(|delta| delta.key.day);
    let mut sums = [0_i64; 3];
    for delta in &deltas {
        sums[0] += delta.counters.open_green;
        sums[1] += delta.counters.open_yellow;
        sums[2] += delta.counters.open_red;
        assert!(
            sums.iter().all(|sum| *sum >= 0),
            "{sums:?} on {}",
            delta.key.day
        );
    }
    assert_eq!(sums, [0, 0, 0], "the case is closed");
}
