-- One queue message carries a dataset run at a time. Each message names the chain value it was sent
-- under, and only a message with the run's current value goes on with it. Handing the run to the next
-- message and the cron sweep's re-send both add one, so an original message that arrives after the
-- sweep re-sent it (it waited in a backlog or in its retries) is acked without work instead of running
-- the rest of the run a second time (src/lib/datasets/store.ts, FIRST_CHAIN). Runs in flight when this
-- applies are at 0, the value of their messages, which were sent without one.
ALTER TABLE datasets ADD COLUMN chain INTEGER NOT NULL DEFAULT 0;
