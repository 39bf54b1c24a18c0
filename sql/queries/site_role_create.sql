-- Creates login role $1, a member of purser_daemon with the SCRAM-SHA-256 password verifier $3
-- (NULL: none), and binds it to site $2 in queue.site_role, in one transaction
-- (queue.create_site_role). Locks: inserts one row of queue.site_role; CREATE ROLE takes the
-- server's lock on the role catalog until the transaction ends.
SELECT queue.create_site_role(role_name => $1, site => $2, password_verifier => $3)
