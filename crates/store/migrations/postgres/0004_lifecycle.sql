-- Conversation auto-close timers (reference §6.6). One row per conversation that is not closed: the state its
-- timer belongs to, when that state began, when the timer last (re)started (state change or activity), and when it
-- fires; `due_at` is NULL when the state never closes by itself. Times are the server clock's epoch milliseconds.
CREATE TABLE conversation_timers (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id),
    org_id TEXT NOT NULL,
    state TEXT NOT NULL,
    state_since BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    due_at BIGINT
);
CREATE INDEX conversation_timers_due ON conversation_timers(due_at) WHERE due_at IS NOT NULL;
