"""Helpers for collector tests (importable as `collector_support`)."""

from __future__ import annotations

import asyncio

import uvloop


class Sink:
    """An emit() target that records every line with its source."""

    def __init__(self, delay: float = 0.0):
        self.lines: list[bytes] = []
        self.sources: list[str] = []
        self.chunks = 0
        self.delay = delay

    async def __call__(self, chunk: bytes, source: str) -> None:
        assert chunk.endswith(b"\n"), "collectors must emit whole lines"
        self.chunks += 1
        parts = chunk.split(b"\n")[:-1]
        self.lines.extend(parts)
        self.sources.extend([source] * len(parts))
        if self.delay:
            await asyncio.sleep(self.delay)

    async def wait_for(self, n: int, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.lines) < n:
            if loop.time() > deadline:
                raise AssertionError(f"expected {n} lines, got {len(self.lines)}")
            await asyncio.sleep(0.01)


def run_uv(coro):
    """Run a coroutine on uvloop, the loop the daemon uses."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def wait_until(cond, timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
