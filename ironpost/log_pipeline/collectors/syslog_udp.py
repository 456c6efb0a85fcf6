"""Syslog over UDP (RFC 5426): one datagram is one message.

UDP cannot push back on the sender, so datagrams go into a bounded queue and, when the
consumer falls behind, new ones are dropped and counted (`drops_total`). The kernel may drop
too, before we ever see a datagram; that figure is read from /proc/net/udp when available
(`kernel_drops`). A message's embedded newlines become spaces so it stays one line.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
from dataclasses import dataclass

from ironpost.core.errors import LogPipelineError
from ironpost.log_pipeline.collectors.base import DEFAULT_MAX_LINE, Emit, labelled

log = logging.getLogger("ironpost.log_pipeline.syslog_udp")


@dataclass
class SyslogUdpConfig:
    host: str
    port: int
    max_line: int = DEFAULT_MAX_LINE
    queue_size: int = 65536  # datagrams
    batch: int = 4096  # datagrams joined into one emit
    rcvbuf: int = 8 << 20
    name: str = ""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: "SyslogUdp"):
        self.owner = owner

    def datagram_received(self, data: bytes, addr) -> None:
        o = self.owner
        if len(o._queue) >= o.config.queue_size:
            o._stats["drops_total"] += 1
            return
        o._queue.append(data)
        if not o._ready.is_set():
            o._ready.set()

    def error_received(self, exc: Exception) -> None:
        self.owner._stats["errors_total"] += 1


class SyslogUdp:
    def __init__(self, config: SyslogUdpConfig):
        self.config = config
        self.name = config.name or f"syslog_udp:{config.host}:{config.port}"
        self.source = f"udp://{config.host}:{config.port}"
        # a deque, not asyncio.Queue: the protocol callback is the hot path and needs no await
        self._queue: collections.deque[bytes] = collections.deque()
        self._ready = asyncio.Event()
        self._transport: asyncio.DatagramTransport | None = None
        self.bound: tuple[str, int] | None = None
        self.started = asyncio.Event()
        self._stats = dict.fromkeys(("datagrams_total", "lines_total", "bytes_total", "drops_total", "cut_lines_total", "errors_total"), 0)

    async def run(self, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.config.rcvbuf)
            except OSError:
                pass  # the kernel caps it at net.core.rmem_max; the default still works
            sock.bind((self.config.host, self.config.port))
        except OSError as exc:
            sock.close()
            raise LogPipelineError(f"syslog UDP cannot listen on {self.config.host}:{self.config.port}: {exc.strerror or exc}") from exc
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self.bound = sock.getsockname()[:2]
        self.started.set()
        log.info("syslog UDP listening", extra={"addr": f"{self.bound[0]}:{self.bound[1]}"})
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._queue:
                    out = self._take_batch()
                    if out:
                        await emit(out, self.source)
        finally:
            self._transport.close()

    def _take_batch(self) -> bytes:
        q, max_line = self._queue, self.config.max_line
        parts = []
        n = min(len(q), self.config.batch)
        size = 0
        for _ in range(n):
            msg = q.popleft()
            size += len(msg)
            msg = msg.rstrip(b"\r\n\x00")
            if not msg:
                continue
            if b"\n" in msg:
                msg = msg.replace(b"\r\n", b" ").replace(b"\n", b" ")
            if len(msg) > max_line:
                msg = msg[:max_line]
                self._stats["cut_lines_total"] += 1
            parts.append(msg)
        self._stats["datagrams_total"] += n
        self._stats["lines_total"] += len(parts)
        if not parts:
            return b""
        parts.append(b"")
        self._stats["bytes_total"] += size
        return b"\n".join(parts)

    def kernel_drops(self) -> int | None:
        """Datagrams the kernel dropped on our socket (receive buffer full), from /proc/net/udp."""
        if self.bound is None:
            return None
        port_hex = f"{self.bound[1]:04X}"
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            try:
                with open(table) as fh:
                    next(fh)
                    for line in fh:
                        cols = line.split()
                        if cols[1].rsplit(":", 1)[1] == port_hex:
                            return int(cols[-1])
            except (OSError, StopIteration, IndexError, ValueError):
                continue
        return None

    def metrics(self) -> dict[str, float]:
        values = {**self._stats, "queue_depth": len(self._queue)}
        kd = self.kernel_drops()
        if kd is not None:
            values["kernel_drops"] = kd
        return labelled(self.name, values)
