-- Overflow after queueing (reference §6.3, "wait time in queue exceeds"): when a conversation started waiting in its
-- current queue. `enqueued_at` is its arrival, which a transfer keeps so that it keeps its place; this one restarts
-- with a transfer or a return from an agent. NULL on rows written before it existed: `enqueued_at` stands in.
ALTER TABLE routing_items ADD COLUMN queue_since INTEGER;
