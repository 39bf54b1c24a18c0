-- V1: the schemas Purser's tables live in.
--
-- Why: admins read the database directly, so the layout is part of the contract. Each area
-- gets its own PostgreSQL schema so `\dn+` in psql reads as a map of the system, and so
-- database roles can be granted per area (a reporting role reads `report`, a site daemon
-- writes `queue` and `provision`, nobody but the owner writes `audit`). Later migrations fill
-- them; this one only declares them and says what each is for.

CREATE SCHEMA IF NOT EXISTS registry;
COMMENT ON SCHEMA registry IS
    'The system of record: organizations, people, projects, clusters, allocations and the SU ledger.';

CREATE SCHEMA IF NOT EXISTS queue;
COMMENT ON SCHEMA queue IS
    'The task queue between front-ends and site daemons: tasks, their attempts, and the functions to enqueue, cancel and retry them.';

CREATE SCHEMA IF NOT EXISTS provision;
COMMENT ON SCHEMA provision IS
    'What executors have actually done on each site (accounts, associations, LDAP entries), recorded in the transaction that completes their task.';

CREATE SCHEMA IF NOT EXISTS audit;
COMMENT ON SCHEMA audit IS
    'The append-only change log written by triggers on every registry table.';

CREATE SCHEMA IF NOT EXISTS report;
COMMENT ON SCHEMA report IS
    'Views for admins: balances, desired access and why, usage, expiring allocations.';
