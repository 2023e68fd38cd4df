-- 0003_serial_counter.sql: crime reference and pending-decision numbers come from a counter row
-- instead of a sequence. A writing transaction reserves its worst case in one UPDATE, keeps the
-- row locked until it commits, and sets the counter back to the last number it used: numbers are
-- handed out without gaps, a rolled-back transaction hands out none, and a crash cannot hand the
-- same number out twice (nextval is not transactional; this row is).
CREATE TABLE serial_counter (
    id   int PRIMARY KEY CHECK (id = 1),
    last bigint NOT NULL
);
INSERT INTO serial_counter
    SELECT 1, CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM serials;
GRANT SELECT, UPDATE ON serial_counter TO fcrd_app;
-- The sequence is dropped so that an older fcrd still running against this database fails its
-- writes instead of handing out numbers this counter also hands out.
DROP SEQUENCE serials;
