-- Enqueues one task through queue.enqueue, the same function scripts call; returns its id.
-- Locks: inserts one row; with depends_on, takes FOR SHARE on the dependencies' rows.
SELECT queue.enqueue(site => $1, kind => $2, payload => $3, priority => $4, run_at => $5,
                     max_attempts => $6, dedupe_key => $7, lane => $8, depends_on => $9) AS id
