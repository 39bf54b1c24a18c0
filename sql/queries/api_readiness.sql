-- The highest migration applied, for /readyz to compare with the binary's. Plain read.
SELECT max(version)::bigint AS version FROM refinery_schema_history
