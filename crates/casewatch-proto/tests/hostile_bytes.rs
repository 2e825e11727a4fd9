//! Hostile bytes at the edge: whatever a county system or a foreign producer sends, decoding
//! and conversion answer with a value or an error, never a panic, and what they accept is
//! valid. `PROPTEST_CASES=1000000 cargo test --release -p casewatch-proto --test
//! hostile_bytes` is the long run; the suite's default is a short one.

use casewatch_domain::event::CaseEvent;
use casewatch_domain::strategies;
use casewatch_domain::supervision::SupervisionEvent;
use casewatch_proto::{DecodedRecord, decode_record, encode_record, pb};
use proptest::prelude::*;
use prost::Message;

/// How one valid encoding is damaged.
#[derive(Debug, Clone)]
enum Damage {
    /// A byte replaced.
    Flip { at: usize, with: u8 },
    /// The end cut off.
    Truncate { keep: usize },
    /// Bytes pushed in.
    Insert { at: usize, bytes: Vec<u8> },
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, with)| Damage::Flip { at, with }),
        any::<usize>().prop_map(|keep| Damage::Truncate { keep }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
    ];
    proptest::collection::vec(one, 1..4)
}

fn apply(mut bytes: Vec<u8>, damage: &[Damage]) -> Vec<u8> {
    for step in damage {
        let len = bytes.len().max(1);
        match step {
            Damage::Flip { at, with } => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte = *with;
                }
            }
            Damage::Truncate { keep } => bytes.truncate(keep % len),
            Damage::Insert {
                at,
                bytes: inserted,
            } => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, inserted.iter().copied());
            }
        }
    }
    bytes
}

/// What a decoded record must satisfy: its payload is valid by the domain's own checks.
fn check_decoded(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((_, record)) = decode_record(bytes) {
        match record {
            DecodedRecord::Case(event) => prop_assert!(event.validate().is_ok(), "{event:?}"),
            DecodedRecord::Supervision(action) => {
                prop_assert!(action.validate().is_ok(), "{action:?}");
            }
            DecodedRecord::Tick(_) => {}
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
        damage in damage(),
    ) {
        let payload = pb::CaseEvent::from(event).encode_to_vec();
        let bytes = apply(encode_record(pb::RecordKind::CaseEvent, recorded_at, &payload), &damage);
        check_decoded(&bytes)?;
    }

    #[test]
    fn a_damaged_event_converts_to_a_valid_event_or_an_error(
        event in strategies::case_event(),
        damage in damage(),
    ) {
        let bytes = apply(pb::CaseEvent::from(event).encode_to_vec(), &damage);
        if let Ok(message) = pb::CaseEvent::decode(bytes.as_slice())
            && let Ok(converted) = CaseEvent::try_from(message)
        {
            prop_assert!(converted.validate().is_ok(), "{converted:?}");
        }
    }

    #[test]
    fn a_damaged_action_converts_to_an_action_or_an_error(
        action in strategies::supervision_event(),
        damage in damage(),
    ) {
        let bytes = apply(pb::SupervisionEvent::from(action).encode_to_vec(), &damage);
        if let Ok(message) = pb::SupervisionEvent::decode(bytes.as_slice())
            && let Ok(converted) = SupervisionEvent::try_from(message)
        {
            prop_assert!(converted.validate().is_ok(), "{converted:?}");
        }
    }
}
