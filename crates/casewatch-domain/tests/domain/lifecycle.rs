//! An alert's lifecycle at the steps where a mistake would let a department answer twice
//! or answer a notice it never received, and how an alert's figures read.

use casewatch_domain::access::Role;
use casewatch_domain::alert::{AlertState, Quantity, QuantityUnit};
use casewatch_domain::catalogue::RuleId;
use casewatch_domain::supervision::{AppealDecision, SupervisionAction};

use crate::support::*;

/// A red card (F1, a fee on a free item) raised on Tuesday 3 March.
fn red_card() -> Script {
    let mut s = Script::new("HZ-2026-0002");
    s.step("2026-03-02 09:00", accepted(10, 20))
        .step("2026-03-03 09:00", fee("T-1", 5000, 5000, true));
    s
}

fn notice() -> SupervisionAction {
    SupervisionAction::IssueNotice {
        content: "请退还违规收费".into(),
        feedback_due: t("2026-03-06 17:30"),
    }
}

fn feedback() -> SupervisionAction {
    SupervisionAction::SubmitFeedback {
        text: "已退还".into(),
    }
}

fn appeal() -> SupervisionAction {
    SupervisionAction::Appeal {
        reason: "收费有据".into(),
    }
}

fn returned() -> SupervisionAction {
    SupervisionAction::DecideAppeal {
        decision: AppealDecision::Return,
        reason: "依据不足".into(),
    }
}

fn state(s: &Script) -> AlertState {
    s.alert(RuleId::F1).expect("the red card").state
}

#[test]
fn feedback_answers_a_notice_once() {
    let mut s = red_card();
    s.act(RuleId::F1, Role::Monitor, "2026-03-03 10:00", notice())
        .act(RuleId::F1, Role::Department, "2026-03-04 10:00", feedback());
    assert_eq!(state(&s), AlertState::FeedbackReceived);
    assert!(
        s.try_act(RuleId::F1, Role::Department, "2026-03-04 11:00", feedback())
            .is_err(),
        "feedback was taken twice"
    );
}

#[test]
fn feedback_needs_a_notice_even_after_a_returned_appeal() {
    // Returned without a notice: nothing to answer.
    let mut s = red_card();
    s.act(RuleId::F1, Role::Department, "2026-03-03 10:00", appeal())
        .act(RuleId::F1, Role::Monitor, "2026-03-03 11:00", returned());
    assert_eq!(state(&s), AlertState::Returned);
    assert!(
        s.try_act(RuleId::F1, Role::Department, "2026-03-03 12:00", feedback())
            .is_err()
    );
    // Returned while under notice: the notice still wants its answer.
    let mut s = red_card();
    s.act(RuleId::F1, Role::Monitor, "2026-03-03 10:00", notice())
        .act(RuleId::F1, Role::Department, "2026-03-03 11:00", appeal())
        .act(RuleId::F1, Role::Monitor, "2026-03-03 14:00", returned())
        .act(RuleId::F1, Role::Department, "2026-03-04 10:00", feedback());
    assert_eq!(state(&s), AlertState::FeedbackReceived);
}

#[test]
fn a_quantity_reads_with_its_unit() {
    let read = |value, unit| Quantity::new(value, unit).to_string();
    assert_eq!(read(3, QuantityUnit::WorkingDays), "3 working days");
    assert_eq!(read(8, QuantityUnit::Hours), "8 working hours");
    assert_eq!(read(4, QuantityUnit::Seq), "seq 4");
    assert_eq!(read(5, QuantityUnit::Rating), "rating 5");
    assert_eq!(read(2, QuantityUnit::Count), "2");
    assert_eq!(read(6000, QuantityUnit::Fen), "6000 fen");
}
