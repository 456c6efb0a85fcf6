"""parse() defers work to record(): built-in field extraction for syslog lines, flattening for JSON
lines. The deferred results must equal the twin's eager ones, in any order and on repeated calls,
and the stats (JSON errors, depth errors) must already be exact after parse()."""

import random

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import support
from ironpost.core.extensions import compiled
from ironpost.log_pipeline.parsers import logparse_py as twin
from lp_strategies import batch

ext = compiled("logparse")

_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8),
                    st.sampled_from(["2016-12-10T06:55:46.5Z", "error", "WARN", "from 10.0.0.1 port 22", "user=root"]))
_key = st.sampled_from(["a", "message", "msg", "host", "ts", "level", "process", "pid", "x.y", "", "é"])
# objects nested in objects count toward the depth limit, objects inside lists do not
_json = st.recursive(_scalar, lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(_key, kids, max_size=4)),
                     max_leaves=30)


def _chain(depth: int, in_list_at: int) -> bytes:
    obj: object = 1
    for d in range(depth):
        obj = [obj] if d == in_list_at else {"k": obj}
    return orjson.dumps({"root": obj})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objs=st.lists(st.dictionaries(_key, _json, max_size=5), min_size=1, max_size=6),
       depths=st.lists(st.tuples(st.integers(0, 12), st.integers(-1, 12)), max_size=4),
       junk=st.lists(st.sampled_from([b"{", b"{}x", b"{\"a\":}", b"{\"a\":1}", b"[1]"]), max_size=3))
def test_lazy_json_equals_twin(objs, depths, junk):
    support.need(ext is not None, "ironpost._ext.logparse not built")
    lines = [orjson.dumps(o) for o in objs] + [_chain(d, k) for d, k in depths] + junk
    buf = b"\n".join(lines) + b"\n"
    a, b = ext.parse(buf, 2020, 0, 65536, 6), twin.parse(buf, 2020, 0, 65536, 6)
    assert a.stats == b.stats
    expect = b.records()
    order = list(range(len(a)))
    random.Random(len(buf)).shuffle(order)
    for i in order:  # out of order and twice: record() must not depend on earlier calls
        assert a.record(i) == expect[i]
        assert a.record(i) == expect[i]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(buf=batch)
def test_lazy_extraction_any_order(buf):
    support.need(ext is not None, "ironpost._ext.logparse not built")
    a, b = ext.parse(buf, 2020, 3, 200, 8), twin.parse(buf, 2020, 3, 200, 8)
    expect = b.records()
    for i in reversed(range(len(a))):
        assert a.record(i) == expect[i]
    assert a.records() == expect


def test_depth_counts_objects_in_objects_only():
    """A chain of 40 objects under one list is fine at depth 32; 33 objects in objects are not."""
    support.need(ext is not None, "ironpost._ext.logparse not built")
    buf = _chain(40, 39) + b"\n" + _chain(32, -1) + b"\n" + _chain(31, -1) + b"\n"
    for impl in (ext, twin):
        p = impl.parse(buf, 2020)
        assert p.stats["json"] == 2 and p.stats["json_depth_errors"] == 1, impl
        assert p.record(2)["root" + ".k" * 31] == 1
