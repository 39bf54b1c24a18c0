-- Charges a batch of job records given as parallel arrays (cluster $1, job $2, submit $3, end $4,
-- resource $5, allocation $6, person $7, raw amount $8) through registry.charge_usage_batch, the
-- one charging path: each at the rate in force at its end, a bad record rejected with its reason;
-- $9, when given, is the caller's site (a record of another site's cluster is rejected). With
-- $10 (only exceptions) only the records rejected or charged earlier come back; every other
-- record was charged now. Rows in input order: position from 1, the SUs charged (a decimal
-- string), whether it was charged before, why it was rejected. Inserts usage rows; the ledger's
-- statement trigger adds them to the running sums once for the whole batch, locking each
-- allocation's sums in allocation order.
SELECT b.record, b.su_amount::text AS su_amount, b.already_charged, b.rejected
FROM registry.charge_usage_batch($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::uuid[],
                                 $6::uuid[], $7::uuid[], $8::numeric[], $9::text, $10::boolean) b
