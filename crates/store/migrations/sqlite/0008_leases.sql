-- Leases: a role one node holds at a time (routing's leadership when several nodes share this database). A holder
-- renews its lease before `expires_at` (epoch milliseconds on the database's clock); once that passes, any node
-- may take it over. `address` is where the holder takes requests that need it (forwarded by the other nodes).
-- A SQLite database has one process, which does not take leases; the table keeps the schemas alike.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    address TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
