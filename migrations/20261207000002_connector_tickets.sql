-- The tickets a connector has written back to, and when first: a field that
-- always has a value (a helpdesk queue, a priority) is set on a ticket's
-- first triage and afterwards left to people. No ticket text here.
CREATE TABLE connector_tickets (
    connector TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    first_written_at BIGINT NOT NULL,
    PRIMARY KEY (connector, ticket_id)
);
