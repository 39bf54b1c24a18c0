-- Registers connector $2 of site $1 with its model $3 and mass-delete threshold ($4 percent,
-- at least $5). Locks: upserts the connector's one row.
SELECT provision.register_connector(site => $1, connector => $2, model => $3,
                                    mass_delete_percent => $4, mass_delete_minimum => $5)
