-- Finds the live token whose secret hashes to $1, with the status of the person it speaks for
-- (if any: an inactive or merged person's token is refused by the caller), and notes its use at
-- most once a minute, so a busy client costs one row update a minute, not one per request.
-- Locks the token's row only when it writes last_used_at (not audited: the audit trigger skips
-- that column).
WITH found AS (
    SELECT t.id, t.name, t.role, t.person_id, t.site, t.last_used_at, p.status AS person_status
    FROM auth.token t
    LEFT JOIN registry.person p ON p.id = t.person_id
    WHERE t.secret_sha256 = $1 AND t.revoked_at IS NULL AND t.expires_at > now()
), noted AS (
    UPDATE auth.token t SET last_used_at = now()
    FROM found
    WHERE t.id = found.id AND (found.last_used_at IS NULL OR found.last_used_at < now() - interval '1 minute')
    RETURNING t.id
)
SELECT id, name, role, person_id, site, person_status FROM found
