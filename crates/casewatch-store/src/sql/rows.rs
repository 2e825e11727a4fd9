//! The row decoders: a row of the views read back into what the store's interface returns,
//! refused as corrupt where it does not read.

use casewatch_domain::Timestamp;
use casewatch_domain::alert::{Alert, AlertChange, Cause};
use casewatch_domain::case::Case;
use casewatch_domain::stats::{Counters, StatKey};

use super::{Columns, cursor_from, offset_from, partition_from};
use crate::codec::{corrupt, from_json, hash, parse_day, parse_enum, parse_text, parse_timestamp};
use crate::{
    AlertChangeRow, CaseRow, ChainLink, Checkpoint, CommittedAlert, Hash, Offset, Partition,
    PolicyOutcome, PolicyRecordRow, Position, Result, StepHash, StepRow,
};

pub(super) fn case_from_row(row: &impl Columns) -> Result<CaseRow> {
    let case: Case = from_json("case state", row.text("state")?)?;
    Ok(CaseRow {
        case,
        partition: partition_from(row.int("partition")?)?,
        chain_head: hash("case chain head", row.bytes("chain_head")?)?,
        light: parse_enum("case light", row.text("light")?)?,
        promised_due: optional_timestamp(row, "promised_due")?,
        legal_due: optional_timestamp(row, "legal_due")?,
        used_seconds: row.int("used_seconds")?,
        paused: row.flag("paused")?,
        as_of: parse_timestamp("case as_of", row.text("as_of")?)?,
    })
}

pub(super) fn policy_record_from_row(row: &impl Columns) -> Result<PolicyRecordRow> {
    let outcome = match row.text("outcome")? {
        "applied" => PolicyOutcome::Applied,
        "held" => PolicyOutcome::Held,
        "refused" => {
            PolicyOutcome::Refused(row.optional_text("reason")?.unwrap_or_default().to_owned())
        }
        other => return Err(corrupt("policy outcome", other.to_owned())),
    };
    Ok(PolicyRecordRow {
        position: position_from_row(row)?,
        recorded_at: parse_timestamp("policy recorded_at", row.text("recorded_at")?)?,
        change: from_json("policy change", row.text("change")?)?,
        outcome,
    })
}

pub(super) fn step_from_row(row: &impl Columns) -> Result<StepRow> {
    Ok(StepRow {
        case_no: parse_text("step case_no", row.text("case_no")?)?,
        position: position_from_row(row)?,
        seq: row
            .optional_int("seq")?
            .map(|seq| u32::try_from(seq).map_err(|_| corrupt("step seq", seq.to_string())))
            .transpose()?,
        kind: parse_text("step kind", row.text("kind")?)?,
        recorded_at: parse_timestamp("step recorded_at", row.text("recorded_at")?)?,
        disposition: parse_enum("step disposition", row.text("disposition")?)?,
        hash: hash("step hash", row.bytes("hash")?)?,
        previous_hash: hash("step previous hash", row.bytes("previous_hash")?)?,
    })
}

/// The archive rows of a page aggregated by `step_hashes`: offsets and case numbers
/// separated by spaces (case numbers hold no whitespace), hashes back to back.
pub(super) fn step_hash_page(partition: Partition, row: &impl Columns) -> Result<Vec<StepHash>> {
    const WHAT: &str = "step hash page";
    let steps = row.int("steps")?;
    if steps == 0 {
        return Ok(Vec::new());
    }
    let offsets = page_offsets(WHAT, steps, row.text("offsets")?)?;
    let case_nos: Vec<&str> = row.text("case_nos")?.split(' ').collect();
    if case_nos.len() != offsets.len() {
        return Err(corrupt(WHAT, format!("{steps} case numbers do not split")));
    }
    let hashes = page_hashes(WHAT, offsets.len(), row.bytes("hashes")?)?;
    let previous = page_hashes(WHAT, offsets.len(), row.bytes("previous_hashes")?)?;
    offsets
        .into_iter()
        .zip(case_nos)
        .zip(hashes.zip(previous))
        .map(|((offset, case_no), (hash, previous_hash))| {
            Ok(StepHash {
                position: Position { partition, offset },
                case_no: parse_text("step case_no", case_no)?,
                hash: hash?,
                previous_hash: previous_hash?,
            })
        })
        .collect()
}

/// The chain links of a page aggregated by `chain_links`: offsets separated by spaces,
/// hashes back to back.
pub(super) fn chain_link_page(partition: Partition, row: &impl Columns) -> Result<Vec<ChainLink>> {
    const WHAT: &str = "chain link page";
    let links = row.int("links")?;
    if links == 0 {
        return Ok(Vec::new());
    }
    let offsets = page_offsets(WHAT, links, row.text("offsets")?)?;
    let hashes = page_hashes(WHAT, offsets.len(), row.bytes("hashes")?)?;
    offsets
        .into_iter()
        .zip(hashes)
        .map(|(offset, hash)| {
            Ok(ChainLink {
                position: Position { partition, offset },
                hash: hash?,
            })
        })
        .collect()
}

/// The offsets of an aggregated page of `rows` rows. Offsets that do not rise would mean
/// the rows were aggregated out of order.
fn page_offsets(what: &'static str, rows: i64, offsets: &str) -> Result<Vec<Offset>> {
    let mut parsed: Vec<Offset> = Vec::new();
    for offset in offsets.split(' ') {
        let offset: Offset = offset
            .parse()
            .map_err(|_| corrupt("log offset", offset.to_owned()))?;
        if parsed.last().is_some_and(|last| *last >= offset) {
            return Err(corrupt(what, format!("offset {offset} out of order")));
        }
        parsed.push(offset);
    }
    if i64::try_from(parsed.len()).ok() != Some(rows) {
        return Err(corrupt(what, format!("{rows} offsets do not split")));
    }
    Ok(parsed)
}

/// `count` hashes stored back to back.
fn page_hashes(
    what: &'static str,
    count: usize,
    bytes: &[u8],
) -> Result<impl Iterator<Item = Result<Hash>>> {
    if bytes.len() != count * 32 {
        return Err(corrupt(what, format!("{count} hashes do not split")));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(move |chunk| hash("hash in a page", chunk)))
}

/// An alert change from the `TRANSITION_COLUMNS` of a row.
pub(super) fn committed_from_row(row: &impl Columns) -> Result<CommittedAlert> {
    let alert: Alert = from_json("alert", row.text("alert")?)?;
    let previous = match (
        row.optional_text("previous_state")?,
        row.optional_text("previous_level")?,
    ) {
        (Some(state), Some(level)) => Some((
            parse_enum("alert previous state", state)?,
            parse_enum("alert previous level", level)?,
        )),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "alert transition",
                "previous state and level must be both present or both absent",
            ));
        }
    };
    let cause: Cause = from_json("alert cause", row.text("cause")?)?;
    Ok(CommittedAlert {
        cursor: cursor_from(row.int("cursor")?)?,
        row: AlertChangeRow {
            change: AlertChange {
                alert,
                previous,
                cause,
                at: parse_timestamp("alert change at", row.text("at")?)?,
            },
            position: position_from_row(row)?,
        },
    })
}

pub(super) fn checkpoint_from_row(row: &impl Columns) -> Result<Checkpoint> {
    Ok(Checkpoint {
        partition: partition_from(row.int("partition")?)?,
        next_offset: offset_from("checkpoint offset", row.int("next_offset")?)?,
        chain_hash: hash("partition chain hash", row.bytes("chain_hash")?)?,
        clock: optional_timestamp(row, "clock")?,
    })
}

pub(super) fn stat_from_row(row: &impl Columns) -> Result<(StatKey, Counters)> {
    let key = StatKey {
        day: parse_day(row.text("day")?)?,
        region_code: parse_text("stats region code", row.text("region_code")?)?,
        dept_code: parse_text("stats department code", row.text("dept_code")?)?,
        item_code: parse_text("stats item code", row.text("item_code")?)?,
    };
    let values = Counters::NAMES
        .iter()
        .map(|name| row.int(name))
        .collect::<Result<Vec<i64>>>()?;
    Ok((key, Counters::from_values(&values)))
}

pub(super) fn optional_timestamp(
    row: &impl Columns,
    column: &'static str,
) -> Result<Option<Timestamp>> {
    row.optional_text(column)?
        .map(|text| parse_timestamp(column, text))
        .transpose()
}

pub(super) fn position_from_row(row: &impl Columns) -> Result<Position> {
    Ok(Position {
        partition: partition_from(row.int("partition")?)?,
        offset: offset_from("log offset", row.int("log_offset")?)?,
    })
}
