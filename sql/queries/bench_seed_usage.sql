-- Charges synthetic usage rows $2…$3 (job ids) on cluster $1, spread over its allocations and
-- people, one CPU charge each: for the balance benchmark. Inserts rows; the ledger trigger adds
-- them to the running sums.
WITH refs AS (
    SELECT (SELECT array_agg(id ORDER BY id) FROM registry.allocation WHERE cluster_id = $1) AS allocations,
           (SELECT array_agg(person_id ORDER BY person_id) FROM registry.cluster_account WHERE cluster_id = $1) AS people,
           (SELECT id FROM registry.resource WHERE cluster_id = $1 AND slurm_tres = 'cpu') AS cpu
)
INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                            raw_amount, rate, su_amount)
SELECT $1, i::text, '2025-01-01'::timestamptz + i * interval '1 second', '2025-01-01'::timestamptz + i * interval '1 second' + interval '1 hour',
       refs.cpu, refs.allocations[1 + i % cardinality(refs.allocations)], refs.people[1 + i % cardinality(refs.people)],
       1, 1, 1
FROM refs, generate_series($2::bigint, $3::bigint) AS i
