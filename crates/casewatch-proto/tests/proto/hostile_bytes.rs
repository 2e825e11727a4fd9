//! Hostile bytes at the edge: whatever a county system or a foreign producer sends, decoding
//! and conversion answer with a value or an error, never a panic, and what they accept is
//! valid. `PROPTEST_CASES=1000000 cargo test --release -p casewatch-proto --test proto
//! hostile_bytes::` is the long run; the suite's default is a short one.

use casewatch_domain::event::CaseEvent;
use casewatch_domain::record::Content;
use casewatch_domain::strategies;
use casewatch_domain::supervision::SupervisionEvent;
use casewatch_proto::{decode_record, encode_record, pb};
use proptest::prelude::*;
use prost::Message;

/// What a decoded record must satisfy: its payload is valid by the domain's own checks.
fn check_decoded(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((_, record)) = decode_record(bytes) {
        match record {
            Content::Step(event) => prop_assert!(event.validate().is_ok(), "{event:?}"),
            Content::Action(action) => {
                prop_assert!(action.validate().is_ok(), "{action:?}");
            }
            // A change of policy reads only as a whole document of its part, every key
            // known: what decodes is valid by construction.
            Content::Tick(_) | Content::Policy(_) => {}
        }
    }
    // Decoding is a function of the bytes: a replay reads what the live fold read.
    prop_assert_eq!(decode_record(bytes), decode_record(bytes));
    Ok(())
}

/// 2,000 cases each, or `PROPTEST_CASES` for a long run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_decode_to_a_record_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_decoded(&bytes)?;
    }

    #[test]
    fn a_damaged_record_decodes_to_a_valid_record_or_an_error(
        event in strategies::case_event(),
        recorded_at in strategies::timestamp(),
        damage in strategies::damage(3, 7),
    ) {
        let payload = pb::CaseEvent::from(event).encode_to_vec();
        let bytes = strategies::apply_damage(encode_record(pb::RecordKind::CaseEvent, recorded_at, &payload), &damage);
        check_decoded(&bytes)?;
    }

    #[test]
    fn a_damaged_event_converts_to_a_valid_event_or_an_error(
        event in strategies::case_event(),
        damage in strategies::damage(3, 7),
    ) {
        let bytes = strategies::apply_damage(pb::CaseEvent::from(event).encode_to_vec(), &damage);
        if let Ok(message) = pb::CaseEvent::decode(bytes.as_slice())
            && let Ok(converted) = CaseEvent::try_from(message)
        {
            prop_assert!(converted.validate().is_ok(), "{converted:?}");
        }
    }

    #[test]
    fn a_damaged_action_converts_to_an_action_or_an_error(
        action in strategies::supervision_event(),
        damage in strategies::damage(3, 7),
    ) {
        let bytes = strategies::apply_damage(pb::SupervisionEvent::from(action).encode_to_vec(), &damage);
        if let Ok(message) = pb::SupervisionEvent::decode(bytes.as_slice())
            && let Ok(converted) = SupervisionEvent::try_from(message)
        {
            prop_assert!(converted.validate().is_ok(), "{converted:?}");
        }
    }
}
