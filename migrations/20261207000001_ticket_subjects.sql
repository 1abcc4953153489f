-- Erasure by e-mail address: the addresses each ticket mentioned, as keyed
-- hashes (never the address), so `switchboard forget --email` finds a
-- person's tickets after their text was scrubbed.
CREATE TABLE ticket_subjects (
    subject TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (subject, ticket_id)
);
CREATE INDEX ticket_subjects_ticket ON ticket_subjects (ticket_id);
CREATE INDEX drafts_created ON drafts (created_at);
