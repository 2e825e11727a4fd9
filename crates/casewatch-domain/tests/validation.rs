//! What ingest refuses before a step reaches the log, beyond what the types refuse: a step
//! dated after its arrival, beyond the allowed clock skew.

mod support;

use chrono::TimeDelta;
use support::*;

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
        "occurred_at: `2026-03-02T02:00:00+00:00` is in the future: received at \
         `2026-03-02T01:54:00+00:00`, allowing 300 s of clock skew"
    );
}
