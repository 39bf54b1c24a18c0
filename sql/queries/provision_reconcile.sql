-- Plans connector $2 of site $1, all of it ($3 NULL) or the accounts $3, and enqueues the
-- actions unless $5 (dry run); $4 allows a mass delete. See provision.reconcile.
-- Locks: the connector's row FOR UPDATE (one plan at a time per site and connector), then what
-- queue.enqueue and queue.cancel lock for each action.
SELECT plan_id, subject, action, from_state, to_state, why, task_id, run_at, outcome, note
FROM provision.reconcile(site => $1, connector => $2, scopes => $3, allow_mass_delete => $4, dry_run => $5)
