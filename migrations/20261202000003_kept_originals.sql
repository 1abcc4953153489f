-- The text of a ticket before scrubbing, kept in the review queue only when
-- privacy.keep_original = "review", and cleared after its retention.
ALTER TABLE triage_log ADD COLUMN original TEXT;
