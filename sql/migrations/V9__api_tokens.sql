-- V9: API tokens.
--
-- Why: every API call is authenticated. A token is a random secret shown once when it is made
-- (`purser token create`); the database keeps only its SHA-256, so a copy of the database
-- gives no way in. Each token has a role (what it may do), an expiry, and can be revoked. PI and
-- member tokens act for a person; daemon tokens for a site. The tokens live in a schema of
-- their own so the reporting role, which reads every other schema, never sees them.

CREATE SCHEMA IF NOT EXISTS auth;
COMMENT ON SCHEMA auth IS 'Credentials for the API: tokens, stored as hashes. Not readable by the reporting role.';

CREATE TABLE auth.token (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    name text NOT NULL CHECK (btrim(name) <> ''),
    secret_sha256 bytea NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    role text NOT NULL CHECK (role IN ('admin', 'daemon', 'pi', 'member', 'reader')),
    person_id uuid REFERENCES registry.person (id),
    site text CHECK (site ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    created_by text NOT NULL DEFAULT registry.current_actor(),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    last_used_at timestamptz,
    CHECK ((role IN ('pi', 'member')) = (person_id IS NOT NULL)),
    CHECK ((role = 'daemon') = (site IS NOT NULL)),
    CHECK (expires_at > created_at)
);
COMMENT ON TABLE auth.token IS 'API bearer tokens: the SHA-256 of each secret, its role, whom it acts for, its expiry and revocation.';
COMMENT ON COLUMN auth.token.id IS 'Token id (not secret): what list and revoke name.';
COMMENT ON COLUMN auth.token.name IS 'What it is for, e.g. "science gateway" or "expanse daemon".';
COMMENT ON COLUMN auth.token.secret_sha256 IS 'SHA-256 of the secret; the secret itself is shown once and never stored.';
COMMENT ON COLUMN auth.token.role IS 'admin, daemon, pi, member or reader.';
COMMENT ON COLUMN auth.token.person_id IS 'For pi and member tokens: the person it acts for.';
COMMENT ON COLUMN auth.token.site IS 'For daemon tokens: the site it serves.';
COMMENT ON COLUMN auth.token.created_by IS 'Who made it.';
COMMENT ON COLUMN auth.token.created_at IS 'When it was made.';
COMMENT ON COLUMN auth.token.expires_at IS 'After this it is refused.';
COMMENT ON COLUMN auth.token.revoked_at IS 'When it was revoked; refused from then on.';
COMMENT ON COLUMN auth.token.last_used_at IS 'When it was last accepted.';

CREATE TRIGGER audit_inserts AFTER INSERT ON auth.token REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit.record_inserts('id');
CREATE TRIGGER audit_changes AFTER UPDATE OF name, role, person_id, site, expires_at, revoked_at OR DELETE ON auth.token
    FOR EACH ROW EXECUTE FUNCTION audit.record_change('id');

GRANT USAGE ON SCHEMA auth TO purser_api;
GRANT SELECT, INSERT, UPDATE ON auth.token TO purser_api;
