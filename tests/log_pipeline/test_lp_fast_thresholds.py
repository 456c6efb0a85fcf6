"""Thresholds counted inside the compiled matcher give the same alerts as the Python engine."""

import random
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lp_support  # noqa: F401  (puts bench/ on sys.path)
import authlog
import support
from ironpost.core.extensions import compiled
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules.loader import load_rules_strict
from ironpost.log_pipeline.rules.model import Condition, Rule, Threshold

ext = compiled("matcher")


def rules(count=5, tf=60.0, dedup=None, group=("src_ip",)):
    return [
        Rule("bf", "brute force", "high",
             [Condition("message", "regex", r"^Failed password for (invalid user )?\S+ from \S+ port \d+ ssh2")],
             threshold=Threshold(count, tf, group, None, dedup)),
        Rule("closed", "closed", "low", [Condition("message", "startswith", "Connection closed")],
             threshold=Threshold(3, 30.0, ("host", "src_ip"))),
        Rule("disc", "disconnect", "low", [Condition("message", "contains", "Bye Bye")], threshold=Threshold(2, 10.0, ())),
    ]


def alerts(pipe, chunks):
    out = []
    for c in chunks:
        out += pipe.process(c, "t")
    return sorted((a.rule_id, orjson.dumps(a.group).decode(), a.count, a.first_seen, a.last_seen) for a in out)


def both(rs, chunks, year=2016):
    # replay: the logs' own times pace the sweeps of idle state (the clock is at their start)
    fast = Pipeline(rs, year=year, clock=lambda: 1481353000.0, matcher_impl=ext, replay=True)
    slow = Pipeline(rs, year=year, fast_thresholds=False, clock=lambda: 1481353000.0, replay=True)
    assert fast.agg_rules and not slow.agg_rules
    a, b = alerts(fast, chunks), alerts(slow, chunks)
    assert fast.metrics()["lp_matches_total"] == slow.metrics()["lp_matches_total"]
    return a, b


def split(buf: bytes, size: int) -> list[bytes]:
    out, start = [], 0
    while start < len(buf):
        end = buf.find(b"\n", min(start + size, len(buf) - 1)) + 1 or len(buf)
        out.append(buf[start:end])
        start = end
    return out


def test_same_alerts_on_generated_auth_log():
    support.need(ext is not None, "ironpost._ext.matcher not built")
    buf = authlog.generate(30000, 800, seed=21)
    a, b = both(rules(), split(buf, 50_000))
    assert len(a) > 50 and a == b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), count=st.integers(1, 6), tf=st.sampled_from([1.0, 5.0, 60.0]),
       dedup=st.sampled_from([None, 0.0, 30.0]), chunk=st.integers(200, 5000))
def test_same_alerts_out_of_order_mixed_json(seed, count, tf, dedup, chunk):
    support.need(ext is not None, "ironpost._ext.matcher not built")
    a, b = both(rules(count, tf, dedup), split(mixed_log(seed), chunk))
    assert a == b


def mixed_log(seed: int) -> bytes:
    """A generated auth log with some lines late or early, and some as JSON (with or without a time)."""
    rng = random.Random(seed)
    lines = authlog.generate(600, 15, seed=seed).decode().splitlines()
    out = []
    for line in lines:
        r = rng.random()
        if r < 0.1:  # late and early lines, within the state's grace period
            line = line.replace(line[7:15], f"06:{rng.randint(45, 59):02d}:{rng.randint(0, 59):02d}", 1)
        if r > 0.9:
            msg = line.split(": ", 1)[1]
            line = orjson.dumps({"message": msg, **({"ts": 1481352946 + rng.random() * 100} if r > 0.95 else {})}).decode()
        out.append(line)
    return ("\n".join(out) + "\n").encode()


def test_eviction_is_bounded_and_counted():
    support.need(ext is not None, "ironpost._ext.matcher not built")
    rs = rules(count=2)
    pipe = Pipeline(rs, year=2016, max_groups=100, matcher_impl=ext)
    buf = "".join(f"Dec 10 06:55:{i % 60:02d} h sshd[1]: Failed password for root from 10.0.{i // 250}.{i % 250} port 1 ssh2\n"
                  for i in range(1000)).encode()
    pipe.process(buf)
    m = pipe.metrics()
    assert m["lp_fast_groups"] <= 100 and m["lp_fast_evictions_total"] >= 900


@pytest.mark.parametrize("max_groups", [60, 500])  # 500: the group table half full, long probe runs
def test_evictions_drop_idle_groups_and_keep_the_busy_ones(max_groups):
    """Past max_groups the least recently used tenth goes (MemoryState drops one at a time, so the
    two differ only in which idle groups go). A source attacking throughout stays in the table:
    its alerts (one per burst) are the same as with room for every group, while thousands of
    one-off sources come and go around it."""
    support.need(ext is not None, "ironpost._ext.matcher not built")
    lines = []
    for i in range(12000):
        # ten lines a second; the attacker's bursts last 20 s and come every 100 s
        hot = i % 3 == 0 and (i // 200) % 5 == 0
        ip = "198.51.100.7" if hot else f"10.{i // 250 % 250}.{i % 250}.{i // 62500 + 1}"
        lines.append(f"Dec 10 07:{i // 600 % 60:02d}:{i // 10 % 60:02d} h sshd[{i}]: "
                     f"Failed password for root from {ip} port 1 ssh2\n")
    chunks = split("".join(lines).encode(), 30_000)
    small = Pipeline(rules(), year=2016, clock=lambda: 1481353000.0, matcher_impl=ext, max_groups=max_groups)
    roomy = Pipeline(rules(), year=2016, clock=lambda: 1481353000.0, matcher_impl=ext)
    a, b = alerts(small, chunks), alerts(roomy, chunks)
    m = small.metrics()
    assert m["lp_fast_evictions_total"] > 2000 and m["lp_fast_groups"] <= max_groups
    assert 0 < m["lp_fast_bytes"] < 4_000_000  # event times, keys and table of at most max_groups groups
    hot = [x for x in a if "198.51.100.7" in x[1]]
    assert len(hot) == 12 and hot == [x for x in b if "198.51.100.7" in x[1]]


def test_idle_state_is_swept_in_event_time_and_alerts_stay_the_same():
    """Groups, session matches and distinct marks idle past their window + GRACE go as event time
    moves on (RSS at 10M lines: 257 MB -> 86 MB). Every shipped rule: the compiled counters with
    their sweeps alert as the Python engine with its own (a log of ~3 hours), and as a pipeline whose
    sweeps the wall clock holds back (a live daemon fed lines dated past its clock + AHEAD; ~8 hours)."""
    support.need(ext is not None, "ironpost._ext.matcher not built")
    rs = load_rules_strict(Path(__file__).resolve().parents[2] / "rules")
    a, b = both(rs, split(authlog.generate(40_000, 4000, seed=5), 100_000))
    assert len(a) > 100 and a == b
    chunks = split(authlog.generate(120_000, 4000, seed=6), 200_000)
    held = Pipeline(rs, year=2016, clock=lambda: 1481352946.0, matcher_impl=ext)
    swept = Pipeline(rs, year=2016, clock=lambda: 1481352946.0, matcher_impl=ext, replay=True)
    c, d = alerts(held, chunks), alerts(swept, chunks)
    assert len(c) > 1000 and c == d
    mh, ms = held.metrics(), swept.metrics()
    assert mh["lp_fast_expired_total"] == 0 and mh["lp_sessions_expired_total"] == 0
    assert ms["lp_fast_expired_total"] > 10_000 and ms["lp_sessions_expired_total"] > 1000
    assert ms["lp_fast_sessions"] < mh["lp_fast_sessions"] / 3 and ms["lp_sessions"] < mh["lp_sessions"] / 3
    assert ms["lp_fast_groups"] < mh["lp_fast_groups"] and ms["lp_fast_bytes"] < mh["lp_fast_bytes"]
