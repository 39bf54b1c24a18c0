-- Audit events newest first, with ids below cursor $1, at most $2, filtered by table $3
-- (schema.table), row id $4 (events whose key is {"id": $4}), actor $5, and time from $6 and
-- before $7. Plain read.
SELECT to_jsonb(e) || jsonb_build_object('transaction_id', e.transaction_id::text) AS item
FROM audit.event e
WHERE e.id < coalesce($1::bigint, 9223372036854775807)
  AND ($3::text IS NULL OR e.table_name = $3)
  AND ($4::text IS NULL OR e.row_key = jsonb_build_object('id', $4::text))
  AND ($5::text IS NULL OR e.actor = $5)
  AND ($6::timestamptz IS NULL OR e.at >= $6)
  AND ($7::timestamptz IS NULL OR e.at < $7)
ORDER BY e.id DESC
LIMIT $2
