-- Quick replies: texts an organization's agents insert into a reply instead of typing them. A title names one in
-- its organization, ignoring case.
CREATE TABLE quick_replies (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    title TEXT NOT NULL,
    title_key TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX quick_replies_title ON quick_replies(org_id, title_key);
