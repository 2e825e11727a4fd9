//! The pure supervision model of Casewatch: identifiers, the case steps and supervision
//! actions, the working-day calendar and clock, the case state machine, the alert rules and
//! lifecycle, and statistics deltas.
//!
//! Everything here is a function of its inputs. No I/O, no async, no wire formats, and no
//! wall clock: time arrives as a value (a step's time, a record's time, a clock tick).

#![warn(missing_docs)]

pub mod access;
pub mod alert;
pub mod calendar;
pub mod case;
pub mod catalogue;
pub mod clock;
pub mod event;
pub mod ids;
pub mod log;
pub mod policy;
pub mod record;
pub mod report;
pub mod rulebook;
mod rules;
pub mod stats;
#[cfg(feature = "strategies")]
pub mod strategies;
pub mod supervision;

use std::fmt;

/// An instant. Local dates and office hours come from a region's calendar.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// China Standard Time (+08:00): the offset of every shipped calendar, and the one in which
/// Casewatch states instants to people.
pub fn china_standard_time() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// An instant as the people of the service read it: RFC 3339 in China Standard Time,
/// `2026-10-12T17:01:00+08:00`.
pub fn local_text(at: Timestamp) -> String {
    at.with_timezone(&china_standard_time()).to_rfc3339()
}

/// Input that is well-formed but not acceptable: names the field (a dotted path relative to
/// the value checked) and says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    field: String,
    message: String,
}

impl ValidationError {
    /// An error about `field` (empty for the value itself).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from the enclosing value: `n` within `promised_limit` becomes
    /// `promised_limit.n`.
    pub fn within(self, parent: &str) -> Self {
        let field = match (parent.is_empty(), self.field.is_empty()) {
            (true, _) => self.field,
            (false, true) => parent.to_owned(),
            (false, false) if self.field.starts_with('[') => format!("{parent}{}", self.field),
            (false, false) => format!("{parent}.{}", self.field),
        };
        Self { field, ..self }
    }

    /// The dotted path of the offending field.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

#[cfg(test)]
mod testing {
    /// An instant written in RFC 3339.
    pub(crate) fn at(text: &str) -> crate::Timestamp {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("valid instant")
            .to_utc()
    }
}
