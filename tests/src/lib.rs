//! The scripted scenario every end-to-end suite plays: county systems report seven cases as
//! protobuf messages, exactly as they would over gRPC, with clock ticks between them, and
//! the alerts Casewatch must raise for them. Suites differ only in how the inputs travel
//! (folded in-process, through the embedded log, through Kafka and PostgreSQL).

pub mod month;
pub mod week;
pub mod what_if;

use casewatch_domain::Timestamp;
use casewatch_domain::catalogue::{Level, RuleId};
use casewatch_domain::ids::{AlertId, DeptCode};
use casewatch_proto::convert::timestamp_to_pb;
use casewatch_proto::pb::act_on_alert_request::Action;
use casewatch_proto::pb::case_event::{
    Accepted, Appealed, Completed, Decided, FeeCharged, Rejected, Reviewed, Step, Submitted,
    Withdrawn,
};
use casewatch_proto::{encode_record, pb};
use prost::Message;

/// A local time in China Standard Time, written `2026-03-02 09:00` or, to the second,
/// `2026-03-02 09:00:59`.
pub fn local(text: &str) -> Timestamp {
    let format = if text.matches(':').count() == 2 {
        "%Y-%m-%d %H:%M:%S %z"
    } else {
        "%Y-%m-%d %H:%M %z"
    };
    chrono::DateTime::parse_from_str(&format!("{text} +08:00"), format)
        .unwrap_or_else(|error| panic!("bad time `{text}`: {error}"))
        .to_utc()
}

/// One input of the scenario, in the order it reaches Casewatch.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A county reports a step; `recorded_at` is when it arrives.
    Step {
        event: Box<pb::CaseEvent>,
        recorded_at: Timestamp,
    },
    /// Time passes.
    Tick(Timestamp),
}

/// An alert the scenario must raise: on which case, by which rule, at which level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedAlert {
    pub case_no: &'static str,
    pub rule: RuleId,
    pub level: Level,
}

/// The alerts of the scenario once every input is in.
pub const EXPECTED_ALERTS: &[ExpectedAlert] = &[
    // Promised 3 days: warned with a day left, late an hour into the fourth.
    ExpectedAlert {
        case_no: "330106-B-LATE",
        rule: RuleId::T1,
        level: Level::Warning,
    },
    ExpectedAlert {
        case_no: "330106-B-LATE",
        rule: RuleId::T2,
        level: Level::Yellow,
    },
    // Decided and completed without the review a promised case requires.
    ExpectedAlert {
        case_no: "330102-C-NOREVIEW",
        rule: RuleId::P2,
        level: Level::Yellow,
    },
    // A fee on an item that charges none.
    ExpectedAlert {
        case_no: "330102-D-FEE",
        rule: RuleId::F1,
        level: Level::Red,
    },
    // The acceptance re-sent a day later with a longer promise.
    ExpectedAlert {
        case_no: "330105-E-CONFLICT",
        rule: RuleId::C3,
        level: Level::Red,
    },
    // An appeal of Monday 2 March unanswered for more than five working days, counted from
    // Tuesday: past the close of Monday 9 March.
    ExpectedAlert {
        case_no: "330106-G-APPEAL",
        rule: RuleId::K1,
        level: Level::Yellow,
    },
];

/// Case numbers of the scenario that must end with no alert.
pub const CLEAN_CASES: &[&str] = &["330106-A-CLEAN", "330105-F-ORDER"];

/// The department code of the scenario's offices in `region`.
pub fn dept(region: &str) -> String {
    DeptCode::with_check_char(&format!("11{region}MB0000001"))
        .expect("a valid department body")
        .to_string()
}

fn working_days(n: u32) -> Option<pb::Limit> {
    Some(pb::Limit {
        n,
        unit: pb::LimitUnit::WorkingDays.into(),
    })
}

/// Builds the steps of one case.
struct CaseScript {
    case_no: &'static str,
    region: &'static str,
    dept_code: String,
    item_code: &'static str,
    next_seq: u32,
    inputs: Vec<Input>,
}

impl CaseScript {
    /// A case of the food-licence item at the scenario's office in `region`.
    fn new(case_no: &'static str, region: &'static str) -> Self {
        Self::handled_by(case_no, region, dept(region), "330000-SCJG-0001")
    }

    /// A case of item `item_code` handled by department `dept_code` in `region`.
    fn handled_by(
        case_no: &'static str,
        region: &'static str,
        dept_code: String,
        item_code: &'static str,
    ) -> Self {
        Self {
            case_no,
            region,
            dept_code,
            item_code,
            next_seq: 1,
            inputs: Vec::new(),
        }
    }

    fn event(&self, seq: u32, actor: &str, at: Timestamp, step: Step) -> pb::CaseEvent {
        pb::CaseEvent {
            event_id: format!("{}-{seq}", self.case_no),
            case_no: self.case_no.into(),
            seq,
            item_code: self.item_code.into(),
            region_code: self.region.into(),
            dept_code: self.dept_code.clone(),
            occurred_at: Some(timestamp_to_pb(at)),
            source_system: format!("county-{}", self.region),
            source_version: 1,
            actor: Some(pb::Actor {
                id: actor.into(),
                name: actor.into(),
            }),
            step: Some(step),
        }
    }

    /// The next step, reported a minute after it happened.
    fn step(mut self, at: &str, actor: &str, step: Step) -> Self {
        let seq = self.next_seq;
        self.next_seq += 1;
        let at = local(at);
        let event = self.event(seq, actor, at, step);
        self.send(event, at + chrono::Duration::minutes(1))
    }

    fn send(mut self, event: pb::CaseEvent, recorded_at: Timestamp) -> Self {
        self.inputs.push(Input::Step {
            event: Box::new(event),
            recorded_at,
        });
        self
    }
}

/// Asserts that every event of an append's answer is on the log.
pub fn assert_appended(response: &pb::AppendResponse) {
    assert!(
        !response.results.is_empty()
            && response.results.iter().all(|result| matches!(
                result.outcome,
                Some(pb::append_result::Outcome::Appended(_))
            )),
        "{response:?}"
    );
}

/// A submission (申办) opening case `case_no` in `region` at `at`, as its county reports it.
pub fn submission(case_no: &str, region: &'static str, at: Timestamp) -> pb::CaseEvent {
    pb::CaseEvent {
        event_id: format!("{case_no}-1"),
        case_no: case_no.to_owned(),
        ..CaseScript::new("", region).event(1, "clerk", at, submitted())
    }
}

/// The acceptance (受理) of case `case_no` in `region` at `at`, as its second step, with
/// `promised` and 20 legal working days.
pub fn acceptance(
    case_no: &str,
    region: &'static str,
    at: Timestamp,
    promised: u32,
) -> pb::CaseEvent {
    pb::CaseEvent {
        event_id: format!("{case_no}-2"),
        case_no: case_no.to_owned(),
        ..CaseScript::new("", region).event(2, "clerk", at, accepted(promised))
    }
}

fn submitted() -> Step {
    submitted_via(pb::Channel::Web)
}

/// An application (申办) that arrived through `channel`.
fn submitted_via(channel: pb::Channel) -> Step {
    Step::Submitted(Submitted {
        applicant: Some(pb::Applicant {
            kind: pb::ApplicantKind::Organisation.into(),
            name: "杭州某餐饮有限公司".into(),
            id_type: "credit_code".into(),
            id_no: "91330106MA2B000000".into(),
        }),
        channel: channel.into(),
        materials: Vec::new(),
    })
}

fn accepted(promised: u32) -> Step {
    accepted_within(promised, 20)
}

/// A promised case (承诺件) accepted with `promised` and `legal` working days.
fn accepted_within(promised: u32, legal: u32) -> Step {
    Step::Accepted(Accepted {
        case_type: pb::CaseType::Promised.into(),
        legal_limit: working_days(legal),
        promised_limit: working_days(promised),
        fee_required: false,
        fee_standard_fen: None,
        accept_doc_no: "受理-2026-0001".into(),
    })
}

fn reviewed() -> Step {
    Step::Reviewed(Reviewed {
        step_code: "review".into(),
        step_name: "审核".into(),
        outcome: pb::ReviewOutcome::Pass.into(),
        opinion: "材料齐全".into(),
        step_limit: None,
    })
}

fn decided() -> Step {
    decided_with(false)
}

/// A grant, signed off at the window (窗口直接签批) or not.
fn decided_with(window_direct_signoff: bool) -> Step {
    Step::Decided(Decided {
        decision: pb::Decision::Grant.into(),
        reason: "符合条件".into(),
        window_direct_signoff,
    })
}

fn completed() -> Step {
    Step::Completed(Completed {
        result: pb::CompletionResult::IssuedCertificate.into(),
        certificate: Some(pb::Certificate {
            name: "食品经营许可证".into(),
            no: "JY-2026-0001".into(),
            valid_to: None,
            issuer: "市场监督管理局".into(),
        }),
        fee_total_fen: 0,
    })
}

/// A unified ticket (一票制) of `amount_fen`, at its standard.
fn fee_charged(ticket_no: &str, amount_fen: u64) -> Step {
    Step::FeeCharged(FeeCharged {
        ticket_no: ticket_no.into(),
        items: vec![pb::FeeItem {
            fee_code: "GB-0001".into(),
            amount_fen,
            standard_fen: amount_fen,
        }],
        payer: "申请人".into(),
        collector: "窗口".into(),
        unified_ticket: true,
    })
}

/// The applicant's appeal (申述) against the department.
fn appealed(appeal_no: &str) -> Step {
    Step::Appealed(Appealed {
        appeal_no: appeal_no.into(),
        complainant: "申请人".into(),
        target: pb::AppealTarget::Department.into(),
        reason: "窗口服务态度差".into(),
        channel: pb::Channel::Mobile.into(),
    })
}

fn rejected() -> Step {
    Step::Rejected(Rejected {
        reason: "材料不符合法定形式".into(),
    })
}

fn withdrawn() -> Step {
    Step::Withdrawn(Withdrawn {
        reason: "申请人撤回".into(),
    })
}

/// An administrator's action on `alert_id` at local time `at`.
fn act(at: &str, event_id: &str, alert_id: &str, action: Action) -> Scripted {
    Scripted::Act {
        at: local(at),
        request: pb::ActOnAlertRequest {
            event_id: event_id.into(),
            alert_id: alert_id.into(),
            action: Some(action),
            await_projection: false,
        },
    }
}

/// A clock tick every day at the local time of `first`, up to `last`.
fn daily_ticks(first: &str, last: &str) -> Vec<Scripted> {
    let mut ticks = Vec::new();
    let mut tick = local(first);
    while tick <= local(last) {
        ticks.push(Scripted::Input(Input::Tick(tick)));
        tick += chrono::Duration::days(1);
    }
    ticks
}

/// A script in arrival order: at one instant a step, then an action, then a tick. The
/// sort is stable, so the steps of one case keep their order.
fn in_arrival_order(mut script: Vec<Scripted>) -> Vec<Scripted> {
    script.sort_by_key(|scripted| {
        let order = match scripted {
            Scripted::Input(Input::Step { .. }) => 0,
            Scripted::Act { .. } => 1,
            Scripted::Input(Input::Tick(_)) => 2,
        };
        (scripted.at(), order)
    });
    script
}

/// The inputs of the scenario, ordered by arrival: the steps of seven cases from Monday
/// 2 March 2026 on, and hourly clock ticks up to Tuesday 10 March 10:00.
pub fn scenario() -> Vec<Input> {
    let clean = CaseScript::new("330106-A-CLEAN", "330106")
        .step("2026-03-02 09:00", "clerk", submitted())
        .step("2026-03-02 09:10", "clerk", accepted(5))
        .step("2026-03-03 10:00", "reviewer", reviewed())
        .step("2026-03-04 10:00", "chief", decided())
        .step("2026-03-04 11:00", "clerk", completed());
    let late = CaseScript::new("330106-B-LATE", "330106")
        .step("2026-03-02 09:00", "clerk", accepted(3))
        .step("2026-03-03 10:00", "reviewer", reviewed());
    let no_review = CaseScript::new("330102-C-NOREVIEW", "330102")
        .step("2026-03-02 10:00", "clerk", accepted(5))
        .step("2026-03-03 10:00", "chief", decided())
        .step("2026-03-03 11:00", "clerk", completed());
    let fee = CaseScript::new("330102-D-FEE", "330102")
        .step("2026-03-02 10:00", "clerk", accepted(10))
        .step("2026-03-03 14:00", "cashier", fee_charged("票-0001", 5000));
    let mut conflict = CaseScript::new("330105-E-CONFLICT", "330105")
        .step("2026-03-02 09:00", "clerk", submitted())
        .step("2026-03-02 09:30", "clerk", accepted(10));
    let mut rewritten = conflict.event(2, "clerk", local("2026-03-02 09:30"), accepted(15));
    rewritten.event_id = "330105-E-CONFLICT-2-v2".into();
    rewritten.source_version = 2;
    conflict = conflict.send(rewritten, local("2026-03-03 09:30"));
    // Step 3 arrives before step 2, three minutes apart.
    let order = CaseScript::new("330105-F-ORDER", "330105");
    let early = order.event(3, "reviewer", local("2026-03-02 11:00"), reviewed());
    let first = order.event(1, "clerk", local("2026-03-02 10:00"), submitted());
    let second = order.event(2, "clerk", local("2026-03-02 10:05"), accepted(10));
    let order = order
        .send(first, local("2026-03-02 10:01"))
        .send(early, local("2026-03-02 11:01"))
        .send(second, local("2026-03-02 11:04"));
    let appeal = CaseScript::new("330106-G-APPEAL", "330106")
        .step("2026-03-02 09:00", "clerk", accepted(5))
        .step("2026-03-02 10:00", "reviewer", reviewed())
        .step("2026-03-02 11:00", "chief", decided())
        .step("2026-03-02 11:30", "clerk", completed())
        .step("2026-03-02 14:00", "applicant", appealed("诉-0001"));

    let mut inputs: Vec<Input> = [clean, late, no_review, fee, conflict, order, appeal]
        .into_iter()
        .flat_map(|case| case.inputs)
        .collect();
    let mut tick = local("2026-03-02 08:00");
    while tick <= local("2026-03-10 10:00") {
        inputs.push(Input::Tick(tick));
        tick += chrono::Duration::hours(1);
    }
    // Arrival order; a step and a tick at the same instant: the step first. The sort is
    // stable, so steps of one case arriving together keep their order.
    inputs.sort_by_key(|input| match input {
        Input::Step { recorded_at, .. } => (*recorded_at, 0),
        Input::Tick(at) => (*at, 1),
    });
    inputs
}

/// The record bytes of one input, as an ingest node appends them (a step) or its ticker
/// (a tick).
pub fn record_bytes(input: &Input) -> Vec<u8> {
    match input {
        Input::Step { event, recorded_at } => encode_record(
            pb::RecordKind::CaseEvent,
            *recorded_at,
            &event.encode_to_vec(),
        ),
        Input::Tick(at) => casewatch_proto::encode_tick(*at, "scenario"),
    }
}

/// One input of a script in which people act on alerts too (the scripted month).
#[derive(Debug, Clone, PartialEq)]
pub enum Scripted {
    /// A step or a clock tick, as in [`scenario`].
    Input(Input),
    /// At `at`, an administrator acts on an alert: `ActOnAlert` over gRPC, a supervision
    /// record on the log in-process.
    Act {
        at: Timestamp,
        request: pb::ActOnAlertRequest,
    },
}

/// The records `script` puts on a log of `partitions` partitions, as ingest, the ticker and
/// `ActOnAlert` append them: each to its case's partition, a tick onto every partition.
pub fn log_records(
    script: impl IntoIterator<Item = Scripted>,
    partitions: u32,
) -> Vec<casewatch_log::NewRecord> {
    use casewatch_log::{Destination, NewRecord};
    let mut records = Vec::new();
    for scripted in script {
        let bytes = scripted.record_bytes();
        let destinations = match scripted.case_no() {
            Some(case_no) => vec![Destination::Key(case_no)],
            None => (0..partitions).map(Destination::Partition).collect(),
        };
        records.extend(destinations.into_iter().map(|destination| NewRecord {
            destination,
            bytes: bytes.clone(),
            idempotency_key: None,
            headers: Vec::new(),
        }));
    }
    records
}

/// The principal `ActOnAlert` records for the development administrator, the harness's
/// operator.
pub const ADMINISTRATOR: &str = "dev-admin";

impl Scripted {
    /// When it reaches Casewatch.
    pub fn at(&self) -> Timestamp {
        match self {
            Scripted::Input(Input::Step { recorded_at, .. }) => *recorded_at,
            Scripted::Input(Input::Tick(at)) | Scripted::Act { at, .. } => *at,
        }
    }

    /// The case whose partition its record goes to; `None` for a tick, which goes to
    /// every partition.
    pub fn case_no(&self) -> Option<String> {
        match self {
            Scripted::Input(Input::Step { event, .. }) => Some(event.case_no.clone()),
            Scripted::Input(Input::Tick(_)) => None,
            Scripted::Act { request, .. } => Some(
                request
                    .alert_id
                    .parse::<AlertId>()
                    .expect("the script names alerts by valid ids")
                    .case_no
                    .to_string(),
            ),
        }
    }

    /// The record bytes, as ingest, the ticker or `ActOnAlert` (for [`ADMINISTRATOR`])
    /// append them.
    pub fn record_bytes(&self) -> Vec<u8> {
        match self {
            Scripted::Input(input) => record_bytes(input),
            Scripted::Act { at, request } => {
                let event = pb::SupervisionEvent {
                    event_id: request.event_id.clone(),
                    alert_id: request.alert_id.clone(),
                    principal: Some(pb::Principal {
                        id: ADMINISTRATOR.into(),
                        name: String::new(),
                        role: pb::Role::Admin.into(),
                    }),
                    action: request.action.clone().map(Into::into),
                };
                encode_record(
                    pb::RecordKind::SupervisionEvent,
                    *at,
                    &event.encode_to_vec(),
                )
            }
        }
    }
}

/// An alert as the scenario names it: case, rule and level.
pub type AlertKey = (String, RuleId, Level);

/// The expected alerts, sorted.
pub fn expected_alerts() -> Vec<AlertKey> {
    let mut expected: Vec<AlertKey> = EXPECTED_ALERTS
        .iter()
        .map(|alert| (alert.case_no.to_owned(), alert.rule, alert.level))
        .collect();
    expected.sort();
    expected
}

/// An alert read over gRPC, as the scenario names it.
pub fn alert_key(alert: &pb::Alert) -> AlertKey {
    let level = match pb::AlertLevel::try_from(alert.level).expect("a known level") {
        pb::AlertLevel::Warning => Level::Warning,
        pb::AlertLevel::Yellow => Level::Yellow,
        pb::AlertLevel::Red => Level::Red,
        pb::AlertLevel::Serious => Level::Serious,
        pb::AlertLevel::Unspecified => panic!("an alert without a level"),
    };
    (
        alert.case_no.clone(),
        alert.rule.parse().expect("a known rule"),
        level,
    )
}

/// What a suite sends: append requests, each at one time, and clock ticks.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// One append request; the server's clock reads `recorded_at` while it is handled.
    Append {
        recorded_at: Timestamp,
        events: Vec<pb::CaseEvent>,
    },
    /// A tick onto every partition.
    Tick(Timestamp),
}

/// Groups consecutive steps into requests of at most `per_request` events, each stamped
/// with the arrival of its last step; ticks stay where they are. Two suites sending the
/// same calls put the same records on their logs.
pub fn calls(inputs: &[Input], per_request: usize) -> Vec<Call> {
    let mut calls = Vec::new();
    for input in inputs {
        match input {
            Input::Tick(at) => calls.push(Call::Tick(*at)),
            Input::Step { event, recorded_at } => match calls.last_mut() {
                Some(Call::Append {
                    recorded_at: at,
                    events,
                }) if events.len() < per_request => {
                    *at = (*at).max(*recorded_at);
                    events.push((**event).clone());
                }
                _ => calls.push(Call::Append {
                    recorded_at: *recorded_at,
                    events: vec![(**event).clone()],
                }),
            },
        }
    }
    calls
}

/// A simulated city's steps and ticks as inputs.
pub fn simulated(config: casewatch_sim::SimConfig) -> Vec<Input> {
    casewatch_sim::Simulator::new(config)
        .map(|output| match output {
            casewatch_sim::Output::Step { event, recorded_at } => Input::Step {
                event: Box::new(pb::CaseEvent::from(*event)),
                recorded_at,
            },
            casewatch_sim::Output::Tick(at) => Input::Tick(at),
        })
        .collect()
}
