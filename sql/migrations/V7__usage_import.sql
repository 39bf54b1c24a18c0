-- V7: usage imports and the records they rejected.
--
-- Why: `purser usage import` charges jobs from Slurm's sacct output in bulk. Each run is
-- recorded (who, what file, how many records, charges and rejections), and a record it cannot
-- charge (malformed, unfinished, or naming an account or user Purser does not know) is kept
-- with its reason instead of stopping the batch, so an admin can fix the mapping and import
-- the file again: charges are keyed by job, so a re-import only adds what was missing.

CREATE TABLE registry.usage_import (
    id uuid PRIMARY KEY DEFAULT registry.uuid_v7(),
    cluster_id uuid NOT NULL REFERENCES registry.cluster (id),
    source text NOT NULL,
    format text NOT NULL CHECK (format IN ('parsable2', 'json')),
    actor text NOT NULL DEFAULT registry.current_actor(),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    records bigint NOT NULL DEFAULT 0 CHECK (records >= 0),
    charges bigint NOT NULL DEFAULT 0 CHECK (charges >= 0),
    already_charged bigint NOT NULL DEFAULT 0 CHECK (already_charged >= 0),
    rejected bigint NOT NULL DEFAULT 0 CHECK (rejected >= 0)
);
COMMENT ON TABLE registry.usage_import IS 'One run of `purser usage import`: the file, who ran it, and what came of its records.';
COMMENT ON COLUMN registry.usage_import.id IS 'Import id.';
COMMENT ON COLUMN registry.usage_import.cluster_id IS 'The cluster the jobs ran on.';
COMMENT ON COLUMN registry.usage_import.source IS 'The file imported.';
COMMENT ON COLUMN registry.usage_import.format IS 'parsable2 (sacct --parsable2) or json (sacct --json).';
COMMENT ON COLUMN registry.usage_import.actor IS 'Who ran it.';
COMMENT ON COLUMN registry.usage_import.started_at IS 'When it started.';
COMMENT ON COLUMN registry.usage_import.finished_at IS 'When it finished; NULL while running or if it was interrupted.';
COMMENT ON COLUMN registry.usage_import.records IS 'Job records read.';
COMMENT ON COLUMN registry.usage_import.charges IS 'Usage rows charged (a job may charge several resources).';
COMMENT ON COLUMN registry.usage_import.already_charged IS 'Usage rows that were already charged by an earlier import.';
COMMENT ON COLUMN registry.usage_import.rejected IS 'Records rejected (see registry.usage_rejection).';

CREATE TABLE registry.usage_rejection (
    import_id uuid NOT NULL REFERENCES registry.usage_import (id),
    line bigint NOT NULL CHECK (line >= 1),
    job_id text,
    reason text NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (import_id, line)
);
COMMENT ON TABLE registry.usage_rejection IS
    'A record an import could not charge, with the reason. Part of its import''s record (the import names the actor), so not audited separately.';
COMMENT ON COLUMN registry.usage_rejection.import_id IS 'The import.';
COMMENT ON COLUMN registry.usage_rejection.line IS 'Its line in the file (parsable2) or its position in the jobs list (json), from 1.';
COMMENT ON COLUMN registry.usage_rejection.job_id IS 'The job id, when it could be read.';
COMMENT ON COLUMN registry.usage_rejection.reason IS 'Why it was not charged.';
COMMENT ON COLUMN registry.usage_rejection.record IS 'The record as read (truncated to 2,000 characters).';

CREATE TRIGGER audit_inserts AFTER INSERT ON registry.usage_import REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit.record_inserts('id');
CREATE TRIGGER audit_changes AFTER UPDATE OR DELETE ON registry.usage_import
    FOR EACH ROW EXECUTE FUNCTION audit.record_change('id');

GRANT SELECT ON registry.usage_import, registry.usage_rejection TO purser_api, purser_daemon, purser_reader;
GRANT INSERT, UPDATE ON registry.usage_import TO purser_api, purser_daemon;
GRANT INSERT ON registry.usage_rejection TO purser_api, purser_daemon;
