-- Unified routing (reference §6). The routing engine keeps its working state in memory and is rebuilt from these
-- tables at start; every change to them is also an event in the log.

-- A queue's assignment method, operating hours and overflow, as JSON (`QueueRouting`).
ALTER TABLE queues ADD COLUMN routing TEXT NOT NULL DEFAULT '{}';
-- A workstream's classification and route-to-queue rules with the context variables they may name, as JSON.
ALTER TABLE workstreams ADD COLUMN rules TEXT;

-- Who serves which queue; round robin takes members in the order they joined.
CREATE TABLE queue_members (
    queue_id TEXT NOT NULL REFERENCES queues(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    org_id TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (queue_id, user_id)
);
CREATE INDEX queue_members_org ON queue_members(org_id, queue_id);

-- An agent's presence, capacity and skills. No row: Offline with no capacity, which offers nothing.
CREATE TABLE agent_routing (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    org_id TEXT NOT NULL,
    presence TEXT NOT NULL,
    capacity_units INTEGER NOT NULL,
    skills TEXT NOT NULL DEFAULT '[]',
    updated_at INTEGER NOT NULL
);
CREATE INDEX agent_routing_org ON agent_routing(org_id);

-- What classification decided for a conversation (skills, severity), so a restart routes it the same way.
CREATE TABLE routing_items (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id),
    org_id TEXT NOT NULL,
    severity INTEGER NOT NULL,
    skills TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL
);

-- Offers made to agents. `waited_ms` (set on accept) is how long the conversation waited, for average waits.
CREATE TABLE offers (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    agent_id TEXT NOT NULL REFERENCES users(id),
    queue_id TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    answered_at INTEGER,
    waited_ms INTEGER
);
CREATE INDEX offers_agent ON offers(org_id, agent_id, state);
CREATE INDEX offers_pending ON offers(org_id, state) WHERE state = 'pending';
