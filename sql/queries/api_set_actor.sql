-- Sets the audit actor for the rest of this transaction (SET LOCAL purser.actor), so triggers
-- and ledger rows name the API caller. No row locks.
SELECT set_config('purser.actor', $1, true)
