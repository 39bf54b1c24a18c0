-- The id of the person with this email, regardless of case. Plain read (unique index).
SELECT id FROM registry.person WHERE lower(email) = lower($1)
