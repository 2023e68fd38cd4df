"""harness.py: a throwaway PostgreSQL and the real fcrd binary for the integration tests.

One Harness per test class: a temporary folder holding a fresh PostgreSQL cluster (on a free
port, trust authentication for 127.0.0.1 and its own socket folder), the roles and database
provisioned as in production, a config file with free ports, a tokens file with one token per
role, the schema brought up to date by `fcrd migrate` (as the schema owner, from a file of its
own, migrate.conf), and fcrd started from FCRD_BIN (as the serving role, with no owner's
credentials). Everything is removed again by stop(), which also runs at
interpreter exit and on SIGTERM, and when start() itself fails half-way.

PostgreSQL refuses to run as root: when the tests run as root the server runs as the
unprivileged account FCRD_PG_USER (default `postgres`, else `nobody`). Both child processes
are tied to this process with PR_SET_PDEATHSIG, so a killed test run leaves no server behind.

Environment: FCRD_BIN, FCRD_SOURCE_ROOT, FCRD_SHARED_DIR (see README.md), PG_BINDIR (server
binaries; default the newest /usr/lib/postgresql/*/bin), FCRD_IT_KEEP=1 keeps the temporary
folder for a post-mortem, FCRD_IT_LOG_LEVEL sets fcrd's log level (default info). With CI=true a
test that needs the shared worked cases fails when they are missing instead of skipping.

The feed's JSON schemas (proto/*.schema.json) are loaded here too, so every test file checks
events and replies against the same validator (Debian: python3-jsonschema). Every reply
FeedClient.read_reply returns has been checked against proto/feed-reply.schema.json, and every
response ApiClient.request returns against proto/openapi.yaml (openapi_check.py): a reply or
response outside the contract fails the test that read it, with an AssertionError naming it.
"""
import atexit
import ctypes
import functools
import glob
import http.client
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import openapi_check

try:
    import psycopg2
    import psycopg2.errors
except ImportError:  # reported when a harness starts, so the unit suite never needs it
    psycopg2 = None

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("FCRD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
FCRD_BIN = os.environ.get("FCRD_BIN") or os.path.join(SOURCE_ROOT, "build", "daemon", "fcrd")
SHARED_DIR = os.path.normpath(os.environ.get("FCRD_SHARED_DIR") or os.path.join(SOURCE_ROOT, "..", "shared"))

PROTO_DIR = os.path.join(SOURCE_ROOT, "proto")

ROLES = ("ops", "auditor", "supervisor", "ddm", "fcr")
START_TIMEOUT = 90.0   # sanitized builds on two cores start slowly
REPLY_TIMEOUT = 60.0   # longer than fcrd's database connect timeout

# Sanitizer reports fcrd may print; any of them fails the test class that ran it.
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|"
                          r"SUMMARY: (Address|Undefined)")

_live = []  # harnesses not yet stopped, for the exit and SIGTERM paths


def _cleanup_all():
    for h in list(_live):
        try:
            h.stop(check=False)
        except Exception as e:  # noqa: BLE001 -- cleanup must go on
            print(f"harness: cleanup of {h.name} failed: {e}", file=sys.stderr)


atexit.register(_cleanup_all)


def in_ci():
    """CI=true marks the run that decides a merge: there, tests must not pass by skipping."""
    return os.environ.get("CI", "").strip().lower() == "true"


def shared_missing(test, path):
    """For a test that needs `path` from the shared folder and does not find it: outside CI the
    test skips, naming the path; with CI=true it fails. Never returns."""
    if in_ci():
        test.fail(f"{path} not found: CI=true needs the shared worked cases beside the checkout "
                  f"(FCRD_SHARED_DIR, here {SHARED_DIR})")
    test.skipTest(f"{path} not found (with CI=true this fails)")


CORPUS = os.path.join(SOURCE_ROOT, "tests", "corpus")


def corpus_rows():
    """The hostile corpus: (file, bytes of the line ending in a newline, status, code, field) for
    each row of tests/corpus/expected.tsv."""
    rows = []
    with open(os.path.join(CORPUS, "expected.tsv"), encoding="utf-8") as f:
        for row in f:
            row = row.rstrip("\r\n")
            if not row or row.startswith("#") or row.startswith("file\t"):
                continue
            cols = (row.split("\t") + ["", "", ""])[:4]
            with open(os.path.join(CORPUS, cols[0]), "rb") as lf:
                data = lf.read()
            if not data.endswith(b"\n"):
                data += b"\n"
            rows.append((cols[0], data, cols[1], cols[2], cols[3]))
    return rows


@functools.lru_cache(maxsize=None)
def schema_validator(name):
    """A validator for proto/NAME.schema.json, of the draft its $schema names, checked itself
    against that draft's meta-schema first. Formats are checked where the jsonschema package
    can check them (date-time needs a module Debian does not package; the schemas' own pattern
    checks those). Raises RuntimeError when jsonschema is missing or does not know the draft."""
    try:
        import jsonschema
        import jsonschema.validators
    except ImportError:
        raise RuntimeError("the schema checks need jsonschema (Debian: python3-jsonschema)") from None
    path = os.path.join(PROTO_DIR, f"{name}.schema.json")
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema, default=None)
    if cls is None:
        raise RuntimeError(f"{path}: jsonschema {_version('jsonschema')} does not know the draft "
                           f"{schema.get('$schema')!r}")
    cls.check_schema(schema)
    checker = getattr(cls, "FORMAT_CHECKER", None) or jsonschema.FormatChecker()
    return cls(schema, format_checker=checker)


def _version(dist):
    try:
        from importlib import metadata
        return metadata.version(dist)
    except Exception:  # noqa: BLE001 -- only for a message
        return "?"


def schema_errors(name, doc):
    """What is wrong with `doc` by proto/NAME.schema.json: one "path: message" per error,
    empty when it is valid."""
    errors = sorted(schema_validator(name).iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors]


def uid(prefix="T"):
    """A short unique id, so tests sharing one database never collide."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port():
    """A TCP port free right now on 127.0.0.1 (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir():
    if os.environ.get("PG_BINDIR"):
        return os.environ["PG_BINDIR"]

    def version(path):
        m = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin$", path)
        return (int(m.group(1)), int(m.group(2) or 0)) if m else (0, 0)

    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.access(os.path.join(d, "initdb"), os.X_OK)]
    if found:
        return max(found, key=version)
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise RuntimeError("no PostgreSQL server binaries (install postgresql or set PG_BINDIR)")


def _deathsig(sig):
    """preexec_fn: the child gets `sig` when this process dies (set after any uid change)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def setup():
        libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG

    return setup


def _tail(path, lines=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class _Account:
    """Who runs PostgreSQL: the current user, or an unprivileged account when we are root."""

    def __init__(self):
        self.kwargs = {}
        self.uid = self.gid = None
        if os.geteuid() != 0:
            return
        for name in filter(None, (os.environ.get("FCRD_PG_USER"), "postgres", "nobody")):
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                continue
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            self.kwargs = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            return
        raise RuntimeError("running as root and no unprivileged account for PostgreSQL")

    def give(self, path):
        if self.uid is not None:
            os.chown(path, self.uid, self.gid)


class Postgres:
    """A throwaway cluster in `workdir`, listening on 127.0.0.1:port and a private socket."""

    def __init__(self, workdir):
        self.account = _Account()
        self.bindir = pg_bindir()
        self.root = os.path.join(workdir, "pg")
        self.data = os.path.join(self.root, "data")
        self.sockdir = os.path.join(self.root, "run")
        self.logfile = os.path.join(self.root, "postgresql.log")
        self.port = None
        self.proc = None

    def init(self):
        for d in (self.root, self.data, self.sockdir):
            os.makedirs(d, exist_ok=True)
            self.account.give(d)
        os.chmod(self.root, 0o755)
        os.chmod(self.data, 0o700)
        # Trust is confined to local connections by initdb's pg_hba.conf (unix and loopback).
        r = subprocess.run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                            "--auth=trust", "--encoding=UTF8", "--no-locale"],
                           cwd=self.root, capture_output=True, text=True, **self.account.kwargs)
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{r.stdout}\n{r.stderr}")

    def start(self, timeout=START_TIMEOUT):
        """Start the server (on the same port as before after a stop) and wait until it accepts."""
        attempts = 3 if self.port is None else 1
        for attempt in range(attempts):
            if self.port is None or attempt > 0:
                self.port = free_port()
            log = open(self.logfile, "ab")
            self.account.give(self.logfile)
            # fsync and synchronous_commit keep their defaults (on): the tests check durability.
            self.proc = subprocess.Popen(
                [os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.sockdir}",
                 "-c", "max_connections=50", "-c", "log_min_messages=warning"],
                cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=_deathsig(signal.SIGQUIT), **self.account.kwargs)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    self.connect("postgres").close()
                    return
                except psycopg2.OperationalError:
                    time.sleep(0.1)
            else:
                self.stop()
                raise RuntimeError(f"PostgreSQL did not accept within {timeout:.0f} s:\n{_tail(self.logfile)}")
            self.proc = None  # exited at start: most likely the port was taken; try another
        raise RuntimeError(f"PostgreSQL did not start:\n{_tail(self.logfile)}")

    def stop(self, timeout=60):
        """Fast shutdown (SIGINT), as pg_ctl stop -m fast; immediate if that hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGQUIT)
                self.proc.wait(30)
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def connect(self, dbname="fcrd", user="postgres", autocommit=True):
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, dbname=dbname, user=user,
                                connect_timeout=5)
        conn.autocommit = autocommit
        return conn

    def provision(self):
        """As an operator would: sql/roles.sql, then the database owned by fcrd_owner."""
        with open(os.path.join(SOURCE_ROOT, "sql", "roles.sql"), encoding="utf-8") as f:
            roles_sql = f.read()
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(roles_sql)
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'fcrd'")
                if cur.fetchone() is None:
                    cur.execute("CREATE DATABASE fcrd OWNER fcrd_owner")
        finally:
            conn.close()


def feed_socket(address, timeout):
    """A socket connected to a feed address (unix:PATH, tcp:HOST:PORT or HOST:PORT), with
    `timeout` for the connection and what follows."""
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address[5:])
        return s
    host, port = address[4:].rsplit(":", 1) if address.startswith("tcp:") else address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


class FeedClient:
    """One feed connection: send lines (pipelined if you like), read replies as JSON."""

    def __init__(self, address, timeout=REPLY_TIMEOUT):
        self.timeout = timeout
        self.sock = feed_socket(address, timeout)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @staticmethod
    def encode(item):
        """A dict becomes one compact JSON line; str/bytes are sent as given plus a newline."""
        if isinstance(item, dict):
            return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        if isinstance(item, str):
            item = item.encode()
        return item if item.endswith(b"\n") else item + b"\n"

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, item):
        self.sock.sendall(self.encode(item))

    def send_many(self, items):
        self.sock.sendall(b"".join(self.encode(i) for i in items))

    def read_line(self, timeout=None):
        """The next reply line as text; raises TimeoutError or ConnectionError."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from fcrd")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no reply from fcrd") from None
            if not chunk:
                raise ConnectionError(f"fcrd closed the feed connection (unanswered: {self.buf[:200]!r})")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8")

    def read_reply(self, timeout=None):
        """The next reply as JSON, checked against proto/feed-reply.schema.json: a reply outside
        the contract is an AssertionError, whatever the test was about."""
        line = self.read_line(timeout)
        try:
            reply = json.loads(line)
        except ValueError:
            raise AssertionError(f"reply is not JSON: {line[:300]!r}") from None
        problems = schema_errors("feed-reply", reply)
        if problems:
            raise AssertionError("reply breaks proto/feed-reply.schema.json:\n  " + "\n  ".join(problems)
                                 + f"\n  reply: {line[:600]}")
        return reply

    def read_replies(self, n, timeout=None):
        return [self.read_reply(timeout) for _ in range(n)]

    def request(self, item, timeout=None):
        self.send(item)
        return self.read_reply(timeout)

    def pending_input(self, wait=0.3):
        """True when fcrd sent anything more within `wait` seconds (for no-reply checks)."""
        if self.buf:
            return True
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        self.buf += chunk
        return True


class ApiClient:
    """The supervisor API over plain HTTP; `role` picks that role's token from the harness."""

    def __init__(self, port, tokens):
        self.port = port
        self.tokens = tokens

    def request(self, method, path, body=None, role=None, token=None, headers=None):
        """Returns (status, parsed JSON or the raw text when the body is not JSON). The response
        is checked against proto/openapi.yaml first: one outside the contract (status, Content-Type
        or body) raises AssertionError naming the request and each mismatch."""
        hdrs = dict(headers or {})
        if role is not None:
            token = self.tokens[role]
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REPLY_TIMEOUT)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read().decode("utf-8", errors="replace")
        finally:
            conn.close()
        openapi_check.assert_response(method, path, resp.status, resp.getheader("Content-Type"), raw)
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw

    def get(self, path, role=None, token=None):
        return self.request("GET", path, role=role, token=token)


class Harness:
    """PostgreSQL + fcrd for one test class. Use start(), the clients, then stop()."""

    def __init__(self, name="fcrd", config=None):
        self.name = name
        self.overrides = config or {}
        self.workdir = None
        self.pg = None
        self.proc = None
        self.feed_port = self.api_port = None
        self.feed_unix = None
        self.tokens = {}
        self.conf_path = self.log_path = self.migrate_path = None
        self._sql = None
        self._stopped = False
        self._offset = 0  # fcrd log position already inspected

    # -- life cycle ------------------------------------------------------------------------
    def start(self):
        if psycopg2 is None:
            raise RuntimeError("the integration tests need psycopg2 (Debian: python3-psycopg2)")
        if not os.access(FCRD_BIN, os.X_OK):
            raise RuntimeError(f"no fcrd binary at {FCRD_BIN} (build first, or set FCRD_BIN)")
        _live.append(self)
        try:
            self.workdir = tempfile.mkdtemp(prefix=f"fcrd-it-{self.name}-")
            os.chmod(self.workdir, 0o755)  # the PostgreSQL account must reach its folder
            self.pg = Postgres(self.workdir)
            self.pg.init()
            self.pg.start()
            self.pg.provision()
            self.write_tokens()
            self.start_fcrd()
        except BaseException:
            self.stop(check=False)
            raise
        return self

    def stop(self, check=True):
        """Stop fcrd and PostgreSQL and remove the folder. With check, a sanitizer report or an
        unclean exit of fcrd raises AssertionError (after the cleanup)."""
        if self._stopped:
            return
        self._stopped = True
        problems = []
        try:
            problems = self.stop_fcrd()
            if self._sql is not None:
                try:
                    self._sql.close()
                except Exception:  # noqa: BLE001
                    pass
                self._sql = None
            if self.pg is not None:
                self.pg.stop()
        finally:
            if self in _live:
                _live.remove(self)
            if self.workdir and not os.environ.get("FCRD_IT_KEEP"):
                shutil.rmtree(self.workdir, ignore_errors=True)
            elif self.workdir:
                print(f"harness: kept {self.workdir}", file=sys.stderr)
        if check and problems:
            raise AssertionError("fcrd: " + "; ".join(problems))

    # -- fcrd ------------------------------------------------------------------------------
    def write_tokens(self):
        self.tokens = {role: f"it-{role}-{secrets.token_hex(12)}" for role in ROLES}
        path = os.path.join(self.workdir, "tokens")
        with open(path, "w", encoding="utf-8") as f:
            f.write("# test tokens: TOKEN USER ROLE\n")
            for role, token in self.tokens.items():
                f.write(f"{token} it-{role}-user {role}\n")
        os.chmod(path, 0o600)  # fcrd refuses a tokens file every user may read
        return path

    def config_text(self, **over):
        """The config fcrd serves with; `over` maps "section.key" to a replacement value (None
        drops the key). It holds no [database] admin_conninfo: that is fcrd migrate's
        (migrate_text), as in a real installation."""
        return self._ini({k: v for k, v in self._items(over).items() if k != "database.admin_conninfo"})

    def migrate_text(self, **over):
        """The config `fcrd migrate` reads: the [database] section alone, with the schema owner's
        connection (admin_conninfo) and the migrations."""
        return self._ini({k: v for k, v in self._items(over).items() if k.startswith("database.")
                          and k != "database.conninfo"})

    def _items(self, over):
        pg = self.pg
        items = {
            "database.conninfo": f"host=127.0.0.1 port={pg.port} dbname=fcrd user=fcrd",
            "database.admin_conninfo": f"host=127.0.0.1 port={pg.port} dbname=fcrd user=fcrd_owner",
            "database.migrations": os.path.join(SOURCE_ROOT, "sql"),
            "database.connect_timeout_ms": "3000",
            "feed.listen": f"tcp:127.0.0.1:{self.feed_port}, unix:{self.feed_unix}",
            "api.listen": f"127.0.0.1:{self.api_port}",
            "api.tokens": os.path.join(self.workdir, "tokens"),
            "rules.file": os.path.join(SOURCE_ROOT, "conf", "rules", "hocr-2025.json"),
            "recording.force": "XX",
            "log.level": os.environ.get("FCRD_IT_LOG_LEVEL", "info"),
        }
        items.update(self.overrides)
        items.update(over)
        return items

    @staticmethod
    def _ini(items):
        sections = {}
        for key, value in items.items():
            if value is None:
                continue
            section, name = key.split(".", 1)
            sections.setdefault(section, []).append(f"{name} = {value}")
        out = ["# fcrd config written by the integration harness"]
        for section, lines in sections.items():
            out += ["", f"[{section}]"] + lines
        return "\n".join(out) + "\n"

    def fcrd_env(self):
        """The environment fcrd runs with: the sanitizers' options."""
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        # Leak reports are only useful with whole stacks; the fast unwinder loses them in
        # optimised code.
        if "fast_unwind_on_malloc" not in env["ASAN_OPTIONS"]:
            env["ASAN_OPTIONS"] += ":fast_unwind_on_malloc=0:malloc_context_size=30"
        return env

    def migrate(self, check=True, timeout=START_TIMEOUT):
        """`fcrd migrate --config migrate.conf`, as an installation runs it before starting fcrd
        (the unit's ExecStartPre=). Its output goes to fcrd's log too, before what start_fcrd
        inspects. Returns the CompletedProcess; with check, a failure (or a sanitizer report)
        raises RuntimeError."""
        self.migrate_path = os.path.join(self.workdir, "migrate.conf")
        with open(self.migrate_path, "w", encoding="utf-8") as f:
            f.write(self.migrate_text())
        os.chmod(self.migrate_path, 0o600)
        r = subprocess.run([FCRD_BIN, "migrate", "--config", self.migrate_path], cwd=SOURCE_ROOT,
                           capture_output=True, text=True, env=self.fcrd_env(), timeout=timeout)
        self.log_path = os.path.join(self.workdir, "fcrd.log")
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(r.stderr + r.stdout)
        if check and (r.returncode != 0 or SANITIZER_RE.search(r.stderr)):
            raise RuntimeError(f"fcrd migrate failed (exit status {r.returncode}):\n{r.stderr}{r.stdout}")
        return r

    def start_fcrd(self, timeout=START_TIMEOUT, wait_ready=True, migrate=True):
        """Start fcrd on fresh free ports, after `fcrd migrate` unless migrate is false, and wait
        until the feed and the API accept and, with wait_ready, fcrd reports itself ready
        (database reachable, schema up to date)."""
        env = self.fcrd_env()
        if migrate:
            self.migrate()
        self.log_path = os.path.join(self.workdir, "fcrd.log")
        for attempt in range(3):
            self.feed_port, self.api_port = free_port(), free_port()
            while self.api_port == self.feed_port:
                self.api_port = free_port()
            self.feed_unix = os.path.join(self.workdir, "feed.sock")
            self.conf_path = os.path.join(self.workdir, "fcrd.conf")
            with open(self.conf_path, "w", encoding="utf-8") as f:
                f.write(self.config_text())
            with open(self.log_path, "ab") as log:
                self._offset = log.tell()
                self.proc = subprocess.Popen([FCRD_BIN, "--config", self.conf_path], cwd=SOURCE_ROOT,
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                             preexec_fn=_deathsig(signal.SIGTERM))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._accepts(self.feed_port) and self._accepts(self.api_port) and \
                        (not wait_ready or self._ready()):
                    return
                time.sleep(0.1)
            if self.proc.poll() is None:
                self.stop_fcrd()
                raise RuntimeError(f"fcrd was not ready within {timeout:.0f} s:\n{self.log_tail()}")
            text = self.log_tail()
            self.proc = None
            if "in use" not in text.lower() or attempt == 2:  # a port race is worth a retry
                raise RuntimeError(f"fcrd exited at start:\n{text}")

    def _ready(self):
        """GET /readyz says the database is reachable: until then events would only get
        `retry`. A daemon without the route counts as ready once it listens."""
        try:
            status, _ = self.api.get("/readyz")
        except OSError:
            return False
        return status in (200, 404)

    @staticmethod
    def _accepts(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop_fcrd(self, timeout=30):
        """SIGTERM and wait. Returns the problems seen: unclean exit, sanitizer reports."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"did not exit within {timeout} s of SIGTERM")
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        if rc != 0:
            problems.append(f"exit status {rc} after SIGTERM")
        text = self.log_text()
        if SANITIZER_RE.search(text):
            problems.append("sanitizer report in its log")
        if problems:
            print(f"--- fcrd log ({self.name}) ---\n{self.log_tail(120)}--- end of fcrd log ---",
                  file=sys.stderr)
        return problems

    def restart_fcrd(self):
        problems = self.stop_fcrd()
        if problems:
            raise AssertionError("fcrd: " + "; ".join(problems))
        self.start_fcrd()

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                f.seek(self._offset)
                return f.read()
        except (OSError, TypeError):
            return ""

    def log_tail(self, lines=40):
        return "".join(self.log_text().splitlines(keepends=True)[-lines:])

    # -- clients ---------------------------------------------------------------------------
    def feed(self, unix=False, timeout=REPLY_TIMEOUT):
        if unix:
            return FeedClient(f"unix:{self.feed_unix}", timeout)
        return FeedClient(f"tcp:127.0.0.1:{self.feed_port}", timeout)

    @property
    def api(self):
        return ApiClient(self.api_port, self.tokens)

    def sql(self, query, args=None):
        """Rows of a query run as the superuser on the fcrd database (autocommit)."""
        for attempt in (1, 2):
            try:
                if self._sql is None or self._sql.closed:
                    self._sql = self.pg.connect()
                with self._sql.cursor() as cur:
                    cur.execute(query, args)
                    return cur.fetchall() if cur.description else []
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                # the server was restarted under us: one fresh connection, then give up
                self._sql = None
                if attempt == 2:
                    raise
        return []

    def sql_value(self, query, args=None):
        rows = self.sql(query, args)
        return rows[0][0] if rows else None

    def connect(self, user="postgres", autocommit=True):
        return self.pg.connect(user=user, autocommit=autocommit)

    def sql_refused(self, query, args=None, user="fcrd"):
        """One statement as `user` (by default the serving login), committed: None when it ran,
        else the error's SQLSTATE. For tests of what a role may and may not do."""
        conn = self.connect(user=user)
        try:
            with conn.cursor() as cur:
                cur.execute(query, args)
            return None
        except psycopg2.Error as e:
            return e.pgcode or "error"
        finally:
            conn.close()

    # -- PostgreSQL outage -----------------------------------------------------------------
    def pg_stop(self):
        if self._sql is not None:
            self._sql.close()
            self._sql = None
        self.pg.stop()

    def pg_start(self):
        self.pg.start()


def event(incident_id, seq, type_="incident.opened", at="2026-03-02T10:00:00Z", **fields):
    """A feed event with a unique event_id; an opening gets category crime unless given."""
    ev = {"v": 1, "event_id": fields.pop("event_id", uid("E")), "type": type_,
          "incident_id": incident_id, "seq": seq, "at": at}
    if type_ == "incident.opened":
        ev.setdefault("category", "crime")
    ev.update(fields)
    return ev


def assault_opened(incident_id, seq=1, at="2026-03-02T10:00:00Z", **extra):
    """An opening that records one crime at once: a victim who confirms an injury assault."""
    fields = dict(
        channel="emergency_call",
        narrative="Caller says a stranger punched her outside the station; cut lip.",
        reported_by="v1",
        persons=[{"id": "v1", "role": "victim", "sex": "female", "age": 34, "confirms": True,
                  "relationships": [{"to": "s1", "kind": "stranger"}]},
                 {"id": "s1", "role": "suspect", "sex": "male"}],
        allegations=[{"id": "a1", "victim": "v1", "suspects": ["s1"], "conduct": "assault.injury",
                      "occurred_at": at, "location": {"force_area": "own", "premises": "public_place"}}],
    )
    fields.update(extra)
    return event(incident_id, seq, "incident.opened", at, **fields)


def third_party_opened(incident_id, at="2026-03-02T10:00:00Z", victim_extra=None, **extra):
    """A witness reports an assault: pending third_party_unconfirmed until the victim confirms."""
    victim = {"id": "v1", "role": "victim", "sex": "male", "age": 40}
    victim.update(victim_extra or {})
    fields = dict(reported_by="w1",
                  persons=[{"id": "w1", "role": "witness"}, victim],
                  allegations=[{"id": "a1", "victim": "v1", "conduct": "assault.injury", "occurred_at": at,
                                "location": {"force_area": "own", "premises": "public_place"}}])
    fields.update(extra)
    return event(incident_id, 1, "incident.opened", at, **fields)


class DaemonTestCase(unittest.TestCase):
    """Base class: one harness (PostgreSQL + fcrd) shared by the class's tests."""

    harness_config = {}
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.h = Harness(cls.__name__, config=cls.harness_config)
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()

    def assertSchema(self, name, doc, what=""):
        """`doc` is valid by proto/NAME.schema.json (feed-event or feed-reply)."""
        problems = schema_errors(name, doc)
        self.assertEqual(problems, [], f"{what}: not a valid {name}: {json.dumps(doc)[:400]}")

    def send_accepted(self, *events):
        """Send events on one feed connection; every reply must be `accepted`. Returns them."""
        with self.h.feed() as feed:
            replies = [feed.request(e) for e in events]
        for r in replies:
            self.assertStatus(r, "accepted")
        return replies

    def assertStatus(self, reply, status, code=None):
        msg = json.dumps(reply)
        self.assertEqual(reply.get("status"), status, msg)
        if code is not None:
            self.assertEqual((reply.get("error") or {}).get("code"), code, msg)


class _CountingResult(unittest.TextTestResult):
    """Remembers the outcome of every test method, and errors outside any method."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed_ids, self.failed_ids, self.skipped_ids = set(), set(), set()
        self.outside = 0

    def _fail(self, test):
        if isinstance(test, unittest.TestCase):
            self.failed_ids.add(test.id())
        elif "setUp" not in str(test):  # set-up failures show as tests that never ran
            self.outside += 1

    def addSuccess(self, test):
        super().addSuccess(test)
        if test.id() not in self.failed_ids:
            self.passed_ids.add(test.id())

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test)

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.failed_ids.add(test.id())
            self.passed_ids.discard(test.id())

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if isinstance(test, unittest.TestCase):
            self.skipped_ids.add(test.id())

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed_ids.add(test.id())

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.failed_ids.add(test.id())


def _collect_ids(suite):
    ids = []
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            ids += _collect_ids(t)
        else:
            ids.append(t.id())
    return ids


def main():
    """Run the calling module's tests (or those named on the command line) and print
    "fcrd-integration: P passed, F failed, S skipped"; every method that did not run because
    its class could not be set up counts as failed. Exit status 1 when anything failed."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    module = sys.modules["__main__"]
    loader = unittest.defaultTestLoader
    names = sys.argv[1:]
    suite = loader.loadTestsFromNames(names, module) if names else loader.loadTestsFromModule(module)
    all_ids = _collect_ids(suite)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=_CountingResult)
    result = runner.run(suite)
    failed = set(result.failed_ids)
    skipped = set(result.skipped_ids) - failed
    passed = set(result.passed_ids) - failed - skipped
    unrun = [i for i in all_ids if i not in failed | skipped | passed]
    n_failed = len(failed) + len(unrun) + result.outside
    print(f"fcrd-integration: {len(passed)} passed, {n_failed} failed, {len(skipped)} skipped")
    sys.stdout.flush()
    sys.exit(1 if n_failed else 0)


__all__ = ["Harness", "FeedClient", "ApiClient", "Postgres", "DaemonTestCase", "event", "assault_opened",
           "uid", "free_port", "main", "in_ci", "shared_missing", "schema_validator", "schema_errors",
           "SOURCE_ROOT", "SHARED_DIR", "PROTO_DIR", "FCRD_BIN", "psycopg2"]
