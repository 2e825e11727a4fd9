//! The alert rules as a specification: for every rule of DOMAIN.md, a scenario where it
//! fires (with the level, measured value and threshold expected) and a near miss where it
//! must not. Times are local (+08:00); March 2026 has no holidays, so Monday 2 March to
//! Friday 6 March are five working days of seven office hours (09:00–12:00, 13:30–17:30).

use casewatch_domain::access::Role;
use casewatch_domain::alert::{AlertState, Cause, Quantity, QuantityUnit};
use casewatch_domain::catalogue::{Level, RuleId};
use casewatch_domain::event::{
    CaseType, Channel, CompletionResult, Decision, Limit, LimitUnit, ProcedureKind,
};
use casewatch_domain::supervision::SupervisionAction;

use crate::support::*;

use QuantityUnit::{Count, Fen, Hours, Seq, WorkingDays};

/// What a scenario must show about its rule.
enum Expect {
    /// The rule raised an alert with this level, measured value and threshold.
    Fires(Level, (i64, QuantityUnit), (i64, QuantityUnit)),
    /// The rule raised nothing.
    Silent,
    /// An alert of the first rule went up to this level, attributed to the spec's rule.
    Escalates(RuleId, Level),
}

struct Spec {
    rule: RuleId,
    scenario: &'static str,
    script: fn() -> Script,
    expect: Expect,
}

use Expect::{Escalates, Fires, Silent};

fn hours(n: u32) -> Limit {
    Limit::new(n, LimitUnit::Hours).expect("valid limit")
}

/// An ordinary case accepted Monday 2 March 09:00 with a promised limit of 10 and a legal
/// limit of 20 working days. The day of acceptance does not count: its promise runs out at
/// the close of office on Monday 16 March, the tenth working day after it.
fn ordinary() -> Script {
    let mut script = Script::default();
    script
        .step("2026-03-02 09:00", submitted(Channel::Window))
        .step("2026-03-02 09:00", accepted(10, 20));
    script
}

const SPECS: &[Spec] = &[
    // T1 临近到期: due Monday 16 March 17:30.
    Spec {
        rule: RuleId::T1,
        scenario: "Friday before the due Monday: 1 day 6½ hours left",
        script: || {
            let mut s = ordinary();
            s.tick("2026-03-13 10:00");
            s
        },
        expect: Fires(Level::Warning, (2, WorkingDays), (2, WorkingDays)),
    },
    Spec {
        rule: RuleId::T1,
        scenario: "Thursday evening, after office: exactly 2 days left",
        script: || {
            let mut s = ordinary();
            s.tick("2026-03-12 20:00");
            s
        },
        expect: Fires(Level::Warning, (2, WorkingDays), (2, WorkingDays)),
    },
    Spec {
        rule: RuleId::T1,
        scenario: "a limit of 1 day, no longer than its window: never warned",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(1, 20))
                .tick("2026-03-03 16:00");
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::T1,
        scenario: "first seen after office on the due Monday: nothing left, not yet late",
        script: || {
            let mut s = ordinary();
            s.tick("2026-03-16 20:00");
            s
        },
        expect: Fires(Level::Warning, (0, WorkingDays), (2, WorkingDays)),
    },
    Spec {
        rule: RuleId::T1,
        scenario: "Thursday morning: 2 days 6½ hours left",
        script: || {
            let mut s = ordinary();
            s.tick("2026-03-12 10:00");
            s
        },
        expect: Silent,
    },
    // T2 超承诺时限.
    Spec {
        rule: RuleId::T2,
        scenario: "accepted Monday, promised 3 working days: an hour into Friday",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(3, 20))
                .tick("2026-03-06 10:00");
            s
        },
        expect: Fires(Level::Yellow, (4, WorkingDays), (3, WorkingDays)),
    },
    Spec {
        rule: RuleId::T2,
        scenario: "accepted Monday, promised 3 working days: completed Thursday 17:00",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(3, 20))
                .step("2026-03-03 10:00", reviewed("review"))
                .step("2026-03-05 16:00", granted())
                .step("2026-03-05 17:00", completed())
                .tick("2026-03-09 10:00");
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::T2,
        scenario: "completed at the very instant the promise runs out, Thursday 17:30",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(3, 20))
                .step("2026-03-03 10:00", reviewed("review"))
                .step("2026-03-05 16:00", granted())
                .step("2026-03-05 17:30", completed())
                .tick("2026-03-09 10:00");
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::T2,
        scenario: "accepted Monday 17:00 (after the day's work), 1 working day: Wednesday 09:01",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 17:00", accepted(1, 20))
                .tick("2026-03-03 17:30")
                .tick("2026-03-04 09:01");
            s
        },
        expect: Fires(Level::Yellow, (2, WorkingDays), (1, WorkingDays)),
    },
    Spec {
        rule: RuleId::T2,
        scenario: "accepted Wednesday 30 September, 3 working days over National Day: \
                   completed Saturday 10 October 15:00, a make-up working day",
        script: || {
            let mut s = Script::default();
            s.step("2026-09-30 10:00", accepted(3, 20))
                .step("2026-10-09 10:00", reviewed("review"))
                .step("2026-10-10 14:00", granted())
                .step("2026-10-10 15:00", completed())
                .tick("2026-10-12 10:00");
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::T2,
        scenario: "accepted Wednesday 30 September, 3 working days over National Day: \
                   still open on Monday 12 October",
        script: || {
            let mut s = Script::default();
            s.step("2026-09-30 10:00", accepted(3, 20))
                .tick("2026-10-10 17:30")
                .tick("2026-10-12 09:30");
            s
        },
        expect: Fires(Level::Yellow, (4, WorkingDays), (3, WorkingDays)),
    },
    // T3 超法定时限.
    Spec {
        rule: RuleId::T3,
        scenario: "legal 5 days after Monday, an hour into the sixth (Tuesday)",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(5, 5))
                .tick("2026-03-10 10:00");
            s
        },
        expect: Fires(Level::Red, (6, WorkingDays), (5, WorkingDays)),
    },
    Spec {
        rule: RuleId::T3,
        scenario: "legal 5 days with two days suspended",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(5, 5))
                .step("2026-03-03 09:00", suspended())
                .step("2026-03-05 09:00", resumed())
                .tick("2026-03-10 10:00");
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::T3,
        scenario: "a yellow card under notice, no feedback by the due date: it turns red",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(2, 20))
                .tick("2026-03-05 10:00")
                .act(
                    RuleId::T2,
                    Role::Monitor,
                    "2026-03-05 11:00",
                    SupervisionAction::IssueNotice {
                        content: "请说明超期原因".into(),
                        feedback_due: t("2026-03-06 17:30"),
                    },
                )
                .tick("2026-03-09 09:00");
            s
        },
        expect: Escalates(RuleId::T2, Level::Red),
    },
    // T4 环节超时: a step's limit counts from the day after it started, like the case's.
    Spec {
        rule: RuleId::T4,
        scenario: "started Monday 09:00, reviewed Thursday 10:00 against 2 days: \
                   2 days 1 hour counted from Tuesday",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-05 10:00",
                reviewed_within("review", working_days(2)),
            );
            s
        },
        expect: Fires(Level::Warning, (3, WorkingDays), (2, WorkingDays)),
    },
    Spec {
        rule: RuleId::T4,
        scenario: "a review of 1 day 1 hour against its 2-day limit",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 10:00",
                reviewed_within("review", working_days(2)),
            );
            s
        },
        expect: Silent,
    },
    // T5 即办件未当日办结.
    Spec {
        rule: RuleId::T5,
        scenario: "an immediate case still open the next morning",
        script: || {
            let mut s = Script::default();
            s.step(
                "2026-03-02 10:00",
                accepted_as(CaseType::Immediate, hours(7), working_days(1)),
            )
            .tick("2026-03-03 09:30");
            s
        },
        expect: Fires(Level::Yellow, (1, WorkingDays), (0, WorkingDays)),
    },
    Spec {
        rule: RuleId::T5,
        scenario: "an immediate case completed the same afternoon",
        script: || {
            let mut s = Script::default();
            s.step(
                "2026-03-02 10:00",
                accepted_as(CaseType::Immediate, hours(7), working_days(1)),
            )
            .step("2026-03-02 16:00", completed())
            .tick("2026-03-03 09:30");
            s
        },
        expect: Silent,
    },
    // T6 特别程序超时.
    Spec {
        rule: RuleId::T6,
        scenario: "a hearing approved for 2 days still open after 3 days 1 hour",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("H-1", ProcedureKind::Hearing, working_days(2), "局长"),
            )
            .tick("2026-03-06 10:00");
            s
        },
        expect: Fires(Level::Yellow, (4, WorkingDays), (2, WorkingDays)),
    },
    Spec {
        rule: RuleId::T6,
        scenario: "a special procedure ended without a result",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("H-1", ProcedureKind::Testing, working_days(2), "局长"),
            )
            .step("2026-03-04 09:00", procedure_ended("H-1", " "));
            s
        },
        expect: Fires(Level::Yellow, (0, Count), (1, Count)),
    },
    Spec {
        rule: RuleId::T6,
        scenario: "a hearing ended with a result within its 2 days",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("H-1", ProcedureKind::Hearing, working_days(2), "局长"),
            )
            .step("2026-03-04 17:00", procedure_ended("H-1", "听证完毕"))
            .tick("2026-03-06 10:00");
            s
        },
        expect: Silent,
    },
    // T7 延期不当.
    Spec {
        rule: RuleId::T7,
        scenario: "an extension of 12 days",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("E-1", ProcedureKind::Extension, working_days(12), "局长"),
            );
            s
        },
        expect: Fires(Level::Yellow, (12, WorkingDays), (10, WorkingDays)),
    },
    Spec {
        rule: RuleId::T7,
        scenario: "an extension without an approver",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("E-1", ProcedureKind::Extension, working_days(5), ""),
            );
            s
        },
        expect: Fires(Level::Yellow, (0, Count), (1, Count)),
    },
    Spec {
        rule: RuleId::T7,
        scenario: "a second extension",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("E-1", ProcedureKind::Extension, working_days(5), "局长"),
            )
            .step(
                "2026-03-04 09:00",
                procedure("E-2", ProcedureKind::Extension, working_days(5), "局长"),
            );
            s
        },
        expect: Fires(Level::Yellow, (2, Count), (1, Count)),
    },
    Spec {
        rule: RuleId::T7,
        scenario: "one approved extension of 11 days, one over the 10 allowed",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("E-1", ProcedureKind::Extension, working_days(11), "局长"),
            );
            s
        },
        expect: Fires(Level::Yellow, (11, WorkingDays), (10, WorkingDays)),
    },
    Spec {
        rule: RuleId::T7,
        scenario: "a joint case's approved extension of 15 days, the most allowed",
        script: || {
            let mut s = Script::default();
            s.step(
                "2026-03-02 09:00",
                accepted_as(CaseType::Joint, working_days(30), working_days(45)),
            )
            .step(
                "2026-03-03 09:00",
                procedure("E-1", ProcedureKind::Extension, working_days(15), "局长"),
            );
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::T7,
        scenario: "a joint case's approved extension of 16 days",
        script: || {
            let mut s = Script::default();
            s.step(
                "2026-03-02 09:00",
                accepted_as(CaseType::Joint, working_days(30), working_days(45)),
            )
            .step(
                "2026-03-03 09:00",
                procedure("E-1", ProcedureKind::Extension, working_days(16), "局长"),
            );
            s
        },
        expect: Fires(Level::Yellow, (16, WorkingDays), (15, WorkingDays)),
    },
    Spec {
        rule: RuleId::T7,
        scenario: "one approved extension of 10 days",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("E-1", ProcedureKind::Extension, working_days(10), "局长"),
            );
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::T7,
        scenario: "an extension of 70 hours: 10 working days of 7 office hours",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("E-1", ProcedureKind::Extension, hours(70), "局长"),
            );
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::T7,
        scenario: "an extension of 71 hours: into an eleventh working day",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("E-1", ProcedureKind::Extension, hours(71), "局长"),
            );
            s
        },
        expect: Fires(Level::Yellow, (11, WorkingDays), (10, WorkingDays)),
    },
    // T8 补正不当.
    Spec {
        rule: RuleId::T8,
        scenario: "materials Monday 2 March, notice Tuesday 10 March 10:00: \
                   5 days 1 hour counted from Tuesday 3 March",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", submitted(Channel::Window))
                .step("2026-03-10 10:00", correction_requested());
            s
        },
        expect: Fires(Level::Yellow, (6, WorkingDays), (5, WorkingDays)),
    },
    Spec {
        rule: RuleId::T8,
        scenario: "a second correction notice",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", correction_requested())
                .step("2026-03-04 09:00", correction_received())
                .step("2026-03-04 10:00", correction_requested());
            s
        },
        expect: Fires(Level::Yellow, (2, Count), (1, Count)),
    },
    Spec {
        rule: RuleId::T8,
        scenario: "one correction notice 4 days after the materials arrived",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", submitted(Channel::Window))
                .step("2026-03-06 09:00", correction_requested());
            s
        },
        expect: Silent,
    },
    // T9 无理由不予受理/不予许可.
    Spec {
        rule: RuleId::T9,
        scenario: "a rejection without a reason",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", submitted(Channel::Window)).step(
                "2026-03-02 10:00",
                casewatch_domain::event::Step::Rejected {
                    reason: "  ".into(),
                },
            );
            s
        },
        expect: Fires(Level::Yellow, (0, Count), (1, Count)),
    },
    Spec {
        rule: RuleId::T9,
        scenario: "a denial without a reason",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 10:00", reviewed("review")).step_by(
                "chief",
                "2026-03-04 10:00",
                decided(Decision::Deny, ""),
            );
            s
        },
        expect: Fires(Level::Yellow, (0, Count), (1, Count)),
    },
    Spec {
        rule: RuleId::T9,
        scenario: "a denial with its reason",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 10:00", reviewed("review")).step_by(
                "chief",
                "2026-03-04 10:00",
                decided(Decision::Deny, "不符合条件"),
            );
            s
        },
        expect: Silent,
    },
    // P1 程序倒置.
    Spec {
        rule: RuleId::P1,
        scenario: "completion without acceptance",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", submitted(Channel::Window))
                .step("2026-03-02 10:00", completed());
            s
        },
        expect: Fires(Level::Red, (2, Seq), (0, Count)),
    },
    Spec {
        rule: RuleId::P1,
        scenario: "a step dated before the previous one",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 10:00", reviewed("review")).step_by(
                "chief",
                "2026-03-03 09:00",
                granted(),
            );
            s
        },
        expect: Fires(Level::Red, (4, Seq), (0, Count)),
    },
    Spec {
        rule: RuleId::P1,
        scenario: "a review after the case was withdrawn",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 10:00",
                casewatch_domain::event::Step::Withdrawn {
                    reason: "申请人撤回".into(),
                },
            )
            .step("2026-03-04 10:00", reviewed("review"));
            s
        },
        expect: Fires(Level::Red, (4, Seq), (0, Count)),
    },
    Spec {
        rule: RuleId::P1,
        scenario: "accept, review, decide, complete in order; delivery and rating after",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 10:00", reviewed("review"))
                .step_by("chief", "2026-03-04 10:00", granted())
                .step("2026-03-04 11:00", completed())
                .step(
                    "2026-03-05 11:00",
                    casewatch_domain::event::Step::Delivered {
                        method: "window".into(),
                        receiver: "张三".into(),
                    },
                )
                .step("2026-03-05 12:00", rated("R-1", 1));
            s
        },
        expect: Silent,
    },
    // P2 缺少必经环节.
    Spec {
        rule: RuleId::P2,
        scenario: "a promised case completed without any review",
        script: || {
            let mut s = ordinary();
            s.step_by("chief", "2026-03-04 10:00", granted())
                .step("2026-03-04 11:00", completed());
            s
        },
        expect: Fires(Level::Yellow, (1, Count), (0, Count)),
    },
    Spec {
        rule: RuleId::P2,
        scenario: "an item requiring a site inspection completed after review only",
        script: || {
            let mut s = ordinary().rules(|rules| {
                rules.items.insert(
                    casewatch_domain::ids::ItemCode::parse("ITEM-0001").expect("valid"),
                    casewatch_domain::rulebook::ItemProfile {
                        required_steps: vec!["review".into(), "inspection".into()],
                        ..Default::default()
                    },
                );
            });
            s.step("2026-03-03 10:00", reviewed("review"))
                .step_by("chief", "2026-03-04 10:00", granted())
                .step("2026-03-04 11:00", completed());
            s
        },
        expect: Fires(Level::Yellow, (1, Count), (0, Count)),
    },
    Spec {
        rule: RuleId::P2,
        scenario: "a promised case completed after a passed review",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 10:00", reviewed("review"))
                .step_by("chief", "2026-03-04 10:00", granted())
                .step("2026-03-04 11:00", completed());
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::P2,
        scenario: "an item requiring a site inspection completed after review and inspection",
        script: || {
            let mut s = ordinary().rules(|rules| {
                rules.items.insert(
                    casewatch_domain::ids::ItemCode::parse("ITEM-0001").expect("valid"),
                    casewatch_domain::rulebook::ItemProfile {
                        required_steps: vec!["review".into(), "inspection".into()],
                        ..Default::default()
                    },
                );
            });
            s.step("2026-03-03 10:00", reviewed("review"))
                .step("2026-03-03 15:00", reviewed("inspection"))
                .step_by("chief", "2026-03-04 10:00", granted())
                .step("2026-03-04 11:00", completed());
            s
        },
        expect: Silent,
    },
    // P3 受审不分离.
    Spec {
        rule: RuleId::P3,
        scenario: "the clerk who accepted also decides",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 10:00", reviewed("review"))
                .step("2026-03-04 10:00", granted());
            s
        },
        expect: Fires(Level::Warning, (1, Count), (0, Count)),
    },
    Spec {
        rule: RuleId::P3,
        scenario: "an immediate case decided at the window by its clerk",
        script: || {
            let mut s = Script::default();
            s.step(
                "2026-03-02 10:00",
                accepted_as(CaseType::Immediate, hours(7), working_days(1)),
            )
            .step("2026-03-02 10:30", granted());
            s
        },
        expect: Silent,
    },
    // P4 挂起期间办理.
    Spec {
        rule: RuleId::P4,
        scenario: "a review while the case is suspended",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", suspended())
                .step("2026-03-04 09:00", reviewed("review"));
            s
        },
        expect: Fires(Level::Yellow, (4, Seq), (0, Count)),
    },
    Spec {
        rule: RuleId::P4,
        scenario: "completion while an expert review is open",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", reviewed("review"))
                .step(
                    "2026-03-03 10:00",
                    procedure("X-1", ProcedureKind::ExpertReview, working_days(5), "局长"),
                )
                .step_by("chief", "2026-03-04 10:00", granted())
                .step("2026-03-04 11:00", completed());
            s
        },
        expect: Fires(Level::Yellow, (6, Seq), (0, Count)),
    },
    Spec {
        rule: RuleId::P4,
        scenario: "completion after the hearing ended, with an extension still running",
        script: || {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("H-1", ProcedureKind::Hearing, working_days(2), "局长"),
            )
            .step("2026-03-04 09:00", procedure_ended("H-1", "听证完毕"))
            .step(
                "2026-03-04 10:00",
                procedure("E-1", ProcedureKind::Extension, working_days(5), "局长"),
            )
            .step("2026-03-05 09:00", reviewed("review"))
            .step("2026-03-05 10:00", granted())
            .step("2026-03-05 11:00", completed());
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::P4,
        scenario: "a review after the suspension ended",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", suspended())
                .step("2026-03-04 09:00", resumed())
                .step("2026-03-04 10:00", reviewed("review"));
            s
        },
        expect: Silent,
    },
    // F1 违规收费.
    Spec {
        rule: RuleId::F1,
        scenario: "50 yuan charged on a free item",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", fee("T-1", 5000, 5000, true));
            s
        },
        expect: Fires(Level::Red, (5000, Fen), (0, Fen)),
    },
    Spec {
        rule: RuleId::F1,
        scenario: "a ticket of 0 fen on a free item: a waiver, nothing charged",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", fee("T-1", 0, 0, true));
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::F1,
        scenario: "50 yuan charged on an item that charges 50 yuan",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted_with_fee(10, 20, 5000))
                .step("2026-03-03 09:00", fee("T-1", 5000, 5000, true));
            s
        },
        expect: Silent,
    },
    // F2 超标收费.
    Spec {
        rule: RuleId::F2,
        scenario: "60 yuan charged against a 50-yuan standard",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted_with_fee(10, 20, 5000))
                .step("2026-03-03 09:00", fee("T-1", 6000, 5000, true));
            s
        },
        expect: Fires(Level::Red, (6000, Fen), (5000, Fen)),
    },
    Spec {
        rule: RuleId::F2,
        scenario: "a completion total unlike the tickets",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted_with_fee(10, 20, 5000))
                .step("2026-03-03 09:00", reviewed("review"))
                .step("2026-03-03 10:00", fee("T-1", 5000, 5000, true))
                .step_by("chief", "2026-03-04 10:00", granted())
                .step(
                    "2026-03-04 11:00",
                    completed_with(CompletionResult::Completed, None, 8000),
                );
            s
        },
        expect: Fires(Level::Red, (8000, Fen), (5000, Fen)),
    },
    Spec {
        rule: RuleId::F2,
        scenario: "the standard amount, and a matching completion total",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted_with_fee(10, 20, 5000))
                .step("2026-03-03 09:00", reviewed("review"))
                .step("2026-03-03 10:00", fee("T-1", 5000, 5000, true))
                .step_by("chief", "2026-03-04 10:00", granted())
                .step(
                    "2026-03-04 11:00",
                    completed_with(CompletionResult::Completed, None, 5000),
                );
            s
        },
        expect: Silent,
    },
    // F3 未执行一票制.
    Spec {
        rule: RuleId::F3,
        scenario: "a fee collected outside the unified ticket",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted_with_fee(10, 20, 5000))
                .step("2026-03-03 09:00", fee("T-1", 5000, 5000, false));
            s
        },
        expect: Fires(Level::Yellow, (5000, Fen), (0, Fen)),
    },
    Spec {
        rule: RuleId::F3,
        scenario: "a fee on the unified ticket",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted_with_fee(10, 20, 5000))
                .step("2026-03-03 09:00", fee("T-1", 5000, 5000, true));
            s
        },
        expect: Silent,
    },
    // C1 内容缺失.
    Spec {
        rule: RuleId::C1,
        scenario: "a certificate issued without its data",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 10:00", reviewed("review"))
                .step_by("chief", "2026-03-04 10:00", granted())
                .step(
                    "2026-03-04 11:00",
                    completed_with(CompletionResult::IssuedCertificate, None, 0),
                );
            s
        },
        expect: Fires(Level::Warning, (1, Count), (0, Count)),
    },
    Spec {
        rule: RuleId::C1,
        scenario: "a promised limit of 25 days above the legal 20",
        script: || {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(25, 20));
            s
        },
        expect: Fires(Level::Warning, (25, WorkingDays), (20, WorkingDays)),
    },
    Spec {
        rule: RuleId::C1,
        scenario: "an acceptance without its document number",
        script: || {
            let mut s = Script::default();
            s.step(
                "2026-03-02 09:00",
                casewatch_domain::event::Step::Accepted {
                    case_type: CaseType::Promised,
                    legal_limit: working_days(20),
                    promised_limit: working_days(10),
                    fee_required: false,
                    fee_standard_fen: None,
                    accept_doc_no: " ".into(),
                },
            );
            s
        },
        expect: Fires(Level::Warning, (1, Count), (0, Count)),
    },
    Spec {
        rule: RuleId::C1,
        scenario: "an acceptance due a fee without its standard",
        script: || {
            let mut s = Script::default();
            s.step(
                "2026-03-02 09:00",
                casewatch_domain::event::Step::Accepted {
                    case_type: CaseType::Promised,
                    legal_limit: working_days(20),
                    promised_limit: working_days(10),
                    fee_required: true,
                    fee_standard_fen: None,
                    accept_doc_no: "受理-0001".into(),
                },
            );
            s
        },
        expect: Fires(Level::Warning, (1, Count), (0, Count)),
    },
    Spec {
        rule: RuleId::C1,
        scenario: "a certificate issued with its name but no number",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", reviewed("review"))
                .step("2026-03-04 09:00", granted())
                .step(
                    "2026-03-05 09:00",
                    completed_with(
                        CompletionResult::IssuedCertificate,
                        Some(casewatch_domain::event::Certificate {
                            no: " ".into(),
                            ..certificate()
                        }),
                        0,
                    ),
                );
            s
        },
        expect: Fires(Level::Warning, (1, Count), (0, Count)),
    },
    Spec {
        rule: RuleId::C1,
        scenario: "a certificate issued with its name and number",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 10:00", reviewed("review"))
                .step_by("chief", "2026-03-04 10:00", granted())
                .step(
                    "2026-03-04 11:00",
                    completed_with(CompletionResult::IssuedCertificate, Some(certificate()), 0),
                );
            s
        },
        expect: Silent,
    },
    // C2 迟报: a review Tuesday 09:00 may be reported until the close of Wednesday.
    Spec {
        rule: RuleId::C2,
        scenario: "a review Tuesday 09:00 reported Thursday 10:00: \
                   1 day 1 hour counted from Wednesday",
        script: || {
            let mut s = ordinary();
            s.reported("2026-03-03 09:00", "2026-03-05 10:00", reviewed("review"));
            s
        },
        expect: Fires(Level::Warning, (2, WorkingDays), (1, WorkingDays)),
    },
    Spec {
        rule: RuleId::C2,
        scenario: "a review reported exactly one working day later",
        script: || {
            let mut s = ordinary();
            s.reported("2026-03-03 09:00", "2026-03-04 09:00", reviewed("review"));
            s
        },
        expect: Silent,
    },
    // C3 数据篡改.
    Spec {
        rule: RuleId::C3,
        scenario: "step 2 re-sent with a different promised limit",
        script: || {
            let mut s = ordinary();
            s.step_seq(2, "2026-03-02 09:00", accepted(5, 20));
            s
        },
        expect: Fires(Level::Red, (2, Seq), (2, Seq)),
    },
    Spec {
        rule: RuleId::C3,
        scenario: "step 2 re-sent unchanged",
        script: || {
            let mut s = ordinary();
            s.step_seq(2, "2026-03-02 09:00", accepted(10, 20));
            s
        },
        expect: Silent,
    },
    // C4 数据缺失: step 3 arrives Monday 10:00 without step 2.
    Spec {
        rule: RuleId::C4,
        scenario: "a gap open 8 working hours",
        script: || {
            let mut s = Script::default();
            s.step_seq(1, "2026-03-02 09:00", submitted(Channel::Web))
                .step_seq(3, "2026-03-02 10:00", reviewed("review"))
                .tick("2026-03-03 11:00");
            s
        },
        expect: Fires(Level::Warning, (8, Hours), (7, Hours)),
    },
    Spec {
        rule: RuleId::C4,
        scenario: "a gap filled within the grace period",
        script: || {
            let mut s = Script::default();
            s.step_seq(1, "2026-03-02 09:00", submitted(Channel::Web))
                .step_seq(3, "2026-03-02 10:00", reviewed("review"))
                .step_seq(2, "2026-03-02 09:30", accepted(10, 20))
                .tick("2026-03-03 11:00");
            s
        },
        expect: Silent,
    },
    // C5 记录不可读.
    Spec {
        rule: RuleId::C5,
        scenario: "a record of the case on the log does not decode",
        script: || {
            let mut s = ordinary();
            s.unreadable(
                b"\xff\xff",
                "undecodable record envelope",
                "2026-03-03 10:00",
            );
            s
        },
        expect: Fires(Level::Red, (1, Count), (0, Count)),
    },
    Spec {
        rule: RuleId::C5,
        scenario: "the rule switched off: the record is only quarantined",
        script: || {
            let mut s = ordinary().rules(|book| {
                book.defaults.disabled.insert(RuleId::C5);
            });
            s.unreadable(
                b"\xff\xff",
                "undecodable record envelope",
                "2026-03-03 10:00",
            );
            s
        },
        expect: Silent,
    },
    // K1 投诉未答复.
    Spec {
        rule: RuleId::K1,
        scenario: "appealed Monday, unanswered for 5 days 1 hour from Tuesday",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-02 09:00", appealed("A-1"))
                .tick("2026-03-10 10:00");
            s
        },
        expect: Fires(Level::Yellow, (6, WorkingDays), (5, WorkingDays)),
    },
    Spec {
        rule: RuleId::K1,
        scenario: "appealed Monday, unanswered for 10 days 1 hour from Tuesday: red",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-02 09:00", appealed("A-1"))
                .tick("2026-03-10 10:00")
                .tick("2026-03-17 10:00");
            s
        },
        expect: Escalates(RuleId::K1, Level::Red),
    },
    Spec {
        rule: RuleId::K1,
        scenario: "an appeal answered on the fifth day",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-02 09:00", appealed("A-1"))
                .step("2026-03-06 16:00", appeal_resolved("A-1"))
                .tick("2026-03-16 10:00");
            s
        },
        expect: Silent,
    },
    // K2 差评未整改.
    Spec {
        rule: RuleId::K2,
        scenario: "a rating of 5 on Monday not followed up for 5 days 1 hour from Tuesday",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-02 09:00", rated("R-1", 5))
                .tick("2026-03-10 10:00");
            s
        },
        expect: Fires(Level::Yellow, (6, WorkingDays), (5, WorkingDays)),
    },
    Spec {
        rule: RuleId::K2,
        scenario: "a rating of 4 followed up on the third day",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-02 09:00", rated("R-1", 4))
                .step("2026-03-04 10:00", followed_up("R-1"))
                .tick("2026-03-09 10:00");
            s
        },
        expect: Silent,
    },
    Spec {
        rule: RuleId::K2,
        scenario: "a rating of 3, never followed up",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-02 09:00", rated("R-1", 3))
                .tick("2026-03-16 10:00");
            s
        },
        expect: Silent,
    },
    // A1 督办超期: a red card (F1) under notice, no feedback by the due date.
    Spec {
        rule: RuleId::A1,
        scenario: "a red card's notice unanswered past its due date becomes serious",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", fee("T-1", 5000, 5000, true))
                .act(
                    RuleId::F1,
                    Role::Monitor,
                    "2026-03-03 10:00",
                    SupervisionAction::IssueNotice {
                        content: "请退还违规收费".into(),
                        feedback_due: t("2026-03-05 17:30"),
                    },
                )
                .tick("2026-03-06 09:00");
            s
        },
        expect: Escalates(RuleId::F1, Level::Serious),
    },
    Spec {
        rule: RuleId::A1,
        scenario: "feedback submitted before the due date",
        script: || {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", fee("T-1", 5000, 5000, true))
                .act(
                    RuleId::F1,
                    Role::Monitor,
                    "2026-03-03 10:00",
                    SupervisionAction::IssueNotice {
                        content: "请退还违规收费".into(),
                        feedback_due: t("2026-03-05 17:30"),
                    },
                )
                .act(
                    RuleId::F1,
                    Role::Department,
                    "2026-03-05 10:00",
                    SupervisionAction::SubmitFeedback {
                        text: "已退还".into(),
                    },
                )
                .tick("2026-03-06 09:00");
            s
        },
        expect: Silent,
    },
];

/// A time rule at the edge of its threshold. The scenario is observed one second before
/// the instant its threshold is reached, at that instant, one second after it, and at
/// `past`, the first second of working time beyond it. A limit reached at the close of
/// office is not yet exceeded that evening: acting after office hours adds no time.
struct Edge {
    rule: RuleId,
    scenario: &'static str,
    /// The scenario with its last record (a tick, or the step whose time is judged) at a
    /// local instant written the way [`t`] reads it.
    script: fn(&str) -> Script,
    /// The instant the threshold is reached.
    at: &'static str,
    /// The first second of working time beyond `at`.
    past: &'static str,
    /// What the rule shows a second before `at`.
    below: Expect,
    /// What it shows from `at` until `past` (a rule of "at most" fires; of "more than" not).
    reached: Expect,
    /// What it shows from `past` on.
    beyond: Expect,
}

const EDGES: &[Edge] = &[
    Edge {
        rule: RuleId::T1,
        scenario: "due Monday 16 March: 2 days left at the close of Thursday 12 March",
        script: |at| {
            let mut s = ordinary();
            s.tick(at);
            s
        },
        at: "2026-03-12 17:30:00",
        past: "2026-03-13 09:00:01",
        below: Silent,
        reached: Fires(Level::Warning, (2, WorkingDays), (2, WorkingDays)),
        beyond: Fires(Level::Warning, (2, WorkingDays), (2, WorkingDays)),
    },
    Edge {
        rule: RuleId::T1,
        scenario: "a limit of 5 days, due Monday 9 March: 1 day left at the close of Friday",
        script: |at| {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(5, 20)).tick(at);
            s
        },
        at: "2026-03-06 17:30:00",
        past: "2026-03-09 09:00:01",
        below: Silent,
        reached: Fires(Level::Warning, (1, WorkingDays), (1, WorkingDays)),
        beyond: Fires(Level::Warning, (1, WorkingDays), (1, WorkingDays)),
    },
    Edge {
        rule: RuleId::T2,
        scenario: "promised 3 days from Monday, still open",
        script: |at| {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(3, 20)).tick(at);
            s
        },
        at: "2026-03-05 17:30:00",
        past: "2026-03-06 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Yellow, (4, WorkingDays), (3, WorkingDays)),
    },
    Edge {
        rule: RuleId::T2,
        scenario: "promised 3 days from Monday, completed",
        script: |at| {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(3, 20))
                .step("2026-03-03 10:00", reviewed("review"))
                .step("2026-03-05 16:00", granted())
                .step(at, completed())
                .tick("2026-03-09 10:00");
            s
        },
        at: "2026-03-05 17:30:00",
        past: "2026-03-06 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Yellow, (4, WorkingDays), (3, WorkingDays)),
    },
    Edge {
        rule: RuleId::T3,
        scenario: "a legal limit of 5 days from Monday, still open",
        script: |at| {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", accepted(5, 5)).tick(at);
            s
        },
        at: "2026-03-09 17:30:00",
        past: "2026-03-10 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Red, (6, WorkingDays), (5, WorkingDays)),
    },
    Edge {
        rule: RuleId::T4,
        scenario: "a review within 2 days of the acceptance on Monday",
        script: |at| {
            let mut s = ordinary();
            s.step(at, reviewed_within("review", working_days(2)));
            s
        },
        at: "2026-03-04 17:30:00",
        past: "2026-03-05 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Warning, (3, WorkingDays), (2, WorkingDays)),
    },
    Edge {
        rule: RuleId::T5,
        scenario: "an immediate case accepted Monday 10:00, still open",
        script: |at| {
            let mut s = Script::default();
            s.step(
                "2026-03-02 10:00",
                accepted_as(CaseType::Immediate, hours(7), working_days(1)),
            )
            .tick(at);
            s
        },
        at: "2026-03-02 17:30:00",
        past: "2026-03-03 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Yellow, (1, WorkingDays), (0, WorkingDays)),
    },
    Edge {
        rule: RuleId::T5,
        scenario: "an immediate case accepted Monday 10:00, completed",
        script: |at| {
            let mut s = Script::default();
            s.step(
                "2026-03-02 10:00",
                accepted_as(CaseType::Immediate, hours(7), working_days(1)),
            )
            .step(at, completed())
            .tick("2026-03-04 10:00");
            s
        },
        at: "2026-03-02 17:30:00",
        past: "2026-03-03 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Yellow, (1, WorkingDays), (0, WorkingDays)),
    },
    // A special procedure's approved length is time the case's clock does not count, so it
    // is measured as office time from the procedure's start, the way the pause is.
    Edge {
        rule: RuleId::T6,
        scenario: "a hearing approved for 2 days from Tuesday 09:00, still open",
        script: |at| {
            let mut s = ordinary();
            s.step(
                "2026-03-03 09:00",
                procedure("H-1", ProcedureKind::Hearing, working_days(2), "局长"),
            )
            .tick(at);
            s
        },
        at: "2026-03-04 17:30:00",
        past: "2026-03-05 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Yellow, (3, WorkingDays), (2, WorkingDays)),
    },
    Edge {
        rule: RuleId::T8,
        scenario: "materials on Monday, a correction notice within 5 days",
        script: |at| {
            let mut s = Script::default();
            s.step("2026-03-02 09:00", submitted(Channel::Window))
                .step(at, correction_requested());
            s
        },
        at: "2026-03-09 17:30:00",
        past: "2026-03-10 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Yellow, (6, WorkingDays), (5, WorkingDays)),
    },
    Edge {
        rule: RuleId::K1,
        scenario: "appealed Monday, to be taken up within 5 days",
        script: |at| {
            let mut s = ordinary();
            s.step("2026-03-02 09:00", appealed("A-1")).tick(at);
            s
        },
        at: "2026-03-09 17:30:00",
        past: "2026-03-10 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Yellow, (6, WorkingDays), (5, WorkingDays)),
    },
    Edge {
        rule: RuleId::K1,
        scenario: "appealed Monday, to be answered within 10 days",
        script: |at| {
            let mut s = ordinary();
            s.step("2026-03-02 09:00", appealed("A-1")).tick(at);
            s
        },
        at: "2026-03-16 17:30:00",
        past: "2026-03-17 09:00:01",
        below: Fires(Level::Yellow, (10, WorkingDays), (5, WorkingDays)),
        reached: Fires(Level::Yellow, (10, WorkingDays), (5, WorkingDays)),
        beyond: Escalates(RuleId::K1, Level::Red),
    },
    Edge {
        rule: RuleId::K2,
        scenario: "a rating of 5 on Monday, to be followed up within 5 days",
        script: |at| {
            let mut s = ordinary();
            s.step("2026-03-02 09:00", rated("R-1", 5)).tick(at);
            s
        },
        at: "2026-03-09 17:30:00",
        past: "2026-03-10 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Yellow, (6, WorkingDays), (5, WorkingDays)),
    },
    // A notice's due date is an instant set by the person who issued it.
    Edge {
        rule: RuleId::A1,
        scenario: "a red card's notice due Thursday 17:30, no feedback",
        script: |at| {
            let mut s = ordinary();
            s.step("2026-03-03 09:00", fee("T-1", 5000, 5000, true))
                .act(
                    RuleId::F1,
                    Role::Monitor,
                    "2026-03-03 10:00",
                    SupervisionAction::IssueNotice {
                        content: "请退还违规收费".into(),
                        feedback_due: t("2026-03-05 17:30"),
                    },
                )
                .tick(at);
            s
        },
        at: "2026-03-05 17:30:00",
        past: "2026-03-05 17:30:01",
        below: Silent,
        reached: Silent,
        beyond: Escalates(RuleId::F1, Level::Serious),
    },
    Edge {
        rule: RuleId::C2,
        scenario: "a review on Monday 10:00, to be reported within 1 day",
        script: |at| {
            let mut s = ordinary();
            s.reported("2026-03-02 10:00", at, reviewed("review"));
            s
        },
        at: "2026-03-03 17:30:00",
        past: "2026-03-04 09:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Warning, (2, WorkingDays), (1, WorkingDays)),
    },
    Edge {
        rule: RuleId::C4,
        scenario: "step 3 held from Monday 10:00 for step 2, 7 office hours of grace",
        script: |at| {
            let mut s = Script::default();
            s.step_seq(1, "2026-03-02 09:00", submitted(Channel::Web))
                .step_seq(3, "2026-03-02 10:00", reviewed("review"))
                .tick(at);
            s
        },
        at: "2026-03-03 10:00:00",
        past: "2026-03-03 10:00:01",
        below: Silent,
        reached: Silent,
        beyond: Fires(Level::Warning, (8, Hours), (7, Hours)),
    },
];

/// The instants an edge is observed at, with what each must show.
fn observations(edge: &Edge) -> Vec<(String, &Expect)> {
    let at = t(edge.at);
    let past = t(edge.past);
    let second = chrono::TimeDelta::seconds(1);
    let just_after = if at + second < past {
        &edge.reached
    } else {
        &edge.beyond
    };
    vec![
        (local(at - second), &edge.below),
        (local(at), &edge.reached),
        (local(at + second), just_after),
        (local(past), &edge.beyond),
    ]
}

fn check(spec: &Spec) -> Result<(), String> {
    check_script(spec.rule, &(spec.script)(), &spec.expect)
}

/// Whether `script` shows what `expect` says about `rule`.
fn check_script(rule: RuleId, script: &Script, expect: &Expect) -> Result<(), String> {
    match expect {
        Fires(level, measured, threshold) => {
            let alert = script.alert(rule).ok_or_else(|| {
                format!(
                    "expected {} to fire; fired: {:?}",
                    rule,
                    script.rules_fired()
                )
            })?;
            let expected = (
                *level,
                Quantity::new(measured.0, measured.1),
                Quantity::new(threshold.0, threshold.1),
            );
            let actual = (alert.level, alert.measured, alert.threshold);
            if actual != expected {
                return Err(format!(
                    "{}: expected {expected:?}, got {actual:?} ({})",
                    rule, alert.detail
                ));
            }
            if alert.id.occurrence != 1 || alert.state != AlertState::Raised {
                return Err(format!("{}: unexpected id or state {alert:?}", rule));
            }
        }
        Silent => {
            if script.alert(rule).is_some() || escalations_by(script, rule) > 0 {
                return Err(format!(
                    "expected {} to stay silent; alerts: {:?}",
                    rule,
                    script.alerts()
                ));
            }
        }
        Escalates(alert_rule, level) => {
            let alert = script
                .alert(*alert_rule)
                .ok_or_else(|| format!("expected a {alert_rule} alert"))?;
            if alert.level != *level || escalations_by(script, rule) != 1 {
                return Err(format!(
                    "expected {alert_rule} raised to {level:?} by {}; got {:?} after {:?}",
                    rule, alert.level, script.changes
                ));
            }
        }
    }
    Ok(())
}

fn escalations_by(script: &Script, rule: RuleId) -> usize {
    script
        .changes
        .iter()
        .filter(|change| change.cause == Cause::Escalated { rule })
        .count()
}

#[test]
fn every_rule_behaves_as_specified() {
    let failures: Vec<String> = SPECS
        .iter()
        .filter_map(|spec| {
            check(spec)
                .err()
                .map(|error| format!("{} — {}: {error}", spec.rule, spec.scenario))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_time_rule_holds_at_the_edge_of_its_threshold() {
    let failures: Vec<String> = EDGES
        .iter()
        .flat_map(|edge| {
            observations(edge)
                .into_iter()
                .filter_map(move |(at, expect)| {
                    check_script(edge.rule, &(edge.script)(&at), expect)
                        .err()
                        .map(|error| format!("{} — {} at {at}: {error}", edge.rule, edge.scenario))
                })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_time_rule_has_its_edge() {
    for rule in [
        RuleId::T1,
        RuleId::T2,
        RuleId::T3,
        RuleId::T4,
        RuleId::T5,
        RuleId::T6,
        RuleId::T8,
        RuleId::K1,
        RuleId::K2,
        RuleId::A1,
        RuleId::C2,
        RuleId::C4,
    ] {
        assert!(
            EDGES.iter().any(|edge| edge.rule == rule),
            "{rule} has no edge scenario"
        );
    }
}

/// The case due Monday 16 March can be left alone from Monday 2 March until its first
/// threshold, T1's two days left at the close of Thursday 12 March, and no longer.
#[test]
fn an_open_case_can_be_left_alone_until_its_first_threshold() {
    let mut s = ordinary();
    let policy = s.policy.clone();
    let case = s.case.as_mut().expect("the case");
    let (effects, horizon) = case.advance_with_horizon(t("2026-03-02 10:00"), &policy);
    assert!(effects.alerts.is_empty());
    let horizon = horizon.expect("a case with limits waits for them");
    assert!(
        horizon > t("2026-03-02 10:00") && horizon < t("2026-03-12 17:30"),
        "{horizon}"
    );
    s.tick(&local(horizon));
    assert!(s.alerts().is_empty(), "{:?}", s.alerts());
}

/// Seen on Tuesday 3 March at 10:00, an hour into its count, the case is to be looked at
/// again at the latest when two days of its promise are left, at the close of Thursday
/// 12 March: its horizon is two seconds before — one because T1 warns once at most its
/// window is left (not once less is), one the horizon's margin for measures truncated to
/// the second — and T1 warns at that close.
#[test]
fn an_open_case_is_looked_at_again_just_before_t1_warns() {
    let mut s = ordinary();
    let policy = s.policy.clone();
    let case = s.case.as_mut().expect("the case");
    let (_, horizon) = case.advance_with_horizon(t("2026-03-03 10:00"), &policy);
    let horizon = horizon.expect("a case with limits waits for them");
    assert_eq!(horizon, t("2026-03-12 17:29:58"));
    s.tick(&local(horizon));
    assert!(s.alerts().is_empty(), "{:?}", s.alerts());
    s.tick("2026-03-12 17:30");
    assert_eq!(
        s.alerts()
            .iter()
            .map(|alert| alert.rule())
            .collect::<Vec<_>>(),
        [RuleId::T1]
    );
}

/// Two appeals of one case, both yellow by Friday 13 March: on Tuesday 17 March the one
/// past 10 working days turns red, the other stays yellow.
#[test]
fn an_appeal_turns_red_on_its_own_wait() {
    let mut s = ordinary();
    s.step("2026-03-02 09:00", appealed("A-1"))
        .step("2026-03-05 09:00", appealed("A-2"))
        .tick("2026-03-13 10:00")
        .tick("2026-03-17 10:00");
    let levels: Vec<_> = s
        .alerts()
        .iter()
        .filter(|alert| alert.rule() == RuleId::K1)
        .map(|alert| (alert.subject.as_str(), alert.level))
        .collect();
    assert_eq!(levels, [("A-1", Level::Red), ("A-2", Level::Yellow)]);
}

/// A completion after the case ended is judged by P1 alone: its fee total is not checked
/// again against the tickets.
#[test]
fn a_second_completion_is_p1s_alone() {
    let mut s = ordinary();
    s.step("2026-03-03 10:00", reviewed("review"))
        .step("2026-03-04 10:00", granted())
        .step("2026-03-05 10:00", completed())
        .step(
            "2026-03-05 11:00",
            completed_with(CompletionResult::Completed, None, 5000),
        );
    let rules = s.rules_fired();
    assert!(rules.contains(&RuleId::P1), "{rules:?}");
    assert!(!rules.contains(&RuleId::F2), "{rules:?}");
}

/// A gap held from Monday 10:00 can be left alone until its 7 office hours of grace run
/// out on Tuesday at 10:00, and no longer.
#[test]
fn a_gap_can_be_left_alone_until_its_grace_runs_out() {
    let mut s = Script::default();
    s.step_seq(1, "2026-03-02 09:00", submitted(Channel::Web))
        .step_seq(3, "2026-03-02 10:00", reviewed("review"));
    let policy = s.policy.clone();
    let case = s.case.as_mut().expect("the case");
    let (_, horizon) = case.advance_with_horizon(t("2026-03-02 11:00"), &policy);
    let horizon = horizon.expect("the gap waits for its grace");
    assert!(
        horizon > t("2026-03-02 11:00") && horizon <= t("2026-03-03 10:00"),
        "{horizon}"
    );
}

#[test]
fn a_gap_past_its_grace_raises_one_alert_and_resolves_when_filled() {
    let mut s = Script::default();
    s.step_seq(1, "2026-03-02 09:00", submitted(Channel::Web))
        .step_seq(3, "2026-03-02 10:00", reviewed("review"))
        .step_seq(4, "2026-03-02 11:00", granted())
        .step_seq(5, "2026-03-02 11:30", completed())
        .tick("2026-03-03 11:00")
        .step_seq(2, "2026-03-02 09:30", accepted(10, 20));
    let gaps: Vec<_> = s
        .alerts()
        .iter()
        .filter(|alert| alert.rule() == RuleId::C4)
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].subject, "seq 2");
    assert_eq!(gaps[0].state, AlertState::Resolved);
    assert!(s.case().held.is_empty());
    assert_eq!(s.case().applied_through, 5);
}

#[test]
fn every_rule_has_a_firing_scenario_and_a_near_miss() {
    for rule in RuleId::ALL {
        let specs: Vec<&Spec> = SPECS.iter().filter(|spec| spec.rule == *rule).collect();
        assert!(
            specs.iter().any(|spec| !matches!(spec.expect, Silent)),
            "{rule} has no scenario where it fires"
        );
        assert!(
            specs.iter().any(|spec| matches!(spec.expect, Silent)),
            "{rule} has no near miss"
        );
    }
}

#[test]
fn a_second_gap_counts_from_its_own_held_steps() {
    let mut s = Script::default();
    s.step_seq(1, "2026-03-02 09:00", submitted(Channel::Web))
        .step_seq(3, "2026-03-02 10:00", accepted(10, 20))
        .tick("2026-03-03 11:00");
    // Step 2 fills the first gap on Wednesday; step 5 arrived then too, ahead of step 4.
    s.step_seq(5, "2026-03-04 09:00", granted());
    let late = s.event(2, "clerk-1", t("2026-03-02 09:30"), reviewed("pre-check"));
    s.send(late, t("2026-03-04 09:05")).tick("2026-03-04 15:00");
    let gaps: Vec<_> = s
        .alerts()
        .iter()
        .filter(|alert| alert.rule() == RuleId::C4)
        .collect();
    assert_eq!(
        gaps.len(),
        1,
        "the second gap is 5 working hours old: {gaps:?}"
    );
    assert_eq!(gaps[0].state, AlertState::Resolved);
    s.tick("2026-03-05 10:00");
    let open: Vec<_> = s
        .alerts()
        .iter()
        .filter(|alert| alert.rule() == RuleId::C4 && alert.state.is_open())
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].subject, "seq 4");
}

/// The demo's feed once printed `红牌 red K1 raised … measured 6 working days, threshold 5
/// working days`: the red card came from the escalation, which kept the yellow raise's
/// measurement. A change states the measurement that set its level.
#[test]
fn an_appeal_turning_red_states_the_wait_and_threshold_that_made_it_red() {
    let mut s = ordinary();
    s.step("2026-03-02 09:00", appealed("A-1"))
        .tick("2026-03-10 10:00")
        .tick("2026-03-18 10:00");
    let changes: Vec<_> = s
        .changes
        .iter()
        .filter(|change| change.alert.rule() == RuleId::K1)
        .map(|change| {
            (
                change.cause.clone(),
                change.alert.level,
                change.alert.measured,
                change.alert.threshold,
            )
        })
        .collect();
    let days = |n| Quantity::new(n, WorkingDays);
    assert_eq!(
        changes,
        vec![
            (Cause::Raised, Level::Yellow, days(6), days(5)),
            (
                Cause::Escalated { rule: RuleId::K1 },
                Level::Red,
                days(12),
                days(10)
            ),
        ]
    );
}

/// An alert records the rule book and the calendar that judged it; one stored before
/// alerts recorded their calendar reads as timed by the shipped one.
#[test]
fn an_alert_records_the_calendar_that_timed_it() {
    let mut s = ordinary();
    s.tick("2026-03-13 10:00");
    let alert = s.alerts()[0].clone();
    assert_eq!((alert.rules_version, alert.calendar_version), (1, 1));
    let mut stored = serde_json::to_value(&alert).expect("serialises");
    stored
        .as_object_mut()
        .expect("an object")
        .remove("calendar_version");
    let read: casewatch_domain::alert::Alert = serde_json::from_value(stored).expect("reads");
    assert_eq!(read, alert);
}
