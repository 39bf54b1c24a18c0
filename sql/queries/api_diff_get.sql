-- Diff $2 of allocation $1 as the API shows it (api.diff_item); none when the diff belongs to
-- another allocation. Plain read.
SELECT api.diff_item(d) AS item FROM registry.allocation_diff d WHERE d.allocation_id = $1 AND d.id = $2
