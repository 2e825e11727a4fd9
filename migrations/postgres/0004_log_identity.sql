-- The log these views are folded from (`EventLog::identity`): a node pointed at views of
-- another log refuses to start and says which log they belong to. Views folded before this
-- migration take the identity of the first log that opens them, once their checkpoints are
-- found within that log.
CREATE TABLE log_identity (
    id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
    identity TEXT    NOT NULL
);
