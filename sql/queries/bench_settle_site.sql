-- Benchmark only: makes site $1 look as if its connectors had applied everything, so the next
-- plan has nothing to do. Marks the site's unfinished tasks succeeded (a stand-in for the
-- daemon running them) and writes provision.observed equal to provision.desired for each of the
-- site's connectors (what a full snapshot would record). Not for a real site: it bypasses the
-- completion path. Returns how many tasks and subjects it settled.
-- Locks: the site's unfinished task rows and the observed rows it upserts (row locks).
WITH finished AS (
    UPDATE queue.task t
       SET state = 'succeeded', finished_at = now(), lease_expires_at = NULL, pending_dependencies = 0
     WHERE t.site = $1 AND t.state IN ('waiting', 'queued', 'running')
    RETURNING 1
), seen AS (
    INSERT INTO provision.observed AS o (site, connector, subject, state, managed, observed_at, task_id)
    SELECT d.site, d.connector, d.subject, d.state, true, now(), 0
    FROM provision.desired d
    WHERE d.site = $1 AND d.state IS NOT NULL
    ON CONFLICT (site, connector, subject) DO UPDATE
       SET state = excluded.state, managed = true, observed_at = excluded.observed_at, task_id = excluded.task_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM finished) AS tasks, (SELECT count(*) FROM seen) AS subjects
