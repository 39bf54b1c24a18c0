-- Whether a database of this name exists on the server. Reads the catalog only.
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS present
