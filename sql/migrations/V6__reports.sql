-- V6: the admins' reports.
--
-- Why: admins answer their questions in psql. These views are the ones every centre asks,
-- with stable names scripts can rely on: balances, who should have access where and why,
-- usage by month, what expires soon, who is over cap, what waits for a decision, and a check
-- that the ledger's running sums match its rows (expected empty, always). Policy is SQL: the
-- access rules live in report.access_explain and nowhere else.

CREATE VIEW report.allocation_balance AS
SELECT a.id AS allocation_id,
       a.project_id,
       a.cluster_id,
       a.account_name,
       a.initial_su,
       t.granted_su,
       t.charged_su,
       a.initial_su + t.granted_su - t.charged_su AS balance_su
FROM registry.allocation a
JOIN registry.allocation_total t ON t.allocation_id = a.id;
COMMENT ON VIEW report.allocation_balance IS
    'Each allocation''s balance, exact: initial_su + granted_su − charged_su. Reads the running sums, so one allocation is one row read whatever its usage.';
COMMENT ON COLUMN report.allocation_balance.allocation_id IS 'The allocation.';
COMMENT ON COLUMN report.allocation_balance.project_id IS 'Its project.';
COMMENT ON COLUMN report.allocation_balance.cluster_id IS 'Its cluster.';
COMMENT ON COLUMN report.allocation_balance.account_name IS 'Its Slurm account.';
COMMENT ON COLUMN report.allocation_balance.initial_su IS 'SUs awarded at the start.';
COMMENT ON COLUMN report.allocation_balance.granted_su IS 'Σ of its diffs: supplements, adjustments and transfers, net.';
COMMENT ON COLUMN report.allocation_balance.charged_su IS 'Σ of its usage charges.';
COMMENT ON COLUMN report.allocation_balance.balance_su IS 'What is left: initial_su + granted_su − charged_su.';

CREATE VIEW report.member_balance AS
SELECT m.allocation_id,
       m.person_id,
       m.cap_su,
       coalesce(t.charged_su, 0) AS charged_su,
       m.cap_su - coalesce(t.charged_su, 0) AS remaining_su
FROM registry.membership m
LEFT JOIN registry.member_total t ON t.allocation_id = m.allocation_id AND t.person_id = m.person_id;
COMMENT ON VIEW report.member_balance IS 'What each member charged to an allocation, against their cap.';
COMMENT ON COLUMN report.member_balance.allocation_id IS 'The allocation.';
COMMENT ON COLUMN report.member_balance.person_id IS 'The member.';
COMMENT ON COLUMN report.member_balance.cap_su IS 'Their cap; NULL when they have none.';
COMMENT ON COLUMN report.member_balance.charged_su IS 'What they charged to this allocation.';
COMMENT ON COLUMN report.member_balance.remaining_su IS 'cap_su − charged_su; NULL without a cap.';

CREATE VIEW report.access_explain AS
SELECT m.person_id,
       m.allocation_id,
       a.cluster_id,
       c.name AS cluster_name,
       a.account_name,
       ca.username,
       pe.status = 'active' AS person_active,
       p.status = 'active' AS project_active,
       a.status = 'active' AS allocation_active,
       now() >= a.starts_at AND now() < a.ends_at AS allocation_in_window,
       m.status = 'active' AS membership_active,
       now() >= m.starts_at AND (m.ends_at IS NULL OR now() < m.ends_at) AS membership_in_window,
       a.initial_su + t.granted_su - t.charged_su > 0 AS balance_positive,
       m.cap_su IS NULL OR coalesce(mt.charged_su, 0) < m.cap_su AS under_cap,
       pe.status = 'active' AND p.status = 'active' AND a.status = 'active'
           AND now() >= a.starts_at AND now() < a.ends_at
           AND m.status = 'active' AND now() >= m.starts_at AND (m.ends_at IS NULL OR now() < m.ends_at)
           AND a.initial_su + t.granted_su - t.charged_su > 0
           AND (m.cap_su IS NULL OR coalesce(mt.charged_su, 0) < m.cap_su) AS granted
FROM registry.membership m
JOIN registry.person pe ON pe.id = m.person_id
JOIN registry.allocation a ON a.id = m.allocation_id
JOIN registry.allocation_total t ON t.allocation_id = a.id
JOIN registry.project p ON p.id = a.project_id
JOIN registry.cluster c ON c.id = a.cluster_id
LEFT JOIN registry.member_total mt ON mt.allocation_id = m.allocation_id AND mt.person_id = m.person_id
LEFT JOIN registry.cluster_account ca ON ca.cluster_id = a.cluster_id AND ca.person_id = m.person_id;
COMMENT ON VIEW report.access_explain IS
    'For every membership (person × allocation), each access condition as a boolean and the verdict, so an admin sees why access is granted or denied. The access policy, in SQL.';
COMMENT ON COLUMN report.access_explain.person_id IS 'The person.';
COMMENT ON COLUMN report.access_explain.allocation_id IS 'The allocation.';
COMMENT ON COLUMN report.access_explain.cluster_id IS 'The allocation''s cluster.';
COMMENT ON COLUMN report.access_explain.cluster_name IS 'Its name (the queue site).';
COMMENT ON COLUMN report.access_explain.account_name IS 'The Slurm account the person would charge.';
COMMENT ON COLUMN report.access_explain.username IS 'The person''s username on the cluster; NULL while they have no cluster account yet.';
COMMENT ON COLUMN report.access_explain.person_active IS 'The person is active (not inactive, not merged away).';
COMMENT ON COLUMN report.access_explain.project_active IS 'The project is active.';
COMMENT ON COLUMN report.access_explain.allocation_active IS 'The allocation is active.';
COMMENT ON COLUMN report.access_explain.allocation_in_window IS 'Now is inside the allocation''s start and end.';
COMMENT ON COLUMN report.access_explain.membership_active IS 'The membership is active.';
COMMENT ON COLUMN report.access_explain.membership_in_window IS 'Now is inside the membership''s start and end.';
COMMENT ON COLUMN report.access_explain.balance_positive IS 'The allocation has SUs left.';
COMMENT ON COLUMN report.access_explain.under_cap IS 'The member is under their cap, or has none.';
COMMENT ON COLUMN report.access_explain.granted IS 'All of the above: the person should have access under this allocation now.';

CREATE VIEW report.desired_access AS
SELECT person_id, allocation_id, cluster_id, cluster_name, account_name, username
FROM report.access_explain
WHERE granted;
COMMENT ON VIEW report.desired_access IS
    'Who should have access under which allocation on which cluster now: the memberships report.access_explain grants.';
COMMENT ON COLUMN report.desired_access.person_id IS 'The person.';
COMMENT ON COLUMN report.desired_access.allocation_id IS 'The allocation they may charge.';
COMMENT ON COLUMN report.desired_access.cluster_id IS 'The cluster.';
COMMENT ON COLUMN report.desired_access.cluster_name IS 'Its name (the queue site).';
COMMENT ON COLUMN report.desired_access.account_name IS 'The Slurm account.';
COMMENT ON COLUMN report.desired_access.username IS 'Their username on the cluster; NULL until their cluster account exists.';

CREATE VIEW report.ledger_violations AS
SELECT 'granted_su differs from the sum of diffs' AS violation, t.allocation_id,
       format('granted_su %s, Σ diffs %s', t.granted_su, coalesce(d.total, 0)) AS detail
FROM registry.allocation_total t
LEFT JOIN (SELECT allocation_id, sum(su_delta) AS total FROM registry.allocation_diff GROUP BY allocation_id) d
       ON d.allocation_id = t.allocation_id
WHERE t.granted_su <> coalesce(d.total, 0)
UNION ALL
SELECT 'charged_su differs from the sum of usage', t.allocation_id,
       format('charged_su %s, Σ usage %s', t.charged_su, coalesce(u.total, 0))
FROM registry.allocation_total t
LEFT JOIN (SELECT allocation_id, sum(su_amount) AS total FROM registry.usage GROUP BY allocation_id) u
       ON u.allocation_id = t.allocation_id
WHERE t.charged_su <> coalesce(u.total, 0)
UNION ALL
SELECT 'a member''s charged_su differs from the sum of their usage', coalesce(t.allocation_id, u.allocation_id),
       format('person %s: charged_su %s, Σ usage %s', coalesce(t.person_id, u.person_id), coalesce(t.charged_su, 0), coalesce(u.total, 0))
FROM registry.member_total t
FULL JOIN (SELECT allocation_id, person_id, sum(su_amount) AS total FROM registry.usage GROUP BY allocation_id, person_id) u
       ON u.allocation_id = t.allocation_id AND u.person_id = t.person_id
WHERE coalesce(t.charged_su, 0) <> coalesce(u.total, 0)
UNION ALL
SELECT 'an allocation has no running sums', a.id, 'no registry.allocation_total row'
FROM registry.allocation a
WHERE NOT EXISTS (SELECT 1 FROM registry.allocation_total t WHERE t.allocation_id = a.id)
UNION ALL
SELECT 'a transfer does not balance', min(d.allocation_id::text)::uuid,
       format('transfer %s: %s diffs summing to %s', d.transfer_id, count(*), sum(d.su_delta))
FROM registry.allocation_diff d
WHERE d.transfer_id IS NOT NULL
GROUP BY d.transfer_id
HAVING count(*) <> 2 OR sum(d.su_delta) <> 0
UNION ALL
SELECT 'an approved change request has no diff', r.allocation_id, format('change request %s', r.id)
FROM registry.change_request r
WHERE r.state = 'APPROVED'
  AND NOT EXISTS (SELECT 1 FROM registry.allocation_diff d WHERE d.change_request_id = r.id)
UNION ALL
SELECT 'a diff comes from a change request that is not approved', d.allocation_id,
       format('diff %s, change request %s is %s', d.id, r.id, r.state)
FROM registry.allocation_diff d
JOIN registry.change_request r ON r.id = d.change_request_id
WHERE r.state <> 'APPROVED'
UNION ALL
SELECT 'a charge does not equal raw ÷ rate', u.allocation_id,
       format('job %s on resource %s: %s ≠ %s ÷ %s', u.job_id, u.resource_id, u.su_amount, u.raw_amount, u.rate)
FROM registry.usage u
WHERE u.su_amount <> round(u.raw_amount / u.rate, 6)
UNION ALL
SELECT 'a charge refers to a missing allocation, resource or person', u.allocation_id,
       format('job %s', u.job_id)
FROM registry.usage u
WHERE NOT EXISTS (SELECT 1 FROM registry.allocation a WHERE a.id = u.allocation_id AND a.cluster_id = u.cluster_id)
   OR NOT EXISTS (SELECT 1 FROM registry.resource r WHERE r.id = u.resource_id AND r.cluster_id = u.cluster_id)
   OR NOT EXISTS (SELECT 1 FROM registry.person p WHERE p.id = u.person_id);
COMMENT ON VIEW report.ledger_violations IS
    'Rows that break a ledger invariant: running sums that differ from their rows, unbalanced transfers, approvals without their diff, miscalculated or dangling charges. Expected empty, always. Scans the whole ledger.';
COMMENT ON COLUMN report.ledger_violations.violation IS 'Which invariant is broken.';
COMMENT ON COLUMN report.ledger_violations.allocation_id IS 'The allocation concerned.';
COMMENT ON COLUMN report.ledger_violations.detail IS 'The numbers or rows involved.';

CREATE VIEW report.usage_by_month AS
SELECT date_trunc('month', u.end_time) AS month,
       a.project_id,
       u.allocation_id,
       u.person_id,
       u.resource_id,
       count(DISTINCT u.job_id) AS jobs,
       sum(u.raw_amount) AS raw_amount,
       sum(u.su_amount) AS su_amount
FROM registry.usage u
JOIN registry.allocation a ON a.id = u.allocation_id
GROUP BY 1, 2, 3, 4, 5;
COMMENT ON VIEW report.usage_by_month IS
    'Usage by month (of the jobs'' end), project, allocation, person and resource; sum it further for any of them.';
COMMENT ON COLUMN report.usage_by_month.month IS 'The first instant of the month the jobs ended in.';
COMMENT ON COLUMN report.usage_by_month.project_id IS 'The project.';
COMMENT ON COLUMN report.usage_by_month.allocation_id IS 'The allocation charged.';
COMMENT ON COLUMN report.usage_by_month.person_id IS 'Who ran the jobs.';
COMMENT ON COLUMN report.usage_by_month.resource_id IS 'The resource.';
COMMENT ON COLUMN report.usage_by_month.jobs IS 'How many jobs.';
COMMENT ON COLUMN report.usage_by_month.raw_amount IS 'Raw usage, in the resource''s unit.';
COMMENT ON COLUMN report.usage_by_month.su_amount IS 'SUs charged.';

CREATE VIEW report.allocations_expiring AS
SELECT b.allocation_id, a.project_id, p.title AS project_title, pi.email AS pi_email, c.name AS cluster_name,
       a.account_name, a.ends_at, a.ends_at - now() AS time_left, b.balance_su
FROM registry.allocation a
JOIN report.allocation_balance b ON b.allocation_id = a.id
JOIN registry.project p ON p.id = a.project_id
JOIN registry.person pi ON pi.id = p.pi_id
JOIN registry.cluster c ON c.id = a.cluster_id
WHERE a.status = 'active' AND a.ends_at > now() AND a.ends_at <= now() + interval '30 days';
COMMENT ON VIEW report.allocations_expiring IS 'Active allocations that end within 30 days, with their PI and what is left.';
COMMENT ON COLUMN report.allocations_expiring.allocation_id IS 'The allocation.';
COMMENT ON COLUMN report.allocations_expiring.project_id IS 'Its project.';
COMMENT ON COLUMN report.allocations_expiring.project_title IS 'The project''s title.';
COMMENT ON COLUMN report.allocations_expiring.pi_email IS 'The PI''s email, to warn them.';
COMMENT ON COLUMN report.allocations_expiring.cluster_name IS 'The cluster.';
COMMENT ON COLUMN report.allocations_expiring.account_name IS 'The Slurm account.';
COMMENT ON COLUMN report.allocations_expiring.ends_at IS 'When it ends.';
COMMENT ON COLUMN report.allocations_expiring.time_left IS 'How long until then.';
COMMENT ON COLUMN report.allocations_expiring.balance_su IS 'SUs left.';

CREATE VIEW report.members_over_cap AS
SELECT mb.allocation_id, mb.person_id, pe.email, a.account_name, mb.cap_su, mb.charged_su, -mb.remaining_su AS over_by_su
FROM report.member_balance mb
JOIN registry.person pe ON pe.id = mb.person_id
JOIN registry.allocation a ON a.id = mb.allocation_id
WHERE mb.cap_su IS NOT NULL AND mb.charged_su >= mb.cap_su;
COMMENT ON VIEW report.members_over_cap IS 'Members who reached or passed their cap (access_explain denies them).';
COMMENT ON COLUMN report.members_over_cap.allocation_id IS 'The allocation.';
COMMENT ON COLUMN report.members_over_cap.person_id IS 'The member.';
COMMENT ON COLUMN report.members_over_cap.email IS 'Their email.';
COMMENT ON COLUMN report.members_over_cap.account_name IS 'The Slurm account.';
COMMENT ON COLUMN report.members_over_cap.cap_su IS 'Their cap.';
COMMENT ON COLUMN report.members_over_cap.charged_su IS 'What they charged.';
COMMENT ON COLUMN report.members_over_cap.over_by_su IS 'How far past the cap (0 when exactly at it).';

CREATE VIEW report.pending_change_requests AS
SELECT r.id AS change_request_id, r.allocation_id, a.account_name, r.kind, r.requested_su, r.requested_status,
       r.requested_ends_at, pe.email AS requester_email, r.justification, r.created_at, now() - r.created_at AS waiting
FROM registry.change_request r
JOIN registry.allocation a ON a.id = r.allocation_id
JOIN registry.person pe ON pe.id = r.requester_id
WHERE r.state = 'PENDING';
COMMENT ON VIEW report.pending_change_requests IS 'Change requests waiting for a decision, oldest first when ordered by created_at.';
COMMENT ON COLUMN report.pending_change_requests.change_request_id IS 'The change request.';
COMMENT ON COLUMN report.pending_change_requests.allocation_id IS 'The allocation it would change.';
COMMENT ON COLUMN report.pending_change_requests.account_name IS 'Its Slurm account.';
COMMENT ON COLUMN report.pending_change_requests.kind IS 'supplement, extension or status.';
COMMENT ON COLUMN report.pending_change_requests.requested_su IS 'SUs asked for.';
COMMENT ON COLUMN report.pending_change_requests.requested_status IS 'Status asked for.';
COMMENT ON COLUMN report.pending_change_requests.requested_ends_at IS 'End date asked for.';
COMMENT ON COLUMN report.pending_change_requests.requester_email IS 'Who asked.';
COMMENT ON COLUMN report.pending_change_requests.justification IS 'Why.';
COMMENT ON COLUMN report.pending_change_requests.created_at IS 'When it was submitted.';
COMMENT ON COLUMN report.pending_change_requests.waiting IS 'How long it has waited.';

GRANT SELECT ON ALL TABLES IN SCHEMA report TO purser_api, purser_daemon, purser_reader;
