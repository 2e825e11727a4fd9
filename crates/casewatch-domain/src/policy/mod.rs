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
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};

use serde::{Deserialize, Serialize};

use crate::calendar::{
    CalendarData, CalendarError, CalendarYear, Calendars, RegionCalendar, WorkingCalendar,
};
use crate::case::Policy;
use crate::ids::RegionCode;
use crate::rulebook::{RuleBook, ThresholdPatch};
use crate::{Timestamp, ValidationError};

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

/// The parts of the policy a change can replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyPart {
    /// The rule book.
    RuleBook,
    /// Years of the national calendar.
    NationalCalendar,
    /// A region's changes to its calendar.
    RegionCalendar,
}

impl PolicyContent {
    /// Reads the TOML `document` of a `part` at `version`, every key known or refused. A
    /// rule book states its version itself, which must be `version`.
    pub fn parse(part: PolicyPart, version: u32, document: &str) -> Result<Self, ValidationError> {
        let syntax = |error: toml::de::Error| {
            ValidationError::new("document", error.message().trim_end().to_owned())
        };
        match part {
            PolicyPart::RuleBook => {
                let book: RuleBook = toml::from_str(document).map_err(syntax)?;
                if book.version != version {
                    return Err(ValidationError::new(
                        "version",
                        format!(
                            "is {version}, but the rule book says version = {}",
                            book.version
                        ),
                    ));
                }
                Ok(PolicyContent::RuleBook(book))
            }
            PolicyPart::NationalCalendar => Ok(PolicyContent::NationalCalendar {
                version,
                data: toml::from_str(document).map_err(syntax)?,
            }),
            PolicyPart::RegionCalendar => Ok(PolicyContent::RegionCalendar {
                version,
                changes: toml::from_str(document).map_err(syntax)?,
            }),
        }
    }

    /// Which part it replaces.
    pub fn kind(&self) -> PolicyPart {
        match self {
            PolicyContent::RuleBook(_) => PolicyPart::RuleBook,
            PolicyContent::NationalCalendar { .. } => PolicyPart::NationalCalendar,
            PolicyContent::RegionCalendar { .. } => PolicyPart::RegionCalendar,
        }
    }

    /// The part as a TOML document that [`parse`](Self::parse) reads back as it is.
    pub fn document(&self) -> String {
        let rendered = match self {
            PolicyContent::RuleBook(book) => toml::to_string(book),
            PolicyContent::NationalCalendar { data, .. } => toml::to_string(data),
            PolicyContent::RegionCalendar { changes, .. } => toml::to_string(changes),
        };
        rendered.expect("policy parts render as TOML")
    }

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

    /// The parts in force, each as the change that would install it: the rule book, the
    /// national calendar's years, and each region's changes.
    pub fn parts(&self) -> Vec<PolicyContent> {
        let mut parts = vec![
            PolicyContent::RuleBook(self.rule_book.clone()),
            PolicyContent::NationalCalendar {
                version: self.calendar_version,
                data: CalendarData {
                    years: self.national.values().cloned().collect(),
                },
            },
        ];
        parts.extend(
            self.regions
                .values()
                .map(|changes| PolicyContent::RegionCalendar {
                    version: self.calendar_version,
                    changes: changes.clone(),
                }),
        );
        parts
    }

    /// The part `change` replaces, as a document before it and after it: the rule book,
    /// the national calendar's years (the ones given replacing theirs), or the region's
    /// changes (none before its first). For showing an operator what a change changes.
    pub fn documents_changed(&self, change: &PolicyContent) -> (String, String) {
        let mut after = self.clone();
        match change {
            PolicyContent::RuleBook(book) => after.rule_book = book.clone(),
            PolicyContent::NationalCalendar { data, .. } => {
                for year in &data.years {
                    after.national.insert(year.year, year.clone());
                }
            }
            PolicyContent::RegionCalendar { changes, .. } => {
                after
                    .regions
                    .insert(changes.region.clone(), changes.clone());
            }
        }
        let document = |sources: &PolicySources| {
            sources
                .parts()
                .into_iter()
                .find(|part| match (part, change) {
                    (
                        PolicyContent::RegionCalendar { changes: held, .. },
                        PolicyContent::RegionCalendar { changes, .. },
                    ) => held.region == changes.region,
                    (part, change) => part.kind() == change.kind(),
                })
                .map(|part| part.document())
                .unwrap_or_default()
        };
        (document(self), document(&after))
    }

    /// The policy the rules read.
    pub fn compile(&self) -> Result<Policy, PolicyError> {
        let data = CalendarData {
            years: self.national.values().cloned().collect(),
        };
        let regions: Vec<RegionCalendar> = self.regions.values().cloned().collect();
        let calendars = Calendars::new(WorkingCalendar::with_national_hours(&data)?)
            .with_regions(&regions)?
            .with_version(self.calendar_version);
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

/// A partition's policy as saved: the parts in force and the changes held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    /// The parts in force, as given.
    pub sources: PolicySources,
    /// The changes received that do not apply yet, in the order received.
    pub pending: Vec<PolicyChange>,
}

/// How many days before the national calendar's data ends operators are told to add the
/// next year's: the State Council publishes a year's arrangement in November or December.
pub const CALENDAR_NOTICE_DAYS: i64 = 60;

/// What operators must be told about the calendar in force on `today`, if anything: that
/// its data ends within [`CALENDAR_NOTICE_DAYS`], or has ended and days are counted Monday
/// to Friday for want of it. With the days left (negative once past).
pub fn calendar_notice(policy: &Policy, today: NaiveDate) -> Option<(i64, String)> {
    let national = policy.calendars.national();
    match national.data_ends(today) {
        Some(ends) => {
            let left = (ends - today).num_days();
            (left <= CALENDAR_NOTICE_DAYS).then(|| {
                (
                    left,
                    format!(
                        "the national working calendar's data ends on {ends}, in {left} days: \
                         past it, days count Monday to Friday; add the next year's holidays \
                         (`casewatch policy apply FILE --part national-calendar`)"
                    ),
                )
            })
        }
        None => Some((
            -1,
            format!(
                "the national working calendar has no data for {}: days count Monday to \
                 Friday, holidays as working days; add the year's holidays \
                 (`casewatch policy apply FILE --part national-calendar`)",
                today.year()
            ),
        )),
    }
}

/// The policy a partition of the log is folded by: the one in force, and the changes it
/// received that apply from an instant its time has not reached. Changes apply in the
/// order they were received; one waits for those before it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyInForce {
    sources: PolicySources,
    pending: Vec<PolicyChange>,
    /// Thresholds tried over every rule book in force (what-if); `None` for the real run.
    trial: Option<ThresholdPatch>,
    policy: Arc<Policy>,
}

impl Default for PolicyInForce {
    fn default() -> Self {
        Self::shipped()
    }
}

impl PolicyInForce {
    /// The shipped policy, nothing pending: where every partition of a new log starts.
    pub fn shipped() -> Self {
        Self::restore(PolicySnapshot {
            sources: PolicySources::shipped(),
            pending: Vec::new(),
        })
        .expect("the shipped policy compiles")
    }

    /// The policy as a partition saves it.
    pub fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot {
            sources: self.sources.clone(),
            pending: self.pending.clone(),
        }
    }

    /// The policy a partition saved.
    pub fn restore(snapshot: PolicySnapshot) -> Result<Self, PolicyError> {
        let PolicySnapshot { sources, pending } = snapshot;
        let policy = Arc::new(sources.compile()?);
        Ok(Self {
            sources,
            pending,
            trial: None,
            policy,
        })
    }

    /// This policy with `patch` tried over the defaults of every rule book in force, now
    /// and after each change: the regions' and items' overrides still apply over them.
    pub fn with_trial(mut self, patch: ThresholdPatch) -> Self {
        self.trial = Some(patch);
        self.policy = Arc::new(self.tried(Policy::clone(&self.policy)));
        self
    }

    fn tried(&self, mut policy: Policy) -> Policy {
        if let Some(patch) = &self.trial {
            policy.rules.defaults = patch.apply(&policy.rules.defaults);
        }
        policy
    }

    /// The policy in force.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// The parts of the policy in force, as given.
    pub fn sources(&self) -> &PolicySources {
        &self.sources
    }

    /// The changes received that do not apply yet, in the order received.
    pub fn pending(&self) -> &[PolicyChange] {
        &self.pending
    }

    /// Receives `change` at the partition's time `now`: applies it if its instant has come
    /// and nothing received before it waits, else holds it. Refused, changing nothing, if
    /// its version does not follow the last one received for its part or the policy it
    /// would make is not valid. Returns whether the policy in force changed.
    pub fn receive(&mut self, change: PolicyChange, now: Timestamp) -> Result<bool, PolicyError> {
        let mut latest = self.sources.clone();
        for held in &self.pending {
            latest.apply(held)?;
        }
        latest.apply(&change)?;
        self.pending.push(change);
        Ok(self.reach(now))
    }

    /// Applies the changes held whose instant `now` has reached, in the order received.
    /// Returns whether the policy in force changed.
    pub fn reach(&mut self, now: Timestamp) -> bool {
        let due = self
            .pending
            .iter()
            .take_while(|change| change.applies_from <= now)
            .count();
        if due == 0 {
            return false;
        }
        let mut policy = None;
        for change in self.pending.drain(..due) {
            policy = Some(
                self.sources
                    .apply(&change)
                    .expect("a change is checked against what it follows when received"),
            );
        }
        if let Some(policy) = policy {
            self.policy = Arc::new(self.tried(policy));
        }
        true
    }
}

#[cfg(test)]
mod tests;
