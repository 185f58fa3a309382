-- An agent's attributes, which custom assignment rules read: a JSON object of name to text, number or boolean.
-- Their working hours for `is_working` rules: a calendar in the queues' JSON format; NULL is always working.
ALTER TABLE agent_routing ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE agent_routing ADD COLUMN calendar TEXT;
