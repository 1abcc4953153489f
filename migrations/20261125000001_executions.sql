-- Runbook executions, their approvals and step results, and the hash-chained audit log.
-- Portable between SQLite and PostgreSQL: text ids, BIGINT times in Unix milliseconds, JSON as TEXT.
CREATE TABLE executions (
    id TEXT PRIMARY KEY,
    runbook TEXT NOT NULL,
    runbook_version BIGINT NOT NULL,
    ticket_id TEXT,
    plan TEXT NOT NULL,
    target TEXT,
    state TEXT NOT NULL,
    dry_run BIGINT NOT NULL,
    requested_by TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    approvals_needed BIGINT NOT NULL,
    approver_role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    started_at BIGINT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX executions_state ON executions (state);

CREATE TABLE approvals (
    execution_id TEXT NOT NULL REFERENCES executions (id),
    approver TEXT NOT NULL,
    decision TEXT NOT NULL,
    comment TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (execution_id, approver)
);

CREATE TABLE step_results (
    execution_id TEXT NOT NULL REFERENCES executions (id),
    seq BIGINT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    before_state TEXT NOT NULL,
    after_state TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
