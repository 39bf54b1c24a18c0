-- Seeds a synthetic centre for the benchmarks: cluster $1 with a CPU resource (cpu, rate 1)
-- and a GPU resource (gres/gpu, rate 0.1) from 2020, $2 people with cluster accounts user1…,
-- and $3 projects with one allocation each (accounts acct1…, 1e9 SUs, 2020–2030). Returns the
-- cluster id. Inserts rows only.
WITH cluster AS (
    INSERT INTO registry.cluster (name, description) VALUES ($1, 'benchmark') RETURNING id
), resources AS (
    INSERT INTO registry.resource (cluster_id, name, resource_type, unit, slurm_tres)
    SELECT cluster.id, r.name, r.kind, r.unit, r.tres
    FROM cluster, (VALUES ('CPU', 'cpu', 'core-hours', 'cpu'), ('GPU', 'gpu', 'gpu-hours', 'gres/gpu')) AS r(name, kind, unit, tres)
    RETURNING id, slurm_tres
), rates AS (
    INSERT INTO registry.resource_rate (resource_id, rate, valid_during)
    SELECT id, CASE slurm_tres WHEN 'cpu' THEN 1 ELSE 0.1 END, '[2020-01-01,)'::tstzrange FROM resources
    RETURNING 1
), people AS (
    INSERT INTO registry.person (name, email)
    SELECT 'user ' || i, 'user' || i || '@' || $1 || '.example' FROM generate_series(1, $2::integer) AS i
    RETURNING id, email
), accounts AS (
    INSERT INTO registry.cluster_account (cluster_id, person_id, username)
    SELECT cluster.id, people.id, split_part(people.email, '@', 1) FROM cluster, people
    RETURNING 1
), projects AS (
    INSERT INTO registry.project (title, pi_id, origination, originated_id)
    SELECT 'project ' || n, id, 'LOCAL', $1 || '-' || n
    FROM (SELECT id, row_number() OVER (ORDER BY email) AS n FROM people) p
    WHERE n <= $3::integer
    RETURNING id, originated_id
), allocations AS (
    INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
    SELECT projects.id, cluster.id, 'acct' || split_part(projects.originated_id, '-', 2), 1e9, '2020-01-01', '2030-01-01'
    FROM projects, cluster
    RETURNING 1
)
SELECT (SELECT id FROM cluster) AS cluster_id,
       (SELECT count(*) FROM rates) + (SELECT count(*) FROM accounts) + (SELECT count(*) FROM allocations) AS rows
