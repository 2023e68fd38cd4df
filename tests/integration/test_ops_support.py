"""test_ops_support.py: what the operations tests share (no tests of its own): a fake systemd
notification socket, a strict reader of the Prometheus text format, certificates made at test
time with the openssl command, and feed and API clients over TLS."""
import http.client
import json
import math
import os
import re
import socket
import ssl
import struct
import subprocess
import time
import uuid

from harness import REPLY_TIMEOUT, FeedClient


# ---- systemd notifications ------------------------------------------------------------------

class NotifySocket:
    """A datagram socket in the abstract namespace standing in for systemd's. Each message is
    kept with the sender's pid (SO_PASSCRED), so messages from anyone but fcrd can be told apart."""

    def __init__(self):
        self.name = f"@fcrd-it-notify-{uuid.uuid4().hex[:12]}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind("\0" + self.name[1:])
        self.messages = []  # (pid, {var: value}, raw text), in arrival order

    def close(self):
        self.sock.close()

    def _recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
        except socket.timeout:
            return False
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", payload[:struct.calcsize("3i")])[0]
        text = data.decode("utf-8", errors="replace")
        fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
        self.messages.append((pid, fields, text))
        return True

    def drain(self, wait=0.2):
        """Read whatever arrives within `wait` seconds of the last message."""
        while self._recv(wait):
            pass

    def wait_for(self, pid, pred, timeout=30.0, start=0):
        """The first message from pid at index >= start that satisfies pred(fields); waits for it."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(start, len(self.messages)):
                p, fields, _ = self.messages[i]
                if p == pid and pred(fields):
                    return i, fields
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such notification within {timeout:.0f} s; got: "
                                     f"{[m[2] for m in self.messages[start:]]}")
            self._recv(min(left, 0.5))


# ---- the Prometheus text format -------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_metrics(text):
    """Parse exposition format 0.0.4 strictly. Returns (samples, types) where samples maps
    (name, ((label, value), ...sorted)) to a float and types maps a family to its type. Raises
    AssertionError on anything malformed: a sample before its family's TYPE, a family described
    twice, a repeated series, a bad label, a histogram whose buckets are not cumulative or do
    not end in +Inf equal to _count."""
    assert text.endswith("\n"), "the text must end with a newline"
    samples, types, helps, seen_family = {}, {}, set(), set()
    for line in text.split("\n")[:-1]:
        if line.startswith("#"):
            parts = line.split(" ", 3)
            assert len(parts) >= 3 and parts[1] in ("HELP", "TYPE"), f"bad comment: {line!r}"
            name = parts[2]
            assert re.fullmatch(_NAME, name), line
            assert name not in seen_family, f"{name}: HELP/TYPE after its samples"
            if parts[1] == "TYPE":
                assert name not in types, f"{name}: TYPE twice"
                assert len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram", "summary",
                                                        "untyped"), line
                types[name] = parts[3]
            else:
                assert name not in helps, f"{name}: HELP twice"
                helps.add(name)
            continue
        m = _SAMPLE.match(line)
        assert m, f"bad sample line: {line!r}"
        name, labels_text, value = m.groups()
        labels = []
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = _LABEL.match(labels_text, pos)
                assert lm, f"bad labels in {line!r}"
                labels.append((lm.group(1), lm.group(2).replace('\\"', '"').replace("\\n", "\n")
                               .replace("\\\\", "\\")))
                pos = lm.end()
        v = float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))
        family = name
        if family not in types:
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and types.get(name[:-len(suffix)]) == "histogram":
                    family = name[:-len(suffix)]
        assert family in types, f"{name}: no TYPE before its samples"
        seen_family.add(family)
        key = (name, tuple(sorted(labels)))
        assert key not in samples, f"series twice: {line!r}"
        samples[key] = v
        if types[family] == "counter":
            assert v >= 0 and v == math.floor(v), f"counter not a whole number: {line!r}"
    for family, kind in types.items():
        if kind != "histogram":
            continue
        groups = {}
        for (name, labels), v in samples.items():
            if name == family + "_bucket":
                rest = tuple(x for x in labels if x[0] != "le")
                le = dict(labels)["le"]
                groups.setdefault(rest, []).append((float(le.replace("+Inf", "inf")), v))
        assert groups, f"{family}: no buckets"
        for rest, buckets in groups.items():
            buckets.sort()
            assert buckets[-1][0] == math.inf, f"{family}: no +Inf bucket"
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), f"{family}: buckets not cumulative"
            assert samples[(family + "_count", rest)] == counts[-1], f"{family}: _count differs from +Inf"
            assert (family + "_sum", rest) in samples, f"{family}: no _sum"
    return samples, types


def get_metrics(port, token):
    """GET /metrics over plain HTTP: (status, Content-Type, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REPLY_TIMEOUT)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read().decode()
    finally:
        conn.close()


def metric(samples, name, **labels):
    """One sample's value, or None when the series is absent."""
    return samples.get((name, tuple(sorted(labels.items()))))


# ---- certificates ---------------------------------------------------------------------------

def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stderr}")


def make_ca(folder, name, cn):
    """A self-signed CA: name.crt and name.key in folder."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "30",
             "-subj", f"/C=GB/O=Example Police/CN={cn}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             cwd=folder)


def make_cert(folder, name, cn, ca, days=30, server=False, names="DNS:localhost,IP:127.0.0.1"):
    """A certificate signed by ca (a name given to make_ca): name.crt and name.key. A server
    certificate names the hosts in names (subjectAltName form)."""
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/C=GB/O=Example Police/CN={cn}",
             cwd=folder)
    ext = os.path.join(folder, f"{name}.ext")
    with open(ext, "w", encoding="utf-8") as f:
        f.write("basicConstraints=CA:FALSE\n")
        if server:
            f.write(f"subjectAltName={names}\nextendedKeyUsage=serverAuth\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", str(days), "-extfile", ext, cwd=folder)
    os.chmod(os.path.join(folder, f"{name}.key"), 0o644)  # fcrd may run as another user in tests


def subject_rfc2253(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-subject", "-nameopt", "RFC2253"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out.split("=", 1)[1]


# ---- clients over TLS -----------------------------------------------------------------------

def client_context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    ctx.check_hostname = False  # the certificate names localhost and 127.0.0.1 anyway
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


class TlsFeedClient(FeedClient):
    """FeedClient over TLS; the handshake happens in the constructor."""

    def __init__(self, port, ctx, timeout=REPLY_TIMEOUT):  # noqa: super().__init__ would connect plain
        self.timeout = timeout
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.buf = b""

    def peer_subject_cn(self):
        cert = self.sock.getpeercert()
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None


def feed_refused(port, ctx, line):
    """True when fcrd refuses the client: the handshake fails, or (TLS 1.3, where the server
    checks the client's certificate after the client considers the handshake done) the first
    read fails or finds the connection closed without a reply."""
    try:
        c = TlsFeedClient(port, ctx, timeout=10)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    try:
        c.send(line)
        c.read_line(timeout=10)
        return False
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    except TimeoutError:
        return False
    finally:
        try:
            c.close()
        except OSError:
            pass


def https_get(port, path, ca, token=None, timeout=REPLY_TIMEOUT):
    """(status, body text) of an HTTPS GET."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=client_context(ca))
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", errors="replace")
    finally:
        conn.close()


def log_json_lines(text):
    """The log lines of text that are JSON objects."""
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


__all__ = ["NotifySocket", "parse_metrics", "metric", "make_ca", "make_cert", "subject_rfc2253",
           "client_context", "TlsFeedClient", "feed_refused", "https_get", "log_json_lines"]
