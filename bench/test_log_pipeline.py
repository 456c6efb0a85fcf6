"""Log pipeline hot paths: compiled parser/matcher vs the Python twins on the same batches.

Groups: lp-parse (RFC 3164/5424), lp-json (parse: decode + checks; fields are built on demand),
lp-json-records (parse + every record), lp-match10 (parse + 10 rules through the whole
Pipeline, thresholds included), lp-match1000 (the same with 1000 rules: one Hyperscan database
vs the `re` twin). Batches are what collectors
hand over (about 1 MiB of whole lines). lines_per_sec_median is in each result's extra_info.
"""

import os
import sys

import orjson
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import authlog  # noqa: E402
import lp_rulesets  # noqa: E402
from ironpost.core.extensions import compiled  # noqa: E402
from ironpost.log_pipeline import matcher_py  # noqa: E402
from ironpost.log_pipeline.parsers import logparse_py  # noqa: E402
from ironpost.log_pipeline.pipeline import Pipeline  # noqa: E402

LP = compiled("logparse")
MT = compiled("matcher")
YEAR = 2016


def _syslog_batch(n: int) -> bytes:
    lines = authlog.generate(n, 2000, seed=9).splitlines()
    out = []
    for i, line in enumerate(lines):
        if i % 4 == 0:  # a quarter as RFC 5424 from a network sender
            msg = line.split(b": ", 1)[1]
            out.append(b"<38>1 2016-12-10T06:55:46.%03dZ LabSZ sshd %d - - %s" % (i % 1000, 24000 + i, msg))
        elif i % 4 == 1:
            out.append(b"<38>" + line)
        else:
            out.append(line)
    return b"\n".join(out) + b"\n"


def _json_batch(n: int) -> bytes:
    lines = authlog.generate(n, 2000, seed=10).decode().splitlines()
    return b"".join(orjson.dumps({"@timestamp": "2016-12-10T06:55:46.5Z", "host": {"name": "LabSZ"}, "level": "info",
                                  "process": {"name": "sshd", "pid": 24200 + i}, "message": line.split(": ", 1)[1]}) + b"\n"
                    for i, line in enumerate(lines))


SYSLOG = _syslog_batch(10_000)  # ~1 MiB
SYSLOG_SMALL = _syslog_batch(2_000)
JSON = _json_batch(5_000)


def _need(mod, name):
    if mod is None:
        pytest.fail(f"ironpost._ext.{name} is not built")


def _rate(benchmark, n):
    benchmark.extra_info["lines_per_sec_median"] = n / benchmark.stats.stats.median


@pytest.mark.benchmark(group="lp-parse")
def test_lp_parse_ext(benchmark):
    _need(LP, "logparse")
    p = benchmark(LP.parse, SYSLOG, YEAR)
    assert len(p) == 10_000 and p.stats["rfc5424"] == 2_500
    _rate(benchmark, 10_000)


@pytest.mark.benchmark(group="lp-parse")
def test_lp_parse_twin(benchmark):
    p = benchmark.pedantic(logparse_py.parse, (SYSLOG, YEAR), rounds=3, iterations=1)
    assert len(p) == 10_000
    _rate(benchmark, 10_000)


@pytest.mark.benchmark(group="lp-json")
def test_lp_json_ext(benchmark):
    _need(LP, "logparse")
    p = benchmark(LP.parse, JSON, YEAR)
    assert p.stats["json"] == 5_000
    _rate(benchmark, 5_000)


@pytest.mark.benchmark(group="lp-json")
def test_lp_json_twin(benchmark):
    p = benchmark.pedantic(logparse_py.parse, (JSON, YEAR), rounds=3, iterations=1)
    assert p.stats["json"] == 5_000
    _rate(benchmark, 5_000)


def _all_records(mod, buf):
    p = mod.parse(buf, YEAR)
    return p, p.records()


@pytest.mark.benchmark(group="lp-json-records")
def test_lp_json_records_ext(benchmark):
    """parse() plus every line's record: the whole cost when a consumer wants all JSON fields."""
    _need(LP, "logparse")
    p, recs = benchmark(_all_records, LP, JSON)
    assert len(recs) == 5_000 and recs[0]["process"] == "sshd" and "src_ip" in recs[0]
    _rate(benchmark, 5_000)


@pytest.mark.benchmark(group="lp-json-records")
def test_lp_json_records_twin(benchmark):
    p, recs = benchmark.pedantic(_all_records, (logparse_py, JSON), rounds=3, iterations=1)
    assert len(recs) == 5_000
    _rate(benchmark, 5_000)


def _pipelines(n_rules):
    """The same rules behind the compiled matcher (Hyperscan, thresholds in C) and behind the
    `re` twin (thresholds in Python); each keeps its state across rounds, as live traffic would."""
    rules = lp_rulesets.ruleset(n_rules)
    fast = Pipeline(rules, year=YEAR, matcher_impl=MT, clock=lambda: 1481353000.0) if MT else None
    slow = Pipeline(rules, year=YEAR, matcher_impl=matcher_py, clock=lambda: 1481353000.0)
    return fast, slow


P10 = _pipelines(10)
P1000 = _pipelines(1000)


@pytest.mark.benchmark(group="lp-match10")
def test_lp_match10_ext(benchmark):
    _need(MT, "matcher")
    benchmark(P10[0].process, SYSLOG, "bench")
    assert P10[0].stats["lines"] >= 10_000 and P10[0].alerts["ssh_brute_force"] > 0
    _rate(benchmark, 10_000)


@pytest.mark.benchmark(group="lp-match10")
def test_lp_match10_twin(benchmark):
    benchmark.pedantic(P10[1].process, (SYSLOG, "bench"), rounds=3, iterations=1)
    assert P10[1].alerts["ssh_brute_force"] > 0
    _rate(benchmark, 10_000)


@pytest.mark.benchmark(group="lp-match1000")
def test_lp_match1000_ext(benchmark):
    _need(MT, "matcher")
    benchmark(P1000[0].process, SYSLOG_SMALL, "bench")
    assert P1000[0].stats["lines"] >= 2_000
    _rate(benchmark, 2_000)


@pytest.mark.benchmark(group="lp-match1000")
def test_lp_match1000_twin(benchmark):
    benchmark.pedantic(P1000[1].process, (SYSLOG_SMALL, "bench"), rounds=2, iterations=1)
    assert P1000[1].stats["lines"] >= 2_000
    _rate(benchmark, 2_000)


@pytest.mark.benchmark(group="lp-json-match10")
def test_lp_json_match10_ext(benchmark):
    """JSON lines through the whole Pipeline with 10 rules: what the daemon really runs on them."""
    _need(MT, "matcher")
    benchmark(P10[0].process, JSON, "bench")
    assert P10[0].stats["json"] >= 5_000 and P10[0].alerts["ssh_brute_force"] > 0
    _rate(benchmark, 5_000)


@pytest.mark.benchmark(group="lp-json-match10")
def test_lp_json_match10_twin(benchmark):
    benchmark.pedantic(P10[1].process, (JSON, "bench"), rounds=3, iterations=1)
    assert P10[1].stats["json"] >= 5_000 and P10[1].alerts["ssh_brute_force"] > 0
    _rate(benchmark, 5_000)


# every rule we ship, on an attack-heavy sshd log (about two thirds of its lines match a rule)
from pathlib import Path  # noqa: E402

import lp_plain_re  # noqa: E402
from ironpost.log_pipeline.rules.loader import load_rules_strict  # noqa: E402

SHIPPED = load_rules_strict(Path(__file__).resolve().parent.parent / "rules")
ATTACK = authlog.generate(20_000, 2000, seed=12)


@pytest.mark.benchmark(group="lp-shipped")
def test_lp_shipped_ext(benchmark):
    """Parse + every shipped rule (extract patterns, sessions, thresholds), compiled matcher."""
    _need(MT, "matcher")
    pipe = Pipeline(SHIPPED, year=YEAR, matcher_impl=MT, clock=lambda: 1481353000.0)
    benchmark(pipe.process, ATTACK, "bench")
    assert pipe.stats["lines"] >= 20_000 and pipe.alerts["ssh_brute_force"] > 0
    _rate(benchmark, 20_000)


@pytest.mark.benchmark(group="lp-shipped")
def test_lp_shipped_twin(benchmark):
    pipe = Pipeline(SHIPPED, year=YEAR, matcher_impl=matcher_py, clock=lambda: 1481353000.0)
    benchmark.pedantic(pipe.process, (ATTACK, "bench"), rounds=3, iterations=1)
    assert pipe.alerts["ssh_brute_force"] > 0
    _rate(benchmark, 20_000)


@pytest.mark.benchmark(group="lp-shipped")
def test_lp_shipped_plain_re(benchmark):
    """The reference: plain Python `re`, rule by rule, line by line."""
    ref = lp_plain_re.ShippedReference(SHIPPED)
    got = benchmark.pedantic(ref.process, (ATTACK,), rounds=3, iterations=1)
    assert got > 0
    _rate(benchmark, 20_000)
