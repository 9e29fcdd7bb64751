-- Progress of a generation job that runs as several backend calls (chunks): how many of its images
-- are finished, and the token set ids of those images, written in one fenced UPDATE after each chunk,
-- so a retry resumes after the last finished chunk instead of redoing it. The image count itself is
-- the length of params.class_ids.

ALTER TABLE jobs ADD COLUMN images_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN done_token_ids TEXT;   -- JSON array: token set id of images 0..images_done-1
ALTER TABLE jobs ADD COLUMN chunk_recorded_at INTEGER;  -- when the last chunk was recorded (the cron sweep's clock)

-- Jobs that succeeded before this migration finished all their images.
UPDATE jobs SET images_done = json_array_length(params, '$.class_ids') WHERE status = 'succeeded';
