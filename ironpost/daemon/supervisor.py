"""Runs each module as one task. A module that raises is logged and restarted with
exponential backoff; it never takes the others down. ModuleUnavailable (the host cannot run it
now: no root, no BPF, no Docker socket) is logged once per reason and tried again with a slower
backoff (up to unavailable_retry_max), since Docker may be started, or a device appear, later.

A module that has a `heartbeat()` (the monotonic time of its last progress) and makes none for
`stall_secs` (its own attribute, else stall_after) is cancelled and restarted like one that
raised: a hang is a failure too. State, restarts, last error and the next attempt are in
`status()` (`cli status`) and, through the daemon, in /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ironpost.core.errors import DaemonError
from ironpost.core.module import ModuleContext, ModuleUnavailable

log = logging.getLogger("ironpost.daemon")


@dataclass
class ModuleState:
    module: Any
    state: str = "starting"  # starting | running | backoff | unavailable | stopped | finished
    restarts: int = 0  # after a crash or a stall
    retries: int = 0  # after ModuleUnavailable
    stalls: int = 0
    last_error: str | None = None
    next_attempt_at: float | None = None
    started_at: float = 0.0
    task: asyncio.Task | None = field(default=None, repr=False)


class ModuleStalled(DaemonError):
    """A module with a heartbeat made no progress for too long (raised by the supervisor)."""


class Supervisor:
    def __init__(self, ctx: ModuleContext, *, backoff_initial: float = 0.5, backoff_max: float = 30.0, stable_after: float = 60.0,
                 unavailable_retry_max: float = 60.0, stall_after: float = 120.0, stall_check: float = 1.0):
        self.ctx = ctx
        self.modules: dict[str, ModuleState] = {}
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.unavailable_retry_max = unavailable_retry_max
        self.stall_after = stall_after
        self.stall_check = stall_check

    def start(self, module: Any) -> None:
        st = ModuleState(module)
        self.modules[module.name] = st
        st.task = asyncio.create_task(self._keep_running(st), name=f"module:{module.name}")

    async def _keep_running(self, st: ModuleState) -> None:
        name = st.module.name
        delay = self.backoff_initial
        retry = self.backoff_initial
        reason: str | None = None  # the last unavailability reason logged
        while True:
            st.state, st.started_at, st.next_attempt_at = "running", time.monotonic(), None
            try:
                await self._run(st)
                st.state = "finished"
                log.info("module finished", extra={"module_name": name})
                return
            except asyncio.CancelledError:
                st.state = "stopped"
                raise
            except ModuleUnavailable as exc:
                st.state, st.last_error = "unavailable", str(exc)
                st.retries += 1
                if str(exc) != reason:  # once per reason: a missing Docker socket is not news every minute
                    reason = str(exc)
                    log.warning("module %s unavailable: %s; trying again with backoff (at most every %.0fs)",
                                name, exc, self.unavailable_retry_max, extra={"module_name": name})
                st.next_attempt_at = time.monotonic() + retry
                await asyncio.sleep(retry)
                retry = min(retry * 2, self.unavailable_retry_max)
            except Exception as exc:  # any module bug, or a stall: log, back off, restart
                if time.monotonic() - st.started_at > self.stable_after:
                    delay = self.backoff_initial
                st.restarts += 1
                if isinstance(exc, ModuleStalled):
                    st.stalls += 1
                st.state, st.last_error = "backoff", f"{type(exc).__name__}: {exc}"
                log.error(
                    "module %s crashed; restarting in %.1fs", name, delay,
                    exc_info=not isinstance(exc, ModuleStalled), extra={"module_name": name, "restarts": st.restarts},
                )
                st.next_attempt_at = time.monotonic() + delay
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                reason = None

    async def _run(self, st: ModuleState) -> None:
        heartbeat = getattr(st.module, "heartbeat", None)
        if not callable(heartbeat):
            await st.module.run(self.ctx)
            return
        limit = float(getattr(st.module, "stall_secs", self.stall_after))
        task = asyncio.create_task(st.module.run(self.ctx), name=f"module-run:{st.module.name}")
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.stall_check)
                if done:
                    task.result()
                    return
                idle = time.monotonic() - heartbeat()
                if idle > limit:
                    raise ModuleStalled(f"no progress for {idle:.0f}s (limit {limit:.0f}s)")
        finally:
            if not task.done():
                task.cancel()
                # a module that ignores cancellation must not hang the supervisor too
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait({task}, timeout=5)

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
        now = time.monotonic()
        out: dict[str, dict[str, Any]] = {}
        for name, st in self.modules.items():
            s: dict[str, Any] = {"state": st.state, "restarts": st.restarts, "last_error": st.last_error}
            if st.retries:
                s["retries"] = st.retries
            if st.stalls:
                s["stalls"] = st.stalls
            if st.next_attempt_at is not None and st.state in ("backoff", "unavailable"):
                s["retry_in_secs"] = round(max(0.0, st.next_attempt_at - now), 1)
            out[name] = s
        return out
