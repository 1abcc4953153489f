-- The connectors' durable outbox: every accepted event is a job (triage and
-- write-back, or learning from a closed ticket), retried with back-off until
-- done or dead. (connector, dedupe_key) makes a redelivered event one job.
CREATE TABLE connector_jobs (
    id TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    result TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (connector, dedupe_key)
);
CREATE INDEX connector_jobs_due ON connector_jobs (state, next_attempt_at);
CREATE INDEX connector_jobs_by_connector ON connector_jobs (connector, created_at);
