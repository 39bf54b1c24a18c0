-- The roles bound to a site (queue.site_role), by site and name, with whether each role still
-- exists on the server and may log in. Plain read.
SELECT s.role_name, s.site, s.created_at,
       r.rolname IS NOT NULL AS role_exists,
       coalesce(r.rolcanlogin, false) AS can_login
FROM queue.site_role s
LEFT JOIN pg_catalog.pg_roles r ON r.rolname = s.role_name
ORDER BY s.site, s.role_name
