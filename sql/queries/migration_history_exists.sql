-- Whether refinery's history table exists yet (it does not on a fresh database).
-- Reads the catalog only; takes no locks.
SELECT to_regclass('public.refinery_schema_history') IS NOT NULL AS present
