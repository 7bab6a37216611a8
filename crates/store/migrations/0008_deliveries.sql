-- Mail the proxy's SMTP front passed on (issue 15): each recipient of each
-- message, where it went (old: relayed to the old server, new: delivered to
-- the new one) and why (not moved, no mailbox, moved), for the retirement
-- report. No message content, only the envelope and the size.
CREATE TABLE deliveries (
    project TEXT NOT NULL,
    at BIGINT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    login TEXT,
    size BIGINT NOT NULL,
    server TEXT NOT NULL,
    why TEXT NOT NULL
);
CREATE INDEX deliveries_by_time ON deliveries (project, at);
