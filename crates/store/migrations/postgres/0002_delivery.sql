-- Per-type settings as JSON: a Messaging API channel's webhook URL, app id and customer-token keys; a
-- workstream's attachment limits. JSON keeps one column as later channel types add their own settings.
ALTER TABLE channels ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE workstreams ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- Native webhook subscriptions (Standard Webhooks). Secrets are sealed by the server before they get here; during
-- a rotation the previous secret keeps signing until it expires, so receivers can switch without a gap.
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    url TEXT NOT NULL,
    description TEXT,
    event_types TEXT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_at BIGINT,
    disabled_at BIGINT,
    disabled_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_subscriptions_org ON webhook_subscriptions(org_id, id);

-- One row per event and endpoint (a subscription, or a Messaging API channel's webhook): written when the event
-- is fanned out, updated after each attempt. State: pending (due at next_attempt_at), delivered, failed (a dead
-- letter: retries exhausted, or the endpoint answered 410 or was disabled).
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    conversation_id TEXT,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries(endpoint, event_id);
CREATE INDEX webhook_deliveries_org ON webhook_deliveries(org_id, id);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(event_id) WHERE state = 'pending';

-- The delivery log: every attempt with what the receiver answered.
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    org_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    status BIGINT,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    response TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

-- How far a reader of the event log has got (the delivery dispatcher's outbox position).
CREATE TABLE outbox_cursors (
    name TEXT PRIMARY KEY,
    event_id BIGINT NOT NULL
);

-- Files customers and agents uploaded; the bytes are in the attachments directory under `path`.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    content_type TEXT NOT NULL,
    name TEXT,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
