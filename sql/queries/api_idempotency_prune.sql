-- Deletes up to $1 idempotency keys older than 24 hours, oldest first, skipping any a request
-- holds (FOR UPDATE SKIP LOCKED). Returns how many it deleted.
WITH old AS (
    SELECT caller, key FROM api.idempotency_key
    WHERE created_at < now() - interval '24 hours'
    ORDER BY created_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
DELETE FROM api.idempotency_key k USING old WHERE k.caller = old.caller AND k.key = old.key
