-- One row per source message per mailbox pair: its outcome.
-- Portable DDL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE ledger (
    pair TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    identity TEXT NOT NULL,
    size BIGINT NOT NULL,
    flags TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    retryable INTEGER NOT NULL DEFAULT 0,
    dest_folder TEXT,
    dest_uidvalidity BIGINT,
    dest_uid BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair, folder, uidvalidity, uid)
);
CREATE INDEX ledger_identity ON ledger (pair, folder, identity);

-- What a folder looked like at the end of the last pass (for CONDSTORE).
CREATE TABLE folder_state (
    pair TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    highest_modseq BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair, folder)
);
