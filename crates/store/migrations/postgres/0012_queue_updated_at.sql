-- When a queue was created or last changed: its routing (assignment method, operating hours, overflow, custom
-- rulesets) or its members (epoch milliseconds). As in 0009, the default only lets the column be added NOT NULL;
-- existing rows take their creation time, the last change the store knows of.
ALTER TABLE queues ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE queues SET updated_at = created_at;
