-- Queue overflow (reference §6.3): callbacks requested when a queue overflowed with the "offer a callback" action.
-- The conversation is closed; this row is what the contact center works from to call the customer back.
CREATE TABLE callback_requests (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    queue_id TEXT NOT NULL,
    contact_id TEXT,
    customer_key TEXT,
    phone TEXT,
    email TEXT,
    name TEXT,
    -- Which overflow condition held: out_of_operating_hours, work_item_limit_exceeded, estimated_wait_exceeds.
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX callback_requests_org ON callback_requests(org_id, created_at);
CREATE UNIQUE INDEX callback_requests_conversation ON callback_requests(conversation_id);
