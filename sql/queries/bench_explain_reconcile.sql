-- Benchmark only: runs a full plan of connector $2 of site $1 (a dry run when $3) under
-- EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON), for the database's own execution time. Not a dry
-- run, it enqueues what the plan finds, as provision.reconcile does.
-- Locks: what provision.reconcile locks (the connector's row FOR UPDATE, then its actions').
EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
SELECT count(*) FROM provision.reconcile(site => $1, connector => $2, dry_run => $3)
