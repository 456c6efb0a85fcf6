"""The containers on the engine, cached, kept fresh by the Docker events stream.

A full list is one API call (GET /containers/json?all=1), redone every ttl_secs ([container]
poll_interval_secs) and whenever the cache is found older than that. In between, a worker
thread reads the blocking events stream and hands each event to the event loop, where the
affected container is re-inspected (or dropped when destroyed). When the engine goes away the
stream ends; the watcher reconnects with capped exponential backoff and does a full refresh,
since events may have been missed while it was gone.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable

from ironpost.container.client import ContainerNotFound, Engine
from ironpost.container.model import ContainerInfo
from ironpost.core.errors import ContainerError

log = logging.getLogger("ironpost.container")

_CONTAINER_ACTIONS = {"create", "start", "restart", "die", "stop", "kill", "pause", "unpause", "destroy", "rename", "update", "oom"}
_NETWORK_ACTIONS = {"connect", "disconnect"}
_END = object()


class Inventory:
    def __init__(self, engine: Engine, *, ttl_secs: float = 30.0, reconnect_max_secs: float = 30.0,
                 events_engine: Engine | None = None, clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        # The events stream holds its HTTP connection for as long as it runs; a client of its own
        # keeps it from competing with the executor's calls.
        self.events_engine = events_engine or Engine(engine.docker_host, engine.timeout)
        self.ttl_secs = ttl_secs
        self.reconnect_max_secs = reconnect_max_secs
        self.clock = clock
        self._containers: dict[str, ContainerInfo] = {}
        self._refreshed_at: float | None = None
        self._changed: asyncio.Condition | None = None
        self._task: asyncio.Task | None = None
        self._poll_task: asyncio.Task | None = None
        self._stream: Any = None
        self._closed = False
        self.connected = False
        self.refreshes = 0
        self.events_seen = 0
        self.reconnects = 0
        self.errors = 0

    # --- reading ---------------------------------------------------------------------------

    def cached(self) -> list[ContainerInfo]:
        return list(self._containers.values())

    def get(self, ref: str) -> ContainerInfo | None:
        c = self._containers.get(ref)
        if c is not None:
            return c
        for c in self._containers.values():
            if c.name == ref or (len(ref) >= 12 and c.id.startswith(ref)):
                return c
        return None

    @property
    def stale(self) -> bool:
        return self._refreshed_at is None or self.clock() - self._refreshed_at > self.ttl_secs

    async def snapshot(self) -> list[ContainerInfo]:
        """The containers, refreshed first if the cache is older than the TTL. When the engine
        is unreachable the last known list is returned (actions will then fail and say so)."""
        if self.stale:
            try:
                await self.refresh()
            except ContainerError as exc:
                self.errors += 1
                log.warning("inventory refresh failed; using the cached list", extra={"error": str(exc)})
        return self.cached()

    # --- updating ----------------------------------------------------------------------------

    def refresh_sync(self) -> dict[str, ContainerInfo]:
        fresh = {s["Id"]: ContainerInfo.from_summary(s) for s in self.engine.containers()}
        self._containers = fresh
        self._refreshed_at = self.clock()
        self.refreshes += 1
        return fresh

    async def refresh(self) -> list[ContainerInfo]:
        await asyncio.to_thread(self.refresh_sync)
        await self._notify()
        return self.cached()

    async def start(self) -> None:
        """Load the list (raises ContainerError when the engine is unreachable) and start watching."""
        self._changed = asyncio.Condition()
        self._closed = False
        # Stream first, list second: an event between the two is applied twice (harmless), never lost.
        stream = await asyncio.to_thread(self._open_stream)
        self.connected = True
        try:
            await self.refresh()
        except BaseException:
            self._close_stream()
            raise
        self._task = asyncio.create_task(self._watch(stream), name="container-inventory-events")
        self._poll_task = asyncio.create_task(self._poll(), name="container-inventory-poll")

    async def _poll(self) -> None:
        # The events stream can miss changes (a restarted engine, a dropped stream that has not
        # yet been noticed); a full list every ttl_secs bounds how long such a miss lasts.
        while not self._closed:
            await asyncio.sleep(max(self.ttl_secs, 0.1))
            if not self.stale:  # a refresh happened meanwhile (events reconnect, snapshot)
                continue
            try:
                await self.refresh()
            except ContainerError as exc:
                self.errors += 1
                log.warning("periodic inventory refresh failed", extra={"error": str(exc)})

    async def close(self) -> None:
        self._closed = True
        self._close_stream()
        if self._poll_task is not None:
            self._poll_task.cancel()
            await asyncio.gather(self._poll_task, return_exceptions=True)
            self._poll_task = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self.events_engine.close()

    async def wait_for(self, predicate: Callable[[list[ContainerInfo]], bool], timeout: float) -> bool:
        """Wait until predicate(containers) holds (used by tests and the CLI)."""
        assert self._changed is not None, "start() first"
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.cached())), timeout)
                return True
            except asyncio.TimeoutError:
                return False

    def metrics(self) -> dict[str, float]:
        return {
            "container_inventory_containers": len(self._containers),
            "container_inventory_refreshes_total": self.refreshes,
            "container_inventory_events_total": self.events_seen,
            "container_inventory_reconnects_total": self.reconnects,
            "container_engine_connected": 1.0 if self.connected else 0.0,
        }

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    # --- the events stream -------------------------------------------------------------------

    async def _watch(self, stream) -> None:
        delay = 0.25
        loop = asyncio.get_running_loop()
        while not self._closed:
            queue: asyncio.Queue = asyncio.Queue()
            try:
                if stream is None:
                    stream = await asyncio.to_thread(self._open_stream)
                    self.connected = True
                    # Whatever happened while we were away is only in a full list.
                    await self.refresh()
                    log.info("docker events stream reconnected", extra={"reconnects": self.reconnects})
                    delay = 0.25
                threading.Thread(target=_pump, args=(stream, loop, queue), name="docker-events", daemon=True).start()
                while True:
                    ev = await queue.get()
                    if ev is _END:
                        break
                    await self._apply(ev)
            except ContainerError as exc:
                self.errors += 1
                log.debug("docker events stream unavailable", extra={"error": str(exc)})
            finally:
                self._close_stream()
                stream = None
            if self._closed:
                return
            self.connected = False
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_secs)

    def _open_stream(self):
        filters = {"type": ["container", "network"]}
        self._stream = self.events_engine.run("events", lambda cl: cl.api.events(decode=True, filters=filters))
        return self._stream

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()  # unblocks the pump thread's read
            except Exception:  # the socket may already be gone with the engine
                pass

    async def _apply(self, ev: dict[str, Any]) -> None:
        self.events_seen += 1
        kind, action = ev.get("Type"), (ev.get("Action") or ev.get("status") or "")
        actor = ev.get("Actor") or {}
        if kind == "container":
            action = action.split(":", 1)[0]  # "exec_start: sh" and friends
            if action not in _CONTAINER_ACTIONS:
                return
            cid = actor.get("ID") or ev.get("id")
        elif kind == "network" and action in _NETWORK_ACTIONS:
            cid = (actor.get("Attributes") or {}).get("container")
        else:
            return
        if not cid:
            return
        if action == "destroy":
            self._containers.pop(cid, None)
        else:
            try:
                info = await asyncio.to_thread(self.engine.inspect, cid)
                c = ContainerInfo.from_inspect(info)
                self._containers[c.id] = c
            except ContainerNotFound:
                self._containers.pop(cid, None)
            except ContainerError as exc:
                # The stream will end too if the engine went away; the reconnect refreshes everything.
                self.errors += 1
                log.debug("inspect after event failed", extra={"container": cid[:12], "error": str(exc)})
                return
        await self._notify()


def _pump(stream, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
    """Worker thread: blocking reads from the events stream, each event handed to the loop."""
    try:
        for ev in stream:
            if isinstance(ev, dict):
                loop.call_soon_threadsafe(queue.put_nowait, ev)
    except Exception as exc:  # the stream dies with the engine, or when close() cuts it
        log.debug("docker events stream ended", extra={"error": str(exc)})
    finally:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, _END)
        except RuntimeError:  # the loop is already closed at shutdown
            pass
