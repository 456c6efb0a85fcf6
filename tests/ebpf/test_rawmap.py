"""RawMap, the bpf(2) access the blocklist uses, on a real kernel map (no program needed)."""

import ctypes
import struct

import pytest

import support
from ironpost.core.errors import EbpfError
from ironpost.ebpf.bpfsys import RawMap, _bpf

BPF_MAP_CREATE, BPF_MAP_TYPE_HASH = 0, 1


@pytest.fixture
def hmap():
    support.need(support.is_root(), "creating BPF maps needs root")
    attr = ctypes.create_string_buffer(struct.pack("<IIIII", BPF_MAP_TYPE_HASH, 8, 16, 64, 0), 72)
    m = RawMap(_bpf(BPF_MAP_CREATE, attr), 8, 16, owns_fd=True)
    yield m
    m.close()


def test_insert_only_where_no_entry_is(hmap):
    k = struct.pack("<Q", 7)
    assert hmap.lookup(k) is None
    assert hmap.insert(k, b"a" * 16) is True
    assert hmap.insert(k, b"b" * 16) is False  # kept: the first value stays
    assert hmap.lookup(k) == b"a" * 16
    hmap.update(k, b"c" * 8)  # a short value is zero-padded, as the kernel's value size says
    assert hmap.lookup(k) == b"c" * 8 + b"\0" * 8
    assert hmap.delete(k) and hmap.lookup(k) is None


def test_wrong_sizes_and_a_closed_map_are_errors(hmap):
    with pytest.raises(EbpfError, match="key of 4 bytes"):
        hmap.update(b"1234", b"x")
    with pytest.raises(EbpfError, match="value of 17"):
        hmap.insert(struct.pack("<Q", 1), b"x" * 17)
    hmap.close()
    with pytest.raises(EbpfError, match="closed"):
        hmap.lookup(struct.pack("<Q", 1))
    with pytest.raises(EbpfError, match="closed"):
        hmap.insert(struct.pack("<Q", 1), b"x")
