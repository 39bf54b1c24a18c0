-- One allocation's balance (report.allocation_balance). Reads two rows by primary key.
SELECT allocation_id, initial_su, granted_su, charged_su, balance_su
FROM report.allocation_balance
WHERE allocation_id = $1
