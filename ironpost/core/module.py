"""The Module protocol: what the daemon needs from each of the four modules.

A module is built from its config section, then `run(ctx)` is awaited as one supervised task.
It must return or raise; when it raises, the supervisor restarts it with backoff.
Modules never import each other: all they get is in ModuleContext.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ironpost.core.bus import Bus
from ironpost.core.config import Config


@dataclass
class ModuleContext:
    config: Config
    bus: Bus
    data_dir: Path
    store: Any = None  # ironpost.storage.base.Store, passed as an interface
    decisions: Any = None  # ironpost.core.decisions.DecisionLedger: written by the ban manager, read by the API
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("ironpost"))


@runtime_checkable
class Module(Protocol):
    name: str  # also the config section it reads

    async def run(self, ctx: ModuleContext) -> None: ...

    def metrics(self) -> dict[str, float]: ...


class ModuleUnavailable(Exception):
    """Raised by a module factory or run() when the module cannot work on this host
    (no root, no BPF, no Docker). The supervisor logs one line and does not restart it."""


async def wake_or_timeout(event: asyncio.Event, secs: float) -> bool:
    """A module loop's wait between rounds: True when `event` was set within `secs`, False when
    the time ran out. Not asyncio.wait_for: on 3.11 it hands back the wakeup when a cancel lands
    in the same loop iteration, so the cancel is lost and a module's stop waits for its loop
    forever (tests/ebpf/test_ebpf_module.py, the stop landing with a ring buffer wakeup)."""
    try:
        async with asyncio.timeout(secs):
            await event.wait()
        return True
    except TimeoutError:
        return False
