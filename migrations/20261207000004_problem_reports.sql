-- The last problem report (was DATA_DIR/problems/latest.json), so every
-- replica serves the same one.
CREATE TABLE problem_reports (
    name TEXT PRIMARY KEY,
    made_at BIGINT NOT NULL,
    report TEXT NOT NULL
);
