-- A quarantined record names the case its key names, when the key is a case number, so that
-- auditors can find a case's unreadable records; and the checkpoint keeps the partition's
-- time (the newest tick or record time folded), so that a projector resuming from it tells
-- the time exactly as one that never stopped: an unreadable record is alerted at that time.

ALTER TABLE quarantine ADD COLUMN case_no TEXT;

ALTER TABLE checkpoints ADD COLUMN clock TEXT;

-- Views folded before this migration: the newest record time archived on the partition.
-- Ticks were not kept, so this can be earlier than the time a rebuild will tell, until the
-- next tick or record moves it on.
UPDATE checkpoints
SET clock = (SELECT max(recorded_at) FROM steps WHERE steps.partition = checkpoints.partition);
