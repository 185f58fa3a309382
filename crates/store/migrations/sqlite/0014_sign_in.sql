-- Browser sign-in: passwords, one-time set-password tokens, sessions, failed sign-ins (the rate limit) and the
-- OpenID Connect sign-ins under way. Every secret (session token, set-password token, OIDC state) is kept only as
-- its SHA-256: they are 256 random bits, so there is nothing to guess from the hash.

-- The argon2id hash (PHC string) of the user's password; NULL: the user cannot sign in with a password.
ALTER TABLE users ADD COLUMN password_hash TEXT;
-- Sign-in finds a user by email alone, so among users with a password an email names one user in the deployment.
CREATE UNIQUE INDEX users_sign_in_email ON users(email) WHERE password_hash IS NOT NULL;

CREATE TABLE password_tokens (
    token_hash TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX password_tokens_user ON password_tokens(user_id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    -- `password` or `oidc`.
    method TEXT NOT NULL,
    address TEXT,
    user_agent TEXT,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    -- The absolute end; the idle end is last_seen_at plus the configured idle time.
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_org ON sessions(org_id, id);
CREATE INDEX sessions_user ON sessions(user_id, id);

-- One row per failed sign-in, kept for the rate limit's window: counted per account (the email as typed,
-- lower-cased) and per client address, on every node alike.
CREATE TABLE sign_in_failures (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_account ON sign_in_failures(account, at);
CREATE INDEX sign_in_failures_address ON sign_in_failures(address, at);

-- An OpenID Connect sign-in between the redirect to the provider and its callback (which may reach another node).
CREATE TABLE oidc_sign_ins (
    state_hash TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
