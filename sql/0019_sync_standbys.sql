-- 0019_sync_standbys.sql: sync_standbys(), how many synchronous standbys the primary has now, for
-- [database] require_sync_standby (docs/operations.md, "High availability").
--
-- pg_stat_replication shows sync_state only to roles with pg_read_all_stats; the serving role
-- must not read every session's statistics (other sessions' query texts among them), so it gets
-- this one count through a SECURITY DEFINER function owned by fcrd_owner, which sql/roles.sql
-- makes a member of pg_read_all_stats. Without that membership the count is always 0.
--
-- synchronous_standby_names is returned too: when it is empty no commit waits for any standby,
-- whatever pg_stat_replication says, and fcrd logs it that way.
CREATE FUNCTION sync_standbys() RETURNS TABLE (standbys bigint, names text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT (SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')),
           current_setting('synchronous_standby_names')
$$;
REVOKE ALL ON FUNCTION sync_standbys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sync_standbys() TO fcrd_app;
