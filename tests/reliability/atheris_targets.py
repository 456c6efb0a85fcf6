"""Coverage-guided fuzzing with atheris (libFuzzer) of the byte-level code: one target per run.

    python tests/reliability/atheris_targets.py TARGET [libFuzzer flags] [corpus dirs]

Each target seeds itself from the repository (log fixtures, shipped rules, lockfile fixtures)
and fails on a crash (any exception but the module's typed IronpostError), a hang (libFuzzer's
-timeout) or, where an extension has a Python twin, any difference between the two on the same
input (differential: the twin is the reference, ext/*.pyx must agree byte for byte).
The Python code is instrumented, so the twins and loaders guide the mutations; the compiled
extensions run uninstrumented beside them. test_fuzz_atheris.py runs every target, CI-size or
nightly-size (IRONPOST_RELIABILITY_LONG=1: 1M inputs in all).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import atheris
from stub_transport import StubTransport

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["ironpost"]):
    from ironpost.container.policies import load_policy_file
    from ironpost.core import framing_py
    from ironpost.core.errors import IronpostError
    from ironpost.core.extensions import compiled
    from ironpost.ebpf import layout, pktdecode_py
    from ironpost.log_pipeline import matcher_py
    from ironpost.log_pipeline.collectors.syslog_tcp import SyslogTcp, SyslogTcpConfig, _Conn
    from ironpost.log_pipeline.parsers import logparse_py
    from ironpost.log_pipeline.pipeline import Pipeline
    from ironpost.log_pipeline.rules.loader import load_rules, load_rules_strict
    from ironpost.log_pipeline.rules.sigma import convert_path
    from ironpost.sbom.lockfiles import BY_FILENAME, parse_file

EXT = {name: compiled(name) for name in ("framing", "logparse", "matcher", "pktdecode")}
SCRATCH = Path(tempfile.mkdtemp(prefix="ironpost-atheris-"))


def _typed(fn, *args):
    """fn(*args), or None when it refused the input with the module's typed error."""
    try:
        return fn(*args)
    except IronpostError:
        return None


def _need_ext(name: str):
    mod = EXT[name]
    if mod is None:
        raise SystemExit(f"ironpost._ext.{name} is not built (make build): a differential target needs it")
    return mod


# ---- the targets: data -> None, raising on a finding ------------------------------------------------
def logparse(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    year = fdp.ConsumeIntInRange(1970, 2100)
    month = fdp.ConsumeIntInRange(0, 12)
    max_line = fdp.PickValueInList([16, 200, 65536])
    depth = fdp.PickValueInList([1, 2, 32])
    mode = fdp.ConsumeIntInRange(0, len(logparse_py.MODE_NAMES) - 1)
    buf = fdp.ConsumeBytes(fdp.remaining_bytes())
    ext = _need_ext("logparse")
    a = _typed(ext.parse, buf, year, month, max_line, depth, mode)
    b = _typed(logparse_py.parse, buf, year, month, max_line, depth, mode)
    assert (a is None) == (b is None), ("one implementation refused the input", a, b)
    if a is not None:
        assert a.stats == b.stats, (a.stats, b.stats)
        assert a.records() == b.records()


def framing(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    max_line = fdp.ConsumeIntInRange(1, 80)
    flag = fdp.ConsumeBool()
    skip = fdp.ConsumeIntInRange(0, 100)
    buf = fdp.ConsumeBytes(fdp.remaining_bytes())
    ext = _need_ext("framing")
    assert ext.frame_lines(buf, max_line, flag) == framing_py.frame_lines(buf, max_line, flag)
    assert ext.frame_octets(buf, max_line, skip) == framing_py.frame_octets(buf, max_line, skip)


def pktdecode(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    pick = fdp.ConsumeIntInRange(0, 70)
    slot = fdp.PickValueInList([1, 7, 1000, 10**9, 2**64 - 1])
    buf = fdp.ConsumeBytes(fdp.remaining_bytes())
    n = len(buf) // layout.REC_SIZE
    ext = _need_ext("pktdecode")
    assert ext.decode(buf, n, pick, slot) == pktdecode_py.decode(buf, n, pick, slot)


_PIPES: dict = {}


def pipeline(data: bytes) -> None:
    """Every shipped rule, compiled matcher and twin: the same matches per rule, line for line.
    Alerts are not compared: threshold state carries over from input to input, and a line more
    than an hour older than the newest one seen may or may not find its group, by when each
    implementation happened to sweep (tests/log_pipeline/test_lp_fast_thresholds.py compares
    alerts on logs whose time runs forward)."""
    if not _PIPES:
        rules = load_rules_strict(ROOT / "rules")
        _PIPES["ext"] = Pipeline(rules, year=2026, matcher_impl=_need_ext("matcher"), clock=lambda: 1.8e9)
        _PIPES["twin"] = Pipeline(rules, year=2026, matcher_impl=matcher_py, clock=lambda: 1.8e9)
    buf = data + b"\n"
    before = {k: _matches(p) for k, p in _PIPES.items()}
    refused = {k: _typed(p.process, buf, "fuzz") is None for k, p in _PIPES.items()}
    for p in _PIPES.values():
        p.take_suppressed()
    assert refused["ext"] == refused["twin"], refused
    got = {k: _matches(p) - before[k] for k, p in _PIPES.items()}
    assert got["ext"] == got["twin"], (got["ext"] - got["twin"], got["twin"] - got["ext"])


def _matches(p) -> Counter:
    """Matches per rule id so far, wherever they were counted (Python or the compiled counters)."""
    c = Counter(p.matches)
    if p.agg_rules:
        for ri, n in p.compiled.matcher.agg_metrics()["matches"].items():
            c[p.compiled.log_rules[ri].id] += n
    return c


def syslog_tcp(data: bytes) -> None:
    """The per-connection framing of the syslog TCP collector, fed in the pieces the input says."""
    fdp = atheris.FuzzedDataProvider(data)
    max_line = fdp.PickValueInList([8, 64, 65536])
    cuts = [fdp.ConsumeIntInRange(1, 50) for _ in range(fdp.ConsumeIntInRange(0, 8))]
    stream = fdp.ConsumeBytes(fdp.remaining_bytes())
    srv = SyslogTcp(SyslogTcpConfig(host="127.0.0.1", port=0, max_line=max_line))
    conn = _Conn(srv)
    conn.connection_made(StubTransport())
    pos = 0
    for c in cuts + [len(stream)]:
        if stream[pos:pos + c]:
            conn.data_received(stream[pos:pos + c])
        pos += c
    conn.connection_lost(None)
    for chunk, _ in srv._queue:
        assert all(len(line) <= max_line for line in chunk.split(b"\n"))


def _file(name: str, data: bytes) -> Path:
    d = SCRATCH / "in"
    d.mkdir(exist_ok=True)
    for old in d.iterdir():
        old.unlink()
    p = d / name
    p.write_bytes(data)
    return p


def rules(data: bytes) -> None:
    got = _typed(load_rules, _file("r.yaml", data))
    assert got is not None and all(str(p) for p in got[1])  # load_rules reports, it does not raise


def sigma(data: bytes) -> None:
    _typed(convert_path, _file("s.yml", data))


def policies(data: bytes) -> None:
    got = load_policy_file(_file("p.toml", data))
    assert all(str(e) for e in got[1])


_LOCKNAMES = sorted(BY_FILENAME)


def lockfiles(data: bytes) -> None:
    if not data:
        return
    name = _LOCKNAMES[data[0] % len(_LOCKNAMES)]
    out = _typed(parse_file, _file(name, data[1:]))
    assert out is None or isinstance(out, list)


TARGETS = {f.__name__: f for f in (logparse, framing, pktdecode, pipeline, syslog_tcp, rules, sigma, policies, lockfiles)}


# ---- seeds ------------------------------------------------------------------------------------------
def seeds(target: str) -> list[bytes]:
    fx = ROOT / "tests" / "fixtures"
    lines = (fx / "logs" / "Linux_2k.log").read_bytes().splitlines(keepends=True)[:200]
    log_seeds = [b"".join(lines[i:i + 5]) for i in range(0, 200, 5)] + [
        b'{"MESSAGE": "Failed password for root from 203.0.113.9 port 22 ssh2", "SYSLOG_IDENTIFIER": "sshd", "_PID": "7"}\n',
        b"<34>1 2003-10-11T22:14:15.003Z host sshd 7 - - Failed password for root from 203.0.113.9 port 22 ssh2\n",
        b'203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" "curl"\n',
    ]
    if target in ("logparse", "pipeline"):
        return [b"\x07\x03\x01\x02\x00" + s for s in log_seeds] if target == "logparse" else log_seeds
    if target in ("framing", "syslog_tcp"):
        return [b"\x10\x01\x00" + s for s in log_seeds[:20]] + [b"\x03\x02\x05\x07" + b"12 Failed login5 hello"]
    if target == "pktdecode":
        return [b"\x02\x01" + bytes(range(256)) * 2]
    if target == "rules":
        return [p.read_bytes() for p in sorted((ROOT / "rules").glob("*.yaml"))]
    if target == "sigma":
        return [p.read_bytes() for p in sorted((fx / "sigma").rglob("*.yml"))][:50]
    if target == "policies":
        return [p.read_bytes() for p in sorted((ROOT / "packaging").rglob("*.toml")) if b"[[policy]]" in p.read_bytes()] + [
            b'[[policy]]\nname = "p"\npriority = 1\nseverity_threshold = "high"\naction = "pause"\n[policy.filters]\ncontainer_names = ["web-*"]\n']
    if target == "lockfiles":
        out = []
        for p in sorted((fx / "sbom").rglob("*")):
            if p.is_file() and p.name in BY_FILENAME and p.stat().st_size < 200_000:
                out.append(bytes([_LOCKNAMES.index(p.name)]) + p.read_bytes())
        return out
    return []


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        raise SystemExit(f"usage: {sys.argv[0]} TARGET [libFuzzer flags] [corpus dirs]; targets: {', '.join(TARGETS)}")
    target = sys.argv.pop(1)
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus and not Path(corpus[0]).is_file():  # a file is one input to replay (a crash-* artifact)
        d = Path(corpus[0])  # the first corpus dir is where libFuzzer keeps what it finds: seed it once
        d.mkdir(parents=True, exist_ok=True)
        if not any(d.iterdir()):
            for i, s in enumerate(seeds(target)):
                (d / f"seed-{i:04d}").write_bytes(s)
    os.environ.setdefault("IRONPOST_LOG_LEVEL", "CRITICAL")
    atheris.Setup(sys.argv, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
