-- Extends the leases of the tasks a worker is running: ids $1 with their attempts $2, to the
-- clock $3 plus $4 milliseconds. Returns the ids still held; a missing one was lost (rescued,
-- cancelled) and its executor should stop.
--
-- Locks: each row by primary key (one lookup per input row, as in task_complete.sql),
-- compare-and-set on (id, attempts, state = running). Only lease_expires_at changes, which no
-- index covers, so the update is HOT.
UPDATE queue.task t
   SET lease_expires_at = coalesce($3::timestamptz, now()) + $4::bigint * interval '1 millisecond'
  FROM unnest($1::bigint[], $2::integer[]) AS h(id, attempt)
 WHERE t.id = h.id AND t.attempts = h.attempt AND t.state = 'running'
RETURNING t.id
