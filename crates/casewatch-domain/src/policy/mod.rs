//! Policy as history: the rule book and the working calendars, changed by operators while
//! Casewatch runs. Each change is a record of the log, so a replay judges every case by the
//! policy in force at the time, as the live run did.
//!
//! [`PolicySources`] is the policy in force as its parts were given — the rule book, the
//! national calendar's years, each region's changes — with the calendar's version; a
//! [`PolicyChange`] replaces one part of it, and [`PolicySources::compile`] makes the
//! [`Policy`] the rules read. A change is refused whole, naming what is wrong, before
//! anything of it applies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::calendar::{
    CalendarData, CalendarError, CalendarYear, Calendars, RegionCalendar, WorkingCalendar,
};
use crate::case::Policy;
use crate::ids::RegionCode;
use crate::rulebook::RuleBook;

/// Why a policy change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A version that does not follow the one in force: changes apply in version order,
    /// and a re-sent or out-of-date change must not undo a later one.
    #[error("{part} version {given} does not follow version {in_force}, the one in force")]
    StaleVersion {
        /// The part changed: `rule book` or `calendar`.
        part: &'static str,
        /// The version the change carries.
        given: u32,
        /// The version in force.
        in_force: u32,
    },
    /// The calendar the change would make is not valid.
    #[error("calendar: {0}")]
    Calendar(#[from] CalendarError),
    /// A change without the reason that the history must show.
    #[error("a policy change needs a reason")]
    NoReason,
    /// A change nobody signs.
    #[error("a policy change needs an author")]
    NoAuthor,
}

/// The part of the policy a change replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "snake_case")]
pub enum PolicyContent {
    /// The whole rule book, with its own version.
    RuleBook(RuleBook),
    /// Years of the national calendar, each replacing the data of the year it names (the
    /// other years stay as they were).
    NationalCalendar {
        /// The calendar's version after the change.
        version: u32,
        /// The years given.
        data: CalendarData,
    },
    /// A region's changes to the calendar it inherits, replacing that region's earlier
    /// ones.
    RegionCalendar {
        /// The calendar's version after the change.
        version: u32,
        /// The region's changes.
        changes: RegionCalendar,
    },
}

impl PolicyContent {
    /// The part it changes, as operators name it.
    pub fn part(&self) -> &'static str {
        match self {
            PolicyContent::RuleBook(_) => "rule book",
            PolicyContent::NationalCalendar { .. } | PolicyContent::RegionCalendar { .. } => {
                "calendar"
            }
        }
    }

    /// The version of its part that it installs.
    pub fn version(&self) -> u32 {
        match self {
            PolicyContent::RuleBook(book) => book.version,
            PolicyContent::NationalCalendar { version, .. }
            | PolicyContent::RegionCalendar { version, .. } => *version,
        }
    }
}

/// One change of policy, as an operator made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChange {
    /// What it replaces.
    pub content: PolicyContent,
    /// Who made it (the principal).
    pub author: String,
    /// Why, as the history shows it.
    pub reason: String,
    /// The instant from which it applies.
    pub applies_from: Timestamp,
    /// Whether the open cases are re-timed by the changed calendar (a correction), rather
    /// than keeping the calendar their steps were timed by.
    pub retime_open_cases: bool,
}

/// The policy in force as its parts were given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySources {
    /// The rule book, with its version.
    pub rule_book: RuleBook,
    /// Raised by every calendar change, national or regional.
    pub calendar_version: u32,
    /// The national calendar's years, one entry per year.
    pub national: BTreeMap<i32, CalendarYear>,
    /// Each region's changes to the calendar it inherits.
    pub regions: BTreeMap<RegionCode, RegionCalendar>,
}

impl PolicySources {
    /// What a new log starts with: the default rule book (version 1) and the shipped
    /// national calendar (version 1).
    pub fn shipped() -> Self {
        Self {
            rule_book: RuleBook::default(),
            calendar_version: 1,
            national: CalendarData::national()
                .years
                .into_iter()
                .map(|year| (year.year, year))
                .collect(),
            regions: BTreeMap::new(),
        }
    }

    /// The policy the rules read.
    pub fn compile(&self) -> Result<Policy, PolicyError> {
        let data = CalendarData {
            years: self.national.values().cloned().collect(),
        };
        let regions: Vec<RegionCalendar> = self.regions.values().cloned().collect();
        let calendars =
            Calendars::new(WorkingCalendar::with_national_hours(&data)?).with_regions(&regions)?;
        Ok(Policy {
            calendars,
            rules: self.rule_book.clone(),
        })
    }

    /// Applies `change` and returns the policy it makes; refused whole, the sources left as
    /// they were, when the change or the policy it would make is not valid.
    pub fn apply(&mut self, change: &PolicyChange) -> Result<Policy, PolicyError> {
        if change.author.trim().is_empty() {
            return Err(PolicyError::NoAuthor);
        }
        if change.reason.trim().is_empty() {
            return Err(PolicyError::NoReason);
        }
        let in_force = match change.content {
            PolicyContent::RuleBook(_) => self.rule_book.version,
            _ => self.calendar_version,
        };
        let given = change.content.version();
        if given <= in_force {
            return Err(PolicyError::StaleVersion {
                part: change.content.part(),
                given,
                in_force,
            });
        }
        let mut next = self.clone();
        match &change.content {
            PolicyContent::RuleBook(book) => next.rule_book = book.clone(),
            PolicyContent::NationalCalendar { version, data } => {
                next.calendar_version = *version;
                for year in &data.years {
                    next.national.insert(year.year, year.clone());
                }
            }
            PolicyContent::RegionCalendar { version, changes } => {
                next.calendar_version = *version;
                next.regions.insert(changes.region.clone(), changes.clone());
            }
        }
        let policy = next.compile()?;
        *self = next;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests;
