-- Diff $1 as the API shows it (api.diff_item), after a write made it. Plain read.
SELECT api.diff_item(d) AS item FROM registry.allocation_diff d WHERE d.id = $1
