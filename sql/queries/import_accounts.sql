-- A cluster's accounts: username to person, for mapping jobs' users (usage import). Plain read.
SELECT username, person_id FROM registry.cluster_account WHERE cluster_id = $1
