-- Messaging accounts (seed 002): a provider registration that channels are added to. `credentials` is the JSON of
-- the account's credentials sealed with the server's secret key (as webhook secrets are); NULL when it has none.
CREATE TABLE messaging_accounts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    method TEXT,
    settings TEXT NOT NULL DEFAULT '{}',
    credentials TEXT,
    validation_state TEXT NOT NULL DEFAULT 'unchecked',
    validation_reason TEXT,
    validated_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX messaging_accounts_org ON messaging_accounts(org_id, id);

-- Each channel belongs to an account of its kind and has its language, behaviours and attachment permissions
-- (JSON; `{}` reads as the defaults: wait-time messages on, both sides may send files).
ALTER TABLE channels ADD COLUMN account_id TEXT REFERENCES messaging_accounts(id);
ALTER TABLE channels ADD COLUMN language TEXT NOT NULL DEFAULT 'en-US';
ALTER TABLE channels ADD COLUMN behaviours TEXT NOT NULL DEFAULT '{}';
ALTER TABLE channels ADD COLUMN attachments TEXT NOT NULL DEFAULT '{}';

-- Every channel made before accounts gets an account of its own kind, named after it and with the channel's id
-- (ids are unique per table), so that nothing that worked stops working. (The store's tests run these two
-- statements again on a channel written the old way.)
INSERT INTO messaging_accounts (id, org_id, name, kind, method, created_at, updated_at)
SELECT id, org_id, name, channel_type,
       CASE WHEN channel_type = 'bot_framework' THEN 'azure_bot_framework' END,
       created_at, created_at
FROM channels WHERE account_id IS NULL;
UPDATE channels SET account_id = id WHERE account_id IS NULL;
CREATE INDEX channels_account ON channels(account_id, id);
