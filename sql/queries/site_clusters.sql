-- The names of the registry's clusters, in order: each is also a site of the task queue (a
-- cluster's tasks go to the site of its name), so a daemon or an enqueue may name it. Plain read.
SELECT name FROM registry.cluster ORDER BY name
