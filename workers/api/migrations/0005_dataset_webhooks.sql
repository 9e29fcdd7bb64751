-- Webhooks of dataset runs: a dataset keeps the webhook it was created with, and a delivery is the
-- event of either a generation job (job_id) or a dataset run (dataset_id, run_seq).

ALTER TABLE datasets ADD COLUMN webhook_url TEXT;
ALTER TABLE datasets ADD COLUMN webhook_events TEXT;  -- JSON array of event types

-- SQLite cannot relax job_id's NOT NULL in place, so webhook_deliveries is rebuilt (the procedure of
-- https://www.sqlite.org/lang_altertable.html#otheralter): create, copy, drop, rename, re-index.
-- webhook_attempts references the table by name and holds rows during the swap, so the foreign key
-- check waits for the end of the migration's transaction.
PRAGMA defer_foreign_keys = true;

CREATE TABLE webhook_deliveries_new (
  id TEXT PRIMARY KEY,                       -- msg_<32 base32>
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  job_id TEXT REFERENCES jobs (id),          -- a generation's event
  dataset_id TEXT REFERENCES datasets (id),  -- or a dataset run's event
  run_seq INTEGER,                           -- the dataset's run_seq when the run ended
  event_type TEXT NOT NULL,
  url TEXT NOT NULL,
  payload TEXT NOT NULL,                     -- the exact JSON body, signed anew on each attempt
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  completed_at INTEGER,
  next_attempt_at INTEGER,
  CHECK ((job_id IS NULL) != (dataset_id IS NULL)),
  CHECK ((dataset_id IS NULL) = (run_seq IS NULL)),
  -- One delivery per event of a job, and per event of each run of a dataset (a failed or canceled
  -- dataset can run again): a consumer that runs twice enqueues it once.
  UNIQUE (job_id, event_type),
  UNIQUE (dataset_id, run_seq, event_type)
);

INSERT INTO webhook_deliveries_new
  (id, tenant_id, job_id, event_type, url, payload, status, attempts, created_at, completed_at, next_attempt_at)
SELECT id, tenant_id, job_id, event_type, url, payload, status, attempts, created_at, completed_at, next_attempt_at
FROM webhook_deliveries;

DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_new RENAME TO webhook_deliveries;

CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id);
CREATE INDEX webhook_deliveries_dataset ON webhook_deliveries (dataset_id);
CREATE INDEX webhook_deliveries_tenant_created ON webhook_deliveries (tenant_id, created_at DESC, id DESC);

PRAGMA defer_foreign_keys = false;
