-- The schedules, of site $1 only when given, by site and next_run_at; a session bound to a
-- site sees its own alone (row-level security). Plain read.
SELECT s.name, s.site, s.kind, s.payload, (extract(epoch FROM s.every) * 1000000)::bigint AS every_microseconds,
       s.next_run_at, s.created_at, s.last_enqueued_at, s.last_period_start, s.last_task_id
FROM queue.schedule s
WHERE $1::text IS NULL OR s.site = $1
ORDER BY s.site, s.next_run_at, s.name
