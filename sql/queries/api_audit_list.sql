-- Audit events newest first, with ids below cursor $1, filtered by table $2 (schema.table),
-- row id $3 (events whose key is {"id": $3}), actor $4, and time from $5 and before $6, at
-- most $7. Plain read.
SELECT to_jsonb(e) || jsonb_build_object('transaction_id', e.transaction_id::text) AS item
FROM audit.event e
WHERE e.id < coalesce($1::bigint, 9223372036854775807)
  AND ($2::text IS NULL OR e.table_name = $2)
  AND ($3::text IS NULL OR e.row_key = jsonb_build_object('id', $3::text))
  AND ($4::text IS NULL OR e.actor = $4)
  AND ($5::timestamptz IS NULL OR e.at >= $5)
  AND ($6::timestamptz IS NULL OR e.at < $6)
ORDER BY e.id DESC
LIMIT $7
