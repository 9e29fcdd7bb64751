-- GigaTok Edge API state in D1: tenants and their API keys, object ownership, generation jobs,
-- idempotency keys, webhook deliveries and their attempts. Timestamps are Unix milliseconds.

CREATE TABLE tenants (
  id TEXT PRIMARY KEY,                       -- ten_<32 base32>
  name TEXT NOT NULL,
  webhook_secret TEXT NOT NULL,              -- whsec_<base64 24 bytes> (Standard Webhooks)
  created_at INTEGER NOT NULL
);

-- The secret is never stored: only its hex SHA-256 (a high-entropy key needs no slow hash).
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,                       -- key_<32 base32>
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  key_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,                      -- first characters, to recognise a key in listings
  name TEXT,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Blobs in R2 are content-addressed and shared; this table says which tenant may read which id,
-- so another tenant's id answers 404 even though the blob exists.
CREATE TABLE objects (
  tenant_id TEXT NOT NULL,
  object_id TEXT NOT NULL,                   -- tok_… or img_…
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, object_id)
) WITHOUT ROWID;

CREATE TABLE jobs (
  id TEXT PRIMARY KEY,                       -- job_<32 base32>
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
  model TEXT NOT NULL,
  params TEXT NOT NULL,                      -- JSON: resolved parameters, seed included
  params_key TEXT NOT NULL,                  -- gpk_…
  webhook_url TEXT,
  webhook_events TEXT,                       -- JSON array of event types
  cached INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,       -- claims by a consumer; also the fencing token
  lease_until INTEGER,                       -- a running job whose lease expired may be reclaimed
  error TEXT,                                -- JSON problem (RFC 9457)
  result TEXT,                               -- JSON { images: [...] }
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER
);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at DESC, id DESC);
CREATE INDEX jobs_tenant_status ON jobs (tenant_id, status);

CREATE TABLE idempotency_keys (
  tenant_id TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,                -- hex SHA-256 of the canonical request body
  job_id TEXT NOT NULL REFERENCES jobs (id),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;

-- One row per event to deliver; its id is the Standard Webhooks `webhook-id`, the same on every
-- retry so receivers can deduplicate.
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,                       -- msg_<32 base32>
  tenant_id TEXT NOT NULL REFERENCES tenants (id),
  job_id TEXT NOT NULL REFERENCES jobs (id),
  event_type TEXT NOT NULL,
  url TEXT NOT NULL,
  payload TEXT NOT NULL,                     -- the exact JSON body, signed anew on each attempt
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  completed_at INTEGER,
  UNIQUE (job_id, event_type)
);
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id);

CREATE TABLE webhook_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
  attempt INTEGER NOT NULL,
  status_code INTEGER,                       -- null when no response came back
  error TEXT,
  duration_ms INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
