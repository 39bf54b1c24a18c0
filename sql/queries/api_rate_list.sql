-- Resource $3's rates by id after cursor $1, at most $2, optionally only the one in force at
-- $4. Plain read.
SELECT api.rate_item(r) AS item
FROM registry.resource_rate r
WHERE r.resource_id = $3
  AND r.id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($4::timestamptz IS NULL OR r.valid_during @> $4::timestamptz)
ORDER BY r.id
LIMIT $2
