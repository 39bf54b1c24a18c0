-- Allocation $1's balance (report.allocation_balance: one row read of the running sums), if
-- the caller may see it ($2 scoped, $3 PI, $4 self). Plain read.
SELECT jsonb_build_object('allocation_id', b.allocation_id, 'project_id', b.project_id, 'cluster_id', b.cluster_id,
                          'account_name', b.account_name, 'initial_su', b.initial_su::text,
                          'granted_su', b.granted_su::text, 'charged_su', b.charged_su::text,
                          'balance_su', b.balance_su::text) AS item
FROM report.allocation_balance b
WHERE b.allocation_id = $1 AND (NOT $2::boolean OR api.sees_allocation(b.allocation_id, $3, $4))
