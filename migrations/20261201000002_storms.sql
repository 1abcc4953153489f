-- Storms (bursts of similar tickets: an outage) with their members, and the
-- window of recent tickets they are detected in, so a restart rebuilds the
-- window and keeps the open storms.
CREATE TABLE storms (
    id TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    size BIGINT NOT NULL,
    terms TEXT NOT NULL,
    services TEXT NOT NULL
);
CREATE INDEX storms_recent ON storms (last_at);
CREATE TABLE storm_members (
    storm_id TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    title TEXT NOT NULL,
    at BIGINT NOT NULL,
    similarity DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (storm_id, ticket_id)
);
CREATE TABLE storm_window (
    ticket_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    at BIGINT NOT NULL,
    vector TEXT NOT NULL,
    caller TEXT,
    service TEXT,
    terms TEXT NOT NULL
);
CREATE INDEX storm_window_recent ON storm_window (at);
