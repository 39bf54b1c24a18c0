-- Charges a batch of usage rows given as parallel arrays, each at the rate the importer found
-- in force at the job's end; SU = round(raw ÷ rate, 6), as registry.charge_usage computes it.
-- Rows already charged (same cluster, job, submit time and resource) are skipped; the count
-- of rows inserted is the statement's result. Inserts rows; the ledger's statement trigger
-- checks references and adds to the running sums once for the whole batch.
INSERT INTO registry.usage (cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id,
                            raw_amount, rate, su_amount)
SELECT c.cluster_id, c.job_id, c.submit_time, c.end_time, c.resource_id, c.allocation_id, c.person_id,
       c.raw_amount, c.rate, round(c.raw_amount / c.rate, 6)
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::uuid[], $6::uuid[], $7::uuid[],
            $8::numeric[], $9::numeric[])
     AS c(cluster_id, job_id, submit_time, end_time, resource_id, allocation_id, person_id, raw_amount, rate)
ON CONFLICT (cluster_id, job_id, submit_time, resource_id) DO NOTHING
