-- Policy on the log: the policy each partition was folded by at its checkpoint (the rule
-- book and calendars in force and the changes held until their instant, as JSON), written
-- with the checkpoint by the batch that changed it; and every change of policy folded, with
-- what became of it (`applied`, `held`, or `refused` with the reason): the policy's history.
CREATE TABLE partition_policy (
    partition INTEGER NOT NULL PRIMARY KEY,
    snapshot  TEXT    NOT NULL
) STRICT;

CREATE TABLE policy_records (
    partition   INTEGER NOT NULL,
    log_offset  INTEGER NOT NULL,
    recorded_at TEXT    NOT NULL,
    change      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    reason      TEXT,
    PRIMARY KEY (partition, log_offset)
) STRICT, WITHOUT ROWID;
