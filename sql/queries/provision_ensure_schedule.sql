-- Creates or changes the reconciler's schedule purser:$1:$2 of kind $3 with payload $4 every
-- $5 microseconds (provision.ensure_schedule). Locks: upserts the schedule's row.
SELECT provision.ensure_schedule(site => $1, name_suffix => $2, kind => $3, payload => $4,
                                 every => $5::bigint * interval '1 microsecond')
