-- Statuses a provider reported before its answer to the send was recorded (issue 19): Twilio posts `queued` and
-- `sent` callbacks within milliseconds of accepting a message, which can be before the delivery engine has kept the
-- message's provider id. They wait here and are applied when it is kept; those that never find a message (the same
-- number used by another system) are dropped after an hour.
CREATE TABLE early_statuses (
    channel_id TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    error TEXT,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, provider_message_id, status)
);
CREATE INDEX early_statuses_received ON early_statuses (received_at);
