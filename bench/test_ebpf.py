"""Ring-buffer decode: the compiled batch decoder against its Python twin on the same records.

Two mixes of 200k records: typical traffic (10% bare SYNs, the rest established TCP, UDP,
ICMP) and a SYN flood (every record a bare SYN, from 1000 sources). pick_limit 2000 = the
default packet_events_per_sec budget. Also the drain step (copy out of a filled ring image).
"""

import random
import struct

import pytest

from ironpost.core.extensions import compiled
from ironpost.ebpf import layout, pktdecode_py

ext = compiled("pktdecode")
REC = struct.Struct(layout.REC_FMT)
N = 200_000
PICK = 2000


def records(n: int, syn_share: float, sources: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    srcs = [bytes([10, 200, rnd.randrange(256), rnd.randrange(1, 255)]).ljust(16, b"\0") for _ in range(sources)]
    dst = bytes([10, 200, 0, 1]).ljust(16, b"\0")
    out = bytearray()
    for i in range(n):
        r = rnd.random()
        src = srcs[rnd.randrange(sources)]
        if r < syn_share:
            proto, flags, dport = 6, 0x02, rnd.choice((22, 80, 443))
        elif r < 0.75:
            proto, flags, dport = 6, 0x18, 443
        elif r < 0.95:
            proto, flags, dport = 17, 0, 53
        else:
            proto, flags, dport = 1, 0, 0
        out += REC.pack(i, src, dst, 40000 + i % 20000, dport, 60, proto, flags, 2, 4, 0, 0)
    return bytes(out)


MIXED = records(N, 0.10, 200)
FLOOD = records(N, 1.0, 1000)


def _ring_image(buf: bytes, n: int):
    page, size = 4096, 1 << 24
    data = bytearray(size)
    pos = 0
    for i in range(n):
        data[pos:pos + 8] = struct.pack("<II", 56, 0)
        data[pos + 8:pos + 64] = buf[i * 56:(i + 1) * 56]
        pos += 64
    prod = bytearray(page)
    struct.pack_into("<Q", prod, 0, pos)
    return page, size, bytes(prod + data + data)


RING = _ring_image(MIXED, N)
OUT = bytearray(56 * N)


def _need_ext():
    if ext is None:
        pytest.fail("ironpost._ext.pktdecode is not built")


def _rate(benchmark, n=N):
    benchmark.extra_info["records_per_sec_median"] = n / benchmark.stats.stats.median


@pytest.mark.benchmark(group="ebpf-decode")
def test_ebpf_decode_ext(benchmark):
    _need_ext()
    counts, syn, scan, picked = benchmark(ext.decode, MIXED, N, PICK)
    assert counts[0] == N and len(picked) == PICK
    _rate(benchmark)


@pytest.mark.benchmark(group="ebpf-decode")
def test_ebpf_decode_twin(benchmark):
    counts, *_ = benchmark.pedantic(pktdecode_py.decode, (MIXED, N, PICK), rounds=3, iterations=1)
    assert counts[0] == N
    _rate(benchmark)


@pytest.mark.benchmark(group="ebpf-decode-synflood")
def test_ebpf_decode_synflood_ext(benchmark):
    _need_ext()
    counts, syn, scan, picked = benchmark(ext.decode, FLOOD, N, PICK)
    assert counts[6] == N and len(syn) <= 1000
    _rate(benchmark)


@pytest.mark.benchmark(group="ebpf-decode-synflood")
def test_ebpf_decode_synflood_twin(benchmark):
    counts, *_ = benchmark.pedantic(pktdecode_py.decode, (FLOOD, N, PICK), rounds=3, iterations=1)
    assert counts[6] == N
    _rate(benchmark)


def _drain(impl):
    page, size, ring = RING
    cons = bytearray(page)  # consumer position 0: the whole ring is unread
    return impl.drain(cons, ring, page, size - 1, OUT, N)


@pytest.mark.benchmark(group="ebpf-drain")
def test_ebpf_drain_ext(benchmark):
    _need_ext()
    assert benchmark(_drain, ext) == (N, 0)
    _rate(benchmark)


@pytest.mark.benchmark(group="ebpf-drain")
def test_ebpf_drain_twin(benchmark):
    assert benchmark.pedantic(_drain, (pktdecode_py,), rounds=3, iterations=1) == (N, 0)
    _rate(benchmark)
