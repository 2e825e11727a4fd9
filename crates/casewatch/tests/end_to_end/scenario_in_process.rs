//! The scripted scenario folded in-process: each input travels as the log will carry it
//! (protobuf bytes in a record envelope), is decoded and validated at the edge, and folded
//! through the domain. The alerts, lights and statistics must be exactly as specified.

use std::collections::BTreeMap;

use casewatch_domain::case::{Case, CaseStatus, Light};
use casewatch_domain::record::{PartitionFold, Record};
use casewatch_domain::stats::Counters;
use casewatch_proto::decode_record;
use casewatch_tests::{CLEAN_CASES, EXPECTED_ALERTS, ExpectedAlert, Input, record_bytes, scenario};

struct Views {
    cases: BTreeMap<String, Case>,
    totals: Counters,
}

fn fold(inputs: &[Input]) -> Views {
    let mut cases = PartitionFold::default();
    let mut totals = Counters::default();
    for input in inputs {
        let bytes = record_bytes(input);
        let (recorded_at, content) = decode_record(&bytes).expect("a valid record");
        let record = Record::Read {
            recorded_at,
            content,
        };
        for effects in cases.fold(&record, &bytes) {
            let effects = effects.expect("the scenario has no staff actions to refuse");
            for delta in &effects.stats {
                totals += &delta.counters;
            }
        }
    }
    Views {
        cases: cases
            .into_cases()
            .map(|case| (case.case_no.to_string(), case))
            .collect(),
        totals,
    }
}

#[test]
fn the_scenario_raises_exactly_the_expected_alerts() {
    let views = fold(&scenario());
    let mut raised: Vec<ExpectedAlert> = views
        .cases
        .values()
        .flat_map(|case| &case.alerts)
        .map(|alert| {
            let expected = EXPECTED_ALERTS
                .iter()
                .find(|expected| expected.case_no == alert.id.case_no.as_str())
                .map_or("unexpected case", |expected| expected.case_no);
            ExpectedAlert {
                case_no: expected,
                rule: alert.rule(),
                level: alert.level,
            }
        })
        .collect();
    raised.sort();
    let mut expected = EXPECTED_ALERTS.to_vec();
    expected.sort();
    assert_eq!(raised, expected);
    for case_no in CLEAN_CASES {
        assert!(views.cases[*case_no].alerts.is_empty(), "{case_no}");
    }
}

#[test]
fn the_scenario_leaves_the_expected_lights_and_statistics() {
    let views = fold(&scenario());
    let case = |case_no: &str| &views.cases[case_no];
    assert_eq!(case("330106-B-LATE").light(), Light::Yellow);
    assert_eq!(case("330102-D-FEE").light(), Light::Red);
    assert_eq!(case("330106-A-CLEAN").status, CaseStatus::Completed);
    // Step 3 waited for step 2, then both were applied in order.
    assert_eq!(case("330105-F-ORDER").applied_through, 3);
    assert!(case("330105-F-ORDER").held.is_empty());
    // The conflicting re-send did not change the promise.
    assert_eq!(
        case("330105-E-CONFLICT")
            .promised_limit
            .map(|limit| limit.n()),
        Some(10)
    );
    let totals = &views.totals;
    assert_eq!(totals.accepted, 7);
    assert_eq!(totals.completed, 3);
    assert_eq!(totals.completed_early, 3);
    assert_eq!(
        totals.online_accepted, 3,
        "A, E and F were submitted on the web"
    );
    assert_eq!(totals.appeals, 1);
    assert_eq!(totals.fees_charged_fen, 5000);
    assert_eq!(totals.fee_anomalies, 1);
    assert_eq!(totals.warnings_raised, 1);
    assert_eq!(totals.cards_raised, 5);
    // Open cases by light, as gauges: B yellow, D and E red, F green.
    assert_eq!(
        (totals.open_green, totals.open_yellow, totals.open_red),
        (1, 1, 2)
    );
}
