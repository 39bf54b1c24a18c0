-- Submits a change request through registry.submit_change_request (allocation $1, requester
-- $2, kind $3, justification $4, SUs $5, status $6, end $7); returns its id. Inserts the request
-- and its first event.
SELECT registry.submit_change_request(allocation_id => $1, requester_id => $2, kind => $3, justification => $4,
                                      requested_su => $5::numeric, requested_status => $6, requested_ends_at => $7) AS id
