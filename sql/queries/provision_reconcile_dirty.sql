-- Consumes up to $2 of site $1's dirty marks and plans their accounts for each connector of
-- the site (provision.reconcile_dirty). Locks: the marks taken, FOR UPDATE SKIP LOCKED (another
-- daemon's are skipped), then what provision.reconcile locks.
SELECT connector, marks, accounts, actions, refused
FROM provision.reconcile_dirty(site => $1, most => $2)
