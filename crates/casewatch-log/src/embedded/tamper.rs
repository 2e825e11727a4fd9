//! Rewrites of a stopped embedded log's file behind its back, as someone with access to
//! the disk could make them: a byte of a record flipped, a record overwritten, removed or
//! swapped with another, a partition cut short. For the tests that check that verification names what
//! was done; built with the cargo feature `testsuite`, never in a shipped build.
//!
//! Each function opens the file in `dir` (no [`EmbeddedLog`](super::EmbeddedLog) may have
//! it open), changes it and panics, as tests do, if it cannot.

use std::path::Path;

use rusqlite::{Connection, params};

use super::DATABASE_FILE;
use super::schema::table;
use crate::{Offset, Position};

fn open(dir: &Path) -> Connection {
    Connection::open(dir.join(DATABASE_FILE)).expect("the log's file opens")
}

fn offset(offset: Offset) -> i64 {
    i64::try_from(offset).expect("an offset fits SQLite's integers")
}

/// The key and bytes of the record at `position`.
fn record(conn: &Connection, position: Position) -> (String, Vec<u8>) {
    conn.query_row(
        &format!(
            r#"SELECT key, bytes FROM {} WHERE "offset" = ?1"#,
            table(position.partition)
        ),
        [offset(position.offset)],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .unwrap_or_else(|error| panic!("no record at {position:?}: {error}"))
}

fn rewrite(conn: &Connection, position: Position, key: &str, bytes: &[u8]) {
    let changed = conn
        .execute(
            &format!(
                r#"UPDATE {} SET key = ?1, bytes = ?2 WHERE "offset" = ?3"#,
                table(position.partition)
            ),
            params![key, bytes, offset(position.offset)],
        )
        .expect("the record is rewritten");
    assert_eq!(changed, 1, "one record at {position:?}");
}

/// Flips the lowest bit of the last byte of the record at `position`.
pub fn flip_byte(dir: &Path, position: Position) {
    let conn = open(dir);
    let (key, mut bytes) = record(&conn, position);
    let last = bytes.last_mut().expect("a record has bytes");
    *last ^= 0x01;
    rewrite(&conn, position, &key, &bytes);
}

/// Replaces the bytes of the record at `position` with `bytes`, its key kept.
pub fn overwrite(dir: &Path, position: Position, bytes: &[u8]) {
    let conn = open(dir);
    let (key, _) = record(&conn, position);
    rewrite(&conn, position, &key, bytes);
}

/// Removes the record at `position`; the records after it keep their offsets.
pub fn remove(dir: &Path, position: Position) {
    let removed = delete(dir, position, "=");
    assert_eq!(removed, 1, "one record at {position:?}");
}

/// Swaps the records at `a` and `b` of one partition, key and bytes.
pub fn swap(dir: &Path, a: Position, b: Position) {
    assert_eq!(a.partition, b.partition, "records of one partition swap");
    let conn = open(dir);
    let (key_a, bytes_a) = record(&conn, a);
    let (key_b, bytes_b) = record(&conn, b);
    rewrite(&conn, a, &key_b, &bytes_b);
    rewrite(&conn, b, &key_a, &bytes_a);
}

/// Cuts the partition of `from` short: the record there and every later one are removed.
pub fn truncate(dir: &Path, from: Position) {
    let removed = delete(dir, from, ">=");
    assert!(removed > 0, "records at and after {from:?}");
}

/// Deletes the records of `at`'s partition whose offset stands in `relation` (`=`, `>=`)
/// to `at`'s; returns how many.
fn delete(dir: &Path, at: Position, relation: &str) -> usize {
    open(dir)
        .execute(
            &format!(
                r#"DELETE FROM {} WHERE "offset" {relation} ?1"#,
                table(at.partition)
            ),
            [offset(at.offset)],
        )
        .expect("the records are deleted")
}
