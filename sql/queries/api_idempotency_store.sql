-- Records the first response for caller $1's key $2 (status $3, body $4), in the transaction of
-- the write it answers. Updates the row api_idempotency_claim inserted and locks.
UPDATE api.idempotency_key SET status = $3, response = $4 WHERE caller = $1 AND key = $2
