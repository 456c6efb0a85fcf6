"""The few bpf(2) commands the CLI and the blocklist need, through ctypes and libc only.

Pinned maps outlive the daemon, so `ironpost cli net block` must edit them without bcc (a
frozen binary may lack it) and without a running daemon. Errors become EbpfError with errno.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

from ironpost.core.errors import EbpfError

_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine())

BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_OBJ_GET = 7
BPF_OBJ_GET_INFO_BY_FD = 15

BPF_ANY = 0
BPF_NOEXIST = 1  # update only where no entry is

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    if _SYS_BPF is None:
        raise EbpfError(f"bpf(2) syscall number unknown for {platform.machine()}")
    ret = _libc.syscall(_SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def obj_get(path: str) -> int:
    """Open a pinned object; returns a new fd the caller must close."""
    p = ctypes.create_string_buffer(os.fsencode(path))
    attr = ctypes.create_string_buffer(struct.pack("<QII", ctypes.addressof(p), 0, 0), 16)
    try:
        return _bpf(BPF_OBJ_GET, attr)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise EbpfError(f"no pinned BPF map at {path} (has the network module ever run on this host?)") from None
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise EbpfError(f"permission denied opening {path}: run as root") from None
        raise EbpfError(f"cannot open pinned BPF object {path}: {exc.strerror}") from None


class MapInfo:
    __slots__ = ("type", "id", "key_size", "value_size", "max_entries", "flags", "name")

    def __init__(self, raw: bytes):
        self.type, self.id, self.key_size, self.value_size, self.max_entries, self.flags = struct.unpack_from("<6I", raw)
        self.name = raw[24:40].split(b"\0", 1)[0].decode(errors="replace")


def map_info(fd: int) -> MapInfo:
    info = ctypes.create_string_buffer(80)
    attr = ctypes.create_string_buffer(struct.pack("<IIQ", fd, 80, ctypes.addressof(info)), 16)
    try:
        _bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    except OSError as exc:
        raise EbpfError(f"BPF map info for fd {fd}: {exc.strerror}") from None
    return MapInfo(info.raw)


def possible_cpus() -> int:
    """Per-CPU map values hold one slot per *possible* CPU, not per online one."""
    with open("/sys/devices/system/cpu/possible") as f:
        n = 0
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            n = max(n, int(hi or lo) + 1)
        return n


class RawMap:
    """Key/value bytes access to one BPF map by fd."""

    def __init__(self, fd: int, key_size: int, value_size: int, owns_fd: bool = False):
        self.fd = fd
        self.key_size = key_size
        self.value_size = value_size
        self._owns = owns_fd
        self._k = ctypes.create_string_buffer(key_size)
        self._k2 = ctypes.create_string_buffer(key_size)
        self._v = ctypes.create_string_buffer(value_size)
        self._uv = ctypes.create_string_buffer(value_size)
        # lookups and updates reuse one key buffer, one value buffer and their attr blocks: a
        # fleet or list batch applies tens of thousands of entries, and building three ctypes
        # buffers per entry cost more than the syscall (the map is used from one thread)
        self._lookup_attr = self._attr(ctypes.addressof(self._k), ctypes.addressof(self._v))
        self._update_attr = {f: self._attr(ctypes.addressof(self._k), ctypes.addressof(self._uv), f)
                             for f in (BPF_ANY, BPF_NOEXIST)}

    @classmethod
    def open_pinned(cls, path: str, value_size: int | None = None) -> "RawMap":
        fd = obj_get(path)
        info = map_info(fd)
        return cls(fd, info.key_size, value_size or info.value_size, owns_fd=True)

    def _attr(self, key_addr: int, val_addr: int, flags: int = 0) -> ctypes.Array:
        return ctypes.create_string_buffer(struct.pack("<IIQQQ", self.fd, 0, key_addr, val_addr, flags), 32)

    def lookup(self, key: bytes) -> bytes | None:
        self._open()
        ctypes.memmove(self._k, key, self.key_size)
        try:
            _bpf(BPF_MAP_LOOKUP_ELEM, self._lookup_attr)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise EbpfError(f"BPF map lookup: {exc.strerror}") from None
        return self._v.raw

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        if not self._put(key, value, flags):
            raise EbpfError("BPF map update: the entry exists")

    def insert(self, key: bytes, value: bytes) -> bool:
        """Add an entry only where none is: False (one syscall, nothing changed) if the key is there."""
        return self._put(key, value, BPF_NOEXIST)

    def _put(self, key: bytes, value: bytes, flags: int) -> bool:
        self._open()
        if len(key) != self.key_size or len(value) > self.value_size:
            raise EbpfError(f"BPF map update: key of {len(key)} bytes (map takes {self.key_size}), "
                            f"value of {len(value)} (map takes {self.value_size})")
        attr = self._update_attr.get(flags)
        if attr is None:
            attr = self._attr(ctypes.addressof(self._k), ctypes.addressof(self._uv), flags)
        ctypes.memmove(self._k, key, self.key_size)
        ctypes.memset(self._uv, 0, self.value_size)
        ctypes.memmove(self._uv, value, len(value))
        try:
            _bpf(BPF_MAP_UPDATE_ELEM, attr)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                return False
            if exc.errno == errno.ENOSPC:
                raise EbpfError("BPF map is full") from None
            raise EbpfError(f"BPF map update: {exc.strerror}") from None
        return True

    def _open(self) -> None:
        # the attr blocks carry the fd: once closed, its number may belong to another file
        if self.fd < 0:
            raise EbpfError("BPF map is closed")

    def delete(self, key: bytes) -> bool:
        k = ctypes.create_string_buffer(key, self.key_size)
        try:
            _bpf(BPF_MAP_DELETE_ELEM, self._attr(ctypes.addressof(k), 0))
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise EbpfError(f"BPF map delete: {exc.strerror}") from None
        return True

    def keys(self, limit: int = 10_000_000):
        """Iterate keys. A key deleted during the walk may restart it (kernel semantics),
        so `limit` bounds the walk."""
        cur: ctypes.Array | None = None
        for _ in range(limit):
            nxt = ctypes.create_string_buffer(self.key_size)
            addr = ctypes.addressof(cur) if cur is not None else 0
            try:
                _bpf(BPF_MAP_GET_NEXT_KEY, self._attr(addr, ctypes.addressof(nxt)))
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return
                raise EbpfError(f"BPF map walk: {exc.strerror}") from None
            yield nxt.raw
            cur = nxt

    def close(self) -> None:
        if self._owns and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
