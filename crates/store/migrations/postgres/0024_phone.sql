-- The shared pieces of the phone channels (issue 19): SMS and WhatsApp, whichever provider carries them.

-- Numbers that opted out (a STOP keyword, or an administrator): nothing but the keyword's own answer is sent to them
-- on any phone channel of the organization until they opt back in (START) or are taken off the list.
CREATE TABLE suppressions (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    -- E.164.
    phone TEXT NOT NULL,
    -- 'keyword' (the customer sent STOP) or 'api' (an administrator added it).
    source TEXT NOT NULL,
    -- The channel the STOP came in on; NULL when added through the API.
    channel_id TEXT REFERENCES channels(id),
    reason TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, phone)
);

-- A phone conversation's customer: the number its messages come from and go to, and when the customer last wrote
-- (WhatsApp lets a business send free-form messages for 24 hours after that; outside, templates only).
CREATE TABLE phone_threads (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id),
    org_id TEXT NOT NULL REFERENCES orgs(id),
    channel_type TEXT NOT NULL,
    phone TEXT NOT NULL,
    last_inbound_at BIGINT NOT NULL
);
