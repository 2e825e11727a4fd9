//! Conversions of the small shared types (instants, dates, enums, identifiers, limits), for
//! the message conversions of this crate and for the services that read request fields.
//!
//! Errors are [`ValidationError`]s whose field is relative to the value converted; the
//! `*_field` helpers prefix it with the field's name.

use casewatch_domain::access::Role;
use casewatch_domain::alert::{AlertState, Quantity, QuantityUnit};
use casewatch_domain::case::{CaseStatus, Disposition, Light};
use casewatch_domain::catalogue::{Category, Level};
use casewatch_domain::event::{
    AppealOutcome, AppealTarget, ApplicantKind, CaseType, Channel, CompletionResult, Decision,
    Limit, LimitUnit, ProcedureKind, RatingLevel, ReviewOutcome,
};
use casewatch_domain::ids::{IdError, RegionLevel};
use casewatch_domain::policy::PolicyPart;
use casewatch_domain::supervision::AppealDecision;
use casewatch_domain::{Timestamp, ValidationError};
use chrono::NaiveDate;

use crate::pb;

/// The earliest `seconds` of a `google.protobuf.Timestamp`: 0001-01-01T00:00:00Z.
const MIN_SECONDS: i64 = -62_135_596_800;
/// The latest `seconds` of a `google.protobuf.Timestamp`: 9999-12-31T23:59:59Z.
const MAX_SECONDS: i64 = 253_402_300_799;
/// The largest `nanos` of a `google.protobuf.Timestamp`.
const MAX_NANOS: i32 = 999_999_999;

/// `field: required` unless the (message) field is set.
pub fn required<T>(field: &str, value: Option<T>) -> Result<T, ValidationError> {
    value.ok_or_else(|| ValidationError::new(field, "required"))
}

/// An identifier parsed by its domain constructor, its error named after `field`.
pub fn id_field<T>(field: &str, parsed: Result<T, IdError>) -> Result<T, ValidationError> {
    parsed.map_err(|error| ValidationError::new(field, error.to_string()))
}

/// A domain instant as a protobuf timestamp. A leap second (chrono's nanoseconds past
/// 999 999 999) is clamped to the last nanosecond of the second before.
pub fn timestamp_to_pb(at: Timestamp) -> prost_types::Timestamp {
    let nanos = i32::try_from(at.timestamp_subsec_nanos()).map_or(MAX_NANOS, |n| n.min(MAX_NANOS));
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos,
    }
}

/// A protobuf timestamp as a domain instant. Refuses what the protobuf definition does:
/// `nanos` outside 0..=999 999 999 and instants outside the years 1 to 9999.
pub fn timestamp_from_pb(at: &prost_types::Timestamp) -> Result<Timestamp, ValidationError> {
    let Some(nanos) = u32::try_from(at.nanos)
        .ok()
        .filter(|_| at.nanos <= MAX_NANOS)
    else {
        return Err(ValidationError::new(
            "nanos",
            format!("must be 0 to {MAX_NANOS}, got {}", at.nanos),
        ));
    };
    let in_range = (MIN_SECONDS..=MAX_SECONDS).contains(&at.seconds);
    match Timestamp::from_timestamp(at.seconds, nanos).filter(|_| in_range) {
        Some(instant) => Ok(instant),
        None => Err(ValidationError::new(
            "seconds",
            format!(
                "must be within the years 1 to 9999 ({MIN_SECONDS} to {MAX_SECONDS}), got {}",
                at.seconds
            ),
        )),
    }
}

/// What prost's decode error says, as a [`ValidationError`] naming the field that could not
/// be read, outermost first (`actor.id`); `None` for text that is not such an error. prost
/// writes the message and field of each level of nesting, innermost first:
/// `failed to decode Protobuf message: Actor.id: CaseEvent.actor: invalid string value: …`.
pub fn decode_failure(text: &str) -> Option<ValidationError> {
    let mut rest = text.strip_prefix("failed to decode Protobuf message: ")?;
    let mut path = Vec::new();
    while let Some((location, after)) = rest.split_once(": ") {
        let Some((message, field)) = location.split_once('.') else {
            break;
        };
        let identifier = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        };
        if !identifier(message) || !identifier(field) {
            break;
        }
        path.push(field);
        rest = after;
    }
    path.reverse();
    Some(ValidationError::new(path.join("."), rest))
}

/// A required timestamp field.
pub fn timestamp_field(
    field: &str,
    at: Option<prost_types::Timestamp>,
) -> Result<Timestamp, ValidationError> {
    timestamp_from_pb(&required(field, at)?).map_err(|error| error.within(field))
}

/// An optional timestamp field: `None` when unset.
pub fn optional_timestamp_field(
    field: &str,
    at: Option<prost_types::Timestamp>,
) -> Result<Option<Timestamp>, ValidationError> {
    at.map(|at| timestamp_from_pb(&at).map_err(|error| error.within(field)))
        .transpose()
}

/// A domain date as a protobuf date.
pub fn date_to_pb(date: NaiveDate) -> pb::Date {
    use chrono::Datelike;
    pb::Date {
        year: date.year(),
        month: date.month(),
        day: date.day(),
    }
}

/// A protobuf date as a domain date; refuses dates that do not exist.
pub fn date_from_pb(date: &pb::Date) -> Result<NaiveDate, ValidationError> {
    let pb::Date { year, month, day } = *date;
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| {
        ValidationError::new(
            "",
            format!("must be a calendar date, got {year:04}-{month:02}-{day:02}"),
        )
    })
}

/// A required date field.
pub fn date_field(field: &str, date: Option<pb::Date>) -> Result<NaiveDate, ValidationError> {
    date_from_pb(&required(field, date)?).map_err(|error| error.within(field))
}

/// A rating level (1 to 5) from a protobuf integer field.
pub fn rating_field(field: &str, level: u32) -> Result<RatingLevel, ValidationError> {
    u8::try_from(level)
        .ok()
        .and_then(|level| RatingLevel::new(level).ok())
        .ok_or_else(|| ValidationError::new(field, format!("must be 1 to 5, got {level}")))
}

/// A domain enum and the protobuf enum it corresponds to, variant for variant, apart from
/// the protobuf's `..._UNSPECIFIED`.
pub trait ProtoEnum: Sized {
    /// The protobuf enum.
    type Pb: TryFrom<i32> + Into<i32>;

    /// The domain value of a protobuf value; `None` for `..._UNSPECIFIED`.
    fn from_pb(value: Self::Pb) -> Option<Self>;

    /// The protobuf value, as stored in a message's field.
    fn to_pb(self) -> i32;
}

/// A required enum field: refuses `..._UNSPECIFIED` and numbers this build does not know.
pub fn enum_field<T: ProtoEnum>(field: &str, value: i32) -> Result<T, ValidationError> {
    match optional_enum_field(field, value)? {
        Some(value) => Ok(value),
        None => Err(ValidationError::new(field, "must be specified")),
    }
}

/// An optional enum field, such as a filter: `None` for `..._UNSPECIFIED`; refuses numbers
/// this build does not know.
pub fn optional_enum_field<T: ProtoEnum>(
    field: &str,
    value: i32,
) -> Result<Option<T>, ValidationError> {
    match T::Pb::try_from(value) {
        Ok(known) => Ok(T::from_pb(known)),
        Err(_) => Err(ValidationError::new(
            field,
            format!("must be specified, got unknown value {value}"),
        )),
    }
}

/// Maps a domain enum onto a protobuf enum whose other variants have the same names.
/// Exhaustive both ways, so a variant added on either side fails to compile here.
macro_rules! proto_enum {
    ($domain:ident => $pb:ident { $($variant:ident),+ $(,)? }) => {
        impl From<$domain> for pb::$pb {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$variant => pb::$pb::$variant,)+
                }
            }
        }

        impl ProtoEnum for $domain {
            type Pb = pb::$pb;

            fn from_pb(value: pb::$pb) -> Option<Self> {
                match value {
                    pb::$pb::Unspecified => None,
                    $(pb::$pb::$variant => Some($domain::$variant),)+
                }
            }

            fn to_pb(self) -> i32 {
                pb::$pb::from(self).into()
            }
        }
    };
}

proto_enum!(LimitUnit => LimitUnit { WorkingDays, CalendarDays, Hours });
proto_enum!(QuantityUnit => QuantityUnit {
    WorkingDays, CalendarDays, Hours, Days, Fen, Count, Seq, Rating,
});
proto_enum!(RegionLevel => RegionLevel { National, Province, City, County, Township, Village });
proto_enum!(ApplicantKind => ApplicantKind { Person, Organisation });
proto_enum!(Channel => Channel { Window, Web, Mobile, Post });
proto_enum!(CaseType => CaseType { Immediate, Promised, Joint, Forwarded });
proto_enum!(ReviewOutcome => ReviewOutcome { Pass, Return, Other });
proto_enum!(Decision => Decision { Grant, Deny });
proto_enum!(ProcedureKind => ProcedureKind {
    Extension, Hearing, Inspection, Testing, Quarantine, Appraisal, ExpertReview, Tender,
    Auction, Other,
});
proto_enum!(CompletionResult => CompletionResult {
    IssuedCertificate, Returned, Voided, Forwarded, Completed,
});
proto_enum!(AppealTarget => AppealTarget { Department, Person });
proto_enum!(PolicyPart => PolicyPart { RuleBook, NationalCalendar, RegionCalendar });
proto_enum!(AppealOutcome => AppealOutcome { Upheld, Dismissed, Explained });
proto_enum!(Role => Role { CountySystem, Department, Monitor, Auditor, Admin });
proto_enum!(AppealDecision => AppealDecision { Revoke, Return, Escalate });
proto_enum!(Level => AlertLevel { Warning, Yellow, Red, Serious });
proto_enum!(Category => AlertCategory {
    Time, Procedure, Content, Fee, Integrity, Complaint, Supervision,
});
proto_enum!(AlertState => AlertState {
    Raised, Acknowledged, UnderNotice, FeedbackReceived, Closed, Appealed, AppealEscalated,
    Revoked, Returned, Resolved,
});
proto_enum!(CaseStatus => CaseStatus { Submitted, Accepted, Completed, Rejected, Withdrawn });
proto_enum!(Light => Light { Green, Yellow, Red });

/// The protobuf enum has one more value (`REFUSED`, for supervision actions), so this maps
/// one way only.
impl From<Disposition> for pb::Disposition {
    fn from(disposition: Disposition) -> Self {
        match disposition {
            Disposition::Applied => pb::Disposition::Applied,
            Disposition::Duplicate => pb::Disposition::Duplicate,
            Disposition::Conflict => pb::Disposition::Conflict,
            Disposition::Held => pb::Disposition::Held,
            Disposition::Unreadable => pb::Disposition::Unreadable,
        }
    }
}

impl From<Limit> for pb::Limit {
    fn from(limit: Limit) -> Self {
        pb::Limit {
            n: limit.n(),
            unit: limit.unit().to_pb(),
        }
    }
}

impl TryFrom<pb::Limit> for Limit {
    type Error = ValidationError;

    /// `LIMIT_UNIT_UNSPECIFIED` reads as working days, the statutory default.
    fn try_from(limit: pb::Limit) -> Result<Self, ValidationError> {
        let unit = optional_enum_field("unit", limit.unit)?.unwrap_or(LimitUnit::WorkingDays);
        Limit::new(limit.n, unit)
    }
}

/// A required limit field.
pub fn limit_field(field: &str, limit: Option<pb::Limit>) -> Result<Limit, ValidationError> {
    Limit::try_from(required(field, limit)?).map_err(|error| error.within(field))
}

/// An optional limit field: `None` when unset.
pub fn optional_limit_field(
    field: &str,
    limit: Option<pb::Limit>,
) -> Result<Option<Limit>, ValidationError> {
    limit
        .map(|limit| Limit::try_from(limit).map_err(|error| error.within(field)))
        .transpose()
}

impl From<Quantity> for pb::Quantity {
    fn from(quantity: Quantity) -> Self {
        pb::Quantity {
            value: quantity.value,
            unit: quantity.unit.to_pb(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_the_protobuf_range_are_refused() {
        let error = timestamp_field(
            "occurred_at",
            Some(prost_types::Timestamp {
                seconds: 0,
                nanos: -1,
            }),
        )
        .expect_err("negative nanos");
        assert_eq!(
            error.to_string(),
            "occurred_at.nanos: must be 0 to 999999999, got -1"
        );
        let error = timestamp_field(
            "at",
            Some(prost_types::Timestamp {
                seconds: MAX_SECONDS + 1,
                nanos: 0,
            }),
        )
        .expect_err("year 10000");
        assert_eq!(
            error.to_string(),
            "at.seconds: must be within the years 1 to 9999 \
             (-62135596800 to 253402300799), got 253402300800"
        );
        assert_eq!(
            timestamp_field("occurred_at", None)
                .expect_err("unset")
                .to_string(),
            "occurred_at: required"
        );
    }

    #[test]
    fn limits_default_to_working_days_and_refuse_zero() {
        let limit =
            limit_field("promised_limit", Some(pb::Limit { n: 5, unit: 0 })).expect("valid limit");
        assert_eq!(limit, Limit::working_days(5).expect("valid"));
        let error =
            limit_field("promised_limit", Some(pb::Limit { n: 0, unit: 1 })).expect_err("zero");
        assert_eq!(error.to_string(), "promised_limit.n: must be > 0");
        let error = limit_field("promised_limit", Some(pb::Limit { n: 1, unit: 42 }))
            .expect_err("unknown unit");
        assert_eq!(
            error.to_string(),
            "promised_limit.unit: must be specified, got unknown value 42"
        );
    }

    #[test]
    fn dates_must_exist() {
        let error = date_field(
            "valid_to",
            Some(pb::Date {
                year: 2026,
                month: 2,
                day: 30,
            }),
        )
        .expect_err("no 30 February");
        assert_eq!(
            error.to_string(),
            "valid_to: must be a calendar date, got 2026-02-30"
        );
    }
}
