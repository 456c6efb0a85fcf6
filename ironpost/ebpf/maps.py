"""Blocklist (IPv4/IPv6 LPM tries) and counters, on map fds from the loader or from pins.

An entry is a CIDR (a single address is a /32 or /128). Each holds a hit counter the XDP
program bumps and an expiry in CLOCK_MONOTONIC ns (0 = permanent): the kernel itself stops
dropping at expiry, so a TTL holds even when no daemon runs to delete the entry.
"""

from __future__ import annotations

import ipaddress
import os
import time
from dataclasses import dataclass

from ironpost.core.errors import EbpfError
from ironpost.core.netaddr import AddressError, host_network, operator_network, untrusted_host
from ironpost.ebpf import layout
from ironpost.ebpf.bpfsys import RawMap, possible_cpus

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_target(target: str, *, single_host: bool = False) -> Network:
    """'10.0.0.1' -> 10.0.0.1/32; '10.0.0.0/8'; 'fd00::/64'. Host bits are cleared.

    single_host: the target comes from log or packet data (an attacker can write it), so only
    one validated host address is accepted (netaddr.untrusted_host); ranges are the operator's."""
    if single_host:
        try:
            return host_network(untrusted_host(target))
        except AddressError as exc:
            raise EbpfError(str(exc)) from None
    try:
        return operator_network(target)
    except (ValueError, AttributeError):
        raise EbpfError(f"{target!r} is not an IP address or CIDR (expected e.g. 10.0.0.1, 10.0.0.0/8, fd00::/64)") from None


@dataclass
class BlockEntry:
    network: str
    hits: int
    expires_at: float | None  # wall clock; None = permanent

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= time.time()

    def to_dict(self) -> dict:
        return {"network": self.network, "hits": self.hits, "expires_at": self.expires_at}


def _key(net: Network) -> tuple[int, bytes]:
    if net.version == 4:
        return 4, layout.LPM_V4_KEY.pack(net.prefixlen, net.network_address.packed)
    return 6, layout.LPM_V6_KEY.pack(net.prefixlen, net.network_address.packed)


def _mono_to_wall(ns: int) -> float:
    return time.time() + (ns - time.monotonic_ns()) / 1e9


class Blocklist:
    def __init__(self, v4: RawMap, v6: RawMap):
        self._maps = {4: v4, 6: v6}

    @classmethod
    def open_pinned(cls, pin_dir: str = layout.DEFAULT_PIN_DIR) -> "Blocklist":
        v4 = RawMap.open_pinned(os.path.join(pin_dir, "block_v4"))
        v6 = RawMap.open_pinned(os.path.join(pin_dir, "block_v6"))
        return cls(v4, v6)

    def add(self, target: str | Network, ttl_secs: float | None = None) -> Network:
        net = target if isinstance(target, (ipaddress.IPv4Network, ipaddress.IPv6Network)) else parse_target(target)
        fam, key = _key(net)
        m = self._maps[fam]
        expires = time.monotonic_ns() + int(ttl_secs * 1e9) if ttl_secs else 0
        # most bans are new: one syscall; an entry already there keeps its hit counter
        if m.insert(key, layout.BLOCK_VAL.pack(0, expires)):
            return net
        old = m.lookup(key)
        hits = layout.BLOCK_VAL.unpack(old)[0] if old else 0
        m.update(key, layout.BLOCK_VAL.pack(hits, expires))
        return net

    def add_many(self, targets, ttl_secs: float | None = None) -> int:
        """Bulk load (config blocklist, benchmarks): no read of the old hit counter."""
        expires = time.monotonic_ns() + int(ttl_secs * 1e9) if ttl_secs else 0
        val = layout.BLOCK_VAL.pack(0, expires)
        n = 0
        for t in targets:
            net = t if isinstance(t, (ipaddress.IPv4Network, ipaddress.IPv6Network)) else parse_target(t)
            fam, key = _key(net)
            self._maps[fam].update(key, val)
            n += 1
        return n

    def remove(self, target: str | Network) -> bool:
        net = target if isinstance(target, (ipaddress.IPv4Network, ipaddress.IPv6Network)) else parse_target(target)
        fam, key = _key(net)
        return self._maps[fam].delete(key)

    def get(self, target: str | Network) -> BlockEntry | None:
        net = target if isinstance(target, (ipaddress.IPv4Network, ipaddress.IPv6Network)) else parse_target(target)
        fam, key = _key(net)
        raw = self._maps[fam].lookup(key)
        return self._entry(fam, key, raw) if raw else None

    @staticmethod
    def _entry(fam: int, key: bytes, raw: bytes) -> BlockEntry:
        if fam == 4:
            plen, addr = layout.LPM_V4_KEY.unpack(key)
            net: Network = ipaddress.IPv4Network((addr, plen))
        else:
            plen, addr = layout.LPM_V6_KEY.unpack(key)
            net = ipaddress.IPv6Network((addr, plen))
        hits, expires = layout.BLOCK_VAL.unpack(raw[: layout.BLOCK_VAL.size])
        return BlockEntry(str(net), hits, _mono_to_wall(expires) if expires else None)

    def entries(self, limit: int = 10_000_000) -> list[BlockEntry]:
        out = []
        for fam, m in self._maps.items():
            for key in m.keys(limit):
                raw = m.lookup(key)
                if raw is not None:
                    out.append(self._entry(fam, key, raw))
        return out

    def close(self) -> None:
        for m in self._maps.values():
            m.close()


class Stats:
    """Sums the per-CPU counters into {name: value}."""

    def __init__(self, stats: RawMap):
        self._map = stats
        self._ncpu = possible_cpus()

    @classmethod
    def open_pinned(cls, pin_dir: str = layout.DEFAULT_PIN_DIR) -> "Stats":
        return cls(RawMap.open_pinned(os.path.join(pin_dir, "stats"), value_size=8 * possible_cpus()))

    def read(self) -> dict[str, int]:
        out = {}
        n = self._ncpu
        for slot, name in layout.STAT_NAMES.items():
            raw = self._map.lookup(slot.to_bytes(4, "little"))
            out[name] = sum(int.from_bytes(raw[8 * i: 8 * i + 8], "little") for i in range(n)) if raw else 0
        return out

    def close(self) -> None:
        self._map.close()
