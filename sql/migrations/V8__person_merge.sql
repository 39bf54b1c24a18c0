-- V8: merging duplicate people.
--
-- Why: the same person arrives twice (an ACCESS import and a campus directory record) and an
-- admin merges them. The survivor keeps everything the duplicate had: identities, cluster
-- accounts, memberships, projects it leads, change requests it made. The duplicate stays, as
-- `merged` pointing at the survivor, because the append-only ledger (usage) and the audit log
-- still name it. A merge that would need a judgement (both have an account on one cluster) is
-- refused, saying which, so the admin decides first.

CREATE FUNCTION registry.merge_person(survivor uuid, duplicate uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    kept registry.person;
    merged registry.person;
    clash text;
BEGIN
    IF survivor = duplicate THEN
        RAISE EXCEPTION 'registry.merge_person: a person cannot be merged into themselves' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Lock both, in id order, so two merges never deadlock.
    PERFORM 1 FROM registry.person p WHERE p.id IN (survivor, duplicate) ORDER BY p.id FOR UPDATE;
    SELECT * INTO kept FROM registry.person p WHERE p.id = survivor;
    SELECT * INTO merged FROM registry.person p WHERE p.id = duplicate;
    IF kept.id IS NULL OR merged.id IS NULL THEN
        RAISE EXCEPTION 'registry.merge_person: person % does not exist', CASE WHEN kept.id IS NULL THEN survivor ELSE duplicate END
            USING ERRCODE = 'no_data_found';
    END IF;
    IF kept.status = 'merged' OR merged.status = 'merged' THEN
        RAISE EXCEPTION 'registry.merge_person: % is already merged', CASE WHEN kept.status = 'merged' THEN kept.email ELSE merged.email END
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT string_agg(format('%s (%s and %s)', c.name, a.username, b.username), ', ') INTO clash
    FROM registry.cluster_account a
    JOIN registry.cluster_account b ON b.cluster_id = a.cluster_id
    JOIN registry.cluster c ON c.id = a.cluster_id
    WHERE a.person_id = survivor AND b.person_id = duplicate;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'registry.merge_person: both people have an account on %; remove one first', clash
            USING ERRCODE = 'unique_violation';
    END IF;

    UPDATE registry.identity SET person_id = survivor WHERE person_id = duplicate;
    UPDATE registry.cluster_account SET person_id = survivor WHERE person_id = duplicate;
    -- Where both are members, the survivor's membership stands and the duplicate's is removed.
    UPDATE registry.membership m SET status = 'removed'
     WHERE m.person_id = duplicate
       AND EXISTS (SELECT 1 FROM registry.membership s WHERE s.person_id = survivor AND s.allocation_id = m.allocation_id);
    UPDATE registry.membership m SET person_id = survivor
     WHERE m.person_id = duplicate
       AND NOT EXISTS (SELECT 1 FROM registry.membership s WHERE s.person_id = survivor AND s.allocation_id = m.allocation_id);
    UPDATE registry.project SET pi_id = survivor WHERE pi_id = duplicate;
    UPDATE registry.change_request SET requester_id = survivor WHERE requester_id = duplicate;
    UPDATE registry.person SET status = 'merged', merged_into = survivor WHERE id = duplicate;
END;
$$;
COMMENT ON FUNCTION registry.merge_person(uuid, uuid) IS
    'Merges a duplicate person into a survivor: identities, cluster accounts, memberships, projects and change requests move; the duplicate stays as merged. Refused when both have an account on one cluster.';

GRANT EXECUTE ON FUNCTION registry.merge_person(uuid, uuid) TO purser_api;
