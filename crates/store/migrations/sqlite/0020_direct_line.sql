-- Direct Line channels: each has two secrets (primary and secondary), sealed with the deployment's secret key so
-- an administrator can read them again, and found by their hash when a client presents one.
CREATE TABLE direct_line_secrets (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    slot TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    sealed_secret TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, slot)
);
CREATE UNIQUE INDEX direct_line_secrets_hash ON direct_line_secrets(secret_hash);

-- What Web Chat needs echoed on the customer's own messages (channelData.clientActivityID), by message. No key
-- refers to conversations: rows are written after the message, in its transaction, and the conversation's lock is
-- taken first by the message (as every upload does).
CREATE TABLE direct_line_activities (
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    client_activity_id TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
