-- Charges a batch of job records given as parallel arrays (cluster $1, job $2, submit $3, end
-- $4, resource $5, allocation $6, person $7, raw amount $8), each at the rate in force at its
-- end (SU = round(raw ÷ rate, 6), as registry.charge_usage). A record that names a missing or
-- foreign allocation, resource or person, has no rate, is negative, or (for a daemon caller,
-- $9 its site) belongs to another site's cluster is rejected with the reason; the others are
-- charged, and a job charged before is reported as such. One row per record, in input order:
-- its position, the SUs charged, whether it was charged before, and the reason it was
-- rejected. Inserts usage rows; the ledger's statement trigger adds them to the sums once.
WITH input AS (
    SELECT *
    FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::uuid[], $6::uuid[],
                $7::uuid[], $8::numeric[])
         WITH ORDINALITY AS i(cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                              raw_amount, position)
), checked AS (
    SELECT i.*, rate.rate,
           CASE
               WHEN c.id IS NULL THEN 'cluster ' || i.cluster_id || ' does not exist'
               WHEN $9::text IS NOT NULL AND c.name <> $9 THEN 'cluster ' || c.name || ' is not site ' || $9
               WHEN a.id IS NULL THEN 'allocation ' || i.allocation_id || ' does not exist on this cluster'
               WHEN r.id IS NULL THEN 'resource ' || i.resource_id || ' does not exist on this cluster'
               WHEN p.id IS NULL THEN 'person ' || i.person_id || ' does not exist'
               WHEN i.raw_amount < 0 THEN 'raw_amount must be zero or more'
               WHEN i.end_time < i.submit_time THEN 'end_time is before submit_time'
               WHEN btrim(i.job_id) = '' THEN 'job_id is empty'
               WHEN rate.rate IS NULL THEN 'resource has no rate in force at ' || i.end_time
               WHEN row_number() OVER (PARTITION BY i.cluster_id, i.job_id, i.submit_time, i.resource_id
                                       ORDER BY i.position) > 1 THEN 'repeats an earlier record of this batch'
           END AS rejected
    FROM input i
    LEFT JOIN registry.cluster c ON c.id = i.cluster_id
    LEFT JOIN registry.allocation a ON a.id = i.allocation_id AND a.cluster_id = i.cluster_id
    LEFT JOIN registry.resource r ON r.id = i.resource_id AND r.cluster_id = i.cluster_id
    LEFT JOIN registry.person p ON p.id = i.person_id
    LEFT JOIN LATERAL (SELECT registry.rate_at(i.resource_id, i.end_time) AS rate) rate ON true
), charged AS (
    INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                                raw_amount, rate, su_amount)
    SELECT cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
           raw_amount, rate, round(raw_amount / rate, 6)
    FROM checked
    WHERE rejected IS NULL
    ON CONFLICT (cluster_id, job_id, submit_time, resource_id) DO NOTHING
    RETURNING cluster_id, job_id, submit_time, resource_id, su_amount
)
SELECT k.position, ch.su_amount::text AS su_amount,
       k.rejected IS NULL AND ch.job_id IS NULL AS already_charged, k.rejected
FROM checked k
LEFT JOIN charged ch ON k.rejected IS NULL AND ch.cluster_id = k.cluster_id AND ch.job_id = k.job_id
                    AND ch.submit_time = k.submit_time AND ch.resource_id = k.resource_id
ORDER BY k.position
