"""Sliding windows over event time, bounded state, dedup and rate limits."""

from ironpost.log_pipeline.buckets import MemoryState, ThresholdEngine, WindowState
from ironpost.log_pipeline.rules.model import Condition, Rule, Threshold


def rule(count=3, tf=60.0, group=("src_ip",), rate=100, distinct=None):
    return Rule("r", "t", "high", [Condition("message", "contains", "x")],
                threshold=Threshold(count, tf, group, distinct), rate_limit=rate)


def test_state_is_a_window_state():
    assert isinstance(MemoryState(), WindowState)


def test_hit_counts_inside_window_even_out_of_order():
    s = MemoryState()
    assert [s.hit("k", t, 10) for t in (100, 101, 105)] == [1, 2, 3]
    assert s.hit("k", 112, 10) == 2  # 105 and 112; 100/101 fell out
    assert s.hit("k", 108, 10) == 2  # late event: [98, 108] holds 105 and 108; 112 is after it
    assert s.hit("k", 113, 10) == 4  # [103, 113]: 105, 108, 112, 113
    assert s.first_seen("k") == 105
    s.clear("k")
    assert s.first_seen("k") is None


def test_bounded_groups_evict_and_count():
    s = MemoryState(max_keys=100)
    for i in range(250):
        s.hit(f"k{i}", 1000.0, 1e9)
    assert s.groups() == 100 and s.evictions == 150
    assert s.metrics()["lp_state_evictions_total"] == 150


def test_expired_groups_are_swept():
    s = MemoryState()
    for i in range(50):
        s.hit(f"old{i}", 0.0, 10)
    for i in range(20):
        s.hit(f"new{i}", 5000.0 + i * 20, 10)
    assert s.groups() < 70 and s.expired > 0


def test_mark_once_is_an_incident_until_quiet():
    s = MemoryState()
    assert s.mark_once("k", 0, 60) is True
    assert s.mark_once("k", 50, 60) is False
    assert s.mark_once("k", 100, 60) is False  # still going: 100 - 50 < 60
    assert s.mark_once("k", 200, 60) is True  # quiet for 100 s


def test_threshold_fires_once_per_group_then_dedups():
    eng = ThresholdEngine()
    r = rule()
    fired = [eng.decide(r, {"src_ip": ip}, t).fire for t, ip in
             [(0, "a"), (1, "a"), (2, "b"), (3, "a"), (4, "a"), (5, "b"), (6, "b"), (7, "a")]]
    assert fired == [False, False, False, True, False, False, True, False]
    assert eng.deduped["r"] == 2
    d = eng.decide(r, {"src_ip": "a"}, 8)
    assert d.count == 6 and d.first_seen == 0 and not d.fire


def test_window_is_event_time_not_wall_time():
    eng = ThresholdEngine()
    r = rule(count=3, tf=60)
    # three events spread over ten minutes of log time: never three inside 60 s
    assert not any(eng.decide(r, {"src_ip": "a"}, t).fire for t in (0, 300, 600))


def test_distinct_counts_values_not_events():
    eng = ThresholdEngine()
    r = rule(count=3, tf=10, distinct="dst_port")
    out = [eng.decide(r, {"src_ip": "s", "dst_port": p}, i * 0.1).fire for i, p in enumerate([22, 22, 22, 80, 80, 443])]
    assert out == [False] * 5 + [True]


def test_rate_limit_per_rule_counted():
    eng = ThresholdEngine()
    r = Rule("noisy", "t", "low", [], rate_limit=3)
    out = [eng.decide(r, {}, 10.0 + i).fire for i in range(5)]
    assert out == [True, True, True, False, False]
    assert eng.rate_limited["noisy"] == 2
    assert eng.decide(r, {}, 130.0).fire  # next minute
    assert eng.metrics()["lp_alerts_rate_limited_total"] == 2
