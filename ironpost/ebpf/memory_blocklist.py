"""A blocklist kept in the daemon's memory: the `[ebpf] backend = "memory"` enforcement point.

Same calls as maps.Blocklist (add, add_many, remove, get, entries, close), no kernel. For
hosts where something else enforces the decisions (a CrowdSec bouncer reading Ironpost's API,
a firewall), for nodes of a fleet that only relay decisions, and for tests that run several
daemons on one machine through the real ban path. It drops no packet by itself.
"""

from __future__ import annotations

import ipaddress
import time

from ironpost.ebpf.maps import BlockEntry, Network, parse_target

_ABSENT = object()


def _net(target) -> Network:
    return target if isinstance(target, (ipaddress.IPv4Network, ipaddress.IPv6Network)) else parse_target(target)


class MemoryBlocklist:
    def __init__(self, clock=time.time):
        self.clock = clock
        self._entries: dict[Network, float | None] = {}  # network -> wall-clock expiry (None = permanent)
        self.applied = 0  # adds, for the benchmark and tests

    def add(self, target, ttl_secs: float | None = None) -> Network:
        net = _net(target)
        self._entries[net] = self.clock() + ttl_secs if ttl_secs else None
        self.applied += 1
        return net

    def add_many(self, targets, ttl_secs: float | None = None) -> int:
        n = 0
        for t in targets:
            self.add(t, ttl_secs)
            n += 1
        return n

    def remove(self, target) -> bool:
        return self._entries.pop(_net(target), _ABSENT) is not _ABSENT

    def get(self, target) -> BlockEntry | None:
        net = _net(target)
        if net not in self._entries:
            return None
        exp = self._entries[net]
        if exp is not None and exp <= self.clock():
            return None  # as the kernel does: an expired entry no longer drops
        return BlockEntry(str(net), 0, exp)

    def entries(self, limit: int = 10_000_000) -> list[BlockEntry]:
        now = self.clock()
        out = []
        for net, exp in self._entries.items():
            if exp is None or exp > now:
                out.append(BlockEntry(str(net), 0, exp))
                if len(out) >= limit:
                    break
        return out

    def close(self) -> None:
        self._entries.clear()
