-- roles.sql: the roles fcrd uses, created once per PostgreSQL cluster by a superuser.
-- Not a migration: migrations run as fcrd_owner and cannot create roles.
--   fcrd_owner  owns the database and the schema; runs the migrations (DDL).
--   fcrd_app    holds the serving privileges (no DDL; no UPDATE or DELETE on raw events or audit).
--   fcrd        the login the daemon serves with; a member of fcrd_app.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fcrd_owner') THEN
        CREATE ROLE fcrd_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fcrd_app') THEN
        CREATE ROLE fcrd_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fcrd') THEN
        CREATE ROLE fcrd LOGIN IN ROLE fcrd_app;
    END IF;
END
$$;
