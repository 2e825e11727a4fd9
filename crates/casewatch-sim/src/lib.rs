//! A seedable simulator of county and department systems: cases across counties,
//! departments and items, with a realistic mix — most on time, a few percent late, some
//! procedure and fee anomalies, appeals, ratings, late and out-of-order reports, conflicting
//! re-sends — and clock ticks. The same seed gives the same stream.
//!
//! It only produces values; sending them (in-process, over gRPC) is the caller's business.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use casewatch_domain::Timestamp;
use casewatch_domain::calendar::WorkingCalendar;
use casewatch_domain::event::{
    Actor, AppealOutcome, AppealTarget, Applicant, ApplicantKind, CaseEvent, CaseType, Certificate,
    Channel, CompletionResult, Decision, FeeItem, Limit, LimitUnit, RatingLevel, ReviewOutcome,
    Step,
};
use casewatch_domain::ids::{CaseNo, DeptCode, EventId, ItemCode, RegionCode};
use chrono::Duration;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A county of the simulated city (real codes of Hangzhou's districts).
pub const COUNTIES: &[(&str, &str)] = &[
    ("330102", "上城区"),
    ("330105", "拱墅区"),
    ("330106", "西湖区"),
    ("330108", "滨江区"),
    ("330109", "萧山区"),
    ("330110", "余杭区"),
];

/// The departments every county has.
const DEPARTMENTS: &[&str] = &["市场监管局", "卫生健康局", "住房建设局", "交通运输局"];

/// An item (事项) of the simulated catalogue.
struct ItemTemplate {
    code: &'static str,
    name: &'static str,
    department: usize,
    case_type: CaseType,
    promised_days: u32,
    legal_days: u32,
    fee_fen: Option<u64>,
}

const ITEMS: &[ItemTemplate] = &[
    ItemTemplate {
        code: "330000-SCJG-0001",
        name: "食品经营许可",
        department: 0,
        case_type: CaseType::Promised,
        promised_days: 10,
        legal_days: 20,
        fee_fen: None,
    },
    ItemTemplate {
        code: "330000-SCJG-0002",
        name: "营业执照变更登记",
        department: 0,
        case_type: CaseType::Immediate,
        promised_days: 1,
        legal_days: 15,
        fee_fen: None,
    },
    ItemTemplate {
        code: "330000-WSJK-0001",
        name: "医疗机构执业登记",
        department: 1,
        case_type: CaseType::Promised,
        promised_days: 15,
        legal_days: 20,
        fee_fen: None,
    },
    ItemTemplate {
        code: "330000-ZJJ-0001",
        name: "建筑工程施工许可",
        department: 2,
        case_type: CaseType::Joint,
        promised_days: 7,
        legal_days: 45,
        fee_fen: Some(20_000),
    },
    ItemTemplate {
        code: "330000-JTYS-0001",
        name: "道路运输经营许可",
        department: 3,
        case_type: CaseType::Promised,
        promised_days: 5,
        legal_days: 20,
        fee_fen: Some(5_000),
    },
];

/// What the simulator produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A step as a county system reports it; `recorded_at` is when it reaches Casewatch.
    Step {
        event: Box<CaseEvent>,
        recorded_at: Timestamp,
    },
    /// The passing of time.
    Tick(Timestamp),
}

impl Output {
    /// When the output happens.
    pub fn at(&self) -> Timestamp {
        match self {
            Output::Step { recorded_at, .. } => *recorded_at,
            Output::Tick(at) => *at,
        }
    }
}

/// How much to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// The first simulated instant (a Monday morning is a good start).
    pub start: Timestamp,
    /// A name for this run (a few ASCII letters and digits), put in every case number
    /// (`330102-20260302-RUN-00001`), so that runs with the same seed and days report new
    /// cases rather than re-send an earlier run's steps; `None`: the numbers say only the
    /// county, the day and the count.
    pub run: Option<String>,
    /// How many simulated working days new cases arrive on.
    pub days: u32,
    /// How many counties report (at most [`COUNTIES`]).
    pub counties: usize,
    /// New cases per county per working day.
    pub cases_per_county_day: u32,
    /// Simulated time between clock ticks.
    pub tick_every: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            start: chrono::DateTime::parse_from_rfc3339("2026-03-02T08:30:00+08:00")
                .expect("a valid start")
                .to_utc(),
            run: None,
            days: 10,
            counties: 3,
            cases_per_county_day: 20,
            tick_every: Duration::hours(1),
        }
    }
}

impl SimConfig {
    /// The same simulation placed so that its `days` working days of new cases end on the
    /// working day of `now` (today when it is one, else the last one before it), each
    /// starting at 08:30: a history that ends now, for a node whose clock says `now`. The
    /// outputs up to `now` are that history, the rest what is still to come.
    pub fn ending_at(self, now: Timestamp) -> Self {
        let calendar = WorkingCalendar::national();
        let mut date = calendar.local_date(now);
        let mut working_days = 0;
        loop {
            if calendar.is_working_day(date) {
                working_days += 1;
                if working_days >= self.days.max(1) {
                    break;
                }
            }
            date = date.pred_opt().expect("a date within the calendar");
        }
        Self {
            start: calendar.start_of(date) + Duration::minutes(8 * 60 + 30),
            ..self
        }
    }
}

/// The name of a simulated county, for display.
pub fn county_name(region: &RegionCode) -> &'static str {
    COUNTIES
        .iter()
        .find(|(code, _)| RegionCode::parse(*code).is_ok_and(|county| county.contains(region)))
        .map_or("", |(_, name)| name)
}

/// The department code of department `index` in `county`.
pub fn dept_code(county: usize, index: usize) -> DeptCode {
    DeptCode::with_check_char(&format!(
        "11{}MB{:07}",
        &COUNTIES[county].0[..6],
        index * 7 + 1
    ))
    .expect("a 17-character body of valid characters")
}

/// How a simulated case goes wrong, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Twist {
    Clean,
    Late,
    SkipReview,
    FeeAnomaly,
    Appeal,
    Conflict,
    OutOfOrder,
    PoorRating,
    ReportedLate,
    Suspension,
    Correction,
}

fn twist(roll: u32) -> Twist {
    match roll {
        0..30 => Twist::Late,
        30..40 => Twist::SkipReview,
        40..48 => Twist::FeeAnomaly,
        48..56 => Twist::Appeal,
        56..62 => Twist::Conflict,
        62..70 => Twist::OutOfOrder,
        70..80 => Twist::PoorRating,
        80..90 => Twist::ReportedLate,
        90..120 => Twist::Suspension,
        120..150 => Twist::Correction,
        _ => Twist::Clean,
    }
}

/// The simulator: an iterator over steps and ticks in the order Casewatch receives them.
#[derive(Debug)]
pub struct Simulator {
    config: SimConfig,
    rng: ChaCha8Rng,
    calendar: WorkingCalendar,
    /// Pending outputs by time, then by the order they were planned in.
    queue: BinaryHeap<Reverse<(Timestamp, u64, Planned)>>,
    planned: u64,
    next_day: u32,
    day_start: Timestamp,
    next_tick: Timestamp,
    end: Timestamp,
}

/// An output waiting in the queue (ordered by time and plan order only).
#[derive(Debug, Clone, PartialEq)]
struct Planned(Output);

impl Eq for Planned {}

impl PartialOrd for Planned {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Planned {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let calendar = WorkingCalendar::national();
        let mut end = config.start;
        for _ in 0..config.days + 25 {
            end = calendar.add_working_seconds(end, calendar.day_seconds());
        }
        Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            day_start: config.start,
            next_tick: config.start,
            calendar,
            queue: BinaryHeap::new(),
            planned: 0,
            next_day: 0,
            end,
            config,
        }
    }

    /// The last instant simulated: enough after the last new case for it to finish.
    pub fn end(&self) -> Timestamp {
        self.end
    }

    fn push(&mut self, output: Output) {
        self.planned += 1;
        self.queue
            .push(Reverse((output.at(), self.planned, Planned(output))));
    }

    /// Plans the cases of the next working day.
    fn plan_day(&mut self) {
        let day = self.next_day;
        self.next_day += 1;
        let opening = self.calendar.add_working_seconds(self.day_start, 1);
        let date = self.calendar.local_date(opening);
        for (county, (code, _)) in COUNTIES.iter().enumerate().take(self.config.counties) {
            for number in 0..self.config.cases_per_county_day {
                let offset = self.rng.random_range(0..self.calendar.day_seconds() - 3600);
                let submitted = self.calendar.add_working_seconds(opening, offset);
                let run = self
                    .config
                    .run
                    .as_ref()
                    .map_or(String::new(), |run| format!("{run}-"));
                let case_no = CaseNo::parse(format!(
                    "{code}-{}-{run}{:05}",
                    date.format("%Y%m%d"),
                    number + 1
                ))
                .expect("a short case number, and a run name of valid characters");
                self.plan_case(case_no, county, submitted);
            }
        }
        self.day_start = self
            .calendar
            .add_working_seconds(self.day_start, self.calendar.day_seconds());
        if day + 1 >= self.config.days {
            self.day_start = self.end;
        }
    }

    /// Plans every step of one case.
    fn plan_case(&mut self, case_no: CaseNo, county: usize, submitted: Timestamp) {
        let template = &ITEMS[self.rng.random_range(0..ITEMS.len())];
        let twist = twist(self.rng.random_range(0..1000));
        let calendar = &self.calendar;
        let day = calendar.day_seconds();
        let clerk = format!(
            "{}-clerk-{}",
            COUNTIES[county].0,
            self.rng.random_range(1..4)
        );
        let chief = format!("{}-chief-{}", COUNTIES[county].0, template.department);
        let envelope = Envelope {
            case_no,
            item_code: ItemCode::parse(template.code).expect("a valid item code"),
            region_code: RegionCode::parse(COUNTIES[county].0).expect("a valid county code"),
            dept_code: dept_code(county, template.department),
        };
        let promised = template.promised_days;
        let accepted_at = submitted + Duration::minutes(self.rng.random_range(5..40));
        let immediate = template.case_type == CaseType::Immediate;
        // Working time the case takes from acceptance to completion.
        let took = if immediate {
            // Done before the office closes, as an immediate case must be.
            let left_today =
                calendar.working_seconds(accepted_at, calendar.close_of_working_day(accepted_at));
            self.rng.random_range(60..left_today.max(120))
        } else if twist == Twist::Late {
            i64::from(promised) * day + self.rng.random_range(1..3 * day)
        } else {
            let share = self.rng.random_range(20..80);
            i64::from(promised) * day * share / 100
        };
        let at = |share: i64| calendar.add_working_seconds(accepted_at, took * share / 100);
        let fee = template.fee_fen.map(|standard| {
            let amount = if twist == Twist::FeeAnomaly {
                standard + 1000
            } else {
                standard
            };
            (amount, standard)
        });
        let mut steps: Vec<(Timestamp, String, Step)> = vec![
            (
                submitted,
                clerk.clone(),
                Step::Submitted {
                    applicant: Applicant {
                        kind: ApplicantKind::Organisation,
                        name: format!("申请单位{}", self.rng.random_range(100..999)),
                        id_type: "credit_code".into(),
                        id_no: "91330106MA2B000000".into(),
                    },
                    channel: [Channel::Window, Channel::Web, Channel::Mobile]
                        [self.rng.random_range(0..3)],
                    materials: Vec::new(),
                },
            ),
            (
                accepted_at,
                clerk.clone(),
                Step::Accepted {
                    case_type: template.case_type,
                    legal_limit: limit(template.legal_days),
                    promised_limit: if immediate {
                        Limit::new(7, LimitUnit::Hours).expect("a valid limit")
                    } else {
                        limit(promised)
                    },
                    fee_required: template.fee_fen.is_some(),
                    fee_standard_fen: template.fee_fen,
                    accept_doc_no: format!("受理-{}", envelope.case_no),
                },
            ),
        ];
        if twist == Twist::Correction {
            steps.push((at(10), clerk.clone(), step_correction_requested()));
            steps.push((
                at(20),
                clerk.clone(),
                Step::CorrectionReceived {
                    materials: Vec::new(),
                },
            ));
        }
        if twist == Twist::Suspension {
            steps.push((
                at(25),
                clerk.clone(),
                Step::Suspended {
                    reason: "等待现场核查".into(),
                    requested_days: Some(2),
                },
            ));
            steps.push((
                at(35),
                clerk.clone(),
                Step::Resumed {
                    reason: "核查完毕".into(),
                },
            ));
        }
        if twist != Twist::SkipReview && !immediate {
            steps.push((
                at(50),
                format!("{}-reviewer", COUNTIES[county].0),
                Step::Reviewed {
                    step_code: "review".into(),
                    step_name: "审核".into(),
                    outcome: ReviewOutcome::Pass,
                    opinion: "材料齐全，同意".into(),
                    step_limit: Some(limit(promised.div_ceil(2).max(1))),
                },
            ));
        }
        steps.push((
            at(80),
            if immediate { clerk.clone() } else { chief },
            Step::Decided {
                decision: Decision::Grant,
                reason: "符合条件".into(),
                window_direct_signoff: immediate,
            },
        ));
        if let Some((amount, standard)) = fee {
            steps.push((
                at(90),
                clerk.clone(),
                Step::FeeCharged {
                    ticket_no: format!("票-{}", envelope.case_no),
                    items: vec![FeeItem {
                        fee_code: "GB-0001".into(),
                        amount_fen: amount,
                        standard_fen: standard,
                    }],
                    payer: "申请单位".into(),
                    collector: "政务服务中心".into(),
                    unified_ticket: true,
                },
            ));
        }
        let fee_total = fee.map_or(0, |(amount, _)| amount);
        steps.push((
            at(100),
            clerk.clone(),
            Step::Completed {
                result: CompletionResult::IssuedCertificate,
                certificate: Some(Certificate {
                    name: template.name.into(),
                    no: format!("证-{}", envelope.case_no),
                    valid_to: None,
                    issuer: DEPARTMENTS[template.department].into(),
                }),
                fee_total_fen: fee_total,
            },
        ));
        let completed_at = at(100);
        steps.push((
            completed_at + Duration::hours(2),
            clerk.clone(),
            Step::Delivered {
                method: "window".into(),
                receiver: "申请人".into(),
            },
        ));
        match twist {
            Twist::Appeal => {
                let opened = completed_at + Duration::hours(3);
                steps.push((
                    opened,
                    clerk.clone(),
                    Step::Appealed {
                        appeal_no: format!("诉-{}", envelope.case_no),
                        complainant: "申请人".into(),
                        target: AppealTarget::Department,
                        reason: "办理过程中多次往返".into(),
                        channel: Channel::Web,
                    },
                ));
                // Half the appeals are answered in time, half take 6 to 11 working days.
                let days = if self.rng.random_bool(0.5) {
                    2
                } else {
                    self.rng.random_range(6..12)
                };
                steps.push((
                    calendar.add_working_seconds(opened, days * day),
                    clerk.clone(),
                    Step::AppealResolved {
                        appeal_no: format!("诉-{}", envelope.case_no),
                        outcome: AppealOutcome::Explained,
                        reply: "已向申请人解释".into(),
                        satisfaction: RatingLevel::new(2).ok(),
                    },
                ));
            }
            Twist::PoorRating => {
                steps.push((
                    completed_at + Duration::hours(4),
                    clerk.clone(),
                    Step::Rated {
                        rating_no: format!("评-{}", envelope.case_no),
                        level: RatingLevel::new(5).expect("a valid level"),
                        tags: vec!["办理慢".into()],
                        text: None,
                    },
                ));
            }
            _ => {
                let level = RatingLevel::new(self.rng.random_range(1..3)).expect("a valid level");
                steps.push((
                    completed_at + Duration::hours(4),
                    clerk.clone(),
                    Step::Rated {
                        rating_no: format!("评-{}", envelope.case_no),
                        level,
                        tags: Vec::new(),
                        text: None,
                    },
                ));
            }
        }
        self.schedule(envelope, steps, twist);
    }

    /// Turns a case's steps into outputs, applying the reporting twists.
    fn schedule(
        &mut self,
        envelope: Envelope,
        steps: Vec<(Timestamp, String, Step)>,
        twist: Twist,
    ) {
        let events: Vec<CaseEvent> = steps
            .into_iter()
            .enumerate()
            .map(|(index, (at, actor, step))| envelope.event(index + 1, at, actor, step))
            .collect();
        let count = events.len();
        for (index, event) in events.iter().enumerate() {
            let mut recorded_at =
                event.occurred_at + Duration::seconds(self.rng.random_range(1..60));
            // A review reported two working days late, or a decision that overtakes it.
            if index == 2 && twist == Twist::ReportedLate {
                recorded_at = self
                    .calendar
                    .add_working_seconds(event.occurred_at, 2 * self.calendar.day_seconds());
            }
            if index == 2 && twist == Twist::OutOfOrder && index + 1 < count {
                recorded_at = events[index + 1].occurred_at + Duration::seconds(90);
            }
            self.push(Output::Step {
                event: Box::new(event.clone()),
                recorded_at,
            });
        }
        if twist == Twist::Conflict {
            // The county "corrects" its acceptance a day later with a longer promise.
            let mut rewritten = events[1].clone();
            if let Step::Accepted { promised_limit, .. } = &mut rewritten.step {
                *promised_limit = limit(promised_limit.n() + 5);
            }
            rewritten.event_id =
                EventId::parse(format!("{}-2-v2", envelope.case_no)).expect("a valid id");
            rewritten.source_version = 2;
            let recorded_at = rewritten.occurred_at + Duration::days(1);
            self.push(Output::Step {
                event: Box::new(rewritten),
                recorded_at,
            });
        }
    }
}

fn limit(days: u32) -> Limit {
    Limit::working_days(days).expect("a valid limit")
}

fn step_correction_requested() -> Step {
    Step::CorrectionRequested {
        reason: "材料需补正".into(),
        materials: Vec::new(),
    }
}

/// The envelope every step of one case shares.
struct Envelope {
    case_no: CaseNo,
    item_code: ItemCode,
    region_code: RegionCode,
    dept_code: DeptCode,
}

impl Envelope {
    fn event(&self, seq: usize, occurred_at: Timestamp, actor: String, step: Step) -> CaseEvent {
        CaseEvent {
            event_id: EventId::parse(format!("{}-{seq}", self.case_no)).expect("a valid id"),
            case_no: self.case_no.clone(),
            seq: u32::try_from(seq).expect("a few steps"),
            item_code: self.item_code.clone(),
            region_code: self.region_code.clone(),
            dept_code: self.dept_code.clone(),
            occurred_at,
            source_system: format!("county-{}", self.region_code),
            source_version: 1,
            actor: Actor {
                name: actor.clone(),
                id: actor,
            },
            step,
        }
    }
}

impl Iterator for Simulator {
    type Item = Output;

    fn next(&mut self) -> Option<Output> {
        loop {
            // Plan days until the queue's head is earlier than the next day's first case.
            if self.day_start < self.end
                && self
                    .queue
                    .peek()
                    .is_none_or(|Reverse((at, _, _))| *at >= self.day_start)
            {
                self.plan_day();
                continue;
            }
            let head = self.queue.peek().map(|Reverse((at, _, _))| *at);
            if self.next_tick <= self.end && head.is_none_or(|at| self.next_tick <= at) {
                let tick = self.next_tick;
                self.next_tick += self.config.tick_every;
                return Some(Output::Tick(tick));
            }
            return self
                .queue
                .pop()
                .map(|Reverse((_, _, Planned(output)))| output);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SimConfig {
        SimConfig {
            days: 2,
            counties: 2,
            cases_per_county_day: 30,
            ..SimConfig::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_stream() {
        let first: Vec<Output> = Simulator::new(small()).collect();
        let second: Vec<Output> = Simulator::new(small()).collect();
        assert_eq!(first, second);
        let other: Vec<Output> = Simulator::new(SimConfig { seed: 2, ..small() }).collect();
        assert_ne!(first, other);
    }

    #[test]
    fn each_case_happens_in_the_order_of_its_steps() {
        let mut last: std::collections::BTreeMap<CaseNo, (u32, Timestamp)> =
            std::collections::BTreeMap::new();
        let mut events: Vec<CaseEvent> = Simulator::new(small())
            .filter_map(|output| match output {
                Output::Step { event, .. } if event.source_version == 1 => Some(*event),
                _ => None,
            })
            .collect();
        events.sort_by_key(|event| (event.case_no.clone(), event.seq));
        for event in events {
            if let Some((seq, at)) = last.get(&event.case_no) {
                assert_eq!(event.seq, seq + 1, "{}", event.case_no);
                assert!(event.occurred_at >= *at, "{} #{}", event.case_no, event.seq);
            }
            last.insert(event.case_no.clone(), (event.seq, event.occurred_at));
        }
    }

    #[test]
    fn a_history_ending_now_starts_its_last_day_today() {
        let calendar = WorkingCalendar::national();
        let local = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .expect("a valid instant")
                .to_utc()
        };
        // Wednesday 2026-03-04 in the afternoon: Monday, Tuesday and today.
        let now = local("2026-03-04T15:00:00+08:00");
        let config = SimConfig {
            days: 3,
            ..SimConfig::default()
        }
        .ending_at(now);
        assert_eq!(config.start, local("2026-03-02T08:30:00+08:00"));
        let outputs: Vec<Output> = Simulator::new(config).collect();
        let arrival_days: std::collections::BTreeSet<_> = outputs
            .iter()
            .filter_map(|output| match output {
                Output::Step { event, .. } if event.seq == 1 => {
                    Some(calendar.local_date(event.occurred_at))
                }
                _ => None,
            })
            .collect();
        assert_eq!(arrival_days.len(), 3, "{arrival_days:?}");
        assert_eq!(
            arrival_days.last(),
            Some(&calendar.local_date(now)),
            "the last day of new cases is today"
        );
        // On a Sunday the history ends with Friday's cases.
        let sunday = SimConfig {
            days: 1,
            ..SimConfig::default()
        }
        .ending_at(local("2026-03-08T10:00:00+08:00"));
        assert_eq!(sunday.start, local("2026-03-06T08:30:00+08:00"));
    }

    #[test]
    fn runs_with_names_report_different_cases() {
        let named = |run: &str| -> std::collections::BTreeSet<String> {
            Simulator::new(SimConfig {
                run: Some(run.to_owned()),
                ..small()
            })
            .filter_map(|output| match output {
                Output::Step { event, .. } => Some(event.event_id.to_string()),
                Output::Tick(_) => None,
            })
            .collect()
        };
        let first = named("A1");
        let second = named("B2");
        assert!(first.iter().all(|id| id.contains("-A1-")), "{first:?}");
        assert!(first.is_disjoint(&second));
    }

    #[test]
    fn outputs_come_in_time_order_and_every_event_is_valid() {
        let outputs: Vec<Output> = Simulator::new(small()).collect();
        let steps = outputs
            .iter()
            .filter(|output| matches!(output, Output::Step { .. }))
            .count();
        assert!(steps > 2 * 2 * 30 * 7, "{steps} steps");
        for pair in outputs.windows(2) {
            assert!(pair[0].at() <= pair[1].at(), "{pair:?}");
        }
        for output in &outputs {
            if let Output::Step { event, .. } = output {
                event.validate().expect("simulated events are valid");
            }
        }
    }
}
