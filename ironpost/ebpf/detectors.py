"""SYN flood and port scan detection over the per-batch aggregates of ext/pktdecode.

Windows slide over packet time (the kernel's ts_ns, CLOCK_MONOTONIC), not over the time a
batch happens to be drained, so a burst that straddles any boundary is still one burst:
- decode() keys its aggregates by slot = ts_ns // slot_ns, the detectors' time grain.
- SYN flood: per destination, bare SYNs minus completed handshakes in the last window_secs,
  kept as BUCKETS sub-buckets (a SYN counts for between (BUCKETS-1)/BUCKETS of the window
  and the whole window after it arrived).
- Port scan: per source, each destination port with the slot it was last seen in; ports
  older than the window drop out (exact to one slot).
A key alerts when it reaches the threshold, then at most once per window while it stays
there. State is bounded: at most `max_keys` destinations (SYN) / sources (scan), kept in
least-recently-active order; idle keys are dropped once their window is empty and, when the
cap is reached anyway, the least recently active key is evicted and counted in `evicted`.
Each alert carries the trace_id of a packet that triggered it (the record that crossed the
threshold, or the first SYN of the bucket that did), via the `packet_at(index)` callback.

Address keys: IPv4 as its 32-bit int, IPv6 as its 128-bit int with bit 128 set.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Callable, Optional

from ironpost.core.events import AlertEvent, PacketEvent

V6_FLAG = 1 << 128
MAX_KEYS = 16384
MAX_SOURCES_PER_DST = 256
BUCKETS = 16

PacketAt = Callable[[int], Optional[PacketEvent]]


def key_to_ip(key: int) -> str:
    if key & V6_FLAG:
        return str(ipaddress.IPv6Address(key & (V6_FLAG - 1)))
    return str(ipaddress.IPv4Address(key))


def slot_ns_for(*window_secs: float) -> int:
    """The slot size decode() should use so every window spans at least BUCKETS slots."""
    return max(1, int(min(window_secs) * 1e9 / BUCKETS))


def _evidence(alert: AlertEvent, packet_at: PacketAt | None, index: int) -> AlertEvent:
    """Tie an alert to the packet that triggered it: same trace, and the packet's id."""
    pkt = packet_at(index) if packet_at is not None and index >= 0 else None
    if pkt is not None:
        alert.trace_id = pkt.trace_id
        alert.details["packet_id"] = pkt.id
        alert.details["packet"] = {"src_ip": pkt.src_ip, "dst_ip": pkt.dst_ip, "src_port": pkt.src_port,
                                   "dst_port": pkt.dst_port, "protocol": pkt.protocol,
                                   "tcp_flags": pkt.tcp_flags, "timestamp": pkt.timestamp}
    return alert


class _Keys:
    """Per-key state in least-recently-active order, with a cap and counted evictions."""

    def __init__(self, max_keys: int, idle: Callable):
        self.max_keys = max_keys
        self.idle = idle  # state -> True when its window is empty
        self.items: dict = {}
        self.evicted = 0

    def touch(self, key, new):
        st = self.items.pop(key, None)
        if st is None:
            if len(self.items) >= self.max_keys:
                self.drop_idle()
            if len(self.items) >= self.max_keys:
                del self.items[next(iter(self.items))]
                self.evicted += 1
            st = new()
        self.items[key] = st
        return st

    def drop_idle(self) -> None:
        """Drop keys from the least recently active end while their window is empty."""
        items, idle = self.items, self.idle
        while items:
            k = next(iter(items))
            if not idle(items[k]):
                break
            del items[k]

    def __len__(self) -> int:
        return len(self.items)


class _Dst:
    __slots__ = ("buckets", "syns", "done", "srcs", "latest", "alert_b", "srcs_over")

    def __init__(self):
        self.buckets: dict[int, list] = {}  # bucket -> [syns, completed]
        self.syns = 0
        self.done = 0
        self.srcs: dict[int, list] = {}  # src -> [syns, last bucket]
        self.latest = -1
        self.alert_b: int | None = None
        self.srcs_over = 0


class SynFloodDetector:
    """Bare SYNs to one destination minus completed handshakes, in a sliding window."""

    rule_id = "ebpf.syn_flood"

    def __init__(self, threshold: int, window_secs: float, slot_ns: int | None = None,
                 max_keys: int = MAX_KEYS, wall_offset: float = 0.0):
        self.threshold = threshold
        self.window_secs = window_secs
        self.slot_ns = slot_ns or slot_ns_for(window_secs)
        # decode slots per bucket, so a window is BUCKETS buckets whatever the slot size
        self.per_bucket = max(1, round(window_secs * 1e9 / self.slot_ns / BUCKETS))
        self.bucket_ns = self.slot_ns * self.per_bucket
        self.nb = max(1, math.ceil(window_secs * 1e9 / self.bucket_ns))
        self.keys = _Keys(max_keys, lambda st: st.latest <= self.now_b - self.nb)
        self.wall_offset = wall_offset
        self.now_b = -1
        self.late = 0  # records older than their destination's window when they arrived

    @property
    def evicted(self) -> int:
        return self.keys.evicted

    def _wall(self, bucket: int) -> float:
        return self.wall_offset + bucket * self.bucket_ns / 1e9

    def feed(self, syn: dict, packet_at: PacketAt | None = None) -> list[AlertEvent]:
        """syn = decode()'s {(dst, src, slot): [syns, completed, first_syn_index]}."""
        by_dst: dict[int, list] = {}
        for (dk, sk, slot), cell in syn.items():
            by_dst.setdefault(dk, []).append((slot, sk, cell))
            if slot // self.per_bucket > self.now_b:
                self.now_b = slot // self.per_bucket
        out = []
        nb = self.nb
        for dk, cells in by_dst.items():
            cells.sort(key=lambda c: c[0])  # stable: record order within a slot
            st = self.keys.touch(dk, _Dst)
            for slot, sk, (s, d, rep) in cells:
                b = slot // self.per_bucket
                if b > st.latest:
                    st.latest = b
                    horizon = b - nb
                    for ob in [ob for ob in st.buckets if ob <= horizon]:
                        os_, od = st.buckets.pop(ob)
                        st.syns -= os_
                        st.done -= od
                elif b <= st.latest - nb:
                    self.late += s + d
                    continue
                cell = st.buckets.get(b)
                if cell is None:
                    cell = st.buckets[b] = [0, 0]
                cell[0] += s
                cell[1] += d
                st.syns += s
                st.done += d
                if s:
                    self._count_src(st, sk, s, b)
                pending = st.syns - st.done
                if pending >= self.threshold and s and (st.alert_b is None or b - st.alert_b >= nb):
                    st.alert_b = b
                    out.append(_evidence(self._alert(dk, st, pending, b), packet_at, rep))
        self.keys.drop_idle()
        return out

    def _count_src(self, st: _Dst, sk: int, s: int, b: int) -> None:
        e = st.srcs.get(sk)
        if e is not None:
            if e[1] <= b - self.nb:
                e[0] = 0  # idle for a whole window: start over
            e[0] += s
            e[1] = max(e[1], b)
            return
        if len(st.srcs) >= MAX_SOURCES_PER_DST:
            for k in [k for k, v in st.srcs.items() if v[1] <= st.latest - self.nb]:
                del st.srcs[k]
            if len(st.srcs) >= MAX_SOURCES_PER_DST:
                st.srcs_over += 1
                return
        st.srcs[sk] = [s, b]

    def _alert(self, dk: int, st: _Dst, pending: int, b: int) -> AlertEvent:
        live = [(k, v[0]) for k, v in st.srcs.items() if v[1] > st.latest - self.nb]
        top = sorted(live, key=lambda kv: -kv[1])[:5]
        dst_ip = key_to_ip(dk)
        first_b = min(st.buckets)
        return AlertEvent(
            rule_id=self.rule_id,
            title=f"SYN flood to {dst_ip}",
            severity="high",
            source_module="ebpf",
            description=f"{pending} SYNs without a completed handshake in the last {self.window_secs:g}s "
                        f"(threshold {self.threshold}) from {len(live)} source(s)",
            group={"dst_ip": dst_ip},
            count=pending,
            first_seen=self._wall(first_b),
            last_seen=self._wall(b + 1),
            src_ip=key_to_ip(top[0][0]) if top else None,
            tags=["network", "dos"],
            details={"dst_ip": dst_ip, "syns": st.syns, "completed": st.done, "sources": len(live),
                     "sources_untracked": st.srcs_over,
                     "top_sources": [[key_to_ip(k), n] for k, n in top],
                     "window_secs": self.window_secs, "threshold": self.threshold},
        )


class _Src:
    __slots__ = ("ports", "latest", "alert_slot")

    def __init__(self):
        self.ports: dict[int, list] = {}  # port -> [last slot, record index], oldest first
        self.latest = -1
        self.alert_slot: int | None = None


class PortScanDetector:
    """Distinct destination ports per source (bare SYNs and UDP), in a sliding window."""

    rule_id = "ebpf.port_scan"

    def __init__(self, threshold: int, window_secs: float, slot_ns: int | None = None,
                 max_keys: int = MAX_KEYS, wall_offset: float = 0.0):
        self.threshold = threshold
        self.window_secs = window_secs
        self.slot_ns = slot_ns or slot_ns_for(window_secs)
        self.win = max(1, math.ceil(window_secs * 1e9 / self.slot_ns))  # window in slots
        # Ports kept per source: enough to reach the threshold; beyond it the oldest go first.
        self.max_ports = max(threshold, 1)
        self.keys = _Keys(max_keys, lambda st: st.latest <= self.now - self.win)
        self.wall_offset = wall_offset
        self.now = -1

    @property
    def evicted(self) -> int:
        return self.keys.evicted

    def _wall(self, slot: int) -> float:
        return self.wall_offset + slot * self.slot_ns / 1e9

    def feed(self, scan: dict, packet_at: PacketAt | None = None) -> list[AlertEvent]:
        """scan = decode()'s {src: {dst_port: [last slot, record index]}}."""
        out = []
        win = self.win
        self.now = max(self.now, max((v[0] for b in scan.values() for v in b.values()), default=-1))
        for sk, batch in scan.items():
            st = self.keys.touch(sk, _Src)
            ports = st.ports
            for port, (slot, idx) in sorted(batch.items(), key=lambda kv: kv[1][0]):
                if slot <= st.latest - win:
                    continue  # older than this source's window already
                old = ports.pop(port, None)
                if old is not None and old[0] > slot:
                    slot, idx = old
                ports[port] = [slot, idx]
                if slot > st.latest:
                    st.latest = slot
                    horizon = slot - win
                    while ports:
                        p0 = next(iter(ports))
                        if ports[p0][0] > horizon:
                            break
                        del ports[p0]
                if len(ports) > self.max_ports:
                    del ports[next(iter(ports))]
                n = len(ports)
                if n >= self.threshold and (st.alert_slot is None or slot - st.alert_slot >= win):
                    st.alert_slot = slot
                    out.append(_evidence(self._alert(sk, st, n, slot), packet_at, idx))
        self.keys.drop_idle()
        return out

    def _alert(self, sk: int, st: _Src, n: int, slot: int) -> AlertEvent:
        src_ip = key_to_ip(sk)
        first = min(v[0] for v in st.ports.values())
        return AlertEvent(
            rule_id=self.rule_id,
            title=f"Port scan from {src_ip}",
            severity="medium",
            source_module="ebpf",
            description=f"{n} distinct destination ports in the last {self.window_secs:g}s "
                        f"(threshold {self.threshold})",
            group={"src_ip": src_ip},
            count=n,
            first_seen=self._wall(first),
            last_seen=self._wall(slot + 1),
            src_ip=src_ip,
            tags=["network", "recon"],
            details={"ports": sorted(st.ports)[:32], "distinct_ports": n,
                     "window_secs": self.window_secs, "threshold": self.threshold},
        )
