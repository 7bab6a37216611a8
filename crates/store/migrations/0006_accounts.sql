-- Accounts the AutoPort proxy has seen (issue 14): each is a mailbox of its
-- project (same project and login). served_by: source (not moved), moving
-- (final pass), destination (moved). password_hash: an Argon2id PHC string
-- of the password the user logged in with. The password itself, sealed with
-- the project key, is the mailbox's source_secret while passes need it.
-- following: moved, and still given short delta passes for mail that keeps
-- arriving at the old server.
CREATE TABLE accounts (
    project TEXT NOT NULL,
    login TEXT NOT NULL,
    served_by TEXT NOT NULL,
    password_hash TEXT,
    first_login_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    moved_at BIGINT,
    following BIGINT NOT NULL,
    detail TEXT,
    PRIMARY KEY (project, login)
);

-- What happened, without secrets: logins, captures, moves, refusals.
CREATE TABLE events (
    project TEXT NOT NULL,
    at BIGINT NOT NULL,
    login TEXT,
    kind TEXT NOT NULL,
    client TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX events_by_login ON events (project, login, at);
