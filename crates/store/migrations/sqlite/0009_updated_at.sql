-- When a workstream or channel was created or last changed by a PATCH that changed something (epoch milliseconds).
-- The default only lets the column be added NOT NULL to existing rows (SQLite cannot add the constraint later);
-- those rows take their creation time, the last change the store knows of; every insert and change sets it.
ALTER TABLE workstreams ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE workstreams SET updated_at = created_at;
ALTER TABLE channels ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE channels SET updated_at = created_at;
