//! A small script language for case scenarios: steps at local times (+08:00), clock ticks
//! and supervision actions, folded through the domain with the national calendar, and the
//! statistics deltas they give, to add up the way the projector does.

#![allow(dead_code, unreachable_pub)]

use casewatch_domain::Timestamp;
use casewatch_domain::access::{Principal, Role};
use casewatch_domain::alert::{Alert, AlertChange};
use casewatch_domain::calendar::WorkingCalendar;
use casewatch_domain::case::{Case, Disposition, Effects, Policy};
use casewatch_domain::catalogue::RuleId;
use casewatch_domain::event::{
    Actor, Applicant, ApplicantKind, CaseEvent, CaseType, Certificate, Channel, CompletionResult,
    Decision, FeeItem, Limit, ProcedureKind, ReviewOutcome, Step,
};
use casewatch_domain::ids::{AlertId, CaseNo, DeptCode, EventId, ItemCode, RegionCode};
use casewatch_domain::rulebook::RuleBook;
use casewatch_domain::stats::{Counters, StatDelta};
use casewatch_domain::supervision::{SupervisionAction, SupervisionEvent};
use chrono::NaiveDate;

/// A local time in China Standard Time, written `2026-03-02 09:00` or, to the second,
/// `2026-03-02 09:00:01`.
pub fn t(local: &str) -> Timestamp {
    let format = if local.len() > "2026-03-02 09:00".len() {
        "%Y-%m-%d %H:%M:%S %z"
    } else {
        "%Y-%m-%d %H:%M %z"
    };
    chrono::DateTime::parse_from_str(&format!("{local} +08:00"), format)
        .unwrap_or_else(|error| panic!("bad time `{local}`: {error}"))
        .to_utc()
}

/// `at` as [`t`] reads it, to the second.
pub fn local(at: Timestamp) -> String {
    at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00"))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn dept() -> DeptCode {
    DeptCode::with_check_char("11330106MB0000001").expect("valid department body")
}

pub fn working_days(n: u32) -> Limit {
    Limit::working_days(n).expect("valid limit")
}

/// One case being scripted. Every record reaches the case through the domain's own entry
/// points (`handle_step`, `advance`, `handle_supervision`, `handle_unreadable`).
pub struct Script {
    pub policy: Policy,
    pub case_no: CaseNo,
    /// The region the case's steps report (`330106` unless changed).
    pub region: RegionCode,
    pub case: Option<Case>,
    pub next_seq: u32,
    pub changes: Vec<AlertChange>,
    pub dispositions: Vec<(u32, Disposition)>,
    pub events: Vec<CaseEvent>,
    /// The statistics deltas of every fold, in order.
    pub deltas: Vec<StatDelta>,
}

impl Default for Script {
    fn default() -> Self {
        Self::new("HZ-2026-0001")
    }
}

impl Script {
    pub fn new(case_no: &str) -> Self {
        Self {
            policy: Policy::default(),
            case_no: CaseNo::parse(case_no).expect("valid case number"),
            region: RegionCode::parse("330106").expect("valid region"),
            case: None,
            next_seq: 1,
            changes: Vec::new(),
            dispositions: Vec::new(),
            events: Vec::new(),
            deltas: Vec::new(),
        }
    }

    pub fn rules(mut self, change: impl FnOnce(&mut RuleBook)) -> Self {
        change(&mut self.policy.rules);
        self
    }

    /// The event for the next step, performed by `actor`.
    pub fn event(&self, seq: u32, actor: &str, at: Timestamp, step: Step) -> CaseEvent {
        CaseEvent {
            event_id: EventId::parse(format!("{}-{seq}-{}", self.case_no, step.name()))
                .expect("valid event id"),
            case_no: self.case_no.clone(),
            seq,
            item_code: ItemCode::parse("ITEM-0001").expect("valid item"),
            region_code: self.region.clone(),
            dept_code: dept(),
            occurred_at: at,
            source_system: "county-system".into(),
            source_version: 1,
            actor: Actor {
                id: actor.into(),
                name: actor.into(),
            },
            step,
        }
    }

    fn absorb(&mut self, effects: Effects) {
        self.changes.extend(effects.alerts);
        self.dispositions.extend(
            effects
                .steps
                .iter()
                .map(|step| (step.seq, step.disposition)),
        );
        self.deltas.extend(effects.stats);
    }

    /// Folds an event reported at `recorded_at`.
    pub fn send(&mut self, event: CaseEvent, recorded_at: Timestamp) -> &mut Self {
        let case = self.case.get_or_insert_with(|| Case::new(&event));
        let effects = case.handle_step(&event, recorded_at, &self.policy);
        self.events.push(event);
        self.absorb(effects);
        self
    }

    /// The next step, by `clerk-1`, reported as it happens.
    pub fn step(&mut self, at: &str, step: Step) -> &mut Self {
        self.step_by("clerk-1", at, step)
    }

    pub fn step_by(&mut self, actor: &str, at: &str, step: Step) -> &mut Self {
        let seq = self.next_seq;
        self.next_seq += 1;
        let event = self.event(seq, actor, t(at), step);
        self.send(event, t(at))
    }

    /// The next step, reported later than it happened.
    pub fn reported(&mut self, at: &str, recorded: &str, step: Step) -> &mut Self {
        let seq = self.next_seq;
        self.next_seq += 1;
        let event = self.event(seq, "clerk-1", t(at), step);
        self.send(event, t(recorded))
    }

    /// A step with an explicit step number (for gaps and re-sends).
    pub fn step_seq(&mut self, seq: u32, at: &str, step: Step) -> &mut Self {
        let event = self.event(seq, "clerk-1", t(at), step);
        self.send(event, t(at))
    }

    /// A clock tick.
    pub fn tick(&mut self, at: &str) -> &mut Self {
        let case = self.case.as_mut().expect("a tick needs a case");
        let effects = case.advance(t(at), &self.policy);
        self.absorb(effects);
        self
    }

    /// A record of the case that could not be read, met when the partition's time is `at`.
    pub fn unreadable(&mut self, record: &[u8], reason: &str, at: &str) -> &mut Self {
        let case = self
            .case
            .as_mut()
            .expect("an unreadable record needs a known case");
        let effects = case.handle_unreadable(record, reason, t(at), &self.policy);
        self.absorb(effects);
        self
    }

    /// A person acts on the first alert of `rule`.
    pub fn act(
        &mut self,
        rule: RuleId,
        role: Role,
        at: &str,
        action: SupervisionAction,
    ) -> &mut Self {
        self.try_act(rule, role, at, action)
            .expect("the action is allowed");
        self
    }

    pub fn try_act(
        &mut self,
        rule: RuleId,
        role: Role,
        at: &str,
        action: SupervisionAction,
    ) -> Result<(), casewatch_domain::alert::LifecycleError> {
        let alert_id = AlertId {
            case_no: self.case_no.clone(),
            rule,
            occurrence: 1,
        };
        let event = SupervisionEvent {
            event_id: EventId::parse(format!("act-{}-{}", alert_id, self.changes.len()))
                .expect("valid id"),
            alert_id,
            principal: Principal {
                id: format!("{role}-1").replace(' ', "-"),
                name: String::new(),
                role,
            },
            action,
        };
        let case = self.case.as_mut().expect("an action needs a case");
        let effects = case.handle_supervision(&event, t(at), &self.policy)?;
        self.absorb(effects);
        Ok(())
    }

    pub fn case(&self) -> &Case {
        self.case.as_ref().expect("the script reported a step")
    }

    pub fn alerts(&self) -> &[Alert] {
        &self.case().alerts
    }

    /// The first alert of `rule`.
    pub fn alert(&self, rule: RuleId) -> Option<&Alert> {
        self.alerts().iter().find(|alert| alert.rule() == rule)
    }

    pub fn rules_fired(&self) -> Vec<RuleId> {
        self.alerts().iter().map(Alert::rule).collect()
    }

    /// How many alerts `rule` raised on the case.
    pub fn raised(&self, rule: RuleId) -> usize {
        self.alerts()
            .iter()
            .filter(|alert| alert.rule() == rule)
            .count()
    }

    /// The calendar of the case's region.
    pub fn calendar(&self) -> &WorkingCalendar {
        self.policy.calendars.for_region(&self.case().region_code)
    }

    pub fn promised_due(&self) -> Option<Timestamp> {
        self.case().promised_due(self.calendar())
    }

    pub fn legal_due(&self) -> Option<Timestamp> {
        self.case().legal_due(self.calendar())
    }

    /// Every delta added up.
    pub fn totals(&self) -> Counters {
        self.sum(|_| true)
    }

    /// The deltas counted on `day`, added up.
    pub fn on(&self, day: NaiveDate) -> Counters {
        self.sum(|delta| delta.key.day == day)
    }

    /// The deltas counted up to and including `day`: the gauges at its end.
    pub fn through(&self, day: NaiveDate) -> Counters {
        self.sum(|delta| delta.key.day <= day)
    }

    fn sum(&self, keep: impl Fn(&StatDelta) -> bool) -> Counters {
        let mut totals = Counters::default();
        for delta in self.deltas.iter().filter(|delta| keep(delta)) {
            totals += &delta.counters;
        }
        totals
    }

    /// The days some delta counts `counter` on (non-zero), in order.
    pub fn days_of(&self, counter: impl Fn(&Counters) -> i64) -> Vec<NaiveDate> {
        let mut days: Vec<NaiveDate> = self
            .deltas
            .iter()
            .filter(|delta| counter(&delta.counters) != 0)
            .map(|delta| delta.key.day)
            .collect();
        days.sort_unstable();
        days.dedup();
        days
    }
}

// Steps, with the defaults of an ordinary promised case.

pub fn submitted(channel: Channel) -> Step {
    Step::Submitted {
        applicant: Applicant {
            kind: ApplicantKind::Person,
            name: "张三".into(),
            id_type: "resident_id".into(),
            id_no: "330106199001011234".into(),
        },
        channel,
        materials: Vec::new(),
    }
}

pub fn accepted(promised: u32, legal: u32) -> Step {
    accepted_as(
        CaseType::Promised,
        working_days(promised),
        working_days(legal),
    )
}

pub fn accepted_as(case_type: CaseType, promised: Limit, legal: Limit) -> Step {
    Step::Accepted {
        case_type,
        legal_limit: legal,
        promised_limit: promised,
        fee_required: false,
        fee_standard_fen: None,
        accept_doc_no: "受理-0001".into(),
    }
}

pub fn accepted_with_fee(promised: u32, legal: u32, standard_fen: u64) -> Step {
    Step::Accepted {
        case_type: CaseType::Promised,
        legal_limit: working_days(legal),
        promised_limit: working_days(promised),
        fee_required: true,
        fee_standard_fen: Some(standard_fen),
        accept_doc_no: "受理-0001".into(),
    }
}

pub fn reviewed(step_code: &str) -> Step {
    Step::Reviewed {
        step_code: step_code.into(),
        step_name: "审核".into(),
        outcome: ReviewOutcome::Pass,
        opinion: "同意".into(),
        step_limit: None,
    }
}

pub fn reviewed_within(step_code: &str, limit: Limit) -> Step {
    Step::Reviewed {
        step_code: step_code.into(),
        step_name: "审核".into(),
        outcome: ReviewOutcome::Pass,
        opinion: "同意".into(),
        step_limit: Some(limit),
    }
}

pub fn decided(decision: Decision, reason: &str) -> Step {
    Step::Decided {
        decision,
        reason: reason.into(),
        window_direct_signoff: false,
    }
}

pub fn granted() -> Step {
    decided(Decision::Grant, "符合条件")
}

pub fn completed() -> Step {
    completed_with(CompletionResult::Completed, None, 0)
}

pub fn completed_with(
    result: CompletionResult,
    certificate: Option<Certificate>,
    fee_total_fen: u64,
) -> Step {
    Step::Completed {
        result,
        certificate,
        fee_total_fen,
    }
}

pub fn certificate() -> Certificate {
    Certificate {
        name: "营业执照".into(),
        no: "ZJ-2026-0001".into(),
        valid_to: None,
        issuer: "市场监督管理局".into(),
    }
}

pub fn procedure(proc_no: &str, kind: ProcedureKind, approved: Limit, approver: &str) -> Step {
    Step::SpecialProcedureStarted {
        proc_no: proc_no.into(),
        kind,
        basis: "依申请".into(),
        approver: approver.into(),
        approved,
    }
}

pub fn procedure_ended(proc_no: &str, result: &str) -> Step {
    Step::SpecialProcedureEnded {
        proc_no: proc_no.into(),
        result: result.into(),
        fee_fen: None,
    }
}

pub fn fee(ticket_no: &str, amount_fen: u64, standard_fen: u64, unified_ticket: bool) -> Step {
    Step::FeeCharged {
        ticket_no: ticket_no.into(),
        items: vec![FeeItem {
            fee_code: "GB-001".into(),
            amount_fen,
            standard_fen,
        }],
        payer: "张三".into(),
        collector: "窗口".into(),
        unified_ticket,
    }
}

pub fn suspended() -> Step {
    Step::Suspended {
        reason: "等待外部数据".into(),
        requested_days: None,
    }
}

pub fn resumed() -> Step {
    Step::Resumed {
        reason: "数据已到".into(),
    }
}

pub fn correction_requested() -> Step {
    Step::CorrectionRequested {
        reason: "材料不全".into(),
        materials: Vec::new(),
    }
}

pub fn correction_received() -> Step {
    Step::CorrectionReceived {
        materials: Vec::new(),
    }
}

pub fn appealed(appeal_no: &str) -> Step {
    Step::Appealed {
        appeal_no: appeal_no.into(),
        complainant: "张三".into(),
        target: casewatch_domain::event::AppealTarget::Department,
        reason: "办理拖延".into(),
        channel: Channel::Web,
    }
}

pub fn appeal_resolved(appeal_no: &str) -> Step {
    Step::AppealResolved {
        appeal_no: appeal_no.into(),
        outcome: casewatch_domain::event::AppealOutcome::Explained,
        reply: "已解释".into(),
        satisfaction: None,
    }
}

pub fn rated(rating_no: &str, level: u8) -> Step {
    Step::Rated {
        rating_no: rating_no.into(),
        level: casewatch_domain::event::RatingLevel::new(level).expect("valid level"),
        tags: Vec::new(),
        text: None,
    }
}

pub fn followed_up(rating_no: &str) -> Step {
    Step::RatingFollowedUp {
        rating_no: rating_no.into(),
        reply: "已整改".into(),
    }
}
