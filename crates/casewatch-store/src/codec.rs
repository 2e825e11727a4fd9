//! How values are written as column text, the same for every backend and for the digest.

use casewatch_domain::Timestamp;
use chrono::{NaiveDate, SecondsFormat};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Hash, Result, StoreError};

/// An instant as fixed-width RFC 3339 in UTC with nanoseconds: sorts as text, reads back
/// exactly.
pub(crate) fn timestamp_text(at: &Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads an instant written by [`timestamp_text`], years past 9999 (`+10000-…`, which only
/// derived instants such as due dates reach, and no query compares) included.
pub(crate) fn parse_timestamp(what: &'static str, text: &str) -> Result<Timestamp> {
    text.parse::<Timestamp>()
        .map_err(|error| corrupt(what, format!("`{text}` is not an instant: {error}")))
}

/// A day as `YYYY-MM-DD`.
pub(crate) fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Reads a day written by [`day_text`].
pub(crate) fn parse_day(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|error| corrupt("day", format!("`{text}` is not a day: {error}")))
}

/// A unit enum as its serde name (`snake_case` for most domain enums, `T2` for rules).
pub(crate) fn enum_text<T: Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        Ok(other) => Err(corrupt(
            "enumeration",
            format!("`{other}` is not a unit variant"),
        )),
        Err(error) => Err(corrupt("enumeration", error.to_string())),
    }
}

/// Reads a unit enum written by [`enum_text`].
pub(crate) fn parse_enum<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|error| corrupt(what, format!("`{text}`: {error}")))
}

/// A value written as its text (a case number, a record kind).
pub(crate) fn parse_text<T>(what: &'static str, text: &str) -> Result<T>
where
    T: std::str::FromStr<Err: std::fmt::Display>,
{
    text.parse()
        .map_err(|error| corrupt(what, format!("`{text}`: {error}")))
}

/// A domain value as JSON.
pub(crate) fn to_json<T: Serialize>(what: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|error| corrupt(what, error.to_string()))
}

/// Reads a domain value from JSON.
pub(crate) fn from_json<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|error| corrupt(what, error.to_string()))
}

/// A stored hash, which must be 32 bytes.
pub(crate) fn hash(what: &'static str, bytes: &[u8]) -> Result<Hash> {
    Hash::try_from(bytes).map_err(|_| corrupt(what, format!("{} bytes, not 32", bytes.len())))
}

pub(crate) fn corrupt(what: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regression of a due date past year 9999 (a case accepted in 9999 with a long
    /// limit, found by the projector's adversarial fuzzing): it was written but did not
    /// read back, and a restarted projector could not load its cases.
    #[test]
    fn instants_read_back_whatever_their_year() {
        for seconds in [
            -62_135_596_800,
            0,
            1_772_380_800,
            253_402_300_799,
            400_000_000_000,
        ] {
            let at = Timestamp::from_timestamp(seconds, 123).expect("an instant");
            assert_eq!(parse_timestamp("at", &timestamp_text(&at)).ok(), Some(at));
        }
        assert_eq!(
            timestamp_text(&Timestamp::from_timestamp(1_772_380_800, 0).expect("an instant")),
            "2026-03-01T16:00:00.000000000Z"
        );
    }
}
