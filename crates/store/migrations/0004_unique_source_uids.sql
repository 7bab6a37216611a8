-- The next UID to give per folder of a store without UIDs of its own. Taken
-- with one atomic UPDATE, so connections numbering the same folder at once
-- never hand out the same number (they did when each read the largest UID
-- and inserted after it in a second transaction).
CREATE TABLE uid_next (
    pair TEXT NOT NULL,
    folder TEXT NOT NULL,
    next_uid BIGINT NOT NULL,
    PRIMARY KEY (pair, folder)
);
INSERT INTO uid_next (pair, folder, next_uid)
    SELECT pair, folder, MAX(uid) + 1 FROM source_uids GROUP BY pair, folder;
-- One message per UID, enforced by the database (duplicates left by older
-- versions are renumbered by the store before this runs).
CREATE UNIQUE INDEX source_uids_uid ON source_uids (pair, folder, uid);
