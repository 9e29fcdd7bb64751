-- Each dataset image's token set kept in D1 next to its id, so the message that completes a run reads
-- the rows in pages of D1 queries instead of one R2 get per image: `tokens` holds the token set's GTOK
-- bytes (docs/token-format.md: little-endian header, tokens bit-packed LSB-first, CRC-32C trailer), the
-- same bytes as the R2 object tokens/<token_id>, written in the statement that sets token_id. Rows
-- recorded before this column existed keep it NULL and are read from R2.
ALTER TABLE dataset_images ADD COLUMN tokens BLOB;

-- When a queued or running run last showed life (Unix ms): set when the run starts, when a message
-- claims it and when a batch is recorded. The cron sweep re-sends the queue message of a run that has
-- not moved for ten minutes (its message was lost) and moves this to now in the same statement.
ALTER TABLE datasets ADD COLUMN progressed_at INTEGER;
CREATE INDEX datasets_active_progressed ON datasets (progressed_at) WHERE status IN ('queued', 'running');
-- Runs already queued or running when this migration applies count from now.
UPDATE datasets SET progressed_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000
  WHERE status IN ('queued', 'running');
