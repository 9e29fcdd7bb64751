-- The cron sweep's lookup of pending deliveries whose next attempt is overdue (their queue message
-- was lost): only pending rows are indexed, by when their next attempt was due.
CREATE INDEX webhook_deliveries_pending_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
