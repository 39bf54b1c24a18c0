-- Removes the connectors of site $1 other than $2, with what they observed; returns their
-- names. Locks: deletes their rows (and, by cascade, their observed rows).
SELECT connector FROM provision.unregister_other_connectors(site => $1, keep => $2) AS connector
