-- Loads the demo centre (`purser seed demo`): two organizations, six people, two clusters
-- (expanse, delta) with CPU and GPU resources and their rates (a rate is raw units per SU, so
-- GPUs get dearer on 2026-07-01: 0.02 gpu-hours per SU, 50 SUs a GPU-hour, before; 0.0125,
-- 80 SUs a GPU-hour, from then on), three projects with allocations (one ending within 30 days), memberships with
-- a cap, and cluster accounts. One statement, so it loads whole or not at all; it fails on a
-- database that already has clusters of these names. Returns the number of allocations.
WITH organizations AS (
    INSERT INTO registry.organization (name)
    VALUES ('Example State University'), ('Coastal Institute of Technology')
    RETURNING id, name
), people AS (
    INSERT INTO registry.person (name, email, organization_id)
    SELECT p.name, p.email, o.id
    FROM (VALUES ('Ada Lovelace', 'ada@esu.example', 'Example State University'),
                 ('Grace Hopper', 'grace@cit.example', 'Coastal Institute of Technology'),
                 ('Alan Turing', 'alan@esu.example', 'Example State University'),
                 ('Katherine Johnson', 'katherine@esu.example', 'Example State University'),
                 ('Edsger Dijkstra', 'edsger@cit.example', 'Coastal Institute of Technology'),
                 ('Barbara Liskov', 'barbara@cit.example', 'Coastal Institute of Technology'))
         AS p(name, email, organization)
    JOIN organizations o ON o.name = p.organization
    RETURNING id, email
), identities AS (
    INSERT INTO registry.identity (person_id, source, external_id)
    SELECT people.id, 'access', split_part(people.email, '@', 1) || '-access-id'
    FROM people WHERE people.email IN ('ada@esu.example', 'grace@cit.example')
    RETURNING 1
), clusters AS (
    INSERT INTO registry.cluster (name, description)
    VALUES ('expanse', 'The campus flagship: CPU and H200 GPU nodes'), ('delta', 'The teaching cluster: CPU only')
    RETURNING id, name
), resources AS (
    INSERT INTO registry.resource (cluster_id, name, resource_type, unit, slurm_partition, slurm_tres)
    SELECT c.id, r.name, r.kind, r.unit, r.partition, r.tres
    FROM (VALUES ('expanse', 'CPU', 'cpu', 'core-hours', NULL, 'cpu'),
                 ('expanse', 'GPU H200', 'gpu', 'gpu-hours', 'gpu', 'gres/gpu'),
                 ('delta', 'CPU', 'cpu', 'core-hours', NULL, 'cpu'))
         AS r(cluster, name, kind, unit, partition, tres)
    JOIN clusters c ON c.name = r.cluster
    RETURNING id, cluster_id, name
), rates AS (
    INSERT INTO registry.resource_rate (resource_id, rate, valid_during)
    SELECT r.id, x.rate, x.during::tstzrange
    FROM resources r
    JOIN clusters c ON c.id = r.cluster_id
    JOIN (VALUES ('expanse', 'CPU', 1.0, '[2025-01-01,)'),
                 ('expanse', 'GPU H200', 0.02, '[2025-01-01, 2026-07-01)'),
                 ('expanse', 'GPU H200', 0.0125, '[2026-07-01,)'),
                 ('delta', 'CPU', 2.0, '[2025-01-01,)'))
         AS x(cluster, resource, rate, during) ON x.cluster = c.name AND x.resource = r.name
    RETURNING 1
), projects AS (
    INSERT INTO registry.project (title, pi_id, organization_id, origination, originated_id)
    SELECT x.title, pi.id, o.id, x.origination, x.originated_id
    FROM (VALUES ('Protein folding at scale', 'ada@esu.example', 'Example State University', 'ACCESS', 'CHE260001'),
                 ('Lattice QCD', 'grace@cit.example', 'Coastal Institute of Technology', 'ACCESS', 'PHY260002'),
                 ('Genomics course', 'ada@esu.example', 'Example State University', 'LOCAL', 'BIO-7'))
         AS x(title, pi, organization, origination, originated_id)
    JOIN people pi ON pi.email = x.pi
    JOIN organizations o ON o.name = x.organization
    RETURNING id, originated_id
), allocations AS (
    INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
    SELECT p.id, c.id, x.account, x.su, x.starts::timestamptz, x.ends
    FROM (VALUES ('CHE260001', 'expanse', 'che260001', 50000, '2026-01-01', now() + interval '1 year'),
                 ('PHY260002', 'expanse', 'phy260002', 20000, '2026-01-01', now() + interval '1 year'),
                 ('BIO-7', 'delta', 'bio7', 5000, '2026-01-01', now() + interval '20 days'))
         AS x(project, cluster, account, su, starts, ends)
    JOIN projects p ON p.originated_id = x.project
    JOIN clusters c ON c.name = x.cluster
    RETURNING id, account_name, cluster_id
), included AS (
    INSERT INTO registry.allocation_resource (allocation_id, resource_id, cluster_id)
    SELECT a.id, r.id, a.cluster_id FROM allocations a JOIN resources r ON r.cluster_id = a.cluster_id
    RETURNING 1
), memberships AS (
    INSERT INTO registry.membership (allocation_id, person_id, cap_su, starts_at)
    SELECT a.id, pe.id, x.cap, '2026-01-01'
    FROM (VALUES ('che260001', 'ada@esu.example', NULL::numeric),
                 ('che260001', 'alan@esu.example', 5000),
                 ('che260001', 'katherine@esu.example', NULL),
                 ('phy260002', 'grace@cit.example', NULL),
                 ('phy260002', 'edsger@cit.example', 2000),
                 ('bio7', 'ada@esu.example', NULL),
                 ('bio7', 'katherine@esu.example', 500))
         AS x(account, email, cap)
    JOIN allocations a ON a.account_name = x.account
    JOIN people pe ON pe.email = x.email
    RETURNING 1
), accounts AS (
    INSERT INTO registry.cluster_account (cluster_id, person_id, username, uid)
    SELECT c.id, pe.id, x.username, x.uid
    FROM (VALUES ('expanse', 'ada@esu.example', 'ada', 10001),
                 ('expanse', 'alan@esu.example', 'alan', 10002),
                 ('expanse', 'katherine@esu.example', 'katherine', 10003),
                 ('expanse', 'grace@cit.example', 'grace', 10004),
                 ('expanse', 'edsger@cit.example', 'edsger', 10005),
                 ('delta', 'ada@esu.example', 'ada', 20001),
                 ('delta', 'katherine@esu.example', 'katherine', 20002))
         AS x(cluster, email, username, uid)
    JOIN clusters c ON c.name = x.cluster
    JOIN people pe ON pe.email = x.email
    RETURNING 1
)
SELECT (SELECT count(*) FROM allocations) AS allocations,
       (SELECT count(*) FROM identities) + (SELECT count(*) FROM rates) + (SELECT count(*) FROM included)
       + (SELECT count(*) FROM memberships) + (SELECT count(*) FROM accounts) AS other_rows
