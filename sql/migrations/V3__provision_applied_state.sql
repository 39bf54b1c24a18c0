-- V3: what executors have applied on each site.
--
-- Why: delivery from the queue is at least once, so an executor may run twice; what it
-- records must not double. An executor reports what it applied as (subject, state), and the
-- daemon writes it in the same transaction that marks the task succeeded: a task whose
-- completion is fenced out (its lease was lost) records nothing, and a task that succeeds
-- records exactly once. The reconciler compares this table with the desired state.
-- `revision` counts the recordings of a subject, so a double application would show.

CREATE TABLE provision.applied_state (
    site text NOT NULL,
    subject text NOT NULL CHECK (subject <> ''),
    state jsonb NOT NULL,
    revision bigint NOT NULL DEFAULT 1 CHECK (revision >= 1),
    task_id bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, subject)
);
COMMENT ON TABLE provision.applied_state IS
    'What an executor last applied on a site, per subject (e.g. slurm.account:abc123), written in the transaction that completed its task.';
COMMENT ON COLUMN provision.applied_state.site IS 'The site it was applied on.';
COMMENT ON COLUMN provision.applied_state.subject IS 'What it was applied to, as kind-of-thing:key, e.g. slurm.account:abc123 or ldap.user:jdoe.';
COMMENT ON COLUMN provision.applied_state.state IS 'What the executor applied (JSON), as it reported it.';
COMMENT ON COLUMN provision.applied_state.revision IS 'How many times a state was recorded for this subject: 1 on first application, +1 each change.';
COMMENT ON COLUMN provision.applied_state.task_id IS 'The task that recorded it last (queue.task.id; not a foreign key, as finished tasks are pruned).';
COMMENT ON COLUMN provision.applied_state.recorded_at IS 'When it was recorded.';
