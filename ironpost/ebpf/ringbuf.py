"""Read the XDP program's BPF ring buffer through its mmap, in batches.

bcc's open_ring_buffer() calls a Python function per record (~1M/s at best). Instead the
consumer page and the data pages are mapped here and ext/pktdecode copies whole batches of
committed records out in C; the kernel's record headers are checked there too.
Only one consumer may read a ring buffer: this process.
"""

from __future__ import annotations

import mmap

from ironpost.core.errors import EbpfError
from ironpost.core.extensions import select
from ironpost.ebpf.bpfsys import map_info
from ironpost.ebpf.layout import REC_SIZE

_impl = select("pktdecode", "ironpost.ebpf.pktdecode_py")
drain = _impl.drain
decode = _impl.decode
from ironpost.ebpf.pktdecode_py import record_at  # noqa: E402  (rare: a detector's evidence packet)

BPF_MAP_TYPE_RINGBUF = 27


class RingReader:
    def __init__(self, map_fd: int, batch_records: int = 65536):
        info = map_info(map_fd)
        if info.type != BPF_MAP_TYPE_RINGBUF:
            raise EbpfError(f"map fd {map_fd} is not a ring buffer (type {info.type})")
        self.fd = map_fd
        self.page = mmap.PAGESIZE
        self.size = info.max_entries  # data area bytes, a power-of-two number of pages
        self.mask = self.size - 1
        try:
            self._cons = mmap.mmap(map_fd, self.page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
            # Producer page + data mapped twice (the kernel does that) so records never wrap.
            self._ring = mmap.mmap(map_fd, self.page + 2 * self.size, mmap.MAP_SHARED, mmap.PROT_READ, offset=self.page)
        except OSError as exc:
            raise EbpfError(f"cannot mmap the BPF ring buffer: {exc.strerror}") from None
        self.batch_records = batch_records
        self.buf = bytearray(batch_records * REC_SIZE)
        self.bad_size = 0

    def read_batch(self, max_records: int | None = None) -> int:
        """Copy committed records into self.buf; returns how many."""
        n, bad = drain(self._cons, self._ring, self.page, self.mask, self.buf,
                       min(max_records or self.batch_records, self.batch_records))
        self.bad_size += bad
        return n

    def discard_all(self) -> int:
        """Skip everything queued (tests, and startup after a crash)."""
        total = 0
        for _ in range(1 + self.size // (REC_SIZE * self.batch_records) + 1):
            n = self.read_batch()
            total += n
            if n == 0:
                break
        return total

    def close(self) -> None:
        self._cons.close()
        self._ring.close()


__all__ = ["RingReader", "decode", "drain", "record_at"]
