#!/usr/bin/env python3
"""test_checkpoints.py: signed checkpoints of the audit chains' heads, kept outside the database.
fcrd writes one every second with a key made by `fcrctl audit keygen`; `fcrctl audit verify
--checkpoints` passes on the trail as written, then finds what the chains alone cannot: a chain
cut short with its head set back, and a chain rewritten and rehashed consistently, both done by
the database's superuser with the triggers off. A changed checkpoint line fails its signature, a
key file other users may read stops fcrd from starting, and the metrics tell how it goes."""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time

import harness
from harness import DaemonTestCase, assault_opened, uid
from test_fcrctl import FCRCTL_BIN, RUN_TIMEOUT
from test_ops_support import get_metrics, metric, parse_metrics

WAIT = 30  # seconds: a checkpoint is due every second


def keygen(path):
    r = subprocess.run([FCRCTL_BIN, "audit", "keygen", "--out", path], capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"fcrctl audit keygen: {r.stderr}")
    return r.stdout


class CheckpointTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(FCRCTL_BIN, os.X_OK):
            raise RuntimeError(f"no fcrctl binary at {FCRCTL_BIN} (build first, or set FCRCTL_BIN)")
        cls.keydir = tempfile.mkdtemp(prefix="fcrd-it-checkpoint-keys-")
        cls.addClassCleanup(shutil.rmtree, cls.keydir, True)
        cls.key = os.path.join(cls.keydir, "checkpoint.key")
        cls.pub = cls.key + ".pub"
        cls.keygen_out = keygen(cls.key)
        cls.file = os.path.join(cls.keydir, "checkpoints.jsonl")
        cls.harness_config = {"audit.checkpoint_interval_s": "1", "audit.checkpoint_key": cls.key,
                              "audit.checkpoint_file": cls.file}
        super().setUpClass()

    # -- helpers -----------------------------------------------------------------------------
    def fcrctl(self, *args):
        e = {k: v for k, v in os.environ.items() if k not in ("FCRD_TOKEN", "FCRD_URL")}
        e["FCRD_TOKEN"] = self.h.tokens["auditor"]
        e["FCRD_URL"] = f"http://127.0.0.1:{self.h.api_port}"
        r = subprocess.run([FCRCTL_BIN, *args], env=e, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        self.assertIsNone(harness.SANITIZER_RE.search(r.stderr), r.stderr)
        return r.returncode, r.stdout, r.stderr

    def verify(self, checkpoints=None):
        args = ["audit", "verify"]
        if checkpoints:
            args += ["--checkpoints", checkpoints, "--pubkey", self.pub]
        return self.fcrctl(*args)

    def verify_ok(self, checkpoints=None):
        rc, out, err = self.verify(checkpoints)
        self.assertEqual(rc, 0, out + err)
        return out

    def verify_broken(self, checkpoints=None):
        rc, out, err = self.verify(checkpoints)
        self.assertEqual(rc, 9, out + err)
        return out

    def checkpoints(self, path=None):
        with open(path or self.file, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def db_heads(self):
        """{'audit.N': (id, hash)} of every chain with entries, as the trail has them now."""
        rows = self.h.sql("SELECT DISTINCT ON (chain) chain, id, hash FROM audit ORDER BY chain, id DESC")
        return {f"audit.{c}": (i, h) for c, i, h in rows}

    def wait_checkpoint_of_now(self):
        """Poll until a checkpoint holds exactly the trail's current heads; returns it."""
        want = self.db_heads()
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if os.path.exists(self.file):
                for cp in reversed(self.checkpoints()):
                    heads = {h["chain"]: (h["last_id"], h["hash"]) for h in cp["heads"]}
                    if {c: v for c, v in heads.items() if c.startswith("audit.")} == want:
                        return cp
            time.sleep(0.1)
        self.fail(f"no checkpoint of the heads {want} within {WAIT} s:\n{self.h.log_tail()}")

    def checkpointed_ids(self, chain, path=None):
        return sorted({h["last_id"] for cp in self.checkpoints(path) for h in cp["heads"] if h["chain"] == chain})

    def snapshot(self):
        """A copy of the checkpoint file as it is now (fcrd keeps appending to the file itself)."""
        self.snaps = getattr(self, "snaps", 0) + 1
        path = f"{self.file}.snap{self.snaps}"
        shutil.copyfile(self.file, path)
        return path

    def feed(self, n):
        with self.h.feed() as feed:
            feed.send_many([assault_opened(uid("CKP")) for _ in range(n)])
            for r in feed.read_replies(n):
                self.assertStatus(r, "accepted")

    def tamper(self, statements):
        """Run statements in one transaction as the superuser, with the triggers off."""
        conn = self.h.connect(user="postgres", autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SET session_replication_role = replica")
                for sql, args in statements:
                    cur.execute(sql, args)
            conn.commit()
        finally:
            conn.close()

    def scrape(self):
        status, _, body = get_metrics(self.h.api_port, self.h.tokens["ops"])
        self.assertEqual(status, 200, body)
        return parse_metrics(body)[0]

    # -- tests -------------------------------------------------------------------------------
    def test_a_keygen(self):
        """The private key is the owner's alone; the public key and the key id come with it, and
        an existing key is never overwritten."""
        self.assertEqual(stat.S_IMODE(os.stat(self.key).st_mode), 0o600)
        with open(self.pub, encoding="ascii") as f:
            self.assertIn("BEGIN PUBLIC KEY", f.read())
        key_id = self.keygen_out.split("key id:")[1].split()[0]
        self.assertEqual(len(key_id), 16)
        self.assertEqual(self.wait_checkpoint_of_now()["key_id"], key_id)
        with open(self.key, "rb") as f:
            before = f.read()
        rc, _, err = self.fcrctl("audit", "keygen", "--out", self.key)
        self.assertEqual(rc, 2, err)
        self.assertIn("never overwritten", err)
        with open(self.key, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_z_tampering_found(self):
        # Last, as it leaves the trail rewritten. One method, in order: each step works on the
        # trail the one before left.
        self.feed(12)
        first = self.wait_checkpoint_of_now()
        self.assertTrue(first["heads"])
        for h in first["heads"]:
            self.assertTrue(h["chain"].startswith("audit.") or h["chain"] == "access", h)
        out = self.verify_ok(self.file)
        self.assertIn("checkpoints OK", out)
        body = json.loads(self.fcrctl("--json", "audit", "verify", "--checkpoints", self.file,
                                      "--pubkey", self.pub)[1])
        self.assertTrue(body["ok"])
        self.assertEqual(body["checkpoints"], len(self.checkpoints()))

        # (a) The last two entries of the busiest chain deleted and its head set back to the
        # entry before them: every chain still verifies, the checkpoints do not.
        chain_n, count = self.h.sql("SELECT chain, count(*) FROM audit GROUP BY chain ORDER BY 2 DESC, 1 LIMIT 1")[0]
        self.assertGreaterEqual(count, 3)
        name = f"audit.{chain_n}"
        rows = self.h.sql("SELECT id, hash FROM audit WHERE chain = %s ORDER BY id DESC LIMIT 3", (chain_n,))
        gone = sorted(r[0] for r in rows[:2])
        self.h.sql("DROP TABLE IF EXISTS audit_kept")
        self.h.sql("CREATE TABLE audit_kept AS SELECT * FROM audit WHERE id = ANY(%s)", (gone,))
        head_before = self.h.sql_value("SELECT hash FROM audit_head WHERE id = %s", (chain_n,))
        self.tamper([("DELETE FROM audit WHERE id = ANY(%s)", (gone,)),
                     ("UPDATE audit_head SET hash = %s WHERE id = %s", (rows[2][1], chain_n))])
        self.verify_ok()
        # fcrd goes on writing checkpoints, of the trail as it now is: verify a copy of the file
        # as it stands, and expect what that copy holds.
        snap = self.snapshot()
        out = self.verify_broken(snap)
        ids = self.checkpointed_ids(name, snap)
        missing = min(i for i in ids if i in gone)
        self.assertIn(f"chain {name}, entry {missing}:", out)
        self.assertIn("no such entry", out)
        earlier = [i for i in ids if i < missing]
        self.assertIn(f"changed after entry {max(earlier)}" if earlier else "changed from its start", out)

        # Put back: the checkpoints verify again, those made meanwhile included.
        self.tamper([("INSERT INTO audit SELECT * FROM audit_kept", None),
                     ("UPDATE audit_head SET hash = %s WHERE id = %s", (head_before, chain_n))])
        self.h.sql("DROP TABLE audit_kept")
        self.verify_ok(self.file)

        # (b) One entry's text rewritten (and its column, so the row agrees with its text), then
        # every later hash of its chain recomputed: the chains verify, the checkpoints do not,
        # and they pin the change between two checkpointed entries of that chain.
        self.feed(12)
        self.wait_checkpoint_of_now()
        ids = self.checkpointed_ids(name)
        chain_rows = self.h.sql("SELECT id, entry, prev_hash FROM audit WHERE chain = %s ORDER BY id", (chain_n,))
        # An entry after the first checkpointed one and before the last.
        target = next(r for r in chain_rows if ids[0] < r[0] < ids[-1])
        statements = []
        prev = target[2]
        for id_, entry, _ in (r for r in chain_rows if r[0] >= target[0]):
            if id_ == target[0]:
                doc = json.loads(entry)
                doc["actor"] = "mallory"
                entry = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
                statements.append(("UPDATE audit SET actor = 'mallory', entry = %s WHERE id = %s", (entry, id_)))
            digest = hashlib.sha256((prev + entry).encode("utf-8")).hexdigest()
            statements.append(("UPDATE audit SET prev_hash = %s, hash = %s WHERE id = %s", (prev, digest, id_)))
            prev = digest
        statements.append(("UPDATE audit_head SET hash = %s WHERE id = %s", (prev, chain_n)))
        self.tamper(statements)
        self.verify_ok()
        snap = self.snapshot()
        out = self.verify_broken(snap)
        ids = self.checkpointed_ids(name, snap)
        bad = min(i for i in ids if i >= target[0])
        good = max(i for i in ids if i < target[0])
        self.assertIn(f"chain {name}, entry {bad}:", out)
        self.assertIn(f"changed after entry {good}", out)
        self.assertIn(f"up to entry {bad}", out)
        line = next(n for n, cp in enumerate(self.checkpoints(snap), 1)
                    if any(h["chain"] == name and h["last_id"] == bad for h in cp["heads"]))
        self.assertIn(f"(line {line})", out)

    def test_b_changed_checkpoint_line(self):
        """A checkpoint with one changed hash fails its signature, naming its line; so does a line
        that is not a checkpoint, and one signed by another key."""
        self.feed(2)
        self.wait_checkpoint_of_now()
        deadline = time.monotonic() + WAIT
        while True:
            with open(self.file, encoding="utf-8") as f:
                lines = f.readlines()
            # k: a checkpoint with heads, not the first line, and not the last
            k = next((k for k in range(1, len(lines) - 1) if json.loads(lines[k])["heads"]), None)
            if k is not None:
                break
            self.assertLess(time.monotonic(), deadline, "no checkpoint with heads between two others")
            time.sleep(0.1)
        cp = json.loads(lines[k])
        h = cp["heads"][0]["hash"]
        cp["heads"][0]["hash"] = ("0" if h[0] != "0" else "1") + h[1:]
        changed = os.path.join(self.keydir, "changed.jsonl")
        with open(changed, "w", encoding="utf-8") as f:
            f.write("".join(lines[:k]) + json.dumps(cp, separators=(",", ":")) + "\n" + "".join(lines[k + 1:]))
        out = self.verify_broken(changed)
        self.assertIn(f"line {k + 1}:", out)
        self.assertIn("signature does not verify", out)

        with open(changed, "w", encoding="utf-8") as f:
            f.write("".join(lines[:3]) + "not a checkpoint\n")
        out = self.verify_broken(changed)
        self.assertIn(f"line {min(len(lines), 3) + 1}: not a checkpoint", out)

        other = os.path.join(self.keydir, "other.key")
        keygen(other)
        rc, out, err = self.fcrctl("audit", "verify", "--checkpoints", self.file, "--pubkey", other + ".pub")
        self.assertEqual(rc, 9, out + err)
        self.assertIn("line 1: signed by key", out)

    def test_c_metrics_log_and_failures(self):
        """The last success and the failures are in the metrics; each checkpoint is one journal
        line with a digest of the heads; a checkpoint file that cannot be written is a failure,
        counted and logged, and the next one after it is fixed succeeds."""
        self.wait_checkpoint_of_now()
        s = self.scrape()
        self.assertGreater(metric(s, "fcrd_audit_checkpoint_last_success_timestamp_seconds"), time.time() - 60)
        self.assertEqual(metric(s, "fcrd_audit_checkpoint_failures_total"), 0)
        self.assertRegex(self.h.log_text(), r"audit checkpoint \S+Z: \d+ chain head\(s\), digest [0-9a-f]{16}")

        moved = self.file + ".moved"
        os.rename(self.file, moved)
        os.mkdir(self.file)  # open() fails on a folder, whoever fcrd runs as
        try:
            deadline = time.monotonic() + WAIT
            while (metric(self.scrape(), "fcrd_audit_checkpoint_failures_total") or 0) < 2:
                self.assertLess(time.monotonic(), deadline, "no checkpoint failure counted")
                time.sleep(0.2)
        finally:
            os.rmdir(self.file)
            os.rename(moved, self.file)
        self.assertIn(f"audit checkpoint failed: [audit] checkpoint_file {self.file}", self.h.log_text())
        failed_at = time.time()
        deadline = time.monotonic() + WAIT
        while metric(self.scrape(), "fcrd_audit_checkpoint_last_success_timestamp_seconds") < failed_at - 1:
            self.assertLess(time.monotonic(), deadline, "checkpoints did not resume")
            time.sleep(0.2)
        self.verify_ok(self.file)

    def test_e_access_log_chain_checkpointed(self):
        """The access log's chain is signed with the audit chains: once reads have been logged, a
        checkpoint holds the access log's last record and head as the database has them."""
        self.verify_ok()  # fcrctl reads the trail through the API: those reads are access-logged
        deadline = time.monotonic() + WAIT
        while True:
            last_id, head = self.h.sql("SELECT (SELECT max(id) FROM access_log), hash FROM access_log_head")[0]
            self.assertIsNotNone(last_id, "no access record was written")
            found = [h for cp in self.checkpoints() for h in cp["heads"]
                     if h["chain"] == "access" and h["last_id"] == last_id and h["hash"] == head]
            if found:
                break
            self.assertLess(time.monotonic(), deadline, "the access log's head was never checkpointed")
            time.sleep(0.2)
        self.verify_ok(self.file)

    def test_f_heads_read_from_head_rows(self):
        """chain_heads() names each chain's last entry as a search of the trail by hash would,
        and finds it by id from the head row (sql/0028): planned as on a trail of any real size
        (sequential scans off), it reads at most one entry per chain and scans nothing."""
        self.feed(6)
        by_hash = self.h.sql(
            "SELECT 'audit.' || h.id, a.id, h.hash FROM audit_head h "
            "LEFT JOIN audit a ON a.hash = h.hash AND a.chain = h.id AND h.hash <> '' ORDER BY h.id")
        heads = self.h.sql("SELECT chain, last_id, hash FROM chain_heads()")
        self.assertEqual([tuple(r) for r in heads if r[0] != "access"], [tuple(r) for r in by_hash])
        self.assertTrue(any(r[1] is not None for r in heads if r[0] != "access"), heads)
        conn = self.h.connect(autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute("SELECT * FROM chain_heads()")
                self.assertEqual(len(cur.fetchall()), len(heads))
                cur.execute("SELECT seq_scan, idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = 'audit'")
                seq_scan, fetched = cur.fetchone()
        finally:
            conn.rollback()
            conn.close()
        self.assertEqual(seq_scan, 0)
        self.assertLessEqual(fetched, len(by_hash))

    def test_d_key_others_may_read(self):
        """fcrd refuses to start, and --check fails, naming the key file, when other users (or its
        group) may read it; --check passes with the key as made."""
        conf = os.path.join(self.keydir, "check.conf")
        open_key = os.path.join(self.keydir, "open.key")
        shutil.copyfile(self.key, open_key)
        for mode in (0o644, 0o640):
            os.chmod(open_key, mode)
            with open(conf, "w", encoding="utf-8") as f:
                f.write(self.h.config_text(**{"audit.checkpoint_key": open_key}))
            for args in (["--check"], []):
                r = subprocess.run([harness.FCRD_BIN, "--config", conf, *args], cwd=harness.SOURCE_ROOT,
                                   capture_output=True, text=True, timeout=RUN_TIMEOUT)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(f"[audit] checkpoint_key: {open_key}: mode 0{mode:o}", r.stderr)
        with open(conf, "w", encoding="utf-8") as f:
            f.write(self.h.config_text())
        r = subprocess.run([harness.FCRD_BIN, "--config", conf, "--check"], cwd=harness.SOURCE_ROOT,
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    harness.main()
