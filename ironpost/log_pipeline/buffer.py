"""The bounded buffer between collectors and the rule engine, counted in log lines.

Collectors hand over buffers of whole lines; the engine takes them in arrival order. When the
buffer holds max_lines, `drop_policy` decides: "oldest" drops the longest-waiting buffers to make
room (live detection sees the newest traffic), "newest" refuses what arrives (what was queued is
kept). Either way the lost lines are counted. A source that can wait instead of losing data (a
tailed file is still on disk) uses `put_wait`, which blocks until there is room.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ironpost.core.errors import LogPipelineError

POLICIES = ("oldest", "newest")


def line_count(chunk: bytes) -> int:
    n = chunk.count(b"\n")
    return n + 1 if chunk and not chunk.endswith(b"\n") else n


class LineBuffer:
    def __init__(self, max_lines: int = 100_000, drop_policy: str = "oldest"):
        if drop_policy not in POLICIES:
            raise LogPipelineError(f"drop_policy must be one of {', '.join(POLICIES)}, got {drop_policy!r}")
        self.max_lines = max_lines
        self.drop_policy = drop_policy
        self._q: deque[tuple[bytes, str, int]] = deque()
        self.lines = 0
        self.dropped_lines = 0
        self.dropped_chunks = 0
        self.high_water = 0
        self._ready = asyncio.Event()
        self._room = asyncio.Event()

    def put_nowait(self, chunk: bytes, source: str) -> bool:
        """Queue a buffer of lines; False when it was refused (policy "newest", buffer full)."""
        n = line_count(chunk)
        if not n:
            return True
        if self.lines + n > self.max_lines:
            if self.drop_policy == "newest" and self.lines:
                self._drop(n)
                return False
            # "oldest": make room from the front; a buffer larger than the whole capacity still
            # goes in alone, since cutting lines out of it would corrupt framing
            while self._q and self.lines + n > self.max_lines:
                _, _, old = self._q.popleft()
                self.lines -= old
                self._drop(old)
        self._q.append((chunk, source, n))
        self.lines += n
        if self.lines > self.high_water:
            self.high_water = self.lines
        self._ready.set()
        return True

    async def put_wait(self, chunk: bytes, source: str) -> None:
        """Queue without loss: wait while the buffer is full (backpressure on the caller)."""
        n = line_count(chunk)
        while self.lines and self.lines + n > self.max_lines:
            self._room.clear()
            await self._room.wait()
        self.put_nowait(chunk, source)

    async def get(self) -> tuple[bytes, str]:
        while not self._q:
            self._ready.clear()
            await self._ready.wait()
        chunk, source, n = self._q.popleft()
        self.lines -= n
        self._room.set()
        return chunk, source

    def _drop(self, n: int) -> None:
        self.dropped_lines += n
        self.dropped_chunks += 1

    def __len__(self) -> int:
        return len(self._q)

    def metrics(self) -> dict[str, float]:
        return {
            "lp_buffer_lines": float(self.lines),
            "lp_buffer_capacity_lines": float(self.max_lines),
            "lp_buffer_high_water_lines": float(self.high_water),
            "lp_buffer_dropped_lines_total": float(self.dropped_lines),
            "lp_buffer_dropped_chunks_total": float(self.dropped_chunks),
        }
