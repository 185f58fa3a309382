-- An organization's `routing.assigned` events since a time: what a periodic capacity profile's use is rebuilt
-- from (`routing_config::assignments_since`). Without it the rebuild read every event the organization ever had.
-- Partial: PostgreSQL plans partial indexes without SQLite's re-preparing (see SQLite's 0013), so only the entries
-- the rebuild reads are indexed and every other event is written without touching it.
CREATE INDEX events_assigned_org_time ON events(org_id, created_at) WHERE event_type = 'routing.assigned';
