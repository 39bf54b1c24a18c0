-- Benchmark only: refreshes the planner's statistics of the tables the reconciler reads, as
-- autovacuum would on a centre that has run a while. Locks: SHARE UPDATE EXCLUSIVE on each.
ANALYZE registry.cluster, registry.person, registry.cluster_account, registry.project, registry.allocation,
        registry.allocation_total, registry.membership, provision.observed, provision.action, queue.task
