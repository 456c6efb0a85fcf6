"""Follow container logs through the Docker API, so alerts from a container's own output carry
its identity.

`DockerLogCollector.run(emit)` awaits `emit(chunk, source)` with buffers of whole lines (framed by
ironpost.core.framing.LineFramer, one framer per container) and source = "docker:<name>:<id>".
Every running container is followed by a worker thread doing the blocking log read; chunks cross
to the event loop through a bounded queue, so a slow consumer slows the readers instead of growing
memory. Containers are discovered by listing every `poll_secs`: those running when the collector
starts are followed from that moment (no history replay), those that appear later from their
first line. When the engine restarts the streams end; they are resumed from where they stopped.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import threading
import time
from collections import Counter
from typing import Any, Awaitable, Callable

from ironpost.container.client import Engine
from ironpost.container.model import ContainerInfo
from ironpost.core.errors import ContainerError
from ironpost.core.framing import LineFramer

log = logging.getLogger("ironpost.container")
Emit = Callable[[bytes, str], Awaitable[None]]


class _Follower:
    __slots__ = ("id", "name", "source", "framer", "stream", "thread", "done")

    def __init__(self, cid: str, name: str, max_line: int):
        self.id, self.name = cid, name
        self.source = f"docker:{name}:{cid}"
        self.framer = LineFramer(max_line)
        self.stream: Any = None
        self.thread: threading.Thread | None = None
        self.done = False


class DockerLogCollector:
    def __init__(self, engine: Engine | str, *, names: tuple[str, ...] = (), poll_secs: float = 2.0,
                 max_line: int = 65536, queue_chunks: int = 256):
        """names: globs on container names to follow (empty = all running containers)."""
        self._own_engine = isinstance(engine, str)
        self.engine = Engine(engine) if isinstance(engine, str) else engine
        self.names = tuple(names)
        self.poll_secs = poll_secs
        self.max_line = max_line
        self.queue_chunks = queue_chunks
        self._followers: dict[str, _Follower] = {}
        self._resume: dict[str, float] = {}  # container id -> time its stream ended
        self.counts: Counter[str] = Counter()

    def wanted(self, name: str) -> bool:
        return not self.names or any(fnmatch.fnmatchcase(name, g) for g in self.names)

    async def run(self, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(self.queue_chunks)
        started = time.time()
        first = True
        poller = asyncio.create_task(self._poll(loop, queue, started, first))
        try:
            while True:
                cid, chunk = await queue.get()
                f = self._followers.get(cid)
                if f is None:
                    continue
                if chunk is None:  # that container's stream ended
                    tail = f.framer.flush()
                    if tail:
                        await self._emit(emit, f, tail)
                    self._followers.pop(cid, None)
                    self.counts["cut"] += f.framer.cut
                    self._resume[cid] = time.time()
                    continue
                self.counts["bytes"] += len(chunk)
                out = f.framer.feed(chunk)
                if out:
                    await self._emit(emit, f, out)
        finally:
            poller.cancel()
            for f in list(self._followers.values()):
                _close(f)
            self._followers.clear()
            if self._own_engine:
                self.engine.close()

    async def _emit(self, emit: Emit, f: _Follower, buf: bytes) -> None:
        self.counts["chunks"] += 1
        self.counts["lines"] += buf.count(b"\n")
        await emit(buf, f.source)

    async def _poll(self, loop, queue, started: float, first: bool) -> None:
        while True:
            try:
                running = await asyncio.to_thread(self.engine.containers, all_=False)
            except ContainerError as exc:
                self.counts["poll_errors"] += 1
                log.debug("log collector cannot list containers", extra={"error": str(exc)})
                running = None
            if running is not None:
                for c in map(ContainerInfo.from_summary, running):
                    cid, name = c.id, c.name
                    if cid in self._followers or not self.wanted(name):
                        continue
                    # At start: from now. Seen later: from its beginning, or from where its stream stopped.
                    since = started if first else self._resume.get(cid)
                    self._follow(loop, queue, cid, name, since)
                first = False
            await asyncio.sleep(self.poll_secs)

    def _follow(self, loop, queue, cid: str, name: str, since: float | None) -> None:
        f = _Follower(cid, name, self.max_line)
        self._followers[cid] = f
        f.thread = threading.Thread(target=self._read, args=(f, loop, queue, since), name=f"docker-logs-{name}", daemon=True)
        f.thread.start()
        self.counts["follows"] += 1

    def _read(self, f: _Follower, loop, queue, since: float | None) -> None:
        """Worker thread: blocking reads of one container's log stream."""
        try:
            f.stream = self.engine.run(
                f"logs {f.name}", lambda cl: cl.api.logs(f.id, stream=True, follow=True, stdout=True, stderr=True, since=since)
            )
            for chunk in f.stream:
                if f.done:
                    break
                # Blocks while the queue is full: backpressure reaches the engine's socket.
                asyncio.run_coroutine_threadsafe(queue.put((f.id, chunk)), loop).result()
        except ContainerError as exc:
            log.debug("log stream failed", extra={"container": f.name, "error": str(exc)})
        except Exception as exc:  # the stream is cut when the engine goes away or at shutdown
            log.debug("log stream ended", extra={"container": f.name, "error": str(exc)})
        finally:
            if not f.done:
                try:
                    asyncio.run_coroutine_threadsafe(queue.put((f.id, None)), loop)
                except RuntimeError:  # loop closed at shutdown
                    pass

    def metrics(self) -> dict[str, float]:
        return {
            "container_logs_followed": len(self._followers),
            "container_logs_lines_total": self.counts["lines"],
            "container_logs_bytes_total": self.counts["bytes"],
            "container_logs_poll_errors_total": self.counts["poll_errors"],
            "container_logs_cut_lines_total": self.counts["cut"] + sum(f.framer.cut for f in self._followers.values()),
        }


def _close(f: _Follower) -> None:
    f.done = True
    stream = f.stream
    if stream is not None:
        try:
            stream.close()
        except Exception:  # already closed with the engine
            pass
