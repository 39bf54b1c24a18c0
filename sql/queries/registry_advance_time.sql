-- The time-driven registry work of site $1 at registry.now() (registry.advance_time): closes
-- allocations past their end, writes due top-ups, marks windows that opened or closed.
-- Locks: the allocations it closes and the top-up rules it applies, FOR UPDATE SKIP LOCKED.
SELECT what, allocation_id, detail FROM registry.advance_time(site => $1)
