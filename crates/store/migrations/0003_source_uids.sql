-- Local stores (Maildir, mbox) and POP3 have no UIDs of their own: the
-- numbers given to their messages' keys (file names, UIDLs, content hashes),
-- kept so that a message has the same UID in every pass.
CREATE TABLE source_uids (
    pair TEXT NOT NULL,
    folder TEXT NOT NULL,
    message_key TEXT NOT NULL,
    uid BIGINT NOT NULL,
    PRIMARY KEY (pair, folder, message_key)
);
