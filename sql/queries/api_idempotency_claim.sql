-- Claims idempotency key $2 for caller $1 with request hash $3, taking over a key older than
-- 24 hours. Returns a row when this request is the first with the key; otherwise nothing,
-- after waiting for a concurrent first request's transaction to end (the primary key's
-- uniqueness check makes that wait). Inserts or updates one row, locked until commit.
INSERT INTO api.idempotency_key AS k (caller, key, request_sha256)
VALUES ($1, $2, $3)
ON CONFLICT (caller, key) DO UPDATE
    SET request_sha256 = excluded.request_sha256, status = NULL, response = NULL, created_at = now()
    WHERE k.created_at < now() - interval '24 hours'
RETURNING created_at
