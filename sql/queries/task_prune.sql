-- Deletes up to $3 finished tasks of site $1 that finished before $2 (their attempts go with
-- them), keeping any a waiting task still depends on. Returns how many were deleted.
--
-- Locks: FOR UPDATE SKIP LOCKED on the rows it deletes, in small batches, so it never holds up
-- the claim path; the daemon repeats it until a batch comes back short.
WITH old AS MATERIALIZED (
    SELECT t.id
    FROM queue.task t
    WHERE t.site = $1
      AND t.state IN ('succeeded', 'dead', 'cancelled')
      AND t.finished_at < $2::timestamptz
      AND NOT EXISTS (SELECT 1 FROM queue.task w WHERE w.state = 'waiting' AND w.depends_on @> ARRAY[t.id])
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM queue.task t USING old WHERE t.id = old.id RETURNING 1
)
SELECT count(*) AS deleted FROM deleted
