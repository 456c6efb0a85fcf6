"""What every collector looks like (CrowdSec-style data sources: one shape for all).

A collector is built from a small config dataclass, then `await run(emit)` runs until it is
cancelled (or, for finite sources such as stdin, until the input ends). It calls
`await emit(chunk, source)` with a buffer of WHOLE lines, each ending in b"\\n" and at most
max_line bytes long (longer lines are cut and counted), so the parsers never see half a line.
`emit` is awaited: a slow consumer slows the collector down instead of growing a queue
(UDP, which cannot push back, drops and counts instead).

A collector that remembers how far it has read (`saves_offsets`) is also given `stored`, an
awaitable that returns once the alerts of everything emitted so far are in the store; it saves
its position only after that.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Protocol, runtime_checkable

Emit = Callable[[bytes, str], Awaitable[None]]

DEFAULT_MAX_LINE = 65536


@runtime_checkable
class Collector(Protocol):
    name: str

    async def run(self, emit: Emit) -> None: ...

    def metrics(self) -> dict[str, float]: ...


def labelled(name: str, values: dict[str, float]) -> dict[str, float]:
    """Prometheus-style names with a collector label: lp_collector_lines_total{collector="..."}."""
    label = name.replace("\\", "\\\\").replace('"', '\\"')
    return {f'lp_collector_{key}{{collector="{label}"}}': float(v) for key, v in values.items()}
