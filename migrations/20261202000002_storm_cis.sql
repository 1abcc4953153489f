-- Storms and the ticket window remember the configuration items tickets
-- mention, so storms group by them and duplicates link on them.
ALTER TABLE storm_window ADD COLUMN cis TEXT NOT NULL DEFAULT '[]';
ALTER TABLE storms ADD COLUMN cis TEXT NOT NULL DEFAULT '[]';
