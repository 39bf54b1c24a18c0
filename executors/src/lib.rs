//! Executors: the connector actions a site daemon runs for each task kind (Slurm accounting,
//! LDAP, site scripts, webhooks, ACCESS AMIE). Each module registers the kinds it handles by
//! name; executors never touch the queue tables, they only return an outcome.
