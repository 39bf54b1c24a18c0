-- Records the start of a usage import; returns its id. Inserts one row.
INSERT INTO registry.usage_import (cluster_id, source, format) VALUES ($1, $2, $3) RETURNING id
