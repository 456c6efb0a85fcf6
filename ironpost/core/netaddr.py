"""Addresses Ironpost may act on, and the addresses it must never act against.

Anything read from a log line or a packet is attacker-controlled text. A ban decided from such
data names exactly one host (/32 or /128): never a range, never an address that cannot be a
real remote peer (unspecified, loopback, link-local, multicast, broadcast). Ranges come only from
an operator (`cli net block`) or a configured list, which parse with `operator_network`.

`host_exemptions()` is what auto-bans never touch by default: every address of this host's
interfaces, its default gateways, and the peer of the SSH session the daemon was started from.
It reads /proc rather than calling `ip`, so it needs no subprocess and works in a frozen binary.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Iterable, Mapping

from ironpost.core.errors import IronpostError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Longer than any textual IPv6 address with a /128 suffix; refusing early keeps hostile
# megabyte-long "addresses" out of the parser and out of error messages.
_MAX_TEXT = 64
_BROADCAST_V4 = ipaddress.IPv4Address("255.255.255.255")


class AddressError(IronpostError):
    """A value is not an address Ironpost may act on (wrong form, a range, or a special address)."""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def untrusted_host(value: object) -> Address:
    """The single host named by attacker-controlled text, or AddressError.

    Accepts 'a.b.c.d', an IPv6 address, or either with a /32 or /128 suffix; '::ffff:a.b.c.d'
    becomes the IPv4 address it maps, so one host has one blocklist key."""
    if not isinstance(value, str):
        raise AddressError(f"{_short(value)} is not an address string")
    text = value.strip()
    if not text or len(text) > _MAX_TEXT:
        raise AddressError(f"{_short(value)} is not a single IP address")
    addr_text, sep, plen = text.partition("/")
    try:
        addr = ipaddress.ip_address(addr_text)
    except ValueError:
        raise AddressError(f"{_short(value)} is not a single IP address") from None
    if sep and plen != str(addr.max_prefixlen):
        raise AddressError(f"{_short(value)} is a range; bans from logs and packets name one host")
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:
            raise AddressError(f"{_short(value)} carries a zone index; not a remote host")
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
    why = special_reason(addr)
    if why:
        raise AddressError(f"{_short(value)} is {why}; never banned from log or packet data")
    return addr


def special_reason(addr: Address) -> str | None:
    """Why an address cannot be a remote peer worth banning, or None."""
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if addr == _BROADCAST_V4:
        return "broadcast"
    if isinstance(addr, ipaddress.IPv4Address) and addr in _V4_RESERVED:
        return "reserved (240.0.0.0/4)"
    return None


_V4_RESERVED = ipaddress.IPv4Network("240.0.0.0/4")


def host_network(addr: Address) -> Network:
    return ipaddress.ip_network(f"{addr}/{addr.max_prefixlen}")


def operator_network(value: str) -> Network:
    """A CIDR or address typed by an operator or written in the config; host bits cleared."""
    net = ipaddress.ip_network(value.strip(), strict=False)
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen == 128 and net.network_address.ipv4_mapped:
        return host_network(net.network_address.ipv4_mapped)
    return net


# ---- what this host is --------------------------------------------------------------------

def _interface_v4(proc: str) -> set[Address]:
    # fib_trie lists each local address as a leaf followed by "/32 host LOCAL".
    out: set[Address] = set()
    try:
        with open(os.path.join(proc, "net/fib_trie")) as f:
            last = None
            for line in f:
                s = line.strip()
                if s.startswith("|--"):
                    last = s[3:].strip()
                elif s.startswith("/32 host LOCAL") and last:
                    try:
                        out.add(ipaddress.IPv4Address(last))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def _proc_rows(proc: str, name: str, pick) -> set[Address]:
    """The addresses pick(fields) returns for the rows of /proc/<name> (None skips a row)."""
    out: set[Address] = set()
    try:
        with open(os.path.join(proc, name)) as f:
            for line in f:
                try:
                    addr = pick(line.split())
                except ValueError:  # a header line, or a row this kernel writes differently
                    continue
                if addr is not None:
                    out.add(addr)
    except OSError:
        pass
    return out


_ZERO128 = "0" * 32


def _interface_v6(proc: str) -> set[Address]:
    return _proc_rows(proc, "net/if_inet6",
                      lambda p: ipaddress.IPv6Address(int(p[0], 16)) if p and len(p[0]) == 32 else None)


def _gateways(proc: str) -> set[Address]:
    # route: Iface Destination Gateway (little-endian hex); ipv6_route: dest plen src splen next-hop
    v4 = _proc_rows(proc, "net/route", lambda p: ipaddress.IPv4Address(int(p[2], 16).to_bytes(4, "little"))
                    if len(p) > 2 and p[1] == "00000000" and p[2] != "00000000" else None)
    v6 = _proc_rows(proc, "net/ipv6_route", lambda p: ipaddress.IPv6Address(int(p[4], 16))
                    if len(p) > 4 and p[0] == _ZERO128 and p[1] == "00" and p[4] != _ZERO128 else None)
    return v4 | v6


def ssh_peer(environ: Mapping[str, str] | None = None) -> Address | None:
    """The client address of the SSH session this process was started from (SSH_CONNECTION)."""
    env = os.environ if environ is None else environ
    for var in ("SSH_CONNECTION", "SSH_CLIENT"):
        parts = env.get(var, "").split()
        if parts:
            try:
                addr = ipaddress.ip_address(parts[0].split("%", 1)[0])
            except ValueError:
                continue
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            return addr
    return None


def host_exemptions(proc: str = "/proc", environ: Mapping[str, str] | None = None) -> dict[str, list[Network]]:
    """This host's own addresses, by why they are exempt."""
    peer = ssh_peer(environ)
    return {
        "interface": sorted({host_network(a) for a in _interface_v4(proc) | _interface_v6(proc)}, key=_sort_key),
        "gateway": sorted({host_network(a) for a in _gateways(proc)}, key=_sort_key),
        "ssh_peer": [host_network(peer)] if peer is not None else [],
    }


def _sort_key(n: Network):
    return (n.version, n.network_address, n.prefixlen)


class Exemptions:
    """Networks no automatic ban may touch, each with the reason it is there."""

    def __init__(self, configured: Iterable[str] = (), *, include_host: bool = True,
                 host: Mapping[str, list[Network]] | None = None):
        self.nets: list[tuple[Network, str]] = [(operator_network(c), "ban_exempt") for c in configured]
        if include_host:
            for why, nets in (host if host is not None else host_exemptions()).items():
                self.nets.extend((n, why) for n in nets)

    def reason(self, net: Network) -> str | None:
        """Why `net` (a host or a range) touches an exempt network, or None."""
        for ex, why in self.nets:
            if net.version == ex.version and net.overlaps(ex):
                return f"{ex} ({why})"
        return None

    def covers(self, net: Network) -> bool:
        return self.reason(net) is not None

    def as_list(self) -> list[dict]:
        return [{"network": str(n), "reason": why} for n, why in self.nets]


def parse_addr(addr: str) -> tuple[str, int]:
    """A listen address `host:port` (`[v6]:port` too) as (host, port); the config checked its form."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def is_loopback_host(host: str) -> bool:
    """Whether only this host can connect to a server bound to `host`."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
