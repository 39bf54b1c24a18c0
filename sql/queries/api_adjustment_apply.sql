-- An admin's adjustment of allocation $1 by $3 SUs (±) for reason $2, through
-- registry.apply_diff (source admin, the current actor); returns the diff's id. Inserts one
-- ledger row; its trigger updates the allocation's running sums (one row lock).
SELECT registry.apply_diff(allocation_id => $1, kind => 'adjustment', reason => $2, su_delta => $3::numeric, source => 'admin') AS diff_id
