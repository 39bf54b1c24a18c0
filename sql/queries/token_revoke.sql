-- Revokes token $1 unless it already is; returns it when it was revoked now. Locks its row.
UPDATE auth.token SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id
