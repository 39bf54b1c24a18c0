-- Seeds a synthetic centre for the reconciler benchmark: $2 clusters named $1-1 … $1-N (one
-- site each), $3 people each with a cluster account (userI) on every cluster, $4 projects
-- with one allocation each (accounts acctI, 1e9 SUs, 2020–2030), split round-robin over the
-- clusters, and $5 memberships spread evenly over the allocations (distinct people in each,
-- no cap). Returns how many allocations and memberships it made. Inserts rows only; the
-- registry's statement triggers (audit, running sums, dirty marks) run once per statement.
WITH clusters AS (
    INSERT INTO registry.cluster (name, description)
    SELECT $1::text || '-' || s, 'reconciler benchmark' FROM generate_series(1, $2::integer) AS s
    RETURNING id, name
), numbered_clusters AS (
    SELECT id, row_number() OVER (ORDER BY name) - 1 AS n FROM clusters
), people AS (
    INSERT INTO registry.person (name, email)
    SELECT 'user ' || i, 'user' || i || '@' || $1::text || '.example' FROM generate_series(1, $3::integer) AS i
    RETURNING id, email
), numbered_people AS (
    SELECT id, split_part(email, '@', 1) AS username,
           (row_number() OVER (ORDER BY id) - 1)::integer AS n
    FROM people
), accounts AS (
    INSERT INTO registry.cluster_account (cluster_id, person_id, username)
    SELECT c.id, p.id, p.username FROM clusters c, numbered_people p
    RETURNING 1
), projects AS (
    INSERT INTO registry.project (title, pi_id, origination, originated_id)
    SELECT 'project ' || i, p.id, 'LOCAL', $1::text || '-' || i
    FROM generate_series(1, $4::integer) AS i
    JOIN numbered_people p ON p.n = (i - 1) % $3::integer
    RETURNING id, originated_id
), allocations AS (
    INSERT INTO registry.allocation (project_id, cluster_id, account_name, initial_su, starts_at, ends_at)
    SELECT pr.id, c.id, 'acct' || i, 1e9, '2020-01-01', '2030-01-01'
    FROM projects pr
    CROSS JOIN LATERAL (SELECT split_part(pr.originated_id, '-', -1)::integer AS i) x
    JOIN numbered_clusters c ON c.n = (x.i - 1) % $2::integer
    RETURNING id, account_name
), numbered_allocations AS (
    SELECT id, substr(account_name, 5)::integer - 1 AS n FROM allocations
), memberships AS (
    -- Member j of allocation n is person (n + j·stride) mod people: distinct within an
    -- allocation while memberships per allocation ≤ people / stride.
    INSERT INTO registry.membership (allocation_id, person_id, starts_at)
    SELECT a.id, p.id, '2020-01-01'
    FROM numbered_allocations a
    CROSS JOIN generate_series(0, ceil($5::integer::numeric / $4::integer)::integer - 1) AS j
    JOIN numbered_people p
      ON p.n = (a.n + j * greatest(1, $3::integer / greatest(1, ceil($5::integer::numeric / $4::integer)::integer))) % $3::integer
    WHERE a.n * ceil($5::integer::numeric / $4::integer)::integer + j < $5::integer
    RETURNING 1
)
SELECT (SELECT count(*) FROM allocations) AS allocations,
       (SELECT count(*) FROM memberships) AS memberships,
       (SELECT count(*) FROM accounts) AS accounts
