-- What a folder looked like when a pass finished it completely, so that an
-- unchanged folder (same UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT, count) is skipped.
ALTER TABLE folder_state ADD COLUMN uidnext BIGINT;
ALTER TABLE folder_state ADD COLUMN message_count BIGINT;
ALTER TABLE folder_state ADD COLUMN complete INTEGER NOT NULL DEFAULT 0;
