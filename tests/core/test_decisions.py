"""The decision model: what each origin may name, re-validation of decisions from the wire,
the ledger's deltas for bouncers, its persistence and its memory of ids applied."""

from __future__ import annotations

import os
import stat
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironpost.core import decisions
from ironpost.core.decisions import DecisionError, DecisionLedger, from_wire


@pytest.mark.parametrize("value", ["0.0.0.0/0", "10.0.0.0/8", "203.0.113.0/24", "127.0.0.1", "::1", "fe80::1",
                                   "224.0.0.1", "255.255.255.255", "not-an-ip", "", "2001:db8::/32"])
def test_a_rule_decision_names_one_routable_host_only(value):
    with pytest.raises(DecisionError):
        decisions.make(value, "rule:ssh.bruteforce", duration=60)


def test_operator_and_list_decisions_may_name_ranges():
    d = decisions.make("203.0.113.7/24", "cli")
    assert (d.value, d.scope, d.until) == ("203.0.113.0/24", "range", None)
    d = decisions.make("203.0.113.9", "list:spamhaus", duration=10)
    assert (d.value, d.scope) == ("203.0.113.9", "ip") and d.until == pytest.approx(d.created_at + 10)
    assert decisions.make("::ffff:198.51.100.4", "rule:x").value == "198.51.100.4"


@pytest.mark.parametrize("origin", ["", "peer", "rulez:x", "x" * 300, None, 5])
def test_unknown_origins_are_refused(origin):
    with pytest.raises(DecisionError):
        decisions.make("203.0.113.9", origin)


def test_a_peer_cannot_widen_a_rule_decision_on_the_wire():
    good = decisions.make("203.0.113.9", "rule:ssh", duration=60, node_id="web-1").to_dict()
    assert from_wire(good).id == good["id"]
    for bad in ({**good, "value": "0.0.0.0/0"}, {**good, "value": "10.0.0.0/8"}, {**good, "origin": "peer"},
                {**good, "type": "captcha"}, {**good, "duration": "soon"}, {**good, "action": "drop"}, [good], "x"):
        with pytest.raises(DecisionError):
            from_wire(bad)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["value", "origin", "action", "duration", "until", "created_at", "id",
                                        "type", "reason", "node_id"]),
                       st.one_of(st.text(max_size=70), st.integers(), st.floats(allow_nan=True), st.none())))
def test_fuzzed_wire_decisions_are_refused_or_name_what_their_origin_may(data):
    try:
        d = from_wire(data)
    except DecisionError:
        return
    net = d.network()
    if decisions.origin_kind(d.origin) == "rule":
        assert net.num_addresses == 1


def test_ledger_deltas_persistence_and_seen_ids(tmp_path):
    path = tmp_path / "decisions.db"
    led = DecisionLedger(path, history=4)
    a = decisions.make("203.0.113.1", "cli")
    b = decisions.make("203.0.113.2", "rule:r", duration=3600)
    led.record(a.network(), a)
    start = led.seq
    led.record(b.network(), b)
    added, deleted, seq = led.changes_since(start)
    assert [d.value for d in added] == ["203.0.113.2"] and deleted == [] and seq == led.seq
    gone = led.revoke(a.network(), decisions.make("203.0.113.1", "cli", action="delete"))
    assert gone is a
    added, deleted, _ = led.changes_since(start)
    assert [d.value for d in added] == ["203.0.113.2"] and [d.value for d in deleted] == ["203.0.113.1"]
    for i in range(5):  # push the start out of the bounded history
        d = decisions.make(f"198.51.100.{i + 1}", "cli")
        led.record(d.network(), d)
    assert led.changes_since(start) is None  # too far behind: the caller sends everything
    assert led.seen(b.id)
    led.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = DecisionLedger(path)
    assert b.network() in again.active and a.network() not in again.active
    assert again.active[b.network()].origin == "rule:r" and again.seen(b.id)
    again.close()


def test_ledger_drops_what_expired_while_down(tmp_path):
    path = tmp_path / "decisions.db"
    led = DecisionLedger(path)
    d = decisions.make("203.0.113.5", "cli", duration=1, created_at=time.time() - 10)
    led.record(d.network(), d)
    assert led.due() == [d.network()]
    led.close()
    assert DecisionLedger(path).active == {}
