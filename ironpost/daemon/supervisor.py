"""Runs each module as one task. A module that raises is logged and restarted with
exponential backoff; it never takes the others down. ModuleUnavailable stops it for good
with one clear log line (the host cannot run it: no root, no BPF, no Docker)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ironpost.core.module import ModuleContext, ModuleUnavailable

log = logging.getLogger("ironpost.daemon")


@dataclass
class ModuleState:
    module: Any
    state: str = "starting"  # starting | running | backoff | unavailable | stopped | finished
    restarts: int = 0
    last_error: str | None = None
    started_at: float = 0.0
    task: asyncio.Task | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, ctx: ModuleContext, *, backoff_initial: float = 0.5, backoff_max: float = 30.0, stable_after: float = 60.0):
        self.ctx = ctx
        self.modules: dict[str, ModuleState] = {}
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after

    def start(self, module: Any) -> None:
        st = ModuleState(module)
        self.modules[module.name] = st
        st.task = asyncio.create_task(self._keep_running(st), name=f"module:{module.name}")

    async def _keep_running(self, st: ModuleState) -> None:
        name = st.module.name
        delay = self.backoff_initial
        while True:
            st.state, st.started_at = "running", time.monotonic()
            try:
                await st.module.run(self.ctx)
                st.state = "finished"
                log.info("module finished", extra={"module_name": name})
                return
            except asyncio.CancelledError:
                st.state = "stopped"
                raise
            except ModuleUnavailable as exc:
                st.state, st.last_error = "unavailable", str(exc)
                log.warning("module %s unavailable: %s", name, exc, extra={"module_name": name})
                return
            except Exception as exc:  # any module bug: log, back off, restart
                if time.monotonic() - st.started_at > self.stable_after:
                    delay = self.backoff_initial
                st.restarts += 1
                st.state, st.last_error = "backoff", f"{type(exc).__name__}: {exc}"
                log.error(
                    "module %s crashed; restarting in %.1fs", name, delay,
                    exc_info=True, extra={"module_name": name, "restarts": st.restarts},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

    async def stop(self, name: str) -> None:
        st = self.modules.pop(name, None)
        if st and st.task and not st.task.done():
            st.task.cancel()
            try:
                await st.task
            except (asyncio.CancelledError, Exception):
                pass

    async def stop_all(self) -> None:
        for name in list(self.modules):
            await self.stop(name)

    def status(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"state": st.state, "restarts": st.restarts, "last_error": st.last_error}
            for name, st in self.modules.items()
        }
