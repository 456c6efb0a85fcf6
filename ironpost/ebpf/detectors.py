"""SYN flood and port scan detection over the aggregates ext/pktdecode builds per batch.

Windows are tumbling (reset every window_secs); one alert per key per window. State is
bounded: a source or destination beyond the caps is counted in `overflow`, not stored.
Address keys: IPv4 as its 32-bit int, IPv6 as its 128-bit int with bit 128 set.
"""

from __future__ import annotations

import ipaddress

from ironpost.core.events import AlertEvent

V6_FLAG = 1 << 128
MAX_KEYS = 65536
MAX_SOURCES_PER_DST = 1024


def key_to_ip(key: int) -> str:
    if key & V6_FLAG:
        return str(ipaddress.IPv6Address(key & (V6_FLAG - 1)))
    return str(ipaddress.IPv4Address(key))


class _Window:
    def __init__(self, secs: float):
        self.secs = secs
        self.start: float | None = None

    def roll(self, now: float) -> bool:
        """True when a new window began (state must be reset)."""
        if self.start is None or now - self.start >= self.secs:
            self.start = now
            return True
        return False


class SynFloodDetector:
    """Bare SYNs to one destination minus completed handshakes, per window."""

    rule_id = "ebpf.syn_flood"

    def __init__(self, threshold: int, window_secs: float):
        self.threshold = threshold
        self.window = _Window(window_secs)
        self.dst: dict[int, list] = {}  # dst -> [syns, completed, {src: syns}]
        self.alerted: set[int] = set()
        self.overflow = 0

    def feed(self, syn: dict, now: float) -> list[AlertEvent]:
        if self.window.roll(now):
            self.dst.clear()
            self.alerted.clear()
        touched = set()
        for (dk, sk), (s, d) in syn.items():
            cell = self.dst.get(dk)
            if cell is None:
                if len(self.dst) >= MAX_KEYS:
                    self.overflow += 1
                    continue
                cell = self.dst[dk] = [0, 0, {}]
            cell[0] += s
            cell[1] += d
            if s:
                srcs = cell[2]
                if sk in srcs or len(srcs) < MAX_SOURCES_PER_DST:
                    srcs[sk] = srcs.get(sk, 0) + s
            touched.add(dk)
        out = []
        for dk in touched:
            syns, done, srcs = self.dst[dk]
            if dk in self.alerted or syns - done < self.threshold:
                continue
            self.alerted.add(dk)
            top = sorted(srcs.items(), key=lambda kv: -kv[1])[:5]
            dst_ip = key_to_ip(dk)
            out.append(AlertEvent(
                rule_id=self.rule_id,
                title=f"SYN flood to {dst_ip}",
                severity="high",
                source_module="ebpf",
                description=f"{syns - done} SYNs without a completed handshake in {self.window.secs:g}s "
                            f"(threshold {self.threshold}) from {len(srcs)} source(s)",
                group={"dst_ip": dst_ip},
                count=syns - done,
                first_seen=self.window.start or now,
                last_seen=now,
                src_ip=key_to_ip(top[0][0]) if top else None,
                tags=["network", "dos"],
                details={"dst_ip": dst_ip, "syns": syns, "completed": done, "sources": len(srcs),
                         "top_sources": [[key_to_ip(k), n] for k, n in top],
                         "window_secs": self.window.secs, "threshold": self.threshold},
            ))
        return out


class PortScanDetector:
    """Distinct destination ports per source (bare SYNs and UDP), per window."""

    rule_id = "ebpf.port_scan"

    def __init__(self, threshold: int, window_secs: float):
        self.threshold = threshold
        self.window = _Window(window_secs)
        self.src: dict[int, set] = {}
        self.alerted: set[int] = set()
        self.overflow = 0

    def feed(self, scan: dict, now: float) -> list[AlertEvent]:
        if self.window.roll(now):
            self.src.clear()
            self.alerted.clear()
        out = []
        for sk, ports in scan.items():
            if sk in self.alerted:
                continue
            seen = self.src.get(sk)
            if seen is None:
                if len(self.src) >= MAX_KEYS:
                    self.overflow += 1
                    continue
                seen = self.src[sk] = set()
            seen |= ports
            if len(seen) >= self.threshold:
                self.alerted.add(sk)
                src_ip = key_to_ip(sk)
                del self.src[sk]  # alerted this window: no need to keep growing its set
                out.append(AlertEvent(
                    rule_id=self.rule_id,
                    title=f"Port scan from {src_ip}",
                    severity="medium",
                    source_module="ebpf",
                    description=f"{len(seen)} distinct destination ports in {self.window.secs:g}s "
                                f"(threshold {self.threshold})",
                    group={"src_ip": src_ip},
                    count=len(seen),
                    first_seen=self.window.start or now,
                    last_seen=now,
                    src_ip=src_ip,
                    tags=["network", "recon"],
                    details={"ports": sorted(seen)[:32], "distinct_ports": len(seen),
                             "window_secs": self.window.secs, "threshold": self.threshold},
                ))
        return out
