-- Outbound configurations (issue 20): the channel and template a send goes through, named by one id
-- (`msdyn_ocoutboundconfigurationid`). A template or channel a configuration uses is not deleted from under it.
CREATE TABLE outbound_configs (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    show_in_timeline BOOLEAN NOT NULL,
    channel_type TEXT NOT NULL,
    channel_id TEXT NOT NULL REFERENCES channels(id),
    template_id TEXT NOT NULL REFERENCES message_templates(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX outbound_configs_name ON outbound_configs(org_id, name_key);
CREATE INDEX outbound_configs_template ON outbound_configs(template_id);
