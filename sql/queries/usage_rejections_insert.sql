-- Records a batch of rejected records of an import ($1). Inserts rows.
INSERT INTO registry.usage_rejection (import_id, line, job_id, reason, record)
SELECT $1, r.line, r.job_id, r.reason, left(r.record, 2000)
FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS r(line, job_id, reason, record)
