-- Messages a channel's provider accepted, by the provider's id for them (issue 19): what its status reports (a
-- Twilio status callback names only its MessageSid) are matched to, and the last status reported.
CREATE TABLE provider_messages (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    provider_message_id TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    message_id TEXT NOT NULL,
    status TEXT,
    error_code TEXT,
    segments INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, provider_message_id)
);
