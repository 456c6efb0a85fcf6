"""RedisState against the real Redis on 127.0.0.1, each test under its own key prefix."""

import os
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import redis

import support
from ironpost.core.errors import StorageError
from ironpost.storage.redis_state import RedisState

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix():
    parts = urlsplit(support.REDIS_URL)
    support.need(support.tcp_open(parts.hostname or "127.0.0.1", parts.port or 6379), "Redis not reachable")
    p = "ironpost-test-" + os.urandom(6).hex()
    yield p
    r = redis.Redis.from_url(support.REDIS_URL)
    keys = list(r.scan_iter(match=p + ":*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture
def state(prefix):
    s = RedisState(support.REDIS_URL, prefix)
    yield s
    s.close()


def test_sliding_window_on_event_time(state):
    counts = [state.hit("ssh:1.2.3.4", 1000.0 + t, 5) for t in range(10)]
    assert counts == [1, 2, 3, 4, 5, 6, 6, 6, 6, 6]  # [ts-5, ts] holds six whole seconds
    assert state.first_seen("ssh:1.2.3.4") == 1004.0
    assert state.hit("ssh:1.2.3.4", 2000.0, 5) == 1  # a long gap: the window empties
    assert state.hit("other", 2000.0, 5) == 1


def test_two_daemons_see_one_attacker(prefix):
    a, b = RedisState(support.REDIS_URL, prefix), RedisState(support.REDIS_URL, prefix)
    seen = [(a if i % 2 else b).hit("ssh:10.0.0.9", 500.0, 60) for i in range(10)]  # same timestamp on both
    assert seen == list(range(1, 11))
    assert a.first_seen("ssh:10.0.0.9") == b.first_seen("ssh:10.0.0.9") == 500.0
    assert a.mark_once("alert:ssh:10.0.0.9", 500.0, 60) is True
    assert b.mark_once("alert:ssh:10.0.0.9", 510.0, 60) is False  # the other daemon already alerted
    a.close(), b.close()


def test_concurrent_hits_are_atomic(prefix):
    states = [RedisState(support.REDIS_URL, prefix) for _ in range(2)]
    results = [[], []]

    def go(i):
        for n in range(300):
            results[i].append(states[i].hit("k", 100.0, 60))  # one instant: counts are 1..600

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    allc = sorted(results[0] + results[1])
    assert allc == list(range(1, 601))  # every count handed out exactly once
    [s.close() for s in states]


def test_mark_once_dedups_within_the_window(state):
    assert state.mark_once("d", 100.0, 60) is True
    assert state.mark_once("d", 159.0, 60) is False  # the mark moves to 159: the burst goes on
    assert state.mark_once("d", 219.0, 60) is False  # exactly one window after the last call: still one incident
    assert state.mark_once("d", 279.5, 60) is True  # quiet for more than a window: a new incident
    assert state.mark_once("d", 250.0, 60) is False  # a late event inside the window does not move the mark back
    assert state.mark_once("d", 339.0, 60) is False  # within a window of 279.5, not of 250
    assert state.mark_once("e", 170.0, 60) is True
    state.clear("d")  # forgets events and the mark
    assert state.mark_once("d", 341.0, 60) is True


def test_only_one_concurrent_mark_wins(prefix):
    states = [RedisState(support.REDIS_URL, prefix) for _ in range(4)]
    wins = []

    def go(s):
        for _ in range(25):
            wins.append(s.mark_once("race", 1.0, 60))

    threads = [threading.Thread(target=go, args=(s,)) for s in states]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert wins.count(True) == 1 and len(wins) == 100
    [s.close() for s in states]


def test_keys_expire_and_windows_are_bounded(prefix):
    s = RedisState(support.REDIS_URL, prefix, ttl_slack=10, max_events=100)
    for i in range(150):
        s.hit("flood", 1.0 + i / 1000, 60)
    assert s.hit("flood", 1.2, 60) == 100  # capped: memory stays bounded under a flood
    s.mark_once("m", 1.0, 30)
    r = redis.Redis.from_url(support.REDIS_URL)
    assert r.zcard(f"{prefix}:win:flood") == 100
    assert 0 < r.pttl(f"{prefix}:win:flood") <= 70_000
    assert 0 < r.pttl(f"{prefix}:once:m") <= 40_000
    r.close()
    s.close()


def test_clear_and_unknown_keys(state):
    state.hit("c", 1.0, 10)
    state.clear("c")
    assert state.first_seen("c") is None
    assert state.hit("c", 2.0, 10) == 1
    assert state.first_seen("never") is None


def test_unreachable_redis_raises_storage_error_quickly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = RedisState(f"redis://127.0.0.1:{port}/0", "x", timeout=1)
    t0 = time.monotonic()
    with pytest.raises(StorageError):
        s.hit("k", 1.0, 1)
    with pytest.raises(StorageError):
        s.ping()
    assert time.monotonic() - t0 < 5


def test_same_answers_as_the_in_memory_state():
    """RedisState and the engine's MemoryState must agree, or one daemon alone (memory) and two
    daemons sharing Redis would raise different alerts for the same log."""
    from ironpost.log_pipeline.buckets import state as state_mod
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    parts = urlsplit(support.REDIS_URL)
    support.need(support.tcp_open(parts.hostname or "127.0.0.1", parts.port or 6379), "Redis not reachable")
    windows = {"a": 5.0, "b": 60.0, "c": 1.5}
    op = st.tuples(st.sampled_from(["hit", "mark", "clear"]), st.sampled_from(sorted(windows)), st.integers(0, 40))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(op, max_size=40))
    def check(ops):
        prefix = "ironpost-test-" + os.urandom(6).hex()
        red, mem = RedisState(support.REDIS_URL, prefix), state_mod.MemoryState()
        now = 1000.0
        try:
            for name, key, step in ops:
                now += step / 4  # event time moves forward, in steps of 0 to 10 s
                w = windows[key]
                if name == "hit":
                    assert red.hit(key, now, w) == mem.hit(key, now, w), (name, key, now)
                    assert red.first_seen(key) == mem.first_seen(key)
                elif name == "mark":
                    assert red.mark_once(key, now, w) == mem.mark_once(key, now, w), (name, key, now)
                else:
                    red.clear(key)
                    mem.clear(key)
        finally:
            r = redis.Redis.from_url(support.REDIS_URL)
            keys = list(r.scan_iter(match=prefix + ":*"))
            if keys:
                r.delete(*keys)
            r.close()
            red.close()

    check()
