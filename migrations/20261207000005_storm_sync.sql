-- Storm detection shared by replicas: every change to the window or to a
-- storm is numbered from one counter, whose row also serialises detection
-- across replicas (each takes it for the moment it places a ticket). A
-- replica applies what others numbered since it last looked; `generation`
-- changes when rows are deleted (erasure, retention), which a replica
-- answers by reloading the whole window.
CREATE TABLE storm_sync (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO storm_sync (id, seq, generation) VALUES (1, 0, 0);
ALTER TABLE storm_window ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE storm_members ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX storm_window_seq ON storm_window (seq);
CREATE INDEX storm_members_seq ON storm_members (seq);
