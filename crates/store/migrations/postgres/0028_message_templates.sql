-- Outbound message templates (issue 20): SMS and WhatsApp text in a default locale and localized versions, with
-- `{Placeholder}`s. A name names one in its organization, ignoring case. The versions are kept as JSON: they are
-- read and written whole, with the template.
CREATE TABLE message_templates (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    channel_type TEXT NOT NULL,
    default_locale TEXT NOT NULL,
    versions TEXT NOT NULL,
    placeholders TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX message_templates_name ON message_templates(org_id, name_key);
