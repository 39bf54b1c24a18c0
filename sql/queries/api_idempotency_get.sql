-- The stored first response for caller $1's key $2, if younger than 24 hours. Plain read.
SELECT request_sha256, status::integer AS status, response
FROM api.idempotency_key
WHERE caller = $1 AND key = $2 AND created_at > now() - interval '24 hours'
