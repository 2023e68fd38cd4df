"""metric_names.py: the metric names fcrd exports, read from the source that renders them, and the
names in a PromQL expression, for the checks of conf/monitoring (no tests of its own).

The names come from daemon/service/metrics*.c: each family is declared there by one call of
counter(), gauge(), histogram(), codes() or family() with its name as a string literal. The
integration test test_ops_promtool.py compares this list with a live /metrics page, so a family
rendered some other way cannot hide from it."""
import glob
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("FCRD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))

# Names the monitoring files may use before fcrd exports them: each is added by work that has not
# landed yet. A rule or panel on them stays silent (no series) until it does; once metrics.c
# declares a name, its entry here is redundant and can go.
FUTURE = {
    "fcrd_audit_checkpoint_failures_total": ("counter", "the signed audit checkpoints"),
    "fcrd_audit_checkpoint_last_success_timestamp_seconds": ("gauge", "the signed audit checkpoints"),
}

# Series Prometheus itself attaches to every target.
PROMETHEUS = {"up"}

_DECL = re.compile(r'\b(counter|gauge|histogram|codes|family)\(\s*&?\w+\s*,\s*"(fcrd_[a-z0-9_]+)"'
                   r'(?:\s*,\s*"(counter|gauge|histogram)")?')
_KIND = {"counter": "counter", "gauge": "gauge", "histogram": "histogram", "codes": "counter"}


def exported(source_root=SOURCE_ROOT):
    """{family name: type} of every family fcrd renders, from daemon/service/metrics*.c."""
    families = {}
    paths = sorted(glob.glob(os.path.join(source_root, "daemon", "service", "metrics*.c")))
    if not paths:
        raise RuntimeError(f"no daemon/service/metrics*.c under {source_root}")
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for call, name, declared in _DECL.findall(text):
            kind = declared if call == "family" else _KIND[call]
            if not kind:
                raise RuntimeError(f"{path}: family {name} is declared without a type")
            families[name] = kind
    if not families:
        raise RuntimeError(f"no metric families found in {', '.join(paths)}")
    return families


def series_names(families):
    """The series names the families give: a histogram NAME gives NAME_bucket, _sum and _count."""
    names = set()
    for name, kind in families.items():
        if kind == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
        else:
            names.add(name)
    return names


def known_names(source_root=SOURCE_ROOT):
    """Every series name a monitoring file may use: fcrd's, the future ones, Prometheus's own."""
    return series_names(exported(source_root)) | series_names({n: k for n, (k, _) in FUTURE.items()}) | PROMETHEUS


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_FCRD_NAME = re.compile(r"(?<![A-Za-z0-9_:$])fcrd[_:][A-Za-z0-9_:]*")
_UP = re.compile(r"(?<![A-Za-z0-9_:$])up\s*(?=\{|\[|$|\s*[=!<>)])")


def expr_names(expr):
    """The fcrd_* (and up) series names a PromQL expression reads, label values left out."""
    code = _STRING.sub('""', expr)
    names = set(_FCRD_NAME.findall(code))
    if _UP.search(code):
        names.add("up")
    return names


def text_names(text):
    """The fcrd_* names mentioned in prose (an alert's description)."""
    return set(re.findall(r"(?<![A-Za-z0-9_])fcrd_[a-z0-9_]*[a-z0-9]", text))
