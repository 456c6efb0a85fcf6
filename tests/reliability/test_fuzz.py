"""Fuzzing with hypothesis: every log parser (compiled and twin), the framing code (line framer,
syslog TCP newline and octet counting), the whole pipeline with every shipped rule, rule, Sigma and
policy loading, and every lockfile parser. 0 crashes (anything but the module's typed error) and
0 hangs (an example running longer than HANG_SECS fails).

CI runs IRONPOST_FUZZ_EXAMPLES (default 300) examples per target; the nightly size,
IRONPOST_RELIABILITY_LONG=1, splits 1,000,000 examples over the targets. Strategies come from
tests/log_pipeline (lp_strategies, lp_json_strategies) and tests/sbom/test_sbom_fuzz.py.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability_support import LONG, ROOT, record
from stub_transport import StubTransport

sys.path.insert(0, str(ROOT / "tests" / "log_pipeline"))
sys.path.insert(0, str(ROOT / "tests" / "sbom"))

from lp_json_strategies import json_batch  # noqa: E402
from lp_strategies import batch  # noqa: E402
from test_sbom_fuzz import DOCS, LINES  # noqa: E402

from ironpost.core.errors import IronpostError  # noqa: E402
from ironpost.core.extensions import compiled  # noqa: E402

TARGETS = 12
EXAMPLES = int(os.environ.get("IRONPOST_FUZZ_EXAMPLES") or (math.ceil(1_000_000 / TARGETS) if LONG else 300))
HANG_SECS = 10.0
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
COUNTS: dict[str, int] = {}


class Hang(Exception):
    pass


@contextmanager
def no_hang(target: str):
    """One example: counted, and failed as a hang past HANG_SECS (SIGALRM, main thread)."""
    def fire(signum, frame):
        raise Hang(f"{target}: one input ran longer than {HANG_SECS}s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    COUNTS[target] = COUNTS.get(target, 0) + 1


def typed_or_nothing(target: str, fn, *args):
    """Run fn; a typed IronpostError is a clear error (fine), anything else is a crash."""
    with no_hang(target):
        try:
            return fn(*args)
        except IronpostError:
            return None


@pytest.fixture(scope="module", autouse=True)
def report(request):
    t0 = time.monotonic()
    failed0 = request.session.testsfailed
    yield
    # a failing target is a crash or a hang (its report says which and shows the input)
    record("fuzz", examples_per_target=EXAMPLES, inputs=sum(COUNTS.values()), by_target=dict(COUNTS),
           seconds=round(time.monotonic() - t0, 1), failed_targets=request.session.testsfailed - failed0)


# ---- log parsers and the pipeline -------------------------------------------------------------
IMPLS = {"twin": __import__("ironpost.log_pipeline.parsers.logparse_py", fromlist=["x"]), "ext": compiled("logparse")}


@FUZZ
@given(buf=st.one_of(batch, json_batch, st.binary(max_size=600)), year=st.integers(1970, 2100), month=st.integers(0, 12),
       max_line=st.sampled_from([16, 200, 65536]), depth=st.sampled_from([1, 2, 32]))
def test_log_parsers(buf, year, month, max_line, depth):
    for name, impl in IMPLS.items():
        if impl is None:
            continue
        p = typed_or_nothing(f"logparse_{name}", impl.parse, buf + b"\n", year, month, max_line, depth)
        if p is not None:
            with no_hang(f"logparse_{name}_records"):
                assert isinstance(p.records(), list)


_PIPES: dict = {}


def _pipeline(impl_name: str):
    if impl_name not in _PIPES:
        from ironpost.log_pipeline import matcher_py
        from ironpost.log_pipeline.pipeline import Pipeline
        from ironpost.log_pipeline.rules.loader import load_rules_strict

        impl = compiled("matcher") if impl_name == "ext" else matcher_py
        _PIPES[impl_name] = None if impl is None else Pipeline(load_rules_strict(ROOT / "rules"), year=2026, matcher_impl=impl)
    return _PIPES[impl_name]


@FUZZ
@given(buf=st.one_of(batch, json_batch, st.binary(max_size=400)))
def test_pipeline_with_every_shipped_rule(buf):
    for name in ("ext", "twin"):
        pipe = _pipeline(name)
        if pipe is not None:
            out = typed_or_nothing(f"pipeline_{name}", pipe.process, buf + b"\n", "fuzz")
            assert out is None or isinstance(out, list)
            pipe.take_suppressed()


# ---- framing ------------------------------------------------------------------------------------
@FUZZ
@given(chunks=st.lists(st.binary(max_size=200).map(lambda b: b.replace(b"x", b"\n")), max_size=8), max_line=st.integers(1, 64))
def test_line_framer(chunks, max_line):
    from ironpost.core.framing import LineFramer

    f = LineFramer(max_line)
    out = b""
    with no_hang("line_framer"):
        for c in chunks:
            out += f.feed(c)
        out += f.flush()
    assert all(len(line) <= max_line for line in out.split(b"\n"))


_octet_frame = st.builds(lambda m: b"%d %s" % (len(m), m), st.binary(max_size=80))
_tcp_stream = st.one_of(
    st.lists(_octet_frame, max_size=10).map(b"".join),
    st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ") + b"\n"), max_size=10).map(b"".join),
    st.binary(max_size=400),
    st.lists(st.one_of(_octet_frame, st.sampled_from([b"99999999999 x", b"0 ", b"-1 a", b"12", b" ", b"\n", b"5 abc"])), max_size=8).map(b"".join),
)


@FUZZ
@given(stream=_tcp_stream, cuts=st.lists(st.integers(1, 50), max_size=10), max_line=st.sampled_from([8, 64, 65536]))
def test_syslog_tcp_framing(stream, cuts, max_line):
    """The real per-connection framing of the syslog TCP collector, fed in arbitrary pieces."""
    from ironpost.log_pipeline.collectors.syslog_tcp import SyslogTcp, SyslogTcpConfig, _Conn

    srv = SyslogTcp(SyslogTcpConfig(host="127.0.0.1", port=0, max_line=max_line))
    conn = _Conn(srv)
    conn.connection_made(StubTransport())
    with no_hang("syslog_tcp_framing"):
        pos = 0
        for c in cuts + [len(stream)]:
            piece = stream[pos:pos + c]
            pos += c
            if piece:
                conn.data_received(piece)
        conn.connection_lost(None)
    for chunk, _ in srv._queue:
        assert all(len(line) <= max_line for line in chunk.split(b"\n"))


# ---- rules, Sigma and policies --------------------------------------------------------------------
_RULE_KEYS = ["id", "title", "description", "severity", "detection", "conditions", "field", "operator", "value", "modifiers",
              "threshold", "count", "timeframe_secs", "group_by", "distinct", "dedup_secs", "rate_limit", "extract", "tags",
              "service", "input", "session", "key", "rules", "within_secs", "pattern"]
_RULE_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True),
                          st.sampled_from(["high", "low", "regex", "contains", "equals", "message", "src_ip", "(?P<src_ip>\\S+)",
                                           "[unclosed", "a" * 300, "", "ssh", "\\", "(?<=x)y", "*"]),
                          st.text(max_size=20))
RULE_DOCS = st.recursive(_RULE_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                st.dictionaries(st.sampled_from(_RULE_KEYS), inner, max_size=6)),
                         max_leaves=30)
_SHIPPED = sorted((ROOT / "rules").glob("*.yaml"))


def _mutate(text: str, rnd: random.Random, edits: int) -> str:
    b = bytearray(text.encode())
    for _ in range(edits):
        if not b:
            break
        i = rnd.randrange(len(b))
        op = rnd.randrange(4)
        if op == 0:
            del b[i:i + rnd.randint(1, 20)]
        elif op == 1:
            b[i:i] = rnd.choice([b":", b"-", b"  ", b"\n", b"'", b'"', b"[", b"{", b"&a", b"*a", b"\xff", b"!!python/object x"])
        elif op == 2:
            b[i] = rnd.randrange(256)
        else:
            j = rnd.randrange(len(b))
            b[i:i] = b[j:j + rnd.randint(1, 40)]
    return b.decode("utf-8", "replace")


def _write(d: Path, name: str, text: str) -> Path:
    for old in d.iterdir():
        old.unlink()
    p = d / name
    p.write_text(text, encoding="utf-8", errors="surrogateescape")
    return p


@FUZZ
@given(doc=RULE_DOCS, seed=st.integers(0, 2**32), edits=st.integers(0, 8), raw=st.booleans())
def test_rule_loading(doc, seed, edits, raw):
    from ironpost.log_pipeline.rules.loader import load_rules

    rnd = random.Random(seed)
    if raw:
        text = _mutate(rnd.choice(_SHIPPED).read_text(), rnd, edits)
    else:
        try:
            text = yaml.safe_dump(doc)
        except yaml.YAMLError:
            return
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), "r.yaml", text)
        out = typed_or_nothing("rule_loading", load_rules, d)
    if out is not None:
        rules, problems = out
        assert all(str(p) for p in problems)  # every problem says something (file, line, what)


_SIGMA = sorted((ROOT / "tests" / "fixtures" / "sigma").rglob("*.yml"))


@FUZZ
@given(seed=st.integers(0, 2**32), edits=st.integers(0, 8), doc=RULE_DOCS)
def test_sigma_import(seed, edits, doc):
    from ironpost.log_pipeline.rules.sigma import convert_doc, convert_path

    rnd = random.Random(seed)
    if _SIGMA:
        with tempfile.TemporaryDirectory() as d:
            p = _write(Path(d), "s.yml", _mutate(rnd.choice(_SIGMA).read_text(), rnd, edits))
            typed_or_nothing("sigma_import", convert_path, p)
    if isinstance(doc, dict):
        typed_or_nothing("sigma_import", convert_doc, doc, "fuzz.yml")


_POLICY = (ROOT / "packaging" / "policies" / "guard.toml").read_text()  # the shipped example, mutated


@FUZZ
@given(seed=st.integers(0, 2**32), edits=st.integers(0, 10))
def test_policy_loading(seed, edits):
    from ironpost.container.policies import load_policies

    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), "p.toml", _mutate(_POLICY, random.Random(seed), edits))
        typed_or_nothing("policy_loading", load_policies, d)


# ---- lockfiles ----------------------------------------------------------------------------------------
from ironpost.sbom.lockfiles import BY_FILENAME  # noqa: E402

_JSON_NAMES = ["package-lock.json", "npm-shrinkwrap.json", "Pipfile.lock"]
_TEXT_NAMES = sorted(set(BY_FILENAME) - set(_JSON_NAMES) - {"pnpm-lock.yaml"})


def _parse(name: str, data: bytes):
    from ironpost.sbom.lockfiles import parse_file

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(data)
        out = typed_or_nothing(f"lockfile:{name}", parse_file, p)
    assert out is None or isinstance(out, list)


@FUZZ
@given(doc=DOCS, name=st.sampled_from(_JSON_NAMES + ["pnpm-lock.yaml", "yarn.lock"]), lv=st.sampled_from([1, 2, 3, "5.4", "9.0", None]))
def test_structured_lockfiles(doc, name, lv):
    if isinstance(doc, dict) and lv is not None:
        doc = {**doc, "lockfileVersion": lv}
    data = yaml.safe_dump(doc).encode() if name.endswith((".yaml", ".lock")) and name != "Pipfile.lock" else json.dumps(doc).encode()
    _parse(name, data)


@FUZZ
@given(lines=st.lists(LINES, max_size=16), name=st.sampled_from(_TEXT_NAMES))
def test_text_lockfiles(lines, name):
    _parse(name, ("\n".join(lines) + "\n").encode())


@FUZZ
@given(data=st.binary(max_size=500), name=st.sampled_from(sorted(BY_FILENAME)))
def test_lockfiles_on_arbitrary_bytes(data, name):
    _parse(name, data)


@FUZZ
@given(seed=st.integers(0, 2**32), edits=st.integers(1, 12))
def test_real_lockfiles_mutated(seed, edits):
    rnd = random.Random(seed)
    real = [p for p in (ROOT / "tests" / "fixtures" / "sbom").rglob("*") if p.is_file() and p.name in BY_FILENAME]
    src = rnd.choice(real)
    _parse(src.name, _mutate(src.read_text(errors="replace")[:200_000], rnd, edits).encode())
