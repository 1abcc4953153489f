-- Every execution is a change record: its ITIL change type, an emergency's
-- justification, and when a deferred change may start (after a freeze, in the
-- target's next maintenance window).
ALTER TABLE executions ADD COLUMN change_type TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE executions ADD COLUMN justification TEXT;
ALTER TABLE executions ADD COLUMN scheduled_for BIGINT;
CREATE INDEX executions_scheduled ON executions (state, scheduled_for);
