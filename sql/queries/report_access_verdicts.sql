-- Every membership's access verdict (report.access_explain's access: granted, blocked or
-- revoked) with its conditions, as JSON, by cluster, account and user name (members without a
-- cluster account last). Plain read.
SELECT to_jsonb(x) AS item
FROM report.access_explain x
ORDER BY x.cluster_name, x.account_name, x.username NULLS LAST, x.person_id
