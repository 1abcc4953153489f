-- Suggested resolutions (drafts) with the ticket they are for, and agents'
-- reviews of them (accepted, edited, rejected): the feedback on drafting.
CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    backend TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    verdict TEXT,
    review TEXT
);
CREATE INDEX drafts_ticket ON drafts (ticket_id, created_at);
