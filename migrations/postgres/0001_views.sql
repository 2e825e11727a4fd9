-- The views of Casewatch, folded from the log by the projectors, one transaction per batch.
-- The same logical schema as migrations/sqlite, written by the same statements.
--
-- Values are encoded as on SQLite, so that rows read back equal what was written and both
-- backends give the same digest: timestamps are RFC 3339 text in UTC with nanoseconds
-- (`2026-03-02T01:00:00.000000000Z`: fixed width, so they sort as text, and exact), days
-- are `YYYY-MM-DD`, hashes are 32-byte BYTEAs, enumerations are their serde names, and
-- integers are all BIGINT (the store reads every integer as a 64-bit one).
--
-- JSON columns hold the serde encoding of the domain value as TEXT, not JSONB: it is the
-- source of truth when a row is read back, kept byte for byte, and JSONB would refuse a
-- `\u0000` that a string from a county system may carry.
--
-- Every text column is `COLLATE "C"`: orders and comparisons are bytewise, as SQLite's
-- `BINARY` and the digest's canonical order are, whatever the database's locale, and a
-- plain B-tree index serves `LIKE 'prefix%'`.

-- One row per case: the domain state and what the projector derived from it.
CREATE TABLE cases (
    case_no      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    partition    BIGINT           NOT NULL,
    region_code  TEXT COLLATE "C" NOT NULL,
    dept_code    TEXT COLLATE "C" NOT NULL,
    item_code    TEXT COLLATE "C" NOT NULL,
    status       TEXT COLLATE "C" NOT NULL,
    case_type    TEXT COLLATE "C",
    light        TEXT COLLATE "C" NOT NULL,
    accepted_at  TEXT COLLATE "C",
    ended_at     TEXT COLLATE "C",
    promised_due TEXT COLLATE "C",
    legal_due    TEXT COLLATE "C",
    used_seconds BIGINT           NOT NULL,
    paused       BOOLEAN          NOT NULL,
    open_alerts  BIGINT           NOT NULL,
    -- The contiguous prefix of step numbers applied (`Case::applied_through`).
    last_seq     BIGINT           NOT NULL,
    held_count   BIGINT           NOT NULL,
    chain_head   BYTEA            NOT NULL,
    as_of        TEXT COLLATE "C" NOT NULL,
    state        TEXT COLLATE "C" NOT NULL
);

CREATE INDEX cases_by_partition ON cases (partition);
CREATE INDEX cases_by_dept ON cases (dept_code, case_no);
CREATE INDEX cases_by_region ON cases (region_code, case_no);

-- The per-case archive: every record of a case (steps and supervision actions), at its
-- position on the log, with the case's hash chain.
CREATE TABLE steps (
    partition     BIGINT           NOT NULL,
    log_offset    BIGINT           NOT NULL,
    case_no       TEXT COLLATE "C" NOT NULL,
    seq           BIGINT,
    kind          TEXT COLLATE "C" NOT NULL,
    recorded_at   TEXT COLLATE "C" NOT NULL,
    disposition   TEXT COLLATE "C" NOT NULL,
    hash          BYTEA            NOT NULL,
    previous_hash BYTEA            NOT NULL,
    PRIMARY KEY (partition, log_offset)
);

CREATE INDEX steps_by_case ON steps (case_no, partition, log_offset);

-- Held steps (ahead of a gap) and where they lie on the log.
CREATE TABLE pending_steps (
    case_no    TEXT COLLATE "C" NOT NULL,
    seq        BIGINT           NOT NULL,
    partition  BIGINT           NOT NULL,
    log_offset BIGINT           NOT NULL,
    PRIMARY KEY (case_no, seq)
);

-- The current state of every alert. `cursor` is the cursor of its latest transition.
CREATE TABLE alerts (
    alert_id    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    case_no     TEXT COLLATE "C" NOT NULL,
    rule        TEXT COLLATE "C" NOT NULL,
    category    TEXT COLLATE "C" NOT NULL,
    level       TEXT COLLATE "C" NOT NULL,
    -- warning 0 < yellow 1 < red 2 < serious 3, for `min_level`.
    level_rank  BIGINT           NOT NULL,
    state       TEXT COLLATE "C" NOT NULL,
    region_code TEXT COLLATE "C" NOT NULL,
    dept_code   TEXT COLLATE "C" NOT NULL,
    item_code   TEXT COLLATE "C" NOT NULL,
    raised_at   TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL,
    cursor      BIGINT           NOT NULL,
    alert       TEXT COLLATE "C" NOT NULL
);

CREATE UNIQUE INDEX alerts_by_cursor ON alerts (cursor);
CREATE INDEX alerts_by_case ON alerts (case_no);
CREATE INDEX alerts_by_region ON alerts (region_code);

-- Every change of every alert, in commit order: what subscribers stream and resume from.
CREATE TABLE alert_transitions (
    cursor         BIGINT           NOT NULL PRIMARY KEY,
    alert_id       TEXT COLLATE "C" NOT NULL,
    at             TEXT COLLATE "C" NOT NULL,
    previous_state TEXT COLLATE "C",
    previous_level TEXT COLLATE "C",
    state          TEXT COLLATE "C" NOT NULL,
    level          TEXT COLLATE "C" NOT NULL,
    level_rank     BIGINT           NOT NULL,
    cause          TEXT COLLATE "C" NOT NULL,
    partition      BIGINT           NOT NULL,
    log_offset     BIGINT           NOT NULL,
    -- The alert after the change.
    alert          TEXT COLLATE "C" NOT NULL
);

CREATE INDEX alert_transitions_by_alert ON alert_transitions (alert_id, cursor);

-- The next alert cursor. Bumped at the end of every batch transaction that writes alert
-- changes and locked until its commit, so cursors are handed out in commit order across
-- projector processes. Never a SEQUENCE: a value taken from one can become visible after a
-- larger one, and a subscriber resuming past it would skip it for ever.
CREATE TABLE alert_cursor (
    id   BIGINT NOT NULL PRIMARY KEY CHECK (id = 0),
    next BIGINT NOT NULL
);

INSERT INTO alert_cursor (id, next) VALUES (0, 1);

-- Supervision actions the alert lifecycle refused.
CREATE TABLE refusals (
    partition  BIGINT           NOT NULL,
    log_offset BIGINT           NOT NULL,
    alert_id   TEXT COLLATE "C" NOT NULL,
    principal  TEXT COLLATE "C" NOT NULL,
    reason     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (partition, log_offset)
);

-- Records the projector could not read.
CREATE TABLE quarantine (
    partition  BIGINT           NOT NULL,
    log_offset BIGINT           NOT NULL,
    reason     TEXT COLLATE "C" NOT NULL,
    bytes      BYTEA            NOT NULL,
    PRIMARY KEY (partition, log_offset)
);

-- Additive statistics per local day, region, department and item. One column per name in
-- `Counters::NAMES`, in that order (a test holds them equal).
CREATE TABLE stats (
    day                  TEXT COLLATE "C" NOT NULL,
    region_code          TEXT COLLATE "C" NOT NULL,
    dept_code            TEXT COLLATE "C" NOT NULL,
    item_code            TEXT COLLATE "C" NOT NULL,
    accepted             BIGINT NOT NULL DEFAULT 0,
    completed            BIGINT NOT NULL DEFAULT 0,
    completed_early      BIGINT NOT NULL DEFAULT 0,
    completed_on_time    BIGINT NOT NULL DEFAULT 0,
    completed_overdue    BIGINT NOT NULL DEFAULT 0,
    rejected             BIGINT NOT NULL DEFAULT 0,
    withdrawn            BIGINT NOT NULL DEFAULT 0,
    used_working_seconds BIGINT NOT NULL DEFAULT 0,
    open_green           BIGINT NOT NULL DEFAULT 0,
    open_yellow          BIGINT NOT NULL DEFAULT 0,
    open_red             BIGINT NOT NULL DEFAULT 0,
    warnings_raised      BIGINT NOT NULL DEFAULT 0,
    cards_raised         BIGINT NOT NULL DEFAULT 0,
    cards_revoked        BIGINT NOT NULL DEFAULT 0,
    cards_escalated      BIGINT NOT NULL DEFAULT 0,
    alerts_closed        BIGINT NOT NULL DEFAULT 0,
    queries              BIGINT NOT NULL DEFAULT 0,
    appeals              BIGINT NOT NULL DEFAULT 0,
    rating_1             BIGINT NOT NULL DEFAULT 0,
    rating_2             BIGINT NOT NULL DEFAULT 0,
    rating_3             BIGINT NOT NULL DEFAULT 0,
    rating_4             BIGINT NOT NULL DEFAULT 0,
    rating_5             BIGINT NOT NULL DEFAULT 0,
    decisions            BIGINT NOT NULL DEFAULT 0,
    direct_decisions     BIGINT NOT NULL DEFAULT 0,
    online_accepted      BIGINT NOT NULL DEFAULT 0,
    fees_charged_fen     BIGINT NOT NULL DEFAULT 0,
    fee_anomalies        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, region_code, dept_code, item_code)
);

-- How far the views have folded each partition, with the partition's running hash chain.
CREATE TABLE checkpoints (
    partition   BIGINT NOT NULL PRIMARY KEY,
    next_offset BIGINT NOT NULL,
    chain_hash  BYTEA  NOT NULL
);
