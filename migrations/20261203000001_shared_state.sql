-- Shared state for replicas: what a single process kept in files under its
-- data directory now lives here, so any number of `switchboard serve`
-- processes can share one PostgreSQL database.

-- Agents' feedback (was feedback.jsonl). `seq` is given out under the
-- feedback lock row, so it commits in order and a reader that has seen `seq`
-- N has seen everything before it.
CREATE TABLE feedback (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    ticket_id TEXT NOT NULL,
    field TEXT NOT NULL,
    previous TEXT,
    label TEXT NOT NULL,
    agent TEXT NOT NULL,
    caller TEXT NOT NULL
);
CREATE INDEX feedback_ticket ON feedback (ticket_id, seq);

-- Versions of the classifier head (was classifier/head.bin); replicas swap to
-- the newest when told (LISTEN/NOTIFY on PostgreSQL) or when they next look.
CREATE TABLE classifier_heads (
    version BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    trained_on BIGINT NOT NULL,
    trained_by TEXT NOT NULL,
    bytes BYTEA NOT NULL
);

-- Lock rows: a transaction that updates one holds it until it ends (a row
-- lock on PostgreSQL, the write lock on SQLite).
CREATE TABLE state_locks (name TEXT PRIMARY KEY, locked_at BIGINT NOT NULL);
INSERT INTO state_locks (name, locked_at) VALUES ('feedback', 0);

-- Files brought into the database once (a data directory from before).
CREATE TABLE state_imports (name TEXT PRIMARY KEY, at BIGINT NOT NULL, items BIGINT NOT NULL);

-- Runs are owned by the replica running them, under a lease it renews; a
-- lease that expires marks the run interrupted. A cancel of a run owned by
-- another replica is passed on through `cancel_requested_at`.
ALTER TABLE executions ADD COLUMN owner TEXT;
ALTER TABLE executions ADD COLUMN lease_until BIGINT;
ALTER TABLE executions ADD COLUMN cancel_requested_at BIGINT;
CREATE INDEX executions_owner ON executions (owner, state);
CREATE TABLE run_locks (runbook TEXT PRIMARY KEY, locked_at BIGINT NOT NULL);
