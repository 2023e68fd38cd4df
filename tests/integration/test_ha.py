"""test_ha.py: fcrd on a pg_auto_failover formation survives the loss of its primary.

A monitor and two PostgreSQL nodes (pg_autoctl, loopback ports, trust authentication, no TLS)
run as an unprivileged account, with the monitor's health checks tightened as docs/operations.md
("High availability") recommends. fcrd serves with a multi-host conninfo
(target_session_attrs=read-write). A client streams unique events, resending those answered
retry; mid-stream the primary's keeper and postmaster (its whole process group) are killed with
SIGKILL. The stream goes on until the standby is promoted and every event is acknowledged. On
the new primary: every acknowledged event is stored exactly once, no incident has a crime twice,
and `fcrctl audit verify` passes. Printed: sent, acknowledged, lost, duplicated, the longest time
without an acknowledgement (bound FAILOVER_GAP_MAX) and fcrd's own share after the new primary
accepts writes (bound FCRD_SHARE_MAX), measured by polling the new primary for writability.

Needs pg_autoctl (Debian: pg-auto-failover-cli, postgresql-15-auto-failover); without it the
test skips (fails with CI=true).
"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

import harness
from test_ops_support import get_metrics, metric, parse_metrics

FCRCTL_BIN = os.environ.get("FCRCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN))), "tools", "fcrctl")

FAILOVER_GAP_MAX = 30.0  # longest time without an acknowledgement, seconds
FCRD_SHARE_MAX = 2.0     # from the new primary accepting writes to fcrd's next acknowledgement
SETUP_TIMEOUT = 90.0
STREAM_TIMEOUT = 90.0
WINDOW = 16              # events in flight at once
BEFORE_KILL = 150        # acknowledgements before the primary is killed
AFTER_PROMOTION = 100    # and events sent after fcrd writes to the new primary

# The monitor's settings that make a failover quick (docs/operations.md, "High availability").
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "2000",
    "pgautofailover.primary_demote_timeout": "3000",
}


def poll(what, deadline, step=0.1):
    """what() until it returns a true value or the deadline (monotonic) passes; returns it or None."""
    while time.monotonic() < deadline:
        v = what()
        if v:
            return v
        time.sleep(step)
    return None


class Formation:
    """A pg_auto_failover monitor and two nodes under `root`, run by the harness's PostgreSQL account."""

    def __init__(self, root):
        self.root = root
        self.account = harness._Account()
        self.bindir = harness.pg_bindir()
        self.ports = {"monitor": harness.free_port(), "node1": harness.free_port(), "node2": harness.free_port()}
        self.procs = {}
        self.env = {
            "PATH": f"{self.bindir}:/usr/bin:/bin", "HOME": root, "LANG": "C.UTF-8",
            "XDG_CONFIG_HOME": os.path.join(root, "cfg"), "XDG_DATA_HOME": os.path.join(root, "data"),
            "XDG_RUNTIME_DIR": os.path.join(root, "run"),
        }
        for d in (root, self.env["XDG_CONFIG_HOME"], self.env["XDG_DATA_HOME"], self.env["XDG_RUNTIME_DIR"]):
            os.makedirs(d, exist_ok=True)
            self.account.give(d)

    def pgdata(self, name):
        return os.path.join(self.root, name)

    def log(self, name):
        return os.path.join(self.root, name + ".log")

    def autoctl(self, *args, run=False, name=None):
        cmd = ["pg_autoctl", *args]
        if not run:
            r = subprocess.run(cmd, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=120,
                               **self.account.kwargs)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr[-3000:]}")
            return r.stdout
        log = open(self.log(name), "ab")
        # A session of its own: the keeper, its services and its postmaster share one process
        # group, which is how the test kills a node and how cleanup finds what is left.
        self.procs[name] = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log, start_new_session=True,
                                            **self.account.kwargs)
        log.close()
        return self.procs[name]

    def connect(self, name, dbname="postgres", user="postgres"):
        conn = harness.psycopg2.connect(host="127.0.0.1", port=self.ports[name], dbname=dbname, user=user,
                                        connect_timeout=2)
        conn.autocommit = True
        return conn

    def query(self, name, sql, dbname="postgres"):
        try:
            conn = self.connect(name, dbname)
        except harness.psycopg2.OperationalError:
            return None
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        except harness.psycopg2.Error:
            return None
        finally:
            conn.close()

    def states(self):
        rows = self.query("monitor", "SELECT nodename, reportedstate::text FROM pgautofailover.node ORDER BY nodeid",
                          "pg_auto_failover")
        return dict(rows) if rows else {}

    def start(self):
        pgctl = os.path.join(self.bindir, "pg_ctl")
        self.autoctl("create", "monitor", "--pgctl", pgctl, "--pgdata", self.pgdata("monitor"),
                     "--pgport", str(self.ports["monitor"]), "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl")
        self.autoctl("run", "--pgdata", self.pgdata("monitor"), run=True, name="monitor")
        deadline = time.monotonic() + SETUP_TIMEOUT
        if not poll(lambda: self.query("monitor", "SELECT 1", "pg_auto_failover"), deadline):
            raise RuntimeError(f"the monitor did not start:\n{harness._tail(self.log('monitor'))}")
        conn = self.connect("monitor", "pg_auto_failover")
        with conn.cursor() as cur:
            for k, v in MONITOR_SETTINGS.items():
                cur.execute(f"ALTER SYSTEM SET {k} = {v}")
            cur.execute("SELECT pg_reload_conf()")
        conn.close()
        monitor = f"postgres://autoctl_node@127.0.0.1:{self.ports['monitor']}/pg_auto_failover?sslmode=disable"
        for name, want in (("node1", {"node1": "single"}), ("node2", {"node1": "primary", "node2": "secondary"})):
            self.autoctl("create", "postgres", "--pgctl", pgctl, "--pgdata", self.pgdata(name),
                         "--pgport", str(self.ports[name]), "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl",
                         "--monitor", monitor, "--name", name, "--candidate-priority", "50", "--run",
                         run=True, name=name)
            if not poll(lambda: self.states() == want, deadline, 0.2):
                raise RuntimeError(f"{name} did not reach {want} (now {self.states()}):\n{harness._tail(self.log(name))}")

    def primary(self):
        for name in ("node1", "node2"):
            rows = self.query(name, "SELECT pg_is_in_recovery()")
            if rows and rows[0][0] is False:
                return name
        return None

    def kill(self, name):
        """SIGKILL to the node's keeper, its services and its postmaster (one process group)."""
        p = self.procs[name]
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(30)

    def stop(self):
        for name in ("node2", "node1", "monitor"):
            p = self.procs.pop(name, None)
            if p is None:
                continue
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                pass


class _PrimaryPg:
    """What the harness needs of its PostgreSQL, pointed at whichever node is the primary."""

    def __init__(self, formation):
        self.f = formation
        self.port = formation.ports["node1"]
        self.hosts = "127.0.0.1,127.0.0.1"
        self.portlist = f"{formation.ports['node1']},{formation.ports['node2']}"

    def conninfo(self, user):
        return (f"host={self.hosts} port={self.portlist} dbname=fcrd user={user} "
                f"target_session_attrs=read-write")

    def connect(self, dbname="fcrd", user="postgres", autocommit=True):
        conn = harness.psycopg2.connect(host=self.hosts, port=self.portlist, dbname=dbname, user=user,
                                        target_session_attrs="read-write", connect_timeout=5)
        conn.autocommit = autocommit
        return conn

    def stop(self):
        pass  # the formation is stopped by the test class

    def provision(self):
        with open(os.path.join(harness.SOURCE_ROOT, "sql", "roles.sql"), encoding="utf-8") as f:
            roles_sql = f.read()
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(roles_sql)
                cur.execute("CREATE DATABASE fcrd OWNER fcrd_owner")
        finally:
            conn.close()


class HAHarness(harness.Harness):
    """The harness with fcrd pointed at a formation instead of a single throwaway server."""

    def start_on(self, formation, workdir):
        harness._live.append(self)
        self.workdir = workdir
        self.pg = _PrimaryPg(formation)
        self.pg.provision()
        # the standby must hold the database too before fcrd may be sent to it after a failover
        deadline = time.monotonic() + SETUP_TIMEOUT
        if not poll(lambda: formation.query("node2", "SELECT 1", "fcrd"), deadline):
            raise RuntimeError("the fcrd database did not reach the standby")
        self.overrides.update({
            "database.conninfo": self.pg.conninfo("fcrd"),
            "database.admin_conninfo": self.pg.conninfo("fcrd_owner"),
            "database.reconnect_max_ms": "500",
            "database.require_sync_standby": "no",
            "database.sync_standby_check_ms": "500",
        })
        self.write_tokens()
        self.start_fcrd()
        return self


class FailoverTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if harness.psycopg2 is None:
            raise RuntimeError("the integration tests need psycopg2 (Debian: python3-psycopg2)")
        if shutil.which("pg_autoctl") is None:
            if harness.in_ci():
                raise RuntimeError("pg_autoctl not found (Debian: pg-auto-failover-cli, postgresql-15-auto-failover)")
            raise unittest.SkipTest("pg_autoctl not found (Debian: pg-auto-failover-cli)")
        import tempfile
        cls.workdir = tempfile.mkdtemp(prefix="fcrd-it-ha-")
        os.chmod(cls.workdir, 0o755)
        cls.addClassCleanup(lambda: None if os.environ.get("FCRD_IT_KEEP")
                            else shutil.rmtree(cls.workdir, ignore_errors=True))
        cls.formation = Formation(os.path.join(cls.workdir, "ha"))
        cls.addClassCleanup(cls.formation.stop)
        t0 = time.monotonic()
        cls.formation.start()
        print(f"formation up in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        cls.h = HAHarness("ha")
        cls.addClassCleanup(cls.h.stop)
        fcrd_dir = os.path.join(cls.workdir, "fcrd")
        os.makedirs(fcrd_dir)
        cls.h.start_on(cls.formation, fcrd_dir)

    def fcrctl(self, *args):
        e = {k: v for k, v in os.environ.items() if k not in ("FCRD_TOKEN", "FCRD_URL")}
        e["FCRD_TOKEN"] = self.h.tokens["auditor"]
        e["FCRD_URL"] = f"http://127.0.0.1:{self.h.api_port}"
        return subprocess.run([FCRCTL_BIN, *args], env=e, capture_output=True, text=True, timeout=120)

    def test_failover_mid_stream(self):
        f = self.formation
        self.assertEqual(f.primary(), "node1")
        sync = f.query("node1", "SELECT sync_state FROM pg_stat_replication")
        self.assertIn(("quorum",), sync or [], "the standby is not synchronous")
        self.assertEqual(self.gauges(), (0, 1), "fcrd does not see the synchronous standby")

        writable_at = []  # when node2 first answered as a primary

        def watch(stop):
            while not stop.is_set():
                # promoted is not yet writable: pg_auto_failover keeps a promoted standby's new
                # sessions read-only until the old primary cannot be writing any more
                rows = f.query("node2", "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
                if rows and rows[0] == (False, "off"):
                    writable_at.append(time.monotonic())
                    return
                time.sleep(0.05)

        events = {}        # event_id -> event
        acked = {}         # event_id -> status first acknowledged with
        pending = []       # event ids to send (new or answered retry)
        inflight = set()
        sent = retries = 0
        killed_at = None
        last_ack = time.monotonic()
        longest_gap = 0.0
        first_ack_after_promotion = None
        stop_watch = threading.Event()
        watcher = threading.Thread(target=watch, args=(stop_watch,), daemon=True)
        extra_after = None

        def new_event():
            ev = harness.assault_opened(harness.uid("HA"))
            events[ev["event_id"]] = ev
            pending.append(ev["event_id"])

        feed = self.h.feed(timeout=5)
        deadline = time.monotonic() + STREAM_TIMEOUT
        try:
            while time.monotonic() < deadline:
                # keep the window full: new events until the run has enough after the promotion
                while len(inflight) + len(pending) < WINDOW and (extra_after is None or extra_after > 0):
                    new_event()
                    if extra_after is not None:
                        extra_after -= 1
                while pending and len(inflight) < WINDOW:
                    eid = pending.pop(0)
                    feed.send(events[eid])
                    inflight.add(eid)
                    sent += 1
                if not inflight:
                    break
                try:
                    reply = feed.read_reply(timeout=0.5)
                except TimeoutError:
                    reply = None
                now = time.monotonic()
                if reply is None:
                    longest_gap = max(longest_gap, now - last_ack)
                    continue
                eid = reply.get("event_id")
                inflight.discard(eid)
                if reply["status"] in ("accepted", "duplicate"):
                    longest_gap = max(longest_gap, now - last_ack)
                    last_ack = now
                    acked.setdefault(eid, reply["status"])
                    if writable_at and first_ack_after_promotion is None and now >= writable_at[0]:
                        first_ack_after_promotion = now
                        extra_after = AFTER_PROMOTION
                elif reply["status"] == "retry":
                    retries += 1
                    pending.append(eid)
                    # paced resends while the database is away: each answer comes back at once
                    time.sleep(0.02)
                else:
                    self.fail(f"unexpected reply {reply}")
                if killed_at is None and len(acked) >= BEFORE_KILL:
                    watcher.start()
                    killed_at = time.monotonic()
                    f.kill("node1")
        finally:
            stop_watch.set()
            feed.close()

        self.assertIsNotNone(killed_at, "the primary was never killed")
        self.assertTrue(writable_at, f"node2 was never promoted; monitor says {f.states()}")
        self.assertIsNotNone(first_ack_after_promotion, "no acknowledgement after the promotion")
        unacked = [e for e in events if e not in acked]

        # on the new primary
        ids = list(acked)
        rows = self.h.sql("SELECT event_id, count(*) FROM raw_events WHERE event_id = ANY(%s) GROUP BY event_id",
                          (ids,))
        stored = dict(rows)
        lost = [e for e in ids if e not in stored]
        dup = {e: n for e, n in stored.items() if n != 1}
        twice = self.h.sql("SELECT incident_id, count(*) FROM crimes WHERE incident_id = ANY(%s) "
                           "GROUP BY incident_id HAVING count(*) > 1",
                           ([events[e]["incident_id"] for e in ids],))
        share = first_ack_after_promotion - writable_at[0]
        print(f"\nfailover: sent {sent} (unique {len(events)}, retry answers {retries}), acknowledged {len(acked)}, "
              f"lost {len(lost)}, duplicated {len(dup)}, unacknowledged {len(unacked)}; "
              f"longest time without an acknowledgement {longest_gap:.2f} s; "
              f"kill to a writable new primary {writable_at[0] - killed_at:.2f} s; fcrd's share after the promotion {share:.2f} s",
              file=sys.stderr)
        self.assertEqual(unacked, [], "events never acknowledged")
        self.assertEqual(lost, [], "acknowledged events missing on the new primary")
        self.assertEqual(dup, {}, "events stored more than once")
        self.assertEqual(twice, [], "an incident has a crime twice")
        self.assertLessEqual(longest_gap, FAILOVER_GAP_MAX)
        self.assertLessEqual(share, FCRD_SHARE_MAX)

        # the API's own connection comes back by itself too
        self.assertTrue(poll(lambda: self.h._ready(), time.monotonic() + 20), "fcrd never became ready again")
        r = self.fcrctl("audit", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # the new primary has no standby now: with require_sync_standby = no fcrd says so and goes on
        deadline = time.monotonic() + 10
        self.assertTrue(poll(lambda: self.gauges() == (0, 0), deadline), "fcrd_db_sync_standby_ok stayed 1")
        self.assertIn("the primary has no synchronous standby", self.h.log_text())

    def gauges(self):
        """(fcrd_db_sync_standby_required, fcrd_db_sync_standby_ok) from /metrics."""
        return sync_gauges(self.h)


def sync_gauges(h):
    status, _, body = get_metrics(h.api_port, h.tokens["ops"])
    assert status == 200, body
    samples, _ = parse_metrics(body)
    return (metric(samples, "fcrd_db_sync_standby_required"), metric(samples, "fcrd_db_sync_standby_ok"))


class _NotReadyHarness(harness.Harness):
    """fcrd is expected never to be ready: start once it listens."""

    def _ready(self):
        return True


class RequireSyncStandbyTest(unittest.TestCase):
    """require_sync_standby = yes on a single server (no standby): not ready, events retry, and
    nothing written."""

    @classmethod
    def setUpClass(cls):
        cls.h = _NotReadyHarness("ha-nostandby", config={"database.require_sync_standby": "yes",
                                                         "database.sync_standby_check_ms": "200"})
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()

    def test_no_standby_holds_events(self):
        h = self.h
        deadline = time.monotonic() + 20
        # the first count has run once the log says so; until then the hold is already on
        self.assertTrue(poll(lambda: "no synchronous standby" in h.log_text(), deadline), h.log_tail())
        self.assertEqual(sync_gauges(h), (1, 0))
        status, body = h.api.get("/readyz")
        self.assertEqual(status, 503, body)
        ev = harness.assault_opened(harness.uid("NS"))
        with h.feed() as feed:
            reply = feed.request(ev)
        self.assertEqual(reply["status"], "retry", reply)
        self.assertEqual(reply["error"]["code"], "no_sync_standby", reply)
        self.assertEqual(harness.schema_errors("feed-reply", reply), [])
        self.assertEqual(h.sql_value("SELECT count(*) FROM raw_events WHERE event_id = %s", (ev["event_id"],)), 0)


class _ReadsHarness(harness.Harness):
    """[api] read_conninfo names the same server under another application_name, so that the
    read pool's sessions can be told apart in pg_stat_activity."""

    def config_text(self, **over):
        over.setdefault("api.read_conninfo", f"host=127.0.0.1 port={self.pg.port} dbname=fcrd user=fcrd "
                                             "application_name=fcrd-reads")
        over.setdefault("api.read_max_lag_ms", "200")
        return super().config_text(**over)


class ReadConninfoTest(harness.DaemonTestCase):
    """With [api] read_conninfo current (here a server that is no standby, so never behind), the
    API's reads move to it: the read pool's sessions are the ones opened with read_conninfo, and
    the queue is answered from there; people's decisions still go through the write connection."""

    @classmethod
    def setUpClass(cls):
        cls.h = _ReadsHarness(cls.__name__)
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()

    def test_reads_move_to_the_read_server(self):
        h = self.h
        deadline = time.monotonic() + 20
        self.assertTrue(poll(lambda: "reads go to [api] read_conninfo's server" in h.log_text(), deadline),
                        h.log_tail())
        inc = harness.uid("RD")
        self.send_accepted(harness.assault_opened(inc))

        def read_there():
            status, body = h.api.get(f"/v1/incidents/{inc}", role="auditor")
            self.assertEqual(status, 200, body)
            return h.sql_value("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fcrd-reads' "
                               "AND query LIKE %s", ("%incidents%",)) > 0
        self.assertTrue(poll(read_there, time.monotonic() + 20), "no read ran on the read_conninfo sessions")
        # Reads on read_conninfo only: the lag probe and the read pool, never the write connection.
        n = h.sql_value("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fcrd-reads'")
        self.assertGreaterEqual(n, 2)


if __name__ == "__main__":
    harness.main()
