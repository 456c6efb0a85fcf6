"""Threshold state shared through Redis (two pipelines see one attacker), and the fallback when
the shared state fails."""

import importlib.util
import os

import pytest

import support
from ironpost.core.errors import StorageError
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules import load_rules
from lp_support import RULES


def brute_force():
    rules, _ = load_rules(RULES / "ssh_brute_force.yaml")
    return [r for r in rules if r.id == "ssh_brute_force"]  # the fast rule only: these tests count its alerts


def failures(ip: str, n: int, start: int = 0, step: int = 5) -> list[bytes]:
    return [f"Dec 10 07:{(start + k * step) // 60:02d}:{(start + k * step) % 60:02d} LabSZ sshd[7]: "
            f"Failed password for root from {ip} port {40000 + k} ssh2\n".encode() for k in range(n)]


@pytest.fixture
def redis_state():
    support.need(importlib.util.find_spec("ironpost.storage.redis_state") is not None,
                 "ironpost.storage.redis_state not present (log pipeline storage branch)")
    host, port = support.REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    support.need(support.tcp_open(host, int(port)), f"Redis not reachable at {support.REDIS_URL}")
    from ironpost.storage.redis_state import RedisState

    prefix = f"ironpost:test:lp:{os.urandom(6).hex()}"
    states = []

    def make(fresh: bool = False):
        """A RedisState under this test's prefix (shared by every call), or a fresh sub-prefix."""
        s = RedisState(support.REDIS_URL, f"{prefix}:{os.urandom(4).hex()}" if fresh else prefix)
        states.append(s)
        return s

    yield make
    import redis

    r = redis.Redis.from_url(support.REDIS_URL)
    for key in r.scan_iter(match=f"{prefix}*"):
        r.delete(key)
    for s in states:
        s.close()


@pytest.mark.redis
def test_two_pipelines_see_one_attacker(redis_state):
    a = Pipeline(brute_force(), year=2016, state=redis_state())
    b = Pipeline(brute_force(), year=2016, state=redis_state())
    lines = failures("203.0.113.77", 12)
    alerts = []
    for i, line in enumerate(lines):  # alternate: neither daemon alone sees five failures
        alerts += (a if i % 2 else b).process(line, "auth.log")
    assert [x.src_ip for x in alerts] == ["203.0.113.77"]
    assert alerts[0].count == 5


@pytest.mark.redis
def test_redis_state_gives_the_in_memory_alerts(redis_state):
    lines = b"".join(failures("198.51.100.1", 30, step=10) + failures("198.51.100.2", 4, step=5)
                     + failures("198.51.100.3", 6, start=600, step=1))
    mem = Pipeline(brute_force(), year=2016, fast_thresholds=False).process(lines)
    red = Pipeline(brute_force(), year=2016, state=redis_state()).process(lines)
    key = lambda x: (x.src_ip, x.count, x.first_seen, x.last_seen)  # noqa: E731
    assert sorted(map(key, red)) == sorted(map(key, mem)) and len(mem) == 2


class BrokenState:
    """Fault injection: a shared state whose backend is down."""

    def hit(self, key, ts, window):
        raise StorageError("redis down")

    def clear(self, key):
        raise StorageError("redis down")

    def first_seen(self, key):
        raise StorageError("redis down")

    def mark_once(self, key, ts, window):
        raise StorageError("redis down")


def test_failing_shared_state_falls_back_to_local_counting():
    pipe = Pipeline(brute_force(), year=2016, state=BrokenState())
    alerts = pipe.process(b"".join(failures("192.0.2.50", 6)))
    assert [a.src_ip for a in alerts] == ["192.0.2.50"]
    # every shared-state call failed and was counted: at least one per line (hit), more where
    # the threshold was reached (first_seen, mark_once)
    assert pipe.metrics()["lp_state_errors_total"] >= 6


@pytest.mark.redis
def test_module_uses_redis_when_configured(redis_state, tmp_path):
    redis_state()  # skips when Redis or RedisState is missing
    from ironpost.core.config import parse_config
    from ironpost.daemon.wiring import build_module, window_state
    from ironpost.log_pipeline.module import build_pipeline
    from ironpost.storage.redis_state import RedisState

    cfg = parse_config({"general": {"data_dir": str(tmp_path)},
                        "log_pipeline": {"rules_dir": str(RULES), "year": 2016},
                        "log_pipeline.storage": {"redis_url": support.REDIS_URL}}, environ={})
    assert build_module("log_pipeline", cfg).state_factory is window_state  # the daemon hands it in
    state = window_state(cfg)
    assert isinstance(state, RedisState)
    pipe = build_pipeline(cfg, state)
    assert not pipe.agg_rules  # shared state: every threshold goes through Redis
    ip = f"198.51.100.{os.getpid() % 250}"
    assert [a.src_ip for a in pipe.process(b"".join(failures(ip, 5, start=os.getpid() % 3000)))] == [ip]
    import redis

    r = redis.Redis.from_url(support.REDIS_URL)
    for key in r.scan_iter(match="ironpost:lp:*ssh_brute_force|" + ip + "*"):
        r.delete(key)


@pytest.mark.redis
def test_every_window_state_gives_the_same_alerts(redis_state):
    """One contract (ironpost.core.window.WindowState), three implementations: the compiled
    matcher's inline counters, MemoryState and RedisState raise the same alerts on the same log,
    out-of-order and JSON lines included."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from test_lp_fast_thresholds import alerts, ext, mixed_log, rules, split

    support.need(ext is not None, "ironpost._ext.matcher not built")

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(seed=st.integers(0, 10_000), count=st.integers(1, 6), tf=st.sampled_from([1.0, 5.0, 60.0]),
           dedup=st.sampled_from([None, 0.0, 30.0]), chunk=st.integers(200, 5000))
    def check(seed, count, tf, dedup, chunk):
        rs, chunks = rules(count, tf, dedup), split(mixed_log(seed), chunk)
        clock = lambda: 1481353000.0  # noqa: E731
        in_c = Pipeline(rs, year=2016, clock=clock, matcher_impl=ext)
        memory = Pipeline(rs, year=2016, clock=clock, fast_thresholds=False)
        shared = Pipeline(rs, year=2016, clock=clock, state=redis_state(fresh=True))  # a prefix of its own
        assert in_c.agg_rules and not memory.agg_rules and not shared.agg_rules
        got = [alerts(p, chunks) for p in (in_c, memory, shared)]
        assert shared.metrics()["lp_state_errors_total"] == 0  # Redis answered every call itself
        assert got[0] == got[1] == got[2]

    check()
