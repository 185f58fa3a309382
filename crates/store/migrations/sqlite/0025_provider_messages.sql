-- Messages a channel's provider accepted, by the provider's id for them (issue 19): a Twilio MessageSid, a WhatsApp
-- `wamid`, a TeleSign `reference_id`. The statuses the provider reports later (a Twilio status callback, a WhatsApp
-- status, a TeleSign delivery report) name only that id, and find their message here; the last status reported is
-- kept, so that a repeated or out-of-order report changes nothing.
CREATE TABLE provider_messages (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    provider_message_id TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    message_id TEXT NOT NULL,
    -- The delivery that carried it, which a failure the provider reports later is told against.
    delivery_id TEXT NOT NULL,
    -- SMS: the segments the provider sends it as, when its answer said.
    segments INTEGER,
    status TEXT,
    error_code TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, provider_message_id)
);
