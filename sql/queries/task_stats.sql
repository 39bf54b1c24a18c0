-- Task counts by site, kind and state, with the age of the oldest ready task: queue depth for
-- `purser task stats` and the daemon's metrics. A plain read; scans the hot table, which
-- retention keeps small.
SELECT site, kind, state::text AS state, count(*) AS tasks,
       extract(epoch FROM coalesce($1::timestamptz, now()) - min(run_at) FILTER (WHERE state = 'queued'))::double precision AS oldest_ready_seconds
FROM queue.task
GROUP BY site, kind, state
ORDER BY site, kind, state
