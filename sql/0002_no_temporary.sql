-- 0002_no_temporary.sql: the serving role creates nothing, not even temporary tables: PUBLIC
-- loses TEMPORARY on this database (the owner and superusers keep theirs).
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
