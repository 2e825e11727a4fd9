-- A link of each partition's running hash chain (as in `checkpoints.chain_hash`) after
-- every record no case's archive holds: clock ticks, and records about no case the views
-- know. With the archive's case chains it gives every record folded a hash of its own, so
-- that verification names the very record that was changed, removed or moved, not only the
-- checkpoint after it. Views folded before this migration have no link for their earlier
-- records: those are checked through their partition's checkpoint alone.
CREATE TABLE chain_links (
    partition  BIGINT NOT NULL,
    log_offset BIGINT NOT NULL,
    hash       BYTEA  NOT NULL,
    PRIMARY KEY (partition, log_offset)
);
