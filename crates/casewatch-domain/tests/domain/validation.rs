//! What ingest refuses before a step reaches the log, beyond what the types refuse: a step
//! dated after its arrival, beyond the allowed clock skew, or before the year 2000.

use chrono::TimeDelta;

use crate::support::*;

#[test]
fn a_step_from_the_future_is_refused_beyond_the_clock_skew() {
    let script = Script::default();
    let event = script.event(1, "clerk", t("2026-03-02 10:00"), accepted(5, 20));
    let skew = TimeDelta::minutes(5);
    event
        .check_received(t("2026-03-02 09:56"), skew)
        .expect("four minutes ahead is within the skew");
    event
        .check_received(t("2026-03-03 10:00"), skew)
        .expect("a day late is a finding of the rules, not an input error");
    let error = event
        .check_received(t("2026-03-02 09:54"), skew)
        .expect_err("six minutes ahead");
    assert_eq!(error.field(), "occurred_at");
    assert_eq!(
        error.to_string(),
        "occurred_at: `2026-03-02T10:00:00+08:00` is in the future: received at \
         `2026-03-02T09:54:00+08:00`, allowing 300 s of clock skew"
    );
}

#[test]
fn a_step_dated_before_the_year_2000_is_refused_naming_the_earliest_accepted() {
    let script = Script::default();
    let skew = TimeDelta::minutes(5);
    let received = t("2026-03-02 09:00");
    let first = script.event(1, "clerk", t("2000-01-01 00:00"), accepted(5, 20));
    first
        .check_received(received, skew)
        .expect("the first instant of 2000 is accepted");
    let year_one = chrono::DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z")
        .expect("an instant")
        .to_utc();
    let error = script
        .event(1, "clerk", year_one, accepted(5, 20))
        .check_received(received, skew)
        .expect_err("the year 1 is no county's step");
    assert_eq!(error.field(), "occurred_at");
    assert_eq!(
        error.to_string(),
        "occurred_at: `0001-01-01T08:00:00+08:00` is before `2000-01-01T00:00:00+08:00`, \
         the earliest step Casewatch accepts"
    );
}

/// The regression of a fold that panicked adding up a ticket's items (found by the
/// projector's adversarial fuzzing): amounts are bounded where they enter, so no sum of a
/// case's money can overflow.
#[test]
fn money_beyond_its_legal_maximum_is_refused_naming_the_field() {
    use casewatch_domain::event::{CompletionResult, FEN_MAX, FeeItem, Step};

    let script = Script::default();
    let at = t("2026-03-02 10:00");
    let over = FEN_MAX + 1;
    let ticket = |amount_fen, standard_fen| Step::FeeCharged {
        ticket_no: "T-1".into(),
        items: vec![
            FeeItem {
                fee_code: "GB-001".into(),
                amount_fen: 1,
                standard_fen: 1,
            },
            FeeItem {
                fee_code: "GB-002".into(),
                amount_fen,
                standard_fen,
            },
        ],
        payer: String::new(),
        collector: String::new(),
        unified_ticket: true,
    };
    let procedure_ended = Step::SpecialProcedureEnded {
        proc_no: "P-1".into(),
        result: "done".into(),
        fee_fen: Some(over),
    };
    let refused = [
        (accepted_with_fee(5, 20, over), "accepted.fee_standard_fen"),
        (ticket(over, 0), "fee_charged.items[1].amount_fen"),
        (ticket(0, over), "fee_charged.items[1].standard_fen"),
        (procedure_ended, "special_procedure_ended.fee_fen"),
        (
            completed_with(CompletionResult::Completed, None, over),
            "completed.fee_total_fen",
        ),
    ];
    for (step, field) in refused {
        let error = script
            .event(1, "clerk", at, step)
            .validate()
            .expect_err(field);
        assert_eq!(
            error.to_string(),
            format!("{field}: must be at most 100000000000 fen, got 100000000001")
        );
    }
    script
        .event(1, "clerk", at, ticket(FEN_MAX, FEN_MAX))
        .validate()
        .expect("the maximum itself is legal");
}
