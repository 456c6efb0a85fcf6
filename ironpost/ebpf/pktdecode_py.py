"""Pure-Python twin of ext/pktdecode.pyx: same functions, same results (slower).

Used when the extension is not built or IRONPOST_NO_EXTENSIONS=1; tests compare the two.
"""

from __future__ import annotations

import struct

REC_SIZE = 56
RB_BUSY = 0x80000000
RB_DISCARD = 0x40000000
RB_HDR = 8
V6_FLAG = 1 << 128
_REC = struct.Struct("<Q16s16sHHIBBBBHBx")
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


def drain(cons_page, ring, page_size: int, mask: int, out, max_records: int):
    """Copy up to max_records committed records; returns (copied, skipped_bad_size).
    Without atomics this twin relies on x86 ordering; it exists for tests and fallback."""
    cons = _U64.unpack_from(cons_page, 0)[0]
    prod = _U64.unpack_from(ring, 0)[0]
    max_records = min(max_records, len(out) // REC_SIZE)
    n = bad = 0
    ring = memoryview(ring)
    out = memoryview(out)
    while cons < prod and n < max_records:
        off = page_size + (cons & mask)
        hdr = _U32.unpack_from(ring, off)[0]
        if hdr & RB_BUSY:
            break
        ln = hdr & ~(RB_BUSY | RB_DISCARD) & 0xFFFFFFFF
        if not hdr & RB_DISCARD:
            if ln == REC_SIZE:
                out[n * REC_SIZE:(n + 1) * REC_SIZE] = ring[off + RB_HDR:off + RB_HDR + REC_SIZE]
                n += 1
            else:
                bad += 1
        cons += (ln + RB_HDR + 7) & ~7
    _U64.pack_into(cons_page, 0, cons)
    return n, bad


def _key(addr: bytes, family: int) -> int:
    if family == 4:
        return int.from_bytes(addr[:4], "big")
    return int.from_bytes(addr, "big") | V6_FLAG


def decode(buf, n: int, pick_limit: int, slot_ns: int = 1_000_000_000):
    """See ext/pktdecode.pyx: (counts, syn, scan, picked)."""
    if slot_ns <= 0:
        raise ValueError("slot_ns must be > 0")
    n = min(n, len(buf) // REC_SIZE)
    records = bad = tcp = udp = icmp = other = syns = hs = drops = 0
    syn: dict = {}
    scan: dict = {}
    picked: list = []
    for i, (ts, sa, da, sport, dport, length, proto, flags, action, family, vlan, rflags) in enumerate(
        _REC.iter_unpack(memoryview(buf)[: n * REC_SIZE])
    ):
        if family != 4 and family != 6:
            bad += 1
            continue
        records += 1
        if proto == 6:
            tcp += 1
        elif proto == 17:
            udp += 1
        elif proto in (1, 58):
            icmp += 1
        else:
            other += 1
        if action == 1:
            drops += 1
        is_syn = proto == 6 and action == 2 and (flags & 0x12) == 0x02
        is_done = proto == 6 and action == 2 and bool(rflags & 1)
        slot = ts // slot_ns
        sk = None
        if is_syn or is_done:
            sk = _key(sa, family)
            cell = syn.setdefault((_key(da, family), sk, slot), [0, 0, -1])
            if is_syn:
                syns += 1
                cell[0] += 1
                if cell[2] == -1:
                    cell[2] = i
            else:
                hs += 1
                cell[1] += 1
        if action == 2 and (is_syn or proto == 17):
            if sk is None:
                sk = _key(sa, family)
            ports = scan.setdefault(sk, {})
            cell = ports.get(dport)
            if cell is None:
                ports[dport] = [slot, i]
            elif cell[0] < slot:
                cell[0] = slot
                cell[1] = i
        if len(picked) < pick_limit:
            alen = 4 if family == 4 else 16
            picked.append((family, sa[:alen], da[:alen], sport, dport, proto, flags, length, action, ts, vlan, rflags))
    return (records, bad, tcp, udp, icmp, other, syns, hs, drops), syn, scan, picked


def record_at(buf, i: int) -> tuple:
    """Record i of a drained batch in decode's `picked` form (a detector's evidence packet)."""
    ts, sa, da, sport, dport, length, proto, flags, action, family, vlan, rflags = _REC.unpack_from(buf, i * REC_SIZE)
    alen = 4 if family == 4 else 16
    return (family, sa[:alen], da[:alen], sport, dport, proto, flags, length, action, ts, vlan, rflags)
