-- A cluster's resources and how usage maps to them (usage import). Plain read.
SELECT id, name, slurm_partition, slurm_tres FROM registry.resource WHERE cluster_id = $1
