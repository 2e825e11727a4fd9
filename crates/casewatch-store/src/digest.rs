//! The canonical encoding behind [`ViewStore::digest`](crate::ViewStore::digest), shared by
//! every backend so that the same logical views give the same digest whatever stores them.
//!
//! A backend reads its views section by section, in the order of [`Section`], and feeds
//! the rows to a [`ViewDigest`] in the order each method documents. Orders compare text and
//! bytes bytewise (SQLite's `BINARY`; PostgreSQL needs `COLLATE "C"`) and never involve
//! positions, cursors or anything else that depends on how the log was cut into batches or
//! in which order partitions were committed. The digest refuses rows that arrive out of
//! order rather than silently hashing a different sequence.
//!
//! Domain values (a case's state, an alert, a transition) are hashed as their `serde_json`
//! encoding after decoding them, so the digest follows the logical value rather than the
//! bytes a backend happened to keep (PostgreSQL's `jsonb` reorders keys).

use casewatch_domain::alert::{Alert, AlertChange};
use casewatch_domain::case::Case;
use casewatch_domain::stats::{Counters, StatKey};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::{Hash, Result, StepRow, StoreError};

/// The sections of the digest, in the order they are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Cases,
    Steps,
    Alerts,
    Transitions,
    Refusals,
    Quarantine,
    Statistics,
}

impl Section {
    const ALL: [Section; 7] = [
        Section::Cases,
        Section::Steps,
        Section::Alerts,
        Section::Transitions,
        Section::Refusals,
        Section::Quarantine,
        Section::Statistics,
    ];

    fn name(self) -> &'static str {
        match self {
            Section::Cases => "cases",
            Section::Steps => "steps",
            Section::Alerts => "alerts",
            Section::Transitions => "alert_transitions",
            Section::Refusals => "refusals",
            Section::Quarantine => "quarantine",
            Section::Statistics => "stats",
        }
    }
}

/// A part of a row's sort key; a key compares as a tuple of parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KeyPart {
    Bytes(Vec<u8>),
    OptionalBytes(Option<Vec<u8>>),
    OptionalInt(Option<i64>),
}

/// Computes the view digest from rows fed in canonical order.
#[derive(Debug)]
pub struct ViewDigest {
    hasher: Sha256,
    /// The index in [`Section::ALL`] of the next section to open.
    next_section: usize,
    current: Option<Section>,
    rows: u64,
    last_key: Option<Vec<KeyPart>>,
}

impl Default for ViewDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl ViewDigest {
    /// Encoding version: changes whenever the encoding does.
    const HEADER: &'static [u8] = b"casewatch-view-digest-v2";

    /// An empty digest.
    pub fn new() -> Self {
        let mut hasher = Sha256::new();
        hasher.update(Self::HEADER);
        Self {
            hasher,
            next_section: 0,
            current: None,
            rows: 0,
            last_key: None,
        }
    }

    /// A case, by case number: the number, the chain head and the state.
    pub fn case(&mut self, case: &Case, chain_head: &Hash) -> Result<()> {
        self.row(
            Section::Cases,
            vec![KeyPart::Bytes(case.case_no.as_str().as_bytes().to_vec())],
            true,
        )?;
        self.text(case.case_no.as_str());
        self.bytes(chain_head);
        self.json(case)
    }

    /// An archived record, by `(case_no, hash, previous_hash, kind, seq (absent first),
    /// recorded_at, disposition)`; its position is left out.
    pub fn step(&mut self, step: &StepRow) -> Result<()> {
        let recorded_at = crate::codec::timestamp_text(&step.recorded_at);
        let disposition = crate::codec::enum_text(&step.disposition)?;
        let key = vec![
            KeyPart::Bytes(step.case_no.as_str().as_bytes().to_vec()),
            KeyPart::Bytes(step.hash.to_vec()),
            KeyPart::Bytes(step.previous_hash.to_vec()),
            KeyPart::Bytes(step.kind.as_str().as_bytes().to_vec()),
            KeyPart::OptionalInt(step.seq.map(i64::from)),
            KeyPart::Bytes(recorded_at.as_bytes().to_vec()),
            KeyPart::Bytes(disposition.as_bytes().to_vec()),
        ];
        self.row(Section::Steps, key, false)?;
        self.text(step.case_no.as_str());
        self.bytes(&step.hash);
        self.bytes(&step.previous_hash);
        self.text(step.kind.as_str());
        self.optional_int(step.seq.map(i64::from));
        self.text(&recorded_at);
        self.text(&disposition);
        Ok(())
    }

    /// The current state of an alert, by alert id (its text form).
    pub fn alert(&mut self, alert: &Alert) -> Result<()> {
        let id = alert.id.to_string();
        self.row(
            Section::Alerts,
            vec![KeyPart::Bytes(id.as_bytes().to_vec())],
            true,
        )?;
        self.text(&id);
        self.json(alert)
    }

    /// One change of an alert, by alert id and then in the order the changes happened
    /// (a change's cursor and position are left out; within one alert, cursor order is the
    /// order of its changes on the log).
    pub fn transition(&mut self, change: &AlertChange) -> Result<()> {
        let id = change.alert.id.to_string();
        self.row(
            Section::Transitions,
            vec![KeyPart::Bytes(id.as_bytes().to_vec())],
            false,
        )?;
        self.text(&id);
        self.json(change)
    }

    /// A refused supervision action, by `(alert_id, principal, reason)`; its position is
    /// left out.
    pub fn refusal(&mut self, alert_id: &str, principal: &str, reason: &str) -> Result<()> {
        let key = [alert_id, principal, reason]
            .iter()
            .map(|part| KeyPart::Bytes(part.as_bytes().to_vec()))
            .collect();
        self.row(Section::Refusals, key, false)?;
        self.text(alert_id);
        self.text(principal);
        self.text(reason);
        Ok(())
    }

    /// A quarantined record, by `(bytes, reason, case_no (absent first))`; its position
    /// is left out.
    pub fn quarantined(&mut self, reason: &str, bytes: &[u8], case_no: Option<&str>) -> Result<()> {
        let key = vec![
            KeyPart::Bytes(bytes.to_vec()),
            KeyPart::Bytes(reason.as_bytes().to_vec()),
            KeyPart::OptionalBytes(case_no.map(|case_no| case_no.as_bytes().to_vec())),
        ];
        self.row(Section::Quarantine, key, false)?;
        self.bytes(bytes);
        self.text(reason);
        match case_no {
            None => self.hasher.update([0]),
            Some(case_no) => {
                self.hasher.update([1]);
                self.text(case_no);
            }
        }
        Ok(())
    }

    /// The counters of one key, by `(day, region_code, dept_code, item_code)`. All-zero
    /// counters are skipped: a key whose changes cancel out is no content.
    pub fn statistic(&mut self, key: &StatKey, counters: &Counters) -> Result<()> {
        if counters.is_zero() {
            return Ok(());
        }
        let day = crate::codec::day_text(key.day);
        let parts = [
            day.as_str(),
            key.region_code.as_str(),
            key.dept_code.as_str(),
            key.item_code.as_str(),
        ];
        self.row(
            Section::Statistics,
            parts
                .iter()
                .map(|part| KeyPart::Bytes(part.as_bytes().to_vec()))
                .collect(),
            true,
        )?;
        for part in parts {
            self.text(part);
        }
        for value in counters.values() {
            self.hasher.update(value.to_be_bytes());
        }
        Ok(())
    }

    /// Closes every section and returns the digest.
    pub fn finish(mut self) -> Hash {
        self.enter(None);
        self.hasher.finalize().into()
    }

    /// Starts a row of `section`, checking that it follows the previous row's key
    /// (strictly when keys are unique).
    fn row(&mut self, section: Section, key: Vec<KeyPart>, unique: bool) -> Result<()> {
        if self.current != Some(section) {
            if self.current.is_some_and(|current| current > section) {
                return Err(out_of_order(section, "its section was already closed"));
            }
            self.enter(Some(section));
        }
        if let Some(last) = &self.last_key {
            let in_order = if unique { *last < key } else { *last <= key };
            if !in_order {
                return Err(out_of_order(section, "rows are not in canonical order"));
            }
        }
        self.last_key = Some(key);
        self.rows += 1;
        Ok(())
    }

    /// Closes the open section and every empty one before `section` (or all when `None`),
    /// and opens `section`.
    fn enter(&mut self, section: Option<Section>) {
        let upto = section.map_or(Section::ALL.len(), |section| section as usize);
        if self.current.is_some() {
            self.close();
        }
        while self.next_section < upto {
            let empty = Section::ALL[self.next_section];
            self.open(empty);
            self.close();
        }
        if let Some(section) = section {
            self.open(section);
        }
    }

    fn open(&mut self, section: Section) {
        self.text(section.name());
        self.current = Some(section);
        self.next_section = section as usize + 1;
        self.rows = 0;
        self.last_key = None;
    }

    fn close(&mut self) {
        self.hasher.update(self.rows.to_be_bytes());
        self.current = None;
    }

    fn bytes(&mut self, bytes: &[u8]) {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.hasher.update(len.to_be_bytes());
        self.hasher.update(bytes);
    }

    fn text(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    fn optional_int(&mut self, value: Option<i64>) {
        match value {
            None => self.hasher.update([0]),
            Some(value) => {
                self.hasher.update([1]);
                self.hasher.update(value.to_be_bytes());
            }
        }
    }

    fn json(&mut self, value: &impl Serialize) -> Result<()> {
        let encoded = serde_json::to_vec(value).map_err(|error| StoreError::Corrupt {
            what: "digest input",
            reason: error.to_string(),
        })?;
        self.bytes(&encoded);
        Ok(())
    }
}

fn out_of_order(section: Section, reason: &str) -> StoreError {
    StoreError::Corrupt {
        what: "digest input",
        reason: format!("`{}` {reason}", section.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sections_are_hashed_the_same_whether_touched_or_not() {
        let mut touched = ViewDigest::new();
        touched
            .quarantined("bad", b"one", None)
            .expect("a first row is in order");
        touched
            .quarantined("bad", b"two", None)
            .expect("bytes sort after");
        let mut direct = ViewDigest::new();
        direct.quarantined("bad", b"one", None).expect("in order");
        direct.quarantined("bad", b"two", None).expect("in order");
        assert_eq!(touched.finish(), direct.finish());
        assert_ne!(ViewDigest::new().finish(), {
            let mut other = ViewDigest::new();
            other.refusal("a", "b", "c").expect("in order");
            other.finish()
        });
    }

    #[test]
    fn rows_out_of_order_are_refused() {
        let mut digest = ViewDigest::new();
        digest.quarantined("bad", b"two", None).expect("in order");
        assert!(digest.quarantined("bad", b"one", None).is_err());

        let mut digest = ViewDigest::new();
        digest.quarantined("bad", b"one", None).expect("in order");
        assert!(
            digest.refusal("a", "b", "c").is_err(),
            "sections go forward only"
        );
    }
}
