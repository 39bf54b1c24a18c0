-- Creates schedule $1, or changes it when it exists, through queue.schedule_every: a task of
-- kind $3 with payload $4 for site $2 every $5 microseconds, first due at $6 (NULL: now, or
-- for an existing schedule its next_run_at). Returns the row as schedule_list.sql does.
-- Locks: inserts the row, or locks and updates the existing one (ON CONFLICT DO UPDATE).
SELECT s.name, s.site, s.kind, s.payload, (extract(epoch FROM s.every) * 1000000)::bigint AS every_microseconds,
       s.next_run_at, s.created_at, s.last_enqueued_at, s.last_period_start, s.last_task_id
FROM queue.schedule_every($1, $2, $3, $4, $5::bigint * interval '1 microsecond', $6::timestamptz) s
