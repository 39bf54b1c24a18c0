-- Resource $1's rates by id after cursor $2, optionally only the one in force at $3, at most
-- $4. Plain read.
SELECT api.rate_item(r) AS item
FROM registry.resource_rate r
WHERE r.resource_id = $1
  AND r.id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000')
  AND ($3::timestamptz IS NULL OR r.valid_during @> $3::timestamptz)
ORDER BY r.id
LIMIT $4
