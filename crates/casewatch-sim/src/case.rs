//! How one simulated case unfolds: the twist it takes, if any, its steps from submission
//! to rating, and when each step reaches Casewatch.

use casewatch_domain::Timestamp;
use casewatch_domain::event::{
    Actor, AppealOutcome, AppealTarget, Applicant, ApplicantKind, CaseEvent, CaseType, Certificate,
    Channel, CompletionResult, Decision, FeeItem, Limit, LimitUnit, RatingLevel, ReviewOutcome,
    Step,
};
use casewatch_domain::ids::{CaseNo, DeptCode, EventId, ItemCode, RegionCode};
use chrono::Duration;
use rand::Rng;

use crate::catalogue::{COUNTIES, DEPARTMENTS, ITEMS, dept_code};
use crate::{Output, Simulator};

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

impl Simulator {
    /// Plans every step of one case.
    pub(crate) fn plan_case(&mut self, case_no: CaseNo, county: usize, submitted: Timestamp) {
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
