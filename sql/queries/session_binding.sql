-- The role this session logged in as, and the site it is bound to (NULL: none, every site).
-- Plain read.
SELECT session_user::text AS role_name, queue.session_site() AS site
