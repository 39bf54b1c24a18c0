-- Person $1's identity $2. Plain read.
SELECT to_jsonb(i) AS item FROM registry.identity i WHERE i.person_id = $1 AND i.id = $2
