-- Charges a batch of job records given as parallel arrays (cluster $1, job $2, submit $3, end
-- $4, resource $5, allocation $6, person $7, raw amount $8) through registry.charge_usage_batch,
-- the one charging path; for a daemon caller, $9 is its site, and a record of another site's
-- cluster is rejected. One row per record, in input order: its position, the SUs charged (a
-- decimal string), whether it was charged before, and the reason it was rejected. Inserts usage
-- rows; the ledger's statement trigger adds them to the sums once.
SELECT b.record AS position, b.su_amount::text AS su_amount, b.already_charged, b.rejected
FROM registry.charge_usage_batch($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::uuid[],
                                 $6::uuid[], $7::uuid[], $8::numeric[], $9::text) b
