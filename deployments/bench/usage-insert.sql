-- Charges 200,000 usage rows in one statement into a migrated database, to measure what the
-- usage table's keys, checks and triggers cost per charge (docs/benchmarks.md).
-- Run against a scratch database, from the repository root:
--   psql "$(cargo run -q --bin purser -- dev-db url)" -f deployments/bench/usage-insert.sql
-- Everything happens in one transaction that is rolled back.
\timing on
BEGIN;
INSERT INTO registry.cluster (name) VALUES ('usage-bench');
INSERT INTO registry.resource (cluster_id, name, resource_type, unit, slurm_tres)
SELECT id, 'CPU', 'cpu', 'core-hours', 'cpu' FROM registry.cluster WHERE name = 'usage-bench';
INSERT INTO registry.person (name, email) SELECT 'user ' || i, 'user' || i || '@usage-bench.example' FROM generate_series(1, 1000) i;
INSERT INTO registry.project (title, pi_id, origination, originated_id)
SELECT 'project ' || n, id, 'LOCAL', 'usage-bench-' || n
FROM (SELECT id, row_number() OVER () AS n FROM registry.person WHERE email LIKE '%@usage-bench.example' LIMIT 100) p;
INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
SELECT p.id, c.id, 'usage-bench-' || row_number() OVER (), 1e6, '2020-01-01', '2030-01-01'
FROM registry.project p, registry.cluster c WHERE p.originated_id LIKE 'usage-bench-%' AND c.name = 'usage-bench';
CREATE TEMP TABLE refs ON COMMIT DROP AS
SELECT (SELECT id FROM registry.cluster WHERE name = 'usage-bench') AS cluster_id,
       (SELECT r.id FROM registry.resource r JOIN registry.cluster c ON c.id = r.cluster_id WHERE c.name = 'usage-bench') AS resource_id,
       (SELECT array_agg(a.id) FROM registry.allocation a WHERE a.account_name LIKE 'usage-bench-%') AS allocations,
       (SELECT array_agg(id) FROM registry.person WHERE email LIKE '%@usage-bench.example') AS people;
INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id, raw_amount, rate, su_amount)
SELECT refs.cluster_id, i::text, '2025-01-01'::timestamptz + i * interval '1 second', '2025-01-02'::timestamptz + i * interval '1 second',
       refs.resource_id, refs.allocations[1 + i % 100], refs.people[1 + i % 1000], 10, 10, 1
FROM refs, generate_series(1, 200000) i;
ROLLBACK;
