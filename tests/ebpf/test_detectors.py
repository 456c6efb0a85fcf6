"""Sliding detector windows over packet time on synthetic decoded records (both decoders),
alert evidence (trace_id of a triggering packet), bounded state; ban rules on the real kernel map."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironpost.core.bus import Bus
from ironpost.core.events import AlertEvent, PacketEvent
from ironpost.core.extensions import compiled
from ironpost.ebpf import layout, pktdecode_py
from ironpost.ebpf.bans import BanManager
from ironpost.ebpf.detectors import V6_FLAG, PortScanDetector, SynFloodDetector, key_to_ip

A, B, DST = 0x0AC80002, 0x0AC80006, 0x0AC80001  # 10.200.0.2, 10.200.0.6, 10.200.0.1
REC = struct.Struct(layout.REC_FMT)
DECODERS = [pktdecode_py] + ([compiled("pktdecode")] if compiled("pktdecode") else [])
SEC = 1_000_000_000


def rec(t: float, src: int, dport: int, *, proto=6, flags=0x02, rflags=0, sport=40000) -> bytes:
    """A synthetic pkt_rec as the kernel writes it: t seconds of CLOCK_MONOTONIC, IPv4."""
    return REC.pack(int(t * SEC), src.to_bytes(4, "big").ljust(16, b"\0"), DST.to_bytes(4, "big").ljust(16, b"\0"),
                    sport, dport, 60, proto, flags, layout.XDP_PASS, 4, 0, rflags)


class Pipeline:
    """What EbpfModule._process does with each drained batch: decode, feed, evidence packets."""

    def __init__(self, impl, syn=None, scan=None):
        self.impl, self.syn, self.scan = impl, syn, scan
        self.slot_ns = (syn or scan).slot_ns
        self.evidence: list[PacketEvent] = []

    def batch(self, recs: list[bytes]) -> list:
        buf = b"".join(recs)
        _, syn, scan, _ = self.impl.decode(buf, len(recs), 0, self.slot_ns)

        def packet_at(i):
            fam, sa, da, sport, dport, proto, flags, *_ = pktdecode_py.record_at(buf, i)
            ev = PacketEvent(src_ip=socket.inet_ntoa(sa), dst_ip=socket.inet_ntoa(da), src_port=sport,
                             dst_port=dport, tcp_flags=flags, protocol="tcp" if proto == 6 else "udp",
                             timestamp=REC.unpack_from(buf, i * REC.size)[0] / SEC)
            self.evidence.append(ev)
            return ev

        out = []
        if self.syn is not None:
            out += self.syn.feed(syn, packet_at)
        if self.scan is not None:
            out += self.scan.feed(scan, packet_at)
        return out


def test_key_to_ip_both_families():
    assert key_to_ip(DST) == "10.200.0.1"
    assert key_to_ip(1 | V6_FLAG) == "::1"  # not confused with IPv4 0.0.0.1
    assert key_to_ip(0xFD000000000000000000000000000002 | V6_FLAG) == "fd00::2"


@pytest.mark.parametrize("impl", DECODERS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_syn_flood_straddling_a_window_boundary_is_detected(impl):
    """120 SYNs in 3.6 s, split across batches at t=10 s (where a tumbling window that began
    with the first packet at t=0 reset): 60 + 60 is under the threshold of 100 in either half."""
    p = Pipeline(impl, syn=SynFloodDetector(threshold=100, window_secs=10))
    assert p.batch([rec(0.0, B, 22)]) == []
    syns = [rec(8.0 + i * 0.03, A, 80, sport=20000 + i) for i in range(120)]
    first = [r for r in syns if REC.unpack(r)[0] < 10 * SEC]
    assert p.batch(first) == []
    (alert,) = p.batch(syns[len(first):])
    assert alert.rule_id == "ebpf.syn_flood" and alert.group == {"dst_ip": "10.200.0.1"}
    assert 100 <= alert.count <= 120 and alert.src_ip == "10.200.0.2" and alert.details["completed"] == 0
    assert 8.0 - 10 / 16 <= alert.first_seen <= alert.last_seen <= 12.0  # to a bucket (window/16)
    # the alert names a packet that triggered it: a SYN from the flood, in the crossing bucket
    (pkt,) = p.evidence
    assert alert.trace_id == pkt.trace_id and alert.details["packet_id"] == pkt.id
    assert (pkt.src_ip, pkt.dst_ip, pkt.dst_port, pkt.tcp_flags) == ("10.200.0.2", "10.200.0.1", 80, 0x02)
    assert 10.0 <= pkt.timestamp <= alert.last_seen
    assert alert.details["packet"]["src_port"] == pkt.src_port


@pytest.mark.parametrize("impl", DECODERS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_syn_flood_window_slides_and_completions_count_against(impl):
    d = SynFloodDetector(threshold=100, window_secs=10)
    p = Pipeline(impl, syn=d)
    # 150 SYNs over 37.5 s: never more than ~40 in any 10 s
    assert p.batch([rec(i * 0.25, A, 80, sport=i) for i in range(150)]) == []
    # 90 SYNs, then 20 more 12 s later: the first 90 have slid out
    assert p.batch([rec(100 + i * 0.01, A, 80, sport=i) for i in range(90)]) == []
    assert p.batch([rec(112 + i * 0.01, A, 80, sport=i) for i in range(20)]) == []
    # 110 SYNs, 30 of them completed: 80 pending
    batch = [rec(200 + i * 0.01, B, 443, sport=i) for i in range(110)]
    batch += [rec(200.5 + i * 0.01, B, 443, flags=0x10, rflags=1, sport=i) for i in range(30)]
    assert p.batch(batch) == []
    (alert,) = p.batch([rec(201 + i * 0.01, B, 443, sport=1000 + i) for i in range(20)])
    assert alert.count == 100 and alert.details["completed"] == 30 and alert.src_ip == "10.200.0.6"
    # still flooding: at most one alert per window...
    assert p.batch([rec(205 + i * 0.001, B, 443, sport=i) for i in range(500)]) == []
    # ...and another once a window has passed with the flood going on
    (again,) = p.batch([rec(212 + i * 0.001, B, 443, sport=i) for i in range(500)])
    assert again.count >= 500 and again.trace_id != alert.trace_id


@pytest.mark.parametrize("impl", DECODERS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_port_scan_straddling_a_window_boundary_is_detected(impl):
    """50 distinct ports (SYNs and UDP) in 20 s, split by a boundary at t=60 s: 25 + 25."""
    p = Pipeline(impl, scan=PortScanDetector(threshold=50, window_secs=60))
    assert p.batch([rec(0.0, A, 1), rec(0.0, B, 22)]) == []
    assert p.batch([rec(50 + i * 0.4, A, 1000 + i) for i in range(25)]) == []  # SYNs, to t=59.6
    udp = [rec(60.5 + i * 0.4, A, 2000 + i, proto=17, flags=0) for i in range(25)]
    (alert,) = p.batch(udp)
    assert alert.rule_id == "ebpf.port_scan" and alert.src_ip == "10.200.0.2" and alert.count == 50
    assert alert.details["ports"][:2] == [1000, 1001]
    # the record that crossed the threshold: the 25th UDP port (port 1 at t=0 slid out)
    (pkt,) = p.evidence
    assert alert.trace_id == pkt.trace_id and (pkt.protocol, pkt.dst_port) == ("udp", 2024)
    assert abs(pkt.timestamp - (60.5 + 24 * 0.4)) < 1e-6


@pytest.mark.parametrize("impl", DECODERS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_port_scan_ports_slide_out_and_repeats_do_not_count(impl):
    p = Pipeline(impl, scan=PortScanDetector(threshold=50, window_secs=60))
    assert p.batch([rec(0, A, 1000 + i) for i in range(40)]) == []
    assert p.batch([rec(10, A, 1000 + i) for i in range(40)]) == []  # same ports again
    assert p.batch([rec(80, A, 3000 + i) for i in range(40)]) == []  # the first 40 slid out at t=70
    (alert,) = p.batch([rec(81, A, 4000 + i) for i in range(10)])
    assert alert.count == 50 and alert.details["ports"][0] == 3000
    assert p.batch([rec(82, A, 5000 + i) for i in range(100)]) == []  # once per window


def test_detector_state_is_bounded_with_counted_evictions():
    scan = PortScanDetector(threshold=50, window_secs=60, max_keys=16)
    p = Pipeline(pktdecode_py, scan=scan)
    p.batch([rec(1, 0x0AC81000 + i, 80, proto=17, flags=0) for i in range(40)])
    assert len(scan.keys) == 16 and scan.evicted == 24
    # idle sources whose window emptied are dropped without counting as evictions
    p.batch([rec(100, A, 80, proto=17, flags=0)])
    assert len(scan.keys) == 1 and scan.evicted == 24
    syn = SynFloodDetector(threshold=10, window_secs=10, max_keys=16)
    for i in range(40):
        syn.feed({(0x0AC82000 + i, A, 5): [3, 0, -1]})
    assert len(syn.keys) == 16 and syn.evicted == 24
    # a destination evicted mid-flood starts over: bounded memory over completeness, counted
    (alert,) = syn.feed({(DST, A, 6): [10, 0, 0]})
    assert alert.trace_id == alert.id  # no packet_at: no evidence, the alert is its own trace


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


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 15), st.booleans()), min_size=1, max_size=120),
       st.sampled_from(DECODERS))
def test_port_scan_matches_a_brute_force_sliding_window(steps, impl):
    """One source; ports hit at non-decreasing seconds. Fed one record per batch, or one batch
    per second, the detector alerts on exactly the records a brute-force sliding window does."""
    threshold, win = 6, 10
    t, recs = 0, []
    for dt, port, _ in steps:
        t += dt
        recs.append((t, port))
    expect, last, alert_t = [], {}, None
    for j, (t, port) in enumerate(recs):
        last[port] = t
        n = sum(1 for s in last.values() if s > t - win)
        if n >= threshold and (alert_t is None or t - alert_t >= win):
            alert_t = t
            expect.append(j)
    per_second = steps[0][2]
    batches: list[list[int]] = []
    for j, (t, _) in enumerate(recs):
        if per_second and batches and recs[batches[-1][0]][0] == t:
            batches[-1].append(j)
        else:
            batches.append([j])
    det = PortScanDetector(threshold, win, slot_ns=SEC)
    got = []
    for b in batches:
        buf = b"".join(rec(recs[j][0], A, recs[j][1], proto=17, flags=0) for j in b)
        _, _, scan, _ = impl.decode(buf, len(b), 0, SEC)

        def packet_at(i, b=b):
            got.append(b[i])
            return PacketEvent(src_ip="10.200.0.2", dst_ip="10.200.0.1")

        det.feed(scan, packet_at)
    assert got == expect


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=1, max_size=150))
def test_syn_flood_matches_a_brute_force_sliding_window(steps):
    """SYNs (and some completed handshakes) at non-decreasing seconds, one record per batch,
    window = 16 buckets of 1 s: alerts on exactly the records a brute-force window does."""
    threshold, nb = 8, 16
    t, recs = 0, []
    for dt, kind in steps:
        t += dt
        recs.append((t, kind == 0))  # 1 in 5 records completes a handshake
    expect, alert_t = [], None
    for j, (t, done) in enumerate(recs):
        pending = sum(-1 if d else 1 for s, d in recs[: j + 1] if s > t - nb)
        if not done and pending >= threshold and (alert_t is None or t - alert_t >= nb):
            alert_t = t
            expect.append(j)
    det = SynFloodDetector(threshold, nb, slot_ns=SEC)
    assert det.nb == nb and det.per_bucket == 1
    got = []
    for j, (t, done) in enumerate(recs):
        r = rec(t, A, 80, flags=0x10, rflags=1) if done else rec(t, A, 80)
        _, syn, _, _ = pktdecode_py.decode(r, 1, 0, SEC)
        if det.feed(syn):
            got.append(j)
    assert got == expect
