-- Routing configuration (reference §6.4, §6.5): custom presences, capacity profiles and the profiles agents hold.

-- An organization's own presences, each routed as one of the five base presences. `name_key` is the name
-- lower-cased: names are unique per organization ignoring case.
CREATE TABLE custom_presences (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    base TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, name_key)
);

-- Capacity profiles: how many conversations of a kind an agent takes at once, and whether one in progress blocks
-- every other profile's work.
CREATE TABLE capacity_profiles (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    max_items INTEGER NOT NULL,
    block_others INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, name_key)
);

-- The profiles an agent holds; `max_items` NULL means the profile's own.
CREATE TABLE agent_capacity_profiles (
    user_id TEXT NOT NULL REFERENCES users(id),
    profile_id TEXT NOT NULL REFERENCES capacity_profiles(id),
    org_id TEXT NOT NULL,
    max_items INTEGER,
    position INTEGER NOT NULL,
    PRIMARY KEY (user_id, profile_id)
);
CREATE INDEX agent_capacity_profiles_org ON agent_capacity_profiles(org_id, profile_id);

-- The custom presence an agent chose; `presence` keeps its base.
ALTER TABLE agent_routing ADD COLUMN custom_presence_id TEXT REFERENCES custom_presences(id);
-- What classification left on a conversation (language, context, contact fields, priority, skills) under the
-- names custom prioritization rules read, as JSON, so that a restart orders queues the same way.
ALTER TABLE routing_items ADD COLUMN attributes TEXT;
