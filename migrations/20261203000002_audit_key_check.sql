-- Facts about the database itself, e.g. which audit key its chain is
-- written with (a MAC of a fixed text, never the key), so a replica or CLI
-- with another key refuses to append instead of breaking the chain.
CREATE TABLE state_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
