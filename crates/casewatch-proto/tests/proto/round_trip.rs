//! Domain → protobuf bytes → domain gives back the same values, for every step and action,
//! and records keep their payload bytes, unknown fields included.

use std::collections::BTreeSet;

use casewatch_domain::Timestamp;
use casewatch_domain::event::CaseEvent;
use casewatch_domain::record::Content;
use casewatch_domain::strategies;
use casewatch_domain::supervision::{ClockTick, SupervisionEvent};
use casewatch_proto::{decode_record, encode_record, pb};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use prost::Message;

/// Encodes the domain value's protobuf, decodes the bytes and converts back.
fn through_the_wire<D, P>(value: D) -> Result<D, String>
where
    P: Message + Default + From<D>,
    D: TryFrom<P, Error = casewatch_domain::ValidationError>,
{
    let bytes = P::from(value).encode_to_vec();
    let message = P::decode(bytes.as_slice()).map_err(|error| error.to_string())?;
    D::try_from(message).map_err(|error| error.to_string())
}

/// A field this build does not know: number 999, wire type varint, value 1.
const UNKNOWN_FIELD: [u8; 3] = [0xb8, 0x3e, 0x01];

fn any_record() -> impl Strategy<Value = Content> {
    prop_oneof![
        strategies::case_event().prop_map(Content::Step),
        strategies::supervision_event().prop_map(Content::Action),
        strategies::clock_tick().prop_map(Content::Tick),
    ]
}

fn payload_of(record: &Content) -> (pb::RecordKind, Vec<u8>) {
    match record.clone() {
        Content::Step(event) => (
            pb::RecordKind::CaseEvent,
            pb::CaseEvent::from(event).encode_to_vec(),
        ),
        Content::Action(event) => (
            pb::RecordKind::SupervisionEvent,
            pb::SupervisionEvent::from(event).encode_to_vec(),
        ),
        Content::Tick(tick) => (
            pb::RecordKind::ClockTick,
            pb::ClockTick::from(tick).encode_to_vec(),
        ),
        Content::Policy(_) => unreachable!("`any_record` makes no change of policy"),
    }
}

proptest! {
    #[test]
    fn case_events_round_trip(event in strategies::case_event()) {
        prop_assert_eq!(through_the_wire::<_, pb::CaseEvent>(event.clone()), Ok(event));
    }

    #[test]
    fn supervision_events_round_trip(event in strategies::supervision_event()) {
        prop_assert_eq!(through_the_wire::<_, pb::SupervisionEvent>(event.clone()), Ok(event));
    }

    #[test]
    fn clock_ticks_round_trip(tick in strategies::clock_tick()) {
        prop_assert_eq!(through_the_wire::<_, pb::ClockTick>(tick), Ok(tick));
    }

    #[test]
    fn threshold_patches_round_trip(patch in strategies::threshold_patch()) {
        prop_assert_eq!(through_the_wire::<_, pb::RuleThresholds>(patch.clone()), Ok(patch));
    }

    #[test]
    fn records_round_trip(record in any_record(), recorded_at in strategies::timestamp()) {
        let (kind, payload) = payload_of(&record);
        let bytes = encode_record(kind, recorded_at, &payload);
        prop_assert_eq!(decode_record(&bytes), Ok((recorded_at, record)));
    }

    #[test]
    fn unknown_payload_fields_survive(record in any_record(), recorded_at in strategies::timestamp()) {
        let (kind, mut payload) = payload_of(&record);
        payload.extend_from_slice(&UNKNOWN_FIELD);
        let bytes = encode_record(kind, recorded_at, &payload);

        let envelope = pb::Record::decode(bytes.as_slice()).expect("the envelope decodes");
        prop_assert_eq!(&envelope.payload, &payload);
        prop_assert_eq!(decode_record(&bytes), Ok((recorded_at, record)));
    }
}

/// Draws until every value of `names` was seen, so that the round trips above cover every
/// variant (with a bound, so that a strategy that lost a variant fails rather than hangs).
fn draws_every<T>(strategy: impl Strategy<Value = T>, name: impl Fn(&T) -> String) -> usize {
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for _ in 0..2000 {
        let value = strategy
            .new_tree(&mut runner)
            .expect("the strategy generates")
            .current();
        seen.insert(name(&value));
    }
    seen.len()
}

#[test]
fn the_strategies_cover_every_step_and_action() {
    let steps = draws_every(strategies::case_event(), |event: &CaseEvent| {
        event.step.name().to_owned()
    });
    assert_eq!(steps, 20, "every variant of Step");
    let actions = draws_every(
        strategies::supervision_event(),
        |event: &SupervisionEvent| event.action.kind().to_string(),
    );
    assert_eq!(actions, 8, "every supervision action");
}

#[test]
fn a_hand_written_record_keeps_its_bytes() {
    let at = Timestamp::from_timestamp(1_767_225_600, 0).expect("valid instant");
    let mut payload = pb::ClockTick::from(ClockTick { at }).encode_to_vec();
    payload.extend_from_slice(&UNKNOWN_FIELD);
    let bytes = encode_record(pb::RecordKind::ClockTick, at, &payload);
    let envelope = pb::Record::decode(bytes.as_slice()).expect("the envelope decodes");
    assert_eq!(envelope.payload, payload);
    assert_eq!(envelope.format_version, 1);
    assert_eq!(
        decode_record(&bytes),
        Ok((at, Content::Tick(ClockTick { at })))
    );
}

#[test]
fn the_descriptor_set_describes_the_services() {
    let set = prost_types::FileDescriptorSet::decode(casewatch_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    let services: BTreeSet<String> = set
        .file
        .iter()
        .filter(|file| file.package() == "casewatch.v1")
        .flat_map(|file| file.service.iter().map(|service| service.name().to_owned()))
        .collect();
    assert_eq!(
        services,
        BTreeSet::from(
            [
                "AuditService",
                "IngestService",
                "MonitorService",
                "PolicyService"
            ]
            .map(str::to_owned)
        )
    );
    assert!(
        set.file
            .iter()
            .any(|file| file.name() == "google/protobuf/timestamp.proto"),
        "imports are included for reflection"
    );
}
