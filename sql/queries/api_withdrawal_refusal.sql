-- Why taking $2 SUs from allocation $1 (a reduction or a transfer out) would be refused
-- (registry.withdrawal_refusal: the balance would go below zero), or NULL when it may go ahead,
-- so the API can name the field at fault. Plain read; the write itself checks again under lock.
SELECT registry.withdrawal_refusal($1, $2::numeric) AS refusal
