"""Detector windows and thresholds on aggregates, and ban rules on the real kernel map."""

from __future__ import annotations

import asyncio

import pytest

from ironpost.core.bus import Bus
from ironpost.core.events import AlertEvent
from ironpost.ebpf.bans import BanManager
from ironpost.ebpf.detectors import V6_FLAG, PortScanDetector, SynFloodDetector, key_to_ip

A, B, DST = 0x0AC80002, 0x0AC80006, 0x0AC80001  # 10.200.0.2, 10.200.0.6, 10.200.0.1


def test_key_to_ip_both_families():
    assert key_to_ip(DST) == "10.200.0.1"
    assert key_to_ip(1 | V6_FLAG) == "::1"  # not confused with IPv4 0.0.0.1
    assert key_to_ip(0xFD000000000000000000000000000002 | V6_FLAG) == "fd00::2"


def test_syn_flood_counts_only_uncompleted_and_alerts_once_per_window():
    d = SynFloodDetector(threshold=100, window_secs=10)
    assert d.feed({(DST, A): [60, 0], (DST, B): [30, 0]}, now=1000.0) == []
    assert d.feed({(DST, A): [20, 20]}, now=1001.0) == []  # 110 SYNs - 20 completed = 90
    (alert,) = d.feed({(DST, A): [15, 0]}, now=1002.0)
    assert alert.rule_id == "ebpf.syn_flood" and alert.count == 105 and alert.src_ip == "10.200.0.2"
    assert alert.details["top_sources"][0] == ["10.200.0.2", 95] and alert.details["completed"] == 20
    assert d.feed({(DST, A): [500, 0]}, now=1003.0) == []  # once per window
    assert len(d.feed({(DST, A): [100, 0]}, now=1011.0)) == 1  # new window


def test_port_scan_distinct_ports_per_source():
    d = PortScanDetector(threshold=50, window_secs=60)
    assert d.feed({A: set(range(1, 40)), B: {22}}, now=0.0) == []
    assert d.feed({A: set(range(1, 40))}, now=1.0) == []  # same ports again: still 39 distinct
    (alert,) = d.feed({A: set(range(40, 60))}, now=2.0)
    assert alert.src_ip == "10.200.0.2" and alert.count == 59 and alert.details["ports"][:3] == [1, 2, 3]
    assert d.feed({A: set(range(100, 200))}, now=3.0) == []


@pytest.mark.root
@pytest.mark.bpf
def test_bans_skip_exempt_and_repeated_sources(loader):
    async def main():
        bus = Bus()
        actions = bus.subscribe("actions", "t")
        bans = BanManager(loader.blocklist, bus, auto_block=True, ttl_secs=60, exempt=["10.200.7.0/24"])
        mk = lambda ip: AlertEvent(rule_id="r", title="t", severity="high", src_ip=ip)  # noqa: E731
        assert await bans.on_alert(mk("10.200.7.9")) is None  # exempt
        assert await bans.on_alert(mk(None)) is None
        ev = await bans.on_alert(mk("fd00:200:7::9"))
        assert ev.target == "fd00:200:7::9/128" and ev.result == "ok"
        assert await bans.on_alert(mk("fd00:200:7::9")) is None  # already banned
        assert bans.counts["exempt"] == 1 and bans.counts["already"] == 1 and actions.qsize() == 1
        (unban,) = await bans.expire(now=10**12)
        assert unban.action == "unblock" and loader.blocklist.get("fd00:200:7::9") is None
        bans.auto_block = False
        assert await bans.on_alert(mk("10.200.7.10")) is None

    asyncio.run(main())
