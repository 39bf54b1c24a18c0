-- Site $1's drift (report.drift): every subject where desired and observed state differ, with
-- the action that would fix it, by connector and subject. Plain read.
SELECT connector, subject, action, from_state, to_state, why
FROM report.drift
WHERE site = $1
ORDER BY connector, subject
