-- When each point holding ticket text (a remembered ticket, an incident)
-- was last stored, so retention can delete the points past their days: the
-- store itself keeps no time that retention could filter on.
CREATE TABLE stored_points (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    stored_at BIGINT NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE INDEX stored_points_age ON stored_points (collection, stored_at);
