-- The audit chain becomes keyed (HMAC-SHA256 under a key kept outside the database);
-- entries written before keep their plain SHA-256 and are marked as such.
ALTER TABLE audit_log ADD COLUMN scheme TEXT NOT NULL DEFAULT 'sha256';

-- One row, locked by every audit append inside its transaction, so concurrent
-- transactions, processes and replicas append to one chain.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    locked_at BIGINT NOT NULL
);
INSERT INTO audit_head (id, locked_at) VALUES (1, 0);
