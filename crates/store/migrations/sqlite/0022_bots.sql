-- Bots in front of agents (issue 17 item 5, reference §4.2): a channel may name one bot, which answers its new
-- conversations before routing does. A bot is its OAuth2 client (how it calls Switchboard's Connector API back)
-- plus its Bot Framework messaging endpoint and app id (the audience of the tokens Switchboard sends it).
CREATE TABLE bots (
    client_id TEXT PRIMARY KEY REFERENCES oauth_clients(id),
    org_id TEXT NOT NULL REFERENCES orgs(id),
    channel_id TEXT NOT NULL UNIQUE REFERENCES channels(id),
    name TEXT NOT NULL,
    messaging_endpoint TEXT NOT NULL,
    app_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- A bot's hold on a conversation: `active` while the bot answers (routing leaves the conversation alone), then
-- `escalated` or `ended`. One row a conversation: once the bot has let go, the conversation never returns to it.
CREATE TABLE bot_sessions (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id),
    org_id TEXT NOT NULL REFERENCES orgs(id),
    client_id TEXT NOT NULL REFERENCES bots(client_id),
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX bot_sessions_active ON bot_sessions (client_id) WHERE state = 'active';
