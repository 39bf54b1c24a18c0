-- Merges person $2 (the duplicate) into person $1 (the survivor) through
-- registry.merge_person, which locks both people's rows in id order and moves identities,
-- cluster accounts, memberships, projects and change requests.
SELECT registry.merge_person($1, $2)
