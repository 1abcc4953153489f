-- A ticket resolved or closed since it was triaged: kept in the window for
-- storms, no longer a ticket a new one can duplicate.
ALTER TABLE storm_window ADD COLUMN closed_at BIGINT;
