-- Where a conversation's replies go on its channel, as the channel's adapter last heard it (Bot Framework: the
-- service URL, the bot's and the provider's conversation ids). Kept apart from the conversation: only channels
-- that answer on an address of the provider's choosing have one, and it changes as the provider says.
CREATE TABLE reply_addresses (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id),
    org_id TEXT NOT NULL REFERENCES orgs(id),
    address TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
