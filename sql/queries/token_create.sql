-- Stores a new API token's hash, role, subject and expiry; returns its id. Inserts one row.
INSERT INTO auth.token (name, secret_sha256, role, person_id, site, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id
