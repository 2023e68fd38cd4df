-- 0029_retention_group_lookup.sql: retention_due finds a crime's offence group through the
-- person index's incident, not by a scan of the whole index for every crime.
--
-- retention_due (0020, 0022) looks up, for every recorded crime of every incident not yet
-- redacted, the offence group the person index holds for that crime's CRN. person_index has no
-- index on crn, so each lookup read the whole table: the cost of a run grew as crimes times refs.
-- On the benchmark's database (1.6 million incidents, 200,000 person index rows) a dry run's
-- listing had not finished after 20 minutes (two more of them running beside it, on two cores,
-- for 15 and 10 of those minutes); alone, with the lookup narrowed to the crime's own incident
-- (person_index_incident; a crime's CRN is only ever indexed under its own incident) it took 30 s.
-- What it returns is unchanged.

-- As in 0022_retention_floor.sql, the person index read by incident.
CREATE OR REPLACE FUNCTION retention_due(incident_seconds bigint, crime_seconds bigint, groups text)
RETURNS TABLE (incident_id text, period text, seconds bigint, since timestamptz, old_entries bigint)
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    WITH g AS (SELECT split_part(x, '=', 1) AS grp, split_part(x, '=', 2)::bigint AS secs
               FROM unnest(string_to_array(nullif(groups, ''), ',')) AS x),
    p AS (SELECT i.incident_id,
                 greatest(i.closed_at, (SELECT max(e.at) FROM raw_events e WHERE e.incident_id = i.incident_id)) AS since,
                 (SELECT max(coalesce(g.secs, crime_seconds) || ':' || coalesce('group ' || g.grp, 'crime'))
                  FROM crimes c
                  LEFT JOIN LATERAL (SELECT pi.offence_group FROM person_index pi
                                     WHERE pi.incident_id = c.incident_id AND pi.crn = c.crn
                                       AND pi.offence_group IS NOT NULL LIMIT 1) AS og ON true
                  LEFT JOIN g ON g.grp = og.offence_group
                  WHERE c.incident_id = i.incident_id AND c.status = 'recorded') AS crime
          FROM incidents i
          WHERE NOT i.legal_hold AND i.redacted_at IS NULL AND i.state IS NOT NULL)
    SELECT p.incident_id,
           coalesce(split_part(p.crime, ':', 2), 'incident'),
           coalesce(split_part(p.crime, ':', 1)::bigint, incident_seconds),
           p.since,
           (SELECT count(*) FROM audit a, audit_personal_start s
            WHERE a.incident_id = p.incident_id AND a.id <= s.last_id)
    FROM p
    WHERE p.since IS NOT NULL
      AND p.since + make_interval(secs => greatest(coalesce(split_part(p.crime, ':', 1)::bigint, incident_seconds),
                                                   coalesce((SELECT f.seconds FROM retention_floor f WHERE f.id = 1), 0)))
          < now()
    ORDER BY p.since, p.incident_id
$$;
