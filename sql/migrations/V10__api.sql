-- V10: what the REST front-end needs beyond the registry: replayable POSTs, and the tasks a
-- registry change implies, as functions a site script can call too.
--
-- Why:
-- * A client that times out does not know whether its POST landed. With an Idempotency-Key
--   header the API records the key, a hash of the request and the response in the same
--   transaction as the write, so a retry gets the first response back instead of a second
--   write. Keys are kept per caller for 24 hours (the API prunes older ones).
-- * A membership or an allocation that changes must reach the cluster it lives on (a Slurm
--   association, an account limit). registry.enqueue_membership_sync and
--   registry.enqueue_allocation_sync enqueue that work for the cluster's site daemon; the API
--   calls them in the transaction that made the change, and an admin's script can call them
--   after a change of its own. A cluster's tasks go to the site named like the cluster. Tasks of
--   one Slurm account share a lane, so they run one at a time, in order.
-- * The application roles may read refinery_schema_history, so /readyz can check, as the API's
--   role, that the database has the migrations the binary expects.

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS 'The REST front-end''s own state: idempotency keys. Not readable by the reporting role.';

CREATE TABLE api.idempotency_key (
    caller text NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_sha256 bytea NOT NULL CHECK (length(request_sha256) = 32),
    status smallint CHECK (status BETWEEN 200 AND 299),
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key),
    CHECK ((status IS NULL) = (response IS NULL))
);
CREATE INDEX idempotency_key_created ON api.idempotency_key USING brin (created_at);
COMMENT ON TABLE api.idempotency_key IS 'POSTs made with an Idempotency-Key header: the first response, replayed when the same caller sends the same key again. Rows older than 24 hours are pruned.';
COMMENT ON COLUMN api.idempotency_key.caller IS 'Who sent it (the token or OIDC subject), so one caller''s keys never collide with another''s.';
COMMENT ON COLUMN api.idempotency_key.key IS 'The Idempotency-Key header, as sent.';
COMMENT ON COLUMN api.idempotency_key.request_sha256 IS 'SHA-256 of method, path and body: the same key with another request is refused.';
COMMENT ON COLUMN api.idempotency_key.status IS 'The HTTP status of the first response; NULL while that request is still in its transaction.';
COMMENT ON COLUMN api.idempotency_key.response IS 'The first response''s JSON body.';
COMMENT ON COLUMN api.idempotency_key.created_at IS 'When the key was first used.';

CREATE FUNCTION registry.enqueue_membership_sync(membership_id uuid) RETURNS bigint
LANGUAGE sql AS $$
    SELECT queue.enqueue(
        site => c.name,
        kind => 'membership.sync',
        payload => jsonb_build_object(
            'membership_id', m.id,
            'allocation_id', m.allocation_id,
            'person_id', m.person_id,
            'cluster', c.name,
            'account', a.account_name,
            'user', ca.username,
            'status', m.status,
            'cap_su', m.cap_su::text,
            'granted', x.granted),
        lane => 'account:' || c.name || '/' || a.account_name)
    FROM registry.membership m
    JOIN registry.allocation a ON a.id = m.allocation_id
    JOIN registry.cluster c ON c.id = a.cluster_id
    JOIN report.access_explain x ON x.allocation_id = m.allocation_id AND x.person_id = m.person_id
    LEFT JOIN registry.cluster_account ca ON ca.cluster_id = a.cluster_id AND ca.person_id = m.person_id
    WHERE m.id = enqueue_membership_sync.membership_id
$$;
COMMENT ON FUNCTION registry.enqueue_membership_sync(uuid) IS
    'Enqueues membership.sync for the membership''s cluster (site = cluster name): the member''s username, account, cap, status and whether access is granted now (report.access_explain). Returns the task id, NULL when there is no such membership.';

CREATE FUNCTION registry.enqueue_allocation_sync(allocation_id uuid) RETURNS bigint
LANGUAGE sql AS $$
    SELECT queue.enqueue(
        site => c.name,
        kind => 'allocation.sync',
        payload => jsonb_build_object(
            'allocation_id', a.id,
            'project_id', a.project_id,
            'cluster', c.name,
            'account', a.account_name,
            'status', a.status,
            'ends_at', a.ends_at,
            'balance_su', b.balance_su::text),
        lane => 'account:' || c.name || '/' || a.account_name)
    FROM registry.allocation a
    JOIN registry.cluster c ON c.id = a.cluster_id
    JOIN report.allocation_balance b ON b.allocation_id = a.id
    WHERE a.id = enqueue_allocation_sync.allocation_id
$$;
COMMENT ON FUNCTION registry.enqueue_allocation_sync(uuid) IS
    'Enqueues allocation.sync for the allocation''s cluster (site = cluster name): its account, status, end and balance, for the site to set limits. Returns the task id, NULL when there is no such allocation.';

CREATE FUNCTION api.sees_allocation(allocation_id uuid, pi_id uuid, self_id uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1
                   FROM registry.allocation a
                   JOIN registry.project p ON p.id = a.project_id
                   WHERE a.id = sees_allocation.allocation_id AND p.pi_id = sees_allocation.pi_id)
        OR EXISTS (SELECT 1
                   FROM registry.membership m
                   WHERE m.allocation_id = sees_allocation.allocation_id AND m.person_id = sees_allocation.self_id)
$$;
COMMENT ON FUNCTION api.sees_allocation(uuid, uuid, uuid) IS
    'Whether a caller acting as PI pi_id, or as person self_id, may see the allocation: the PI of its project, or one of its members. The API''s scope rule for PI and member tokens.';

-- How the API renders the rows that hold SU amounts: as JSON with every numeric as a decimal
-- string, so no client parses an SU balance into a floating-point number.

CREATE FUNCTION api.rate_item(r registry.resource_rate) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', r.id, 'resource_id', r.resource_id, 'rate', r.rate::text,
                              'valid_from', lower(r.valid_during), 'valid_until', upper(r.valid_during),
                              'created_at', r.created_at)
$$;
COMMENT ON FUNCTION api.rate_item(registry.resource_rate) IS 'A rate as the API shows it: rate as a decimal string, its window as valid_from and valid_until (NULL: open-ended).';

CREATE FUNCTION api.allocation_item(a registry.allocation) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_jsonb(a) || jsonb_build_object('initial_su', a.initial_su::text)
$$;
COMMENT ON FUNCTION api.allocation_item(registry.allocation) IS 'An allocation as the API shows it: initial_su as a decimal string.';

CREATE FUNCTION api.membership_item(m registry.membership) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_jsonb(m) || jsonb_build_object('cap_su', m.cap_su::text)
$$;
COMMENT ON FUNCTION api.membership_item(registry.membership) IS 'A membership as the API shows it: cap_su as a decimal string (NULL: no cap).';

CREATE FUNCTION api.change_request_item(r registry.change_request) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT to_jsonb(r) || jsonb_build_object(
        'requested_su', r.requested_su::text,
        'events', (SELECT coalesce(jsonb_agg(to_jsonb(e) - 'change_request_id' ORDER BY e.at, e.id), '[]')
                   FROM registry.change_request_event e WHERE e.change_request_id = r.id))
$$;
COMMENT ON FUNCTION api.change_request_item(registry.change_request) IS 'A change request as the API shows it: requested_su as a decimal string, with its events oldest first.';

CREATE FUNCTION api.usage_item(u registry.usage) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_jsonb(u) || jsonb_build_object('raw_amount', u.raw_amount::text, 'rate', u.rate::text,
                                             'su_amount', u.su_amount::text, 'transaction_id', u.transaction_id::text)
$$;
COMMENT ON FUNCTION api.usage_item(registry.usage) IS 'A charge as the API shows it: amounts and the transaction id as decimal strings.';

GRANT USAGE ON SCHEMA api TO purser_api;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO purser_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON api.idempotency_key TO purser_api;
GRANT EXECUTE ON FUNCTION registry.enqueue_membership_sync(uuid), registry.enqueue_allocation_sync(uuid) TO purser_api;

-- /readyz compares the database's migrations with the binary's, as the API's role.
GRANT SELECT ON refinery_schema_history TO purser_api, purser_daemon, purser_reader;
