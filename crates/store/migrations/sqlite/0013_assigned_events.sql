-- An organization's `routing.assigned` events since a time: what a periodic capacity profile's use is rebuilt
-- from (`routing_config::assignments_since`). Without it the rebuild read every event the organization ever had
-- through `events_org`.
-- Keyed on an expression that only that statement writes, so that no other statement's plan can change: with
-- no statistics, SQLite's planner prefers an index on (org_id, event_type, created_at) to the conversation's
-- log for a conversation's messages, and would read all of an organization's messages to list one
-- conversation's. Not a partial index either: as 0001 says, SQLite re-prepares, on every execution, a statement
-- that binds the column a partial index's condition names, and the log's messages are read by a bound
-- `event_type`. Other events' entries are a NULL key and a time.
CREATE INDEX events_assigned_org_time
    ON events((CASE WHEN event_type = 'routing.assigned' THEN org_id END), created_at);
