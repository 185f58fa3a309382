-- The provider's id of each message a channel's provider accepted (a WhatsApp `wamid`, a TeleSign `reference_id`),
-- so that the statuses the provider reports later (delivered, read, failed) find their message.
CREATE TABLE provider_messages (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    provider_message_id TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    message_id TEXT NOT NULL,
    -- The delivery that carried it, which its failure is reported against.
    delivery_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, provider_message_id)
);
