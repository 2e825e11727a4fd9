//! The record envelope of the log: `Record { format_version, kind, recorded_at, payload }`.
//!
//! The payload stays the producer's bytes: encoding never re-encodes it, so fields unknown
//! to this build survive on the log, and the hash chain covers what was received.

use casewatch_domain::record::{Content, Record};
use casewatch_domain::{Timestamp, ValidationError};
use prost::Message;

use crate::convert::{timestamp_field, timestamp_to_pb};
use crate::pb;

/// The envelope format this build writes and reads.
pub const RECORD_FORMAT_VERSION: u32 = 1;

/// Why record bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes are not protobuf of the expected message.
    #[error("undecodable {part}: {error}")]
    Undecodable {
        /// Which part failed: the envelope or the payload of a kind.
        part: &'static str,
        /// What the decoder said.
        error: prost::DecodeError,
    },
    /// The record is of a kind this build does not know.
    #[error("unknown record kind `{0}`")]
    UnknownKind(i32),
    /// The envelope is of a format this build does not read.
    #[error("unsupported record format version `{0}`, expected `{RECORD_FORMAT_VERSION}`")]
    UnsupportedVersion(u32),
    /// The record decodes but its content is invalid; the field path is relative to the
    /// record, with the payload's fields under `payload`.
    #[error("invalid record: {0}")]
    Invalid(ValidationError),
}

/// Encodes a record: the envelope around `payload`, which is kept byte for byte.
pub fn encode_record(kind: pb::RecordKind, recorded_at: Timestamp, payload: &[u8]) -> Vec<u8> {
    pb::Record {
        format_version: RECORD_FORMAT_VERSION,
        kind: kind.into(),
        recorded_at: Some(timestamp_to_pb(recorded_at)),
        payload: payload.to_vec(),
    }
    .encode_to_vec()
}

/// The record of a clock tick at `at`, from `source` (who ticked: a node, a test).
pub fn encode_tick(at: Timestamp, source: &str) -> Vec<u8> {
    let payload = pb::ClockTick {
        at: Some(timestamp_to_pb(at)),
        source: source.to_owned(),
    }
    .encode_to_vec();
    encode_record(pb::RecordKind::ClockTick, at, &payload)
}

/// Decodes a record's envelope and payload into domain values. Unknown fields of the
/// payload are skipped (the stored bytes keep them).
pub fn decode_record(bytes: &[u8]) -> Result<(Timestamp, Content), RecordError> {
    let record = pb::Record::decode(bytes).map_err(|error| RecordError::Undecodable {
        part: "record envelope",
        error,
    })?;
    if record.format_version != RECORD_FORMAT_VERSION {
        return Err(RecordError::UnsupportedVersion(record.format_version));
    }
    let recorded_at =
        timestamp_field("recorded_at", record.recorded_at).map_err(RecordError::Invalid)?;
    let payload = record.payload.as_slice();
    let decoded = match pb::RecordKind::try_from(record.kind) {
        Ok(pb::RecordKind::CaseEvent) => {
            Content::Step(decode_payload::<pb::CaseEvent, _>("case event", payload)?)
        }
        Ok(pb::RecordKind::SupervisionEvent) => {
            Content::Action(decode_payload::<pb::SupervisionEvent, _>(
                "supervision event",
                payload,
            )?)
        }
        Ok(pb::RecordKind::ClockTick) => {
            Content::Tick(decode_payload::<pb::ClockTick, _>("clock tick", payload)?)
        }
        Ok(pb::RecordKind::PolicyEvent) => Content::Policy(decode_payload::<pb::PolicyEvent, _>(
            "policy event",
            payload,
        )?),
        Ok(pb::RecordKind::Unspecified) | Err(_) => {
            return Err(RecordError::UnknownKind(record.kind));
        }
    };
    Ok((recorded_at, decoded))
}

/// Reads a record the log stored under `key` into what the fold takes: what it says, or
/// why it cannot be read ([`Record::keyed`]).
pub fn read_record(bytes: &[u8], key: &str) -> Record {
    Record::keyed(decode_record(bytes).map_err(|error| error.to_string()), key)
}

fn decode_payload<P, D>(part: &'static str, payload: &[u8]) -> Result<D, RecordError>
where
    P: Message + Default,
    D: TryFrom<P, Error = ValidationError>,
{
    let message = P::decode(payload).map_err(|error| RecordError::Undecodable { part, error })?;
    D::try_from(message).map_err(|error| RecordError::Invalid(error.within("payload")))
}

#[cfg(test)]
mod tests {
    use casewatch_domain::supervision::ClockTick;

    use super::*;

    fn at() -> Timestamp {
        Timestamp::from_timestamp(1_767_225_600, 0).expect("valid instant")
    }

    fn tick_payload() -> Vec<u8> {
        pb::ClockTick {
            at: Some(timestamp_to_pb(at())),
            source: "node-1".into(),
        }
        .encode_to_vec()
    }

    fn error(record: pb::Record) -> String {
        decode_record(&record.encode_to_vec())
            .expect_err("the record is unreadable")
            .to_string()
    }

    fn tick_record() -> pb::Record {
        pb::Record {
            format_version: RECORD_FORMAT_VERSION,
            kind: pb::RecordKind::ClockTick.into(),
            recorded_at: Some(timestamp_to_pb(at())),
            payload: tick_payload(),
        }
    }

    #[test]
    fn a_tick_round_trips() {
        let bytes = encode_record(pb::RecordKind::ClockTick, at(), &tick_payload());
        assert_eq!(
            decode_record(&bytes),
            Ok((at(), Content::Tick(ClockTick { at: at() })))
        );
    }

    #[test]
    fn unreadable_records_say_why() {
        let record = pb::Record {
            format_version: 2,
            ..tick_record()
        };
        assert_eq!(
            error(record),
            "unsupported record format version `2`, expected `1`"
        );
        let record = pb::Record {
            kind: 9,
            ..tick_record()
        };
        assert_eq!(error(record), "unknown record kind `9`");
        let record = pb::Record {
            kind: 0,
            ..tick_record()
        };
        assert_eq!(error(record), "unknown record kind `0`");
        let record = pb::Record {
            recorded_at: None,
            ..tick_record()
        };
        assert_eq!(error(record), "invalid record: recorded_at: required");
        let record = pb::Record {
            payload: pb::ClockTick::default().encode_to_vec(),
            ..tick_record()
        };
        assert_eq!(error(record), "invalid record: payload.at: required");
        let record = pb::Record {
            payload: vec![0xff, 0xff],
            ..tick_record()
        };
        assert!(
            error(record).starts_with("undecodable clock tick: "),
            "payload garbage"
        );
        assert!(matches!(
            decode_record(b"\xff"),
            Err(RecordError::Undecodable {
                part: "record envelope",
                ..
            })
        ));
    }
}
