"""The XDP program on a real veth: counters, records, blocklist drops, TTL, attach/detach."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from ebpf_netns import host_mac, udp4_frame, wait_for
from ironpost.core.errors import EbpfError
from ironpost.ebpf import layout
from ironpost.ebpf.ringbuf import decode

pytestmark = [pytest.mark.root, pytest.mark.bpf]


def records(reader, limit=100000):
    """Everything in the ring buffer now, decoded into picked tuples."""
    out = []
    for _ in range(20):
        n = reader.read_batch()
        if n == 0:
            break
        out.extend(decode(reader.buf, n, limit)[3])
    return out


def from_ns(recs, veth, v6=False):
    src = ipaddress.ip_address(veth.ns_ip6 if v6 else veth.ns_ip).packed
    return [r for r in recs if r[1] == src]


def stats_delta(loader, before):
    now = loader.stats.read()
    return {k: now[k] - before[k] for k in now}


def test_protocol_counters(attached, veth, tcp_server):
    before = attached.stats.read()
    veth.client("udp", veth.host_ip, 9999, 20)
    veth.client("udp", veth.host_ip6, 9999, 10)
    veth.client("icmp", veth.host_ip, 7)
    veth.client("icmp", veth.host_ip6, 4)
    r = veth.client("tcp", veth.host_ip, tcp_server, 5)
    assert r["ok"] == 5
    d = wait_for(lambda: (x := stats_delta(attached, before))["packets_tcp"] >= 15 and x)
    assert d, stats_delta(attached, before)
    assert d["packets_udp"] == 30
    assert d["packets_icmp"] == 7
    assert d["packets_icmp6"] >= 4  # plus neighbour discovery
    assert d["packets_tcp"] >= 15  # SYN, ACK, FIN/ACK per connection at least
    assert d["bytes_udp"] >= 30 * (14 + 20 + 8 + 14)
    assert d["ipv4_packets"] >= 42 and d["ipv6_packets"] >= 14
    assert d["dropped_packets"] == 0 and d["parse_errors"] == 0
    assert d["handshakes_completed"] == 5


def test_records_have_the_right_fields(attached, reader, veth, tcp_server):
    veth.client("udp", veth.host_ip, 9999, 3)
    veth.client("udp", veth.host_ip6, 9998, 2)
    veth.client("tcp", veth.host_ip, tcp_server, 2)
    time.sleep(0.05)
    recs = records(reader)
    udp4 = [r for r in from_ns(recs, veth) if r[5] == layout.IPPROTO_UDP]
    assert len(udp4) == 3
    fam, sa, da, sport, dport, proto, flags, length, action, ts, vlan, rflags = udp4[0]
    assert (fam, da, dport, action, vlan) == (4, socket.inet_aton(veth.host_ip), 9999, layout.XDP_PASS, 0)
    assert sport > 0 and length == 14 + 20 + 8 + len(b"ironpost-test-0")
    assert abs(ts - time.monotonic_ns()) < 10e9
    udp6 = [r for r in from_ns(recs, veth, v6=True) if r[5] == layout.IPPROTO_UDP]
    assert len(udp6) == 2 and udp6[0][0] == 6
    assert udp6[0][2] == ipaddress.ip_address(veth.host_ip6).packed and udp6[0][4] == 9998
    tcp = [r for r in from_ns(recs, veth) if r[5] == layout.IPPROTO_TCP]
    syns = [r for r in tcp if r[6] == layout.TCP_SYN]
    done = [r for r in tcp if r[11] & layout.REC_F_HANDSHAKE_DONE]
    assert len(syns) == 2 and all(r[4] == tcp_server for r in syns)
    assert len(done) == 2 and all(r[6] == layout.TCP_ACK for r in done)


def test_drops_blocked_ipv4_address(attached, reader, veth, tcp_server):
    attached.blocklist.add(veth.ns_ip)
    before = attached.stats.read()
    r = veth.client("tcp", veth.host_ip, tcp_server, 2)
    veth.client("udp", veth.host_ip, 9999, 5)
    assert r["ok"] == 0
    d = stats_delta(attached, before)
    assert d["dropped_packets"] >= 7
    entry = attached.blocklist.get(veth.ns_ip)
    assert entry.network == f"{veth.ns_ip}/32" and entry.hits >= 7 and entry.expires_at is None
    recs = from_ns(records(reader), veth)
    assert recs and all(r[8] == layout.XDP_DROP for r in recs)
    # banned again (a longer decision): the entry exists, so its counter and the drop stay
    attached.blocklist.add(veth.ns_ip, ttl_secs=600)
    again = attached.blocklist.get(veth.ns_ip)
    assert again.hits >= entry.hits and again.expires_at is not None
    # unblocked: traffic flows again
    assert attached.blocklist.remove(veth.ns_ip)
    assert veth.client("tcp", veth.host_ip, tcp_server, 1)["ok"] == 1


def test_drops_blocked_cidr_but_not_other_family(attached, veth, tcp_server):
    n = veth.ns_ip.split(".")[2]
    attached.blocklist.add(f"10.200.{n}.0/24")
    assert veth.client("tcp", veth.host_ip, tcp_server, 2)["ok"] == 0
    # IPv6 from the same namespace is not covered by an IPv4 CIDR
    s6 = socket.socket(socket.AF_INET6)
    s6.bind((veth.host_ip6, 0))
    s6.listen(8)
    try:
        assert veth.client("tcp", veth.host_ip6, s6.getsockname()[1], 1)["ok"] == 1
    finally:
        s6.close()
    assert attached.blocklist.get(f"10.200.{n}.0/24").hits >= 2


def test_drops_blocked_ipv6(attached, reader, veth):
    prefix = ipaddress.ip_network(veth.ns_ip6 + "/64", strict=False)
    attached.blocklist.add(str(prefix))
    before = attached.stats.read()
    veth.client("udp", veth.host_ip6, 9999, 6)
    veth.client("udp", veth.host_ip, 9999, 3)  # IPv4 still passes
    d = stats_delta(attached, before)
    assert d["dropped_packets"] >= 6 and d["packets_udp"] == 9
    recs = records(reader)
    v6 = [r for r in from_ns(recs, veth, v6=True) if r[5] == layout.IPPROTO_UDP]
    v4 = [r for r in from_ns(recs, veth) if r[5] == layout.IPPROTO_UDP]
    assert len(v6) == 6 and all(r[8] == layout.XDP_DROP for r in v6)
    assert len(v4) == 3 and all(r[8] == layout.XDP_PASS for r in v4)
    listed = {e.network: e for e in attached.blocklist.entries()}
    assert listed[str(prefix)].hits >= 6


def test_kernel_honours_entry_ttl(attached, veth, tcp_server):
    # 4 s: long enough that a loaded machine still makes the blocked attempt inside the TTL
    attached.blocklist.add(veth.ns_ip, ttl_secs=4.0)
    entry = attached.blocklist.get(veth.ns_ip)
    assert entry.expires_at is not None and not entry.expired
    assert veth.client("tcp", veth.host_ip, tcp_server, 1)["ok"] == 0
    time.sleep(max(0.0, entry.expires_at - time.time()) + 0.2)
    assert attached.blocklist.get(veth.ns_ip).expired
    assert veth.client("tcp", veth.host_ip, tcp_server, 1)["ok"] == 1


def test_sampling_keeps_syns_and_drops(attached, reader, veth, tcp_server):
    attached.set_sample_rate(1_000_000)
    veth.client("udp", veth.host_ip, 9999, 200)
    veth.client("tcp", veth.host_ip, tcp_server, 3)
    recs = from_ns(records(reader), veth)
    udp = [r for r in recs if r[5] == layout.IPPROTO_UDP]
    syns = [r for r in recs if r[5] == layout.IPPROTO_TCP and r[6] == layout.TCP_SYN]
    assert len(udp) < 10 and len(syns) == 3


def test_sampling_never_hides_a_new_udp_port(attached, reader, veth):
    """What is guaranteed under any sample_rate: the first UDP packet from a source to each
    destination port reaches userspace (port-scan input), and again after scan_refresh_ms."""
    attached.set_sample_rate(1_000_000)
    attached.set_scan_refresh(60_000)  # long: the repeats below must all be sampled out
    try:
        veth.client("udpscan", veth.host_ip, 23000, 80, 5)   # 80 ports x 5 datagrams
        veth.client("udpscan", veth.host_ip6, 23000, 20, 5)  # same ports over IPv6: another source
        recs = [r for r in records(reader) if r[5] == layout.IPPROTO_UDP and 23000 <= r[4] < 23080]
        v4 = sorted(r[4] for r in from_ns(recs, veth))
        v6 = sorted(r[4] for r in from_ns(recs, veth, v6=True))
        assert v4 == list(range(23000, 23080)) and v6 == list(range(23000, 23020))
        # after the refresh interval each pair is sent once more, no more
        attached.set_scan_refresh(1)
        time.sleep(0.01)
        veth.client("udpscan", veth.host_ip, 23000, 3, 1)
        attached.set_scan_refresh(60_000)
        veth.client("udpscan", veth.host_ip, 23000, 3, 4)
        again = [r[4] for r in from_ns(records(reader), veth) if r[5] == layout.IPPROTO_UDP]
        assert sorted(again) == [23000, 23001, 23002]
    finally:
        attached.set_scan_refresh(1000)


def test_bad_target_is_a_clear_error(loader):
    with pytest.raises(EbpfError, match="not an IP address or CIDR"):
        loader.blocklist.add("10.200.300.1")


def test_detach_leaves_no_program(attached, veth):
    assert "xdpgeneric" in veth.xdp_line()
    attached.detach()
    assert "xdp" not in veth.xdp_line()


def test_refused_mode_is_a_clear_error(loader, veth):
    loader.mode = "hw"
    try:
        with pytest.raises(EbpfError, match=r"refused XDP in hw mode: .*xdp_mode = \"skb\""):
            loader.attach()
    finally:
        loader.mode = "skb"
    assert "xdp" not in veth.xdp_line()


def test_stale_program_is_replaced(loader, veth):
    from bcc import BPF

    # What a crashed daemon leaves: our program still attached, here in native (driver) mode.
    BPF.attach_xdp(veth.host_if.encode(), loader._fn, BPF.XDP_FLAGS_DRV_MODE)
    assert "xdpdrv" in veth.xdp_line() or "xdp " in veth.xdp_line()
    try:
        loader.attach()
        line = veth.xdp_line()
        assert "xdpgeneric" in line and "xdpdrv" not in line
        assert loader.replaced_stale["name"] == layout.PROG_NAME
    finally:
        loader.detach()
        BPF.remove_xdp(veth.host_if.encode(), BPF.XDP_FLAGS_DRV_MODE)
    assert "xdp" not in veth.xdp_line()


def test_vlan_and_qinq_frames_are_parsed(attached, reader, veth):
    one = udp4_frame(veth, [(0x8100, 100)], 7001)
    two = udp4_frame(veth, [(0x88A8, 200), (0x8100, 100)], 7002)
    veth.client("frame", veth.ns_if, one.hex(), 3)
    veth.client("frame", veth.ns_if, two.hex(), 2)
    recs = [r for r in from_ns(records(reader), veth) if r[5] == layout.IPPROTO_UDP]
    assert sorted((r[4], r[10], r[7]) for r in recs) == (
        [(7001, 100, len(one))] * 3 + [(7002, 200, len(two))] * 2)
    attached.blocklist.add(veth.ns_ip)
    before = attached.stats.read()
    veth.client("frame", veth.ns_if, two.hex(), 4)
    assert stats_delta(attached, before)["dropped_packets"] == 4


def test_truncated_headers_count_as_parse_errors(attached, veth):
    eth = host_mac(veth) + bytes.fromhex("020000000002")
    truncated_ip = eth + b"\x08\x00" + b"\x45\x00\x00\x30\x00\x01"
    truncated_vlan = eth + b"\x81\x00\x00"
    before = attached.stats.read()
    veth.client("frame", veth.ns_if, truncated_ip.hex(), 3)
    veth.client("frame", veth.ns_if, truncated_vlan.hex(), 2)
    d = stats_delta(attached, before)
    assert d["parse_errors"] == 5 and d["dropped_packets"] == 0


def test_foreign_program_is_left_alone(loader, veth):
    from bcc import BPF

    other = BPF(text=b"int other_xdp(struct xdp_md *ctx) { return XDP_PASS; }")
    fn = other.load_func(b"other_xdp", BPF.XDP)
    BPF.attach_xdp(veth.host_if.encode(), fn, BPF.XDP_FLAGS_SKB_MODE)
    try:
        with pytest.raises(EbpfError, match="foreign XDP program .*'other_xdp'"):
            loader.attach()
        assert "other_xdp" in veth.xdp_line()
    finally:
        BPF.remove_xdp(veth.host_if.encode(), BPF.XDP_FLAGS_SKB_MODE)
        other.cleanup()
