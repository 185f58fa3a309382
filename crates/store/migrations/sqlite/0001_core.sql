-- Times are epoch milliseconds (INTEGER) and ids are UUID strings (TEXT), identical on both backends.
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email ON users(org_id, email) WHERE email IS NOT NULL;
CREATE INDEX users_org ON users(org_id, id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    user_id TEXT REFERENCES users(id),
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_org ON api_keys(org_id, id);

CREATE TABLE oauth_clients (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX oauth_clients_org ON oauth_clients(org_id, id);

-- Server-wide: the keys this deployment signs its tokens with. The private key is encrypted with the secret key.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    customer_id TEXT,
    first_name TEXT,
    last_name TEXT,
    preferred_name TEXT,
    email TEXT,
    phone TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX contacts_customer ON contacts(org_id, customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX contacts_email ON contacts(org_id, email) WHERE email IS NOT NULL;
CREATE INDEX contacts_phone ON contacts(org_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX contacts_org ON contacts(org_id, id);

CREATE TABLE queues (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    queue_type TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX queues_org ON queues(org_id, id);

CREATE TABLE workstreams (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    workstream_type TEXT NOT NULL,
    distribution TEXT NOT NULL,
    fallback_queue_id TEXT REFERENCES queues(id),
    created_at INTEGER NOT NULL
);
CREATE INDEX workstreams_org ON workstreams(org_id, id);

CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    channel_type TEXT NOT NULL,
    name TEXT NOT NULL,
    workstream_id TEXT NOT NULL REFERENCES workstreams(id),
    created_at INTEGER NOT NULL
);
CREATE INDEX channels_org ON channels(org_id, id);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    channel_id TEXT NOT NULL REFERENCES channels(id),
    workstream_id TEXT NOT NULL REFERENCES workstreams(id),
    queue_id TEXT REFERENCES queues(id),
    contact_id TEXT REFERENCES contacts(id),
    customer_key TEXT,
    state TEXT NOT NULL,
    agent_id TEXT REFERENCES users(id),
    priority INTEGER NOT NULL,
    subject TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    state_changed_at INTEGER NOT NULL,
    closed_at INTEGER,
    closure_reason TEXT
);
-- The persistent-conversation key: one live conversation per customer and channel.
CREATE UNIQUE INDEX conversations_live_key ON conversations(channel_id, customer_key)
    WHERE customer_key IS NOT NULL AND state IN ('open', 'active', 'waiting');
CREATE INDEX conversations_org ON conversations(org_id, id);
CREATE INDEX conversations_org_state ON conversations(org_id, state, id);

CREATE TABLE context_variables (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    name TEXT NOT NULL,
    org_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    displayable INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, name)
);

-- The event log. Every change is recorded here in the transaction that makes it: `id` orders all events of the
-- deployment (the outbox), and for a conversation's events `seq` numbers its own log, which is also its transcript
-- (messages are the `message.created` entries) and its timeline. A message touches one page of its conversation's
-- log and the appended tail of the table, nothing else.
-- A plain INTEGER PRIMARY KEY (no AUTOINCREMENT): ids only grow, since events are never deleted from the end,
-- and no sqlite_sequence row is rewritten with every event.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    org_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    conversation_id TEXT,
    seq INTEGER,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_org ON events(org_id, id);
-- Not a partial index: SQLite re-prepares a statement on every execution when a bound value decides whether a
-- partial index applies. Events outside conversations have NULL keys, which never collide.
CREATE UNIQUE INDEX events_conversation_log ON events(conversation_id, seq);

CREATE TABLE idempotency_keys (
    org_id TEXT NOT NULL,
    principal TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, principal, idem_key)
);
