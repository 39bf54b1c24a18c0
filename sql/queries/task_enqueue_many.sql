-- Enqueues one task of site $1 and kind $2 per payload in $3, in one statement (bulk loads and
-- the benchmark); returns the ids in payload order. Locks: inserts rows only.
SELECT queue.enqueue(site => $1, kind => $2, payload => p.payload) AS id
FROM unnest($3::jsonb[]) WITH ORDINALITY AS p(payload, position)
ORDER BY p.position
