-- Drops site role $1 and its binding (queue.drop_site_role); returns the site it served.
-- Locks: deletes one row of queue.site_role; DROP ROLE takes the server's lock on the role
-- catalog until the transaction ends.
SELECT queue.drop_site_role(role_name => $1) AS site
