-- Every API token, newest first, with the email of the person it acts for. Never the hash.
-- Plain read.
SELECT t.id, t.name, t.role, p.email AS person_email, t.site, t.created_by, t.created_at, t.expires_at,
       t.revoked_at, t.last_used_at
FROM auth.token t
LEFT JOIN registry.person p ON p.id = t.person_id
ORDER BY t.created_at DESC, t.id DESC
