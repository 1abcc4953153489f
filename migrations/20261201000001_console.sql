-- The web console's sign-in sessions: the cookie carries a random id, only
-- its SHA-256 is stored; the CSRF token is sent with every state change. The
-- session names its API token by the token's hash, so removing the token
-- from the settings ends its sessions.
CREATE TABLE ui_sessions (
    id_hash TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);

-- The review queue: the latest triage of each ticket that has an id (from the
-- API or a connector), with what was suggested and what was written back.
CREATE TABLE triage_log (
    ticket_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    suggestions TEXT NOT NULL,
    applied TEXT NOT NULL,
    review BIGINT NOT NULL,
    triaged_by TEXT NOT NULL,
    triaged_at BIGINT NOT NULL
);
CREATE INDEX triage_log_recent ON triage_log (triaged_at);
