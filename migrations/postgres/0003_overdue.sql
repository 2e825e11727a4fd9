-- Overdue cases, and the views' history for reports as of a past instant: the statistics
-- count open cases past their promised and legal limits (gauges, as +1/−1 changes like the
-- lights) and the working days completed cases used; and each case keeps when it was first
-- found past each limit (`Case::overdue_promised_at`, `Case::overdue_legal_at`, RFC 3339
-- text like the other instants), to list the cases open and past a limit at any instant.
-- The same logical schema as migrations/sqlite.

ALTER TABLE stats ADD COLUMN open_overdue_promised BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN open_overdue_legal BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats ADD COLUMN used_working_millidays BIGINT NOT NULL DEFAULT 0;

-- Views folded before this migration: the new counters stay 0 and the new case columns
-- NULL (the case states written then do not hold the instants either) until a rebuild
-- folds the log again and fills them.
ALTER TABLE cases ADD COLUMN overdue_promised_at TEXT COLLATE "C";
ALTER TABLE cases ADD COLUMN overdue_legal_at TEXT COLLATE "C";

-- Only the cases ever found past a limit, a small part of all, in case number order: the
-- open ones past it now, page by page, and those past it by an instant (the instant read
-- from the index).
CREATE INDEX cases_past_promised ON cases (case_no, overdue_promised_at)
WHERE overdue_promised_at IS NOT NULL;
CREATE INDEX cases_past_legal ON cases (case_no, overdue_legal_at)
WHERE overdue_legal_at IS NOT NULL;

-- Alert changes within a period.
CREATE INDEX alert_transitions_by_time ON alert_transitions (at);
