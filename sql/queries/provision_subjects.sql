-- Every subject of site $1's connectors that the registry derives (provision.desired) or a
-- connector last observed (provision.observed), side by side, by connector and subject.
-- derived: the registry has a row for it (its desired_state NULL: it must not exist);
-- observed_state: what the connector saw it hold (NULL: not observed). Plain read.
SELECT coalesce(d.connector, o.connector) AS connector,
       coalesce(d.subject, o.subject) AS subject,
       d.subject IS NOT NULL AS derived,
       d.state AS desired_state,
       o.state AS observed_state,
       o.observed_at
FROM (SELECT x.connector, x.subject, x.state FROM provision.desired x WHERE x.site = $1) d
FULL JOIN (SELECT y.connector, y.subject, y.state, y.observed_at FROM provision.observed y WHERE y.site = $1) o
       ON o.connector = d.connector AND o.subject = d.subject
ORDER BY 1, 2
