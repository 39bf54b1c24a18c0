-- The migrations applied to this database, oldest first, as refinery recorded them
-- (applied_on is refinery's RFC 3339 text, checksum its u64 as text). Plain read.
SELECT version::bigint AS version, name::text AS name, applied_on::text AS applied_on, checksum::text AS checksum
FROM public.refinery_schema_history
ORDER BY version
