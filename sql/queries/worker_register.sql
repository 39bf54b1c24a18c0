-- Records a daemon process at boot: id $1 (fresh per boot), site $2, host $3, pid $4, version $5.
-- Locks: inserts one row.
INSERT INTO queue.worker (id, site, hostname, pid, version) VALUES ($1, $2, $3, $4, $5)
