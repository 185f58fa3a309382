-- Supervisor analytics (docs/analytics.md): what the analytics worker counts from the conversation log, per
-- organization, queue and 15-minute interval (`start_at`, epoch milliseconds, a multiple of 900,000): conversations
-- that began waiting in the queue, those an agent took (with the sum and count of their waits, and how many within
-- the service-level threshold), and those closed while still waiting.
CREATE TABLE analytics_intervals (
    org_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    arrivals INTEGER NOT NULL,
    answered INTEGER NOT NULL,
    abandoned INTEGER NOT NULL,
    wait_ms_sum INTEGER NOT NULL,
    answered_in_target INTEGER NOT NULL,
    PRIMARY KEY (org_id, start_at, queue_id)
);

-- The conversations the worker has counted as arrived and not yet answered or abandoned, with the queue they wait
-- in and since when: a conversation back from an offer, or moved to another queue, is not a new arrival of the
-- same wait, and one closed while listed here was abandoned.
CREATE TABLE analytics_waits (
    conversation_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    since INTEGER NOT NULL
);

-- The worker's place in the log, moved in the transaction that adds what it counted: `event_id` is where a restart
-- reads again from, `high` the last id read and `awaited` (a JSON array) the ids below it that had not committed
-- yet (PostgreSQL), so that a restart counts each event once. `version` grows with every save: a worker whose save
-- finds another version stops, so that two nodes never both count.
CREATE TABLE analytics_cursor (
    name TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL,
    high INTEGER NOT NULL,
    awaited TEXT NOT NULL,
    version INTEGER NOT NULL
);
