-- Projects: many mailboxes moved with one set of settings (issue 13).
-- settings: the project's JSON (addresses, admin logins, copy options).
-- Secrets are never in it, only in *_secret columns, encrypted with the
-- project key (key_check proves a key is the project's).
CREATE TABLE projects (
    name TEXT NOT NULL PRIMARY KEY,
    settings TEXT NOT NULL,
    key_check TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One mailbox of a project. state: not-started, queued, running, completed,
-- failed, waiting-for-credentials, stopped. A worker holds a running
-- mailbox by its lease (owner, until). An expired lease is anyone's.
CREATE TABLE mailboxes (
    project TEXT NOT NULL,
    login TEXT NOT NULL,
    source_auth TEXT NOT NULL,
    source_secret TEXT,
    destination_login TEXT NOT NULL,
    destination_auth TEXT NOT NULL,
    destination_secret TEXT,
    overrides TEXT NOT NULL,
    state TEXT NOT NULL,
    pass TEXT,
    error TEXT,
    retryable BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    not_before BIGINT NOT NULL,
    size_hint BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    stop_requested BIGINT NOT NULL,
    last_good_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project, login)
);
CREATE INDEX mailboxes_claim ON mailboxes (project, state, size_hint);

-- Every pass over a mailbox, kept as its history.
CREATE TABLE passes (
    project TEXT NOT NULL,
    login TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    source_messages BIGINT NOT NULL,
    copied BIGINT NOT NULL,
    already_present BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    reasons TEXT NOT NULL,
    verified TEXT,
    PRIMARY KEY (project, login, started_at, kind)
);
