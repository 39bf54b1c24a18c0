-- Moves $3 SUs from allocation $1 to allocation $2 for reason $4 through registry.transfer_su,
-- which locks the source's running sums, refuses a transfer that would take its balance below
-- zero and writes the two paired diffs; returns the transfer id.
SELECT registry.transfer_su($1, $2, $3::numeric, $4) AS transfer_id
