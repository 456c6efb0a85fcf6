"""Read lines from standard input (or any binary stream) until it ends; used by `rules test`.

Reads happen in a worker thread because stdin may be a terminal, a pipe or a regular file,
and the event loop cannot wait on a regular file.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import BinaryIO

from ironpost.core.framing import LineFramer
from ironpost.log_pipeline.collectors.base import DEFAULT_MAX_LINE, Emit, labelled


def _stdin() -> BinaryIO:
    return sys.stdin.buffer


@dataclass
class StdinConfig:
    stream: BinaryIO = field(default_factory=_stdin)
    max_line: int = DEFAULT_MAX_LINE
    read_chunk: int = 1 << 20
    source: str = "stdin"
    name: str = "stdin"


class StdinCollector:
    def __init__(self, config: StdinConfig | None = None):
        self.config = config or StdinConfig()
        self.name = self.config.name
        self._framer = LineFramer(self.config.max_line)
        self._bytes = 0

    async def run(self, emit: Emit) -> None:
        """Returns at end of input (after emitting an unterminated last line)."""
        loop = asyncio.get_running_loop()
        stream = self.config.stream
        read = getattr(stream, "read1", stream.read)
        while True:
            chunk = await loop.run_in_executor(None, read, self.config.read_chunk)
            if not chunk:
                break
            self._bytes += len(chunk)
            out = self._framer.feed(chunk)
            if out:
                await emit(out, self.config.source)
        rest = self._framer.flush()
        if rest:
            await emit(rest, self.config.source)

    def metrics(self) -> dict[str, float]:
        return labelled(self.name, {"lines_total": self._framer.lines, "cut_lines_total": self._framer.cut, "bytes_total": self._bytes})
