-- Benchmark only: suspends one active membership of account $2 on cluster (site) $1, the one
-- of the person with the smallest id, and returns its association's subject as the reconciler
-- names it. The membership's statement trigger marks the account dirty for the site's daemon.
-- Locks: the membership's row (FOR UPDATE, then UPDATE).
WITH chosen AS (
    SELECT m.id, a.account_name, ca.username
    FROM registry.allocation a
    JOIN registry.cluster c ON c.id = a.cluster_id
    JOIN registry.membership m ON m.allocation_id = a.id
    JOIN registry.cluster_account ca ON ca.cluster_id = a.cluster_id AND ca.person_id = m.person_id
    WHERE c.name = $1 AND a.account_name = $2 AND m.status = 'active'
    ORDER BY m.person_id
    LIMIT 1
    FOR UPDATE OF m
)
UPDATE registry.membership m
   SET status = 'suspended'
  FROM chosen
 WHERE m.id = chosen.id
RETURNING 'association/' || chosen.account_name || '/' || chosen.username AS subject
