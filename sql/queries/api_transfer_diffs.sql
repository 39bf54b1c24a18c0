-- The two diffs of transfer $1, the one out of the source first. Plain read.
SELECT api.diff_item(d) AS item FROM registry.allocation_diff d WHERE d.transfer_id = $1 ORDER BY d.su_delta
