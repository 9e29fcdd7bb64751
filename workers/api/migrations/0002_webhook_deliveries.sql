-- The webhook delivery log as an API (GET /v1/webhooks/deliveries), manual redeliveries and secret
-- rotation with an overlap window. Timestamps are Unix milliseconds.

-- Newest-first listing of a tenant's deliveries, keyset-paginated on (created_at, id).
CREATE INDEX webhook_deliveries_tenant_created ON webhook_deliveries (tenant_id, created_at DESC, id DESC);

-- When the queue sends the next attempt of a pending delivery (set when it is enqueued or retried,
-- null once it succeeded or failed).
ALTER TABLE webhook_deliveries ADD COLUMN next_attempt_at INTEGER;

-- 1 for an attempt sent by POST /v1/webhooks/deliveries/{id}/redeliver. Manual attempts are
-- numbered among themselves and do not use up the retry schedule.
ALTER TABLE webhook_attempts ADD COLUMN manual INTEGER NOT NULL DEFAULT 0;

-- The secret replaced by the last rotation keeps signing (as a second signature) until it expires.
ALTER TABLE tenants ADD COLUMN previous_webhook_secret TEXT;
ALTER TABLE tenants ADD COLUMN previous_webhook_secret_expires_at INTEGER;
