-- The presence an agent is put in when they sign in (reference §6.5): a built-in presence's API name or a custom
-- presence's id; NULL is Available.
ALTER TABLE agent_routing ADD COLUMN default_presence TEXT;
