-- Approves, rejects or cancels change request $1 ($2: APPROVED, REJECTED, CANCELLED) with
-- comment $3 through registry.decide_change_request, which locks the request's row; returns
-- the diff an approval created (NULL for a rejection or cancellation).
SELECT registry.decide_change_request($1, $2, $3) AS diff_id
