-- When an account last changed where it is served (source, moving,
-- destination). A cut-over whose process died leaves its account moving
-- with no lease on the mailbox: running proxies roll it back once it has
-- been moving for longer than a live cut-over can be without a lease.
ALTER TABLE accounts ADD COLUMN changed_at BIGINT;
