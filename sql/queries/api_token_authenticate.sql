-- Finds the live token whose secret hashes to $1 and notes its use at most once a minute, so a
-- busy client costs one row update a minute, not one per request. Locks the token's row only
-- when it writes last_used_at (not audited: the audit trigger skips that column).
WITH found AS (
    SELECT id, name, role, person_id, site, last_used_at
    FROM auth.token
    WHERE secret_sha256 = $1 AND revoked_at IS NULL AND expires_at > now()
), noted AS (
    UPDATE auth.token t SET last_used_at = now()
    FROM found
    WHERE t.id = found.id AND (found.last_used_at IS NULL OR found.last_used_at < now() - interval '1 minute')
    RETURNING t.id
)
SELECT id, name, role, person_id, site FROM found
