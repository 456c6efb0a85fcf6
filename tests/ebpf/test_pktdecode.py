"""ext/pktdecode against its Python twin on generated records and generated ring buffers."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironpost.core.extensions import compiled
from ironpost.ebpf import layout, pktdecode_py

ext = compiled("pktdecode")
pytestmark = pytest.mark.skipif(ext is None, reason="ext not built: python setup.py build_ext --inplace")

REC = struct.Struct(layout.REC_FMT)


@st.composite
def record(draw):
    family = draw(st.sampled_from([4, 6, 4, 6, 0, 9]))
    alen = 16 if family == 6 else 4
    # few distinct addresses so aggregation keys collide
    sa = draw(st.sampled_from([b"\x0a\xc8\x00\x02", b"\x0a\xc8\x00\x06", b"\xfd" + b"\0" * 14 + b"\x02"]))
    da = draw(st.sampled_from([b"\x0a\xc8\x00\x01", b"\xfd" + b"\0" * 14 + b"\x01", b"\x00" * 16]))
    sa, da = sa[:alen].ljust(16, b"\0"), da[:alen].ljust(16, b"\0")
    return REC.pack(
        draw(st.one_of(st.integers(0, 2**64 - 1), st.integers(10**9, 10**9 + 5000))), sa, da,
        draw(st.integers(0, 65535)), draw(st.sampled_from([22, 80, 443, 9999, 0])) + draw(st.integers(0, 3)),
        draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from([6, 17, 1, 58, 47, 6, 6])),
        draw(st.sampled_from([0x02, 0x12, 0x10, 0x18, 0x04, 0x03, 0])), draw(st.sampled_from([1, 2, 2])),
        family, draw(st.integers(0, 4095)), draw(st.sampled_from([0, 1])),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(record(), max_size=60), st.integers(0, 70), st.sampled_from([1, 7, 1000, 10**9, 2**64 - 1]))
def test_decode_matches_twin(recs, pick_limit, slot_ns):
    buf = b"".join(recs)
    assert ext.decode(buf, len(recs), pick_limit, slot_ns) == pktdecode_py.decode(buf, len(recs), pick_limit, slot_ns)


def test_decode_aggregates():
    syn = REC.pack(1, b"\x0a\xc8\x00\x02".ljust(16, b"\0"), b"\x0a\xc8\x00\x01".ljust(16, b"\0"),
                   40000, 80, 60, 6, 0x02, 2, 4, 0, 0, )
    done = REC.pack(2, b"\x0a\xc8\x00\x02".ljust(16, b"\0"), b"\x0a\xc8\x00\x01".ljust(16, b"\0"),
                    40000, 80, 54, 6, 0x10, 2, 4, 0, 1)
    dropped = REC.pack(3, b"\x0a\xc8\x00\x06".ljust(16, b"\0"), b"\x0a\xc8\x00\x01".ljust(16, b"\0"),
                       5, 53, 60, 17, 0, 1, 4, 7, 0)
    for impl in (ext, pktdecode_py):
        counts, syns, scan, picked = impl.decode(syn + done + dropped, 3, 2, 2)
        assert counts == (3, 0, 2, 1, 0, 0, 1, 1, 1)
        # ts 1 and 2 fall in slots 0 and 1 of 2 ns; the SYN is record 0
        assert syns == {(0x0AC80001, 0x0AC80002, 0): [1, 0, 0], (0x0AC80001, 0x0AC80002, 1): [0, 1, -1]}
        assert scan == {0x0AC80002: {80: [0, 0]}}
        assert len(picked) == 2 and picked[0][:6] == (4, b"\x0a\xc8\x00\x02", b"\x0a\xc8\x00\x01", 40000, 80, 6)
        assert pktdecode_py.record_at(syn + done + dropped, 1) == impl.decode(done, 1, 1)[3][0]


def test_decode_scan_ports_keep_their_latest_slot():
    def udp(ts, port):
        return REC.pack(ts, b"\x0a\xc8\x00\x02".ljust(16, b"\0"), b"\x0a\xc8\x00\x01".ljust(16, b"\0"),
                        5000, port, 60, 17, 0, 2, 4, 0, 0)
    buf = udp(100, 53) + udp(150, 53) + udp(250, 53) + udp(260, 53) + udp(180, 54) + udp(120, 54)
    for impl in (ext, pktdecode_py):
        # slot = ts // 100; a port keeps its newest slot and the first record seen in it
        assert impl.decode(buf, 6, 0, 100)[2] == {0x0AC80002: {53: [2, 2], 54: [1, 4]}}


PAGE = 4096


def ring_image(payloads, size, cons, busy_at=None):
    """A fake mmap image: consumer page, producer page + data mapped twice, as the kernel lays it."""
    data = bytearray(size)
    pos = cons
    for i, p in enumerate(payloads):
        hdr = len(p) | (0x80000000 if i == busy_at else 0)
        rec = struct.pack("<II", hdr, 0) + p
        rec += b"\0" * (-len(rec) % 8)
        for j, b in enumerate(rec):
            data[(pos + j) % size] = b
        pos += len(rec)
    prod_page = bytearray(PAGE)
    struct.pack_into("<Q", prod_page, 0, pos)
    cons_page = bytearray(PAGE)
    struct.pack_into("<Q", cons_page, 0, cons)
    return cons_page, bytes(prod_page + data + data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([56, 56, 56, 24, 60]), max_size=40), st.integers(0, 8191), st.integers(0, 50),
       st.one_of(st.none(), st.integers(0, 40)))
def test_drain_matches_twin(sizes, cons8, max_records, busy_at):
    size = 8192
    payloads = [bytes([i % 251]) * s for i, s in enumerate(sizes)]
    cons = cons8 * 8
    results = []
    for impl in (ext, pktdecode_py):
        cons_page, ring = ring_image(payloads, size, cons, busy_at)
        out = bytearray(56 * 64)
        n, bad = impl.drain(cons_page, ring, PAGE, size - 1, out, max_records)
        results.append((n, bad, bytes(out[: n * 56]), bytes(cons_page[:8])))
    assert results[0] == results[1]
    n, bad, out, _ = results[0]
    expect = [p for p in payloads[: busy_at if busy_at is not None else None] if len(p) == 56]
    assert out == b"".join(expect[:max_records])[: n * 56]
