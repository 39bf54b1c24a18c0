-- V12: what the seed's data model says that Purser did not yet do: reductions by request,
-- organizations' originated ids, people's name parts.
--
-- Why:
-- * A PI asks to give SUs back ("a reduction in SUs due to project completion"). A reduction
--   is a change request like a supplement (kind = reduction, requested_su = the SUs to take);
--   its approval writes an adjustment diff of −requested_su. A reduction, like a transfer out,
--   may not take an allocation's balance below zero: registry.withdrawal_refusal says why it
--   would, and submission, approval and registry.transfer_su refuse it. Approval and transfers
--   lock the allocation's running sums first, so a charge landing at the same time cannot slip
--   between the check and the diff.
-- * An organization comes from somewhere, like a project: an ACCESS organization has its
--   ACCESS record id. organization.origination and originated_id hold it, unique per
--   origination; both are NULL for an organization recorded here with no outside id.
-- * AMIE and LDAP need a person's first, middle and last names, not one display name.
--   person.first_name, middle_name and last_name sit beside name. Existing rows, and new rows
--   that give no parts, take them from the display name (registry.name_parts): the last word
--   is the last name, the first word the first name, the words between the middle name; a
--   one-word name is a last name only (LDAP's sn is required, givenName is not). The backfill
--   updates every person row once (one audit event each).

-- Reductions ----------------------------------------------------------------------------------

ALTER TABLE registry.change_request
    DROP CONSTRAINT change_request_kind_check,
    ADD CONSTRAINT change_request_kind_check CHECK (kind IN ('supplement', 'extension', 'status', 'reduction')),
    DROP CONSTRAINT change_request_check,
    ADD CONSTRAINT change_request_requested_su_kind CHECK ((kind IN ('supplement', 'reduction')) = (requested_su IS NOT NULL));
COMMENT ON COLUMN registry.change_request.kind IS
    'supplement (requested_su more), reduction (requested_su fewer), extension (requested_ends_at) or status (requested_status).';
COMMENT ON COLUMN registry.change_request.requested_su IS 'For a supplement: the SUs asked for; for a reduction: the SUs to give back.';
COMMENT ON COLUMN report.pending_change_requests.kind IS 'supplement, reduction, extension or status.';
COMMENT ON COLUMN report.pending_change_requests.requested_su IS 'SUs asked for (supplement) or given back (reduction).';

CREATE FUNCTION registry.withdrawal_refusal(allocation_id uuid, su numeric) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format('the allocation has %s SUs left, fewer than the %s to take: its balance may not go below zero',
                  trim_scale(b.balance_su), trim_scale(withdrawal_refusal.su))
    FROM report.allocation_balance b
    WHERE b.allocation_id = withdrawal_refusal.allocation_id
      AND b.balance_su < withdrawal_refusal.su
$$;
COMMENT ON FUNCTION registry.withdrawal_refusal(uuid, numeric) IS
    'Why su SUs may not be taken from an allocation (by a reduction or a transfer out): its balance would go below zero. NULL when they may be taken. The one place that rule lives.';

CREATE FUNCTION registry.refuse_withdrawal(allocation_id uuid, su numeric) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    refusal text;
BEGIN
    -- Lock the running sums: a charge (which updates them) waits until this transaction ends,
    -- so the balance read next cannot change before the withdrawal's diff is written.
    PERFORM 1 FROM registry.allocation_total t WHERE t.allocation_id = refuse_withdrawal.allocation_id FOR UPDATE;
    refusal := registry.withdrawal_refusal(refuse_withdrawal.allocation_id, refuse_withdrawal.su);
    IF refusal IS NOT NULL THEN
        RAISE EXCEPTION '%', refusal USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END;
$$;
COMMENT ON FUNCTION registry.refuse_withdrawal(uuid, numeric) IS
    'Locks an allocation''s running sums and raises registry.withdrawal_refusal''s reason, if any: the guard before a reduction or transfer out.';

CREATE OR REPLACE FUNCTION registry.submit_change_request(
    allocation_id uuid,
    requester_id uuid,
    kind text,
    justification text,
    requested_su numeric DEFAULT NULL,
    requested_status text DEFAULT NULL,
    requested_ends_at timestamptz DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    request_id uuid;
    refusal text;
BEGIN
    IF submit_change_request.kind = 'reduction' THEN
        refusal := registry.withdrawal_refusal(submit_change_request.allocation_id, submit_change_request.requested_su);
        IF refusal IS NOT NULL THEN
            RAISE EXCEPTION '%', refusal USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END IF;
    INSERT INTO registry.change_request (allocation_id, requester_id, kind, justification, requested_su,
                                         requested_status, requested_ends_at)
    VALUES (submit_change_request.allocation_id, submit_change_request.requester_id, submit_change_request.kind,
            submit_change_request.justification, submit_change_request.requested_su,
            submit_change_request.requested_status, submit_change_request.requested_ends_at)
    RETURNING id INTO request_id;
    INSERT INTO registry.change_request_event (change_request_id, from_state, to_state, actor)
    VALUES (request_id, NULL, 'PENDING', registry.current_actor());
    RETURN request_id;
END;
$$;
COMMENT ON FUNCTION registry.submit_change_request(uuid, uuid, text, text, numeric, text, timestamptz) IS
    'Submits a change request (PENDING) and records the submission event. Returns its id. A reduction that would take the balance below zero is refused.';

CREATE OR REPLACE FUNCTION registry.decide_change_request(request_id uuid, decision text, comment text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    request registry.change_request;
    diff_id uuid;
BEGIN
    IF decision NOT IN ('APPROVED', 'REJECTED', 'CANCELLED') THEN
        RAISE EXCEPTION 'registry.decide_change_request: decision must be APPROVED, REJECTED or CANCELLED, not %', quote_nullable(decision)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The row lock makes a second decision wait for the first, then see it.
    SELECT * INTO request FROM registry.change_request r WHERE r.id = request_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'change request % does not exist', request_id USING ERRCODE = 'no_data_found';
    END IF;
    IF request.state <> 'PENDING' THEN
        RAISE EXCEPTION 'change request % is already %', request_id, request.state
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF decision = 'APPROVED' AND request.kind = 'reduction' THEN
        PERFORM registry.refuse_withdrawal(request.allocation_id, request.requested_su);
    END IF;
    UPDATE registry.change_request r
       SET state = decision, decided_at = now(), decided_by = registry.current_actor()
     WHERE r.id = request_id;
    INSERT INTO registry.change_request_event (change_request_id, from_state, to_state, actor, comment)
    VALUES (request_id, 'PENDING', decision, registry.current_actor(), decide_change_request.comment);
    IF decision = 'APPROVED' THEN
        INSERT INTO registry.allocation_diff (allocation_id, kind, su_delta, new_status, new_ends_at, reason, source,
                                              change_request_id, actor)
        VALUES (request.allocation_id,
                CASE request.kind WHEN 'supplement' THEN 'supplement' WHEN 'reduction' THEN 'adjustment'
                                  WHEN 'extension' THEN 'end_date' ELSE 'status' END,
                CASE request.kind WHEN 'reduction' THEN -request.requested_su ELSE coalesce(request.requested_su, 0) END,
                request.requested_status, request.requested_ends_at,
                coalesce(decide_change_request.comment, request.justification), 'change_request', request_id,
                registry.current_actor())
        RETURNING id INTO diff_id;
    END IF;
    RETURN diff_id;
END;
$$;
COMMENT ON FUNCTION registry.decide_change_request(uuid, text, text) IS
    'Approves, rejects or cancels a PENDING change request, with its event; approval creates the diff in the same transaction (a reduction: an adjustment of −requested_su, refused when the balance would go below zero) and returns its id. Deciding twice is an error.';

CREATE OR REPLACE FUNCTION registry.transfer_su(from_allocation uuid, to_allocation uuid, su numeric, reason text) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    pair uuid := registry.uuid_v7();
BEGIN
    IF su IS NULL OR su <= 0 THEN
        RAISE EXCEPTION 'registry.transfer_su: su must be more than zero, not %', quote_nullable(su)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF from_allocation = to_allocation THEN
        RAISE EXCEPTION 'registry.transfer_su: an allocation cannot transfer to itself' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM registry.refuse_withdrawal(from_allocation, su);
    INSERT INTO registry.allocation_diff (allocation_id, kind, su_delta, transfer_id, reason, source, actor)
    VALUES (from_allocation, 'transfer', -su, pair, reason, 'admin', registry.current_actor()),
           (to_allocation, 'transfer', su, pair, reason, 'admin', registry.current_actor());
    RETURN pair;
END;
$$;
COMMENT ON FUNCTION registry.transfer_su(uuid, uuid, numeric, text) IS
    'Moves SUs between allocations: two transfer diffs sharing one transfer_id, in one transaction. Refused when the source''s balance would go below zero. Returns the transfer id.';

CREATE FUNCTION api.diff_item(d registry.allocation_diff) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_jsonb(d) || jsonb_build_object('su_delta', d.su_delta::text, 'transaction_id', d.transaction_id::text)
$$;
COMMENT ON FUNCTION api.diff_item(registry.allocation_diff) IS 'An allocation diff as the API shows it: su_delta and the transaction id as decimal strings.';

-- Organizations' originated ids -----------------------------------------------------------------

ALTER TABLE registry.organization
    ADD COLUMN origination text CHECK (origination IN ('ACCESS', 'NAIRR', 'XRAS', 'LOCAL')),
    ADD COLUMN originated_id text CHECK (btrim(originated_id) <> ''),
    ADD CONSTRAINT organization_originated_pair CHECK ((origination IS NULL) = (originated_id IS NULL)),
    ADD CONSTRAINT organization_originated_unique UNIQUE (origination, originated_id);
COMMENT ON COLUMN registry.organization.origination IS 'Where it came from: ACCESS, NAIRR, XRAS or LOCAL; NULL when it has no outside id.';
COMMENT ON COLUMN registry.organization.originated_id IS 'Its id where it came from (e.g. an ACCESS record id), unique per origination; NULL with origination.';

-- People's name parts ---------------------------------------------------------------------------

CREATE FUNCTION registry.name_parts(full_name text, OUT first_name text, OUT middle_name text, OUT last_name text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN n > 1 THEN w[1] END,
           CASE WHEN n > 2 THEN array_to_string(w[2:n - 1], ' ') END,
           w[n]
    FROM (SELECT regexp_split_to_array(regexp_replace(full_name, '^[[:space:]]+|[[:space:]]+$', '', 'g'), '[[:space:]]+') AS w) words,
         LATERAL (SELECT cardinality(words.w) AS n) counted
$$;
COMMENT ON FUNCTION registry.name_parts(text) IS
    'Splits a display name into name parts: the last word is the last name, the first word the first name, the words between the middle name (NULL when none); a one-word name is a last name only.';

ALTER TABLE registry.person
    ADD COLUMN first_name text CHECK (btrim(first_name) <> ''),
    ADD COLUMN middle_name text CHECK (btrim(middle_name) <> ''),
    ADD COLUMN last_name text CHECK (btrim(last_name) <> '');
COMMENT ON COLUMN registry.person.name IS 'Display name, as the person writes it.';
COMMENT ON COLUMN registry.person.first_name IS 'First (given) name, if they have one.';
COMMENT ON COLUMN registry.person.middle_name IS 'Middle name or names, if any.';
COMMENT ON COLUMN registry.person.last_name IS 'Last (family) name; LDAP''s sn.';

UPDATE registry.person p
   SET (first_name, middle_name, last_name) = (SELECT x.first_name, x.middle_name, x.last_name FROM registry.name_parts(p.name) x);
ALTER TABLE registry.person ALTER COLUMN last_name SET NOT NULL;

CREATE FUNCTION registry.fill_name_parts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.first_name IS NULL AND NEW.middle_name IS NULL AND NEW.last_name IS NULL THEN
        SELECT x.first_name, x.middle_name, x.last_name INTO NEW.first_name, NEW.middle_name, NEW.last_name
        FROM registry.name_parts(NEW.name) x;
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION registry.fill_name_parts() IS
    'Trigger: a new person given no name parts takes them from the display name (registry.name_parts).';
CREATE TRIGGER person_fills_name_parts BEFORE INSERT ON registry.person
    FOR EACH ROW EXECUTE FUNCTION registry.fill_name_parts();

-- Grants ----------------------------------------------------------------------------------------

GRANT EXECUTE ON FUNCTION registry.withdrawal_refusal(uuid, numeric), registry.refuse_withdrawal(uuid, numeric),
                          registry.name_parts(text), registry.fill_name_parts(), api.diff_item(registry.allocation_diff)
    TO purser_api;
-- An admin removes a person's cluster account through the API (refused while the person still
-- has memberships on that cluster).
GRANT DELETE ON registry.cluster_account TO purser_api;
