-- Benchmark only: the task of the latest action connector $2 of site $1 planned for subject
-- $3, if that action is $4 (e.g. block). Plain read.
SELECT a.task_id
FROM provision.action a
JOIN queue.task t ON t.id = a.task_id
WHERE a.site = $1 AND a.connector = $2 AND a.subject = $3 AND a.action = $4
ORDER BY a.id DESC
LIMIT 1
