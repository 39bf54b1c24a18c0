-- Deletes up to $3 plans of site $1 made before $2, with their actions, keeping any whose
-- task is still unfinished (the next plan looks its subject's task up there). Returns how
-- many were deleted.
--
-- Locks: FOR UPDATE SKIP LOCKED on the plans it deletes, in small batches; a planner holding
-- one (it is inserting its actions) is skipped.
WITH old AS MATERIALIZED (
    SELECT p.id
    FROM provision.plan p
    WHERE p.site = $1
      AND p.planned_at < $2::timestamptz
      AND NOT EXISTS (SELECT 1
                      FROM provision.action a
                      JOIN queue.task t ON t.id = a.task_id
                      WHERE a.plan_id = p.id AND t.state IN ('waiting', 'queued', 'running'))
    ORDER BY p.id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM provision.plan p USING old WHERE p.id = old.id RETURNING 1
)
SELECT count(*) AS deleted FROM deleted
