-- The views of Casewatch, folded from the log by the projector, one transaction per batch.
--
-- Timestamps are RFC 3339 text in UTC with nanoseconds (`2026-03-02T01:00:00.000000000Z`):
-- fixed width, so they sort as text, and exact, so rows read back equal what was written.
-- Days are `YYYY-MM-DD`. Hashes are 32-byte BLOBs. Enumerations are their serde names.
-- JSON columns hold the serde encoding of the domain value and are the source of truth
-- when a row is read back; the other columns exist to filter and sort.

-- One row per case: the domain state and what the projector derived from it.
CREATE TABLE cases (
    case_no      TEXT    NOT NULL PRIMARY KEY,
    partition    INTEGER NOT NULL,
    region_code  TEXT    NOT NULL,
    dept_code    TEXT    NOT NULL,
    item_code    TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    case_type    TEXT,
    light        TEXT    NOT NULL,
    accepted_at  TEXT,
    ended_at     TEXT,
    promised_due TEXT,
    legal_due    TEXT,
    used_seconds INTEGER NOT NULL,
    paused       INTEGER NOT NULL,
    open_alerts  INTEGER NOT NULL,
    -- The contiguous prefix of step numbers applied (`Case::applied_through`).
    last_seq     INTEGER NOT NULL,
    held_count   INTEGER NOT NULL,
    chain_head   BLOB    NOT NULL,
    as_of        TEXT    NOT NULL,
    state        TEXT    NOT NULL
) STRICT;

CREATE INDEX cases_by_partition ON cases (partition);
CREATE INDEX cases_by_dept ON cases (dept_code, case_no);

-- The per-case archive: every record of a case (steps and supervision actions), at its
-- position on the log, with the case's hash chain.
CREATE TABLE steps (
    partition     INTEGER NOT NULL,
    log_offset    INTEGER NOT NULL,
    case_no       TEXT    NOT NULL,
    seq           INTEGER,
    kind          TEXT    NOT NULL,
    recorded_at   TEXT    NOT NULL,
    disposition   TEXT    NOT NULL,
    hash          BLOB    NOT NULL,
    previous_hash BLOB    NOT NULL,
    PRIMARY KEY (partition, log_offset)
) STRICT, WITHOUT ROWID;

CREATE INDEX steps_by_case ON steps (case_no, partition, log_offset);

-- Held steps (ahead of a gap) and where they lie on the log.
CREATE TABLE pending_steps (
    case_no    TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    partition  INTEGER NOT NULL,
    log_offset INTEGER NOT NULL,
    PRIMARY KEY (case_no, seq)
) STRICT, WITHOUT ROWID;

-- The current state of every alert. `cursor` is the cursor of its latest transition.
CREATE TABLE alerts (
    alert_id    TEXT    NOT NULL PRIMARY KEY,
    case_no     TEXT    NOT NULL,
    rule        TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    level       TEXT    NOT NULL,
    -- warning 0 < yellow 1 < red 2 < serious 3, for `min_level`.
    level_rank  INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    region_code TEXT    NOT NULL,
    dept_code   TEXT    NOT NULL,
    item_code   TEXT    NOT NULL,
    raised_at   TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    cursor      INTEGER NOT NULL,
    alert       TEXT    NOT NULL
) STRICT;

CREATE UNIQUE INDEX alerts_by_cursor ON alerts (cursor);
CREATE INDEX alerts_by_case ON alerts (case_no);

-- Every change of every alert, in commit order: what subscribers stream and resume from.
CREATE TABLE alert_transitions (
    cursor         INTEGER NOT NULL PRIMARY KEY,
    alert_id       TEXT    NOT NULL,
    at             TEXT    NOT NULL,
    previous_state TEXT,
    previous_level TEXT,
    state          TEXT    NOT NULL,
    level          TEXT    NOT NULL,
    level_rank     INTEGER NOT NULL,
    cause          TEXT    NOT NULL,
    partition      INTEGER NOT NULL,
    log_offset     INTEGER NOT NULL,
    -- The alert after the change.
    alert          TEXT    NOT NULL
) STRICT;

CREATE INDEX alert_transitions_by_alert ON alert_transitions (alert_id, cursor);

-- The next alert cursor. Updated inside every batch transaction that writes alert
-- changes, so cursors are handed out in commit order (DESIGN.md, the path of one event).
CREATE TABLE alert_cursor (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
    next INTEGER NOT NULL
) STRICT;

INSERT INTO alert_cursor (id, next) VALUES (0, 1);

-- Supervision actions the alert lifecycle refused.
CREATE TABLE refusals (
    partition  INTEGER NOT NULL,
    log_offset INTEGER NOT NULL,
    alert_id   TEXT    NOT NULL,
    principal  TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    PRIMARY KEY (partition, log_offset)
) STRICT, WITHOUT ROWID;

-- Records the projector could not read.
CREATE TABLE quarantine (
    partition  INTEGER NOT NULL,
    log_offset INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    bytes      BLOB    NOT NULL,
    PRIMARY KEY (partition, log_offset)
) STRICT;

-- Additive statistics per local day, region, department and item. One column per name in
-- `Counters::NAMES`, in that order (a unit test holds them equal).
CREATE TABLE stats (
    day                  TEXT    NOT NULL,
    region_code          TEXT    NOT NULL,
    dept_code            TEXT    NOT NULL,
    item_code            TEXT    NOT NULL,
    accepted             INTEGER NOT NULL DEFAULT 0,
    completed            INTEGER NOT NULL DEFAULT 0,
    completed_early      INTEGER NOT NULL DEFAULT 0,
    completed_on_time    INTEGER NOT NULL DEFAULT 0,
    completed_overdue    INTEGER NOT NULL DEFAULT 0,
    rejected             INTEGER NOT NULL DEFAULT 0,
    withdrawn            INTEGER NOT NULL DEFAULT 0,
    used_working_seconds INTEGER NOT NULL DEFAULT 0,
    open_green           INTEGER NOT NULL DEFAULT 0,
    open_yellow          INTEGER NOT NULL DEFAULT 0,
    open_red             INTEGER NOT NULL DEFAULT 0,
    warnings_raised      INTEGER NOT NULL DEFAULT 0,
    cards_raised         INTEGER NOT NULL DEFAULT 0,
    cards_revoked        INTEGER NOT NULL DEFAULT 0,
    cards_escalated      INTEGER NOT NULL DEFAULT 0,
    alerts_closed        INTEGER NOT NULL DEFAULT 0,
    queries              INTEGER NOT NULL DEFAULT 0,
    appeals              INTEGER NOT NULL DEFAULT 0,
    rating_1             INTEGER NOT NULL DEFAULT 0,
    rating_2             INTEGER NOT NULL DEFAULT 0,
    rating_3             INTEGER NOT NULL DEFAULT 0,
    rating_4             INTEGER NOT NULL DEFAULT 0,
    rating_5             INTEGER NOT NULL DEFAULT 0,
    decisions            INTEGER NOT NULL DEFAULT 0,
    direct_decisions     INTEGER NOT NULL DEFAULT 0,
    online_accepted      INTEGER NOT NULL DEFAULT 0,
    fees_charged_fen     INTEGER NOT NULL DEFAULT 0,
    fee_anomalies        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, region_code, dept_code, item_code)
) STRICT, WITHOUT ROWID;

-- How far the views have folded each partition, with the partition's running hash chain.
CREATE TABLE checkpoints (
    partition   INTEGER NOT NULL PRIMARY KEY,
    next_offset INTEGER NOT NULL,
    chain_hash  BLOB    NOT NULL
) STRICT;
