-- roles.sql: the roles fcrd uses, created once per PostgreSQL cluster by a superuser.
-- Not a migration: migrations run as fcrd_owner and cannot create roles. Safe to run again.
--   fcrd_owner  owns the database and the schema; runs the migrations (DDL) with `fcrd migrate`.
--   fcrd_chain  cannot log in; owns the SECURITY DEFINER functions that append to the hash
--               chains (audit trail, access log), the only way the serving role writes to them.
--               fcrd_owner is a member so that migrations can hand those functions to it.
--   fcrd_app    holds the serving privileges (no DDL; no UPDATE or DELETE on raw events or audit).
--   fcrd        the login the daemon serves with; a member of fcrd_app.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fcrd_owner') THEN
        CREATE ROLE fcrd_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fcrd_chain') THEN
        CREATE ROLE fcrd_chain NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fcrd_app') THEN
        CREATE ROLE fcrd_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fcrd') THEN
        CREATE ROLE fcrd LOGIN IN ROLE fcrd_app;
    END IF;
END
$$;
GRANT fcrd_chain TO fcrd_owner;
-- The count of synchronous standbys fcrd checks (sql/0019_sync_standbys.sql) reads
-- pg_stat_replication through a function fcrd_owner owns; the serving roles get only that count.
GRANT pg_read_all_stats TO fcrd_owner;
