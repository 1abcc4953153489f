-- Where a connector's history import has got to, so an interrupted import resumes.
CREATE TABLE connector_cursors (
    connector TEXT NOT NULL,
    kind TEXT NOT NULL,
    cursor_value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (connector, kind)
);
