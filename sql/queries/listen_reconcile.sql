-- Subscribes this session to the reconciler's wake-ups (payload: a site with new dirty marks
-- or a new snapshot). NOTIFY is sent by provision.mark_allocations (the registry's statement
-- triggers and registry.advance_time) and by completions that record a full snapshot. Takes no
-- locks.
LISTEN purser_reconcile
