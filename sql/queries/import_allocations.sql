-- A cluster's allocations by account and window, for mapping jobs to them (usage import).
-- Plain read.
SELECT id, account_name, starts_at, ends_at FROM registry.allocation WHERE cluster_id = $1
