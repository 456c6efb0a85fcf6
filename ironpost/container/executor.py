"""Carry out a policy decision on one container, safely.

- Never touches a container labelled ironpost.exempt=true.
- Rate-limited per container, so an alert storm cannot flap a workload.
- Idempotent: an already paused / stopped / disconnected container counts as success.
- Transient engine errors (engine restarting, socket gone) are retried with backoff.
- With auto_isolate = false only records what it would have done.
Every outcome, real or dry-run, is one ActionEvent handed to `publish` (the module sends it on "actions").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any, Awaitable, Callable, NamedTuple

from ironpost.container.client import ContainerNotFound, Engine, is_transient
from ironpost.container.model import ContainerInfo
from ironpost.container.policies import Decision
from ironpost.container.state import IsolationState
from ironpost.core.errors import ContainerError
from ironpost.core.events import ActionEvent, AlertEvent

log = logging.getLogger("ironpost.container")
Publish = Callable[[ActionEvent], Awaitable[None]]


class Outcome(NamedTuple):
    """What an action did: "ok" or "skipped", and for a skip the reason the ActionEvent carries as its error."""

    result: str
    why: str | None = None


OK = Outcome("ok")


class Executor:
    def __init__(
        self,
        engine: Engine,
        state_path: str | Path,
        *,
        auto_isolate: bool = False,
        rate_limit_secs: float = 60.0,
        retries: int = 3,
        retry_backoff_secs: float = 0.2,
        retry_backoff_max_secs: float = 5.0,
        stop_timeout_secs: int = 10,
        publish: Publish | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.engine = engine
        self.state = IsolationState(state_path)
        self.auto_isolate = auto_isolate
        self.rate_limit_secs = rate_limit_secs
        self.retries = retries
        self.retry_backoff_secs = retry_backoff_secs
        self.retry_backoff_max_secs = retry_backoff_max_secs
        self.stop_timeout_secs = stop_timeout_secs
        self.publish = publish
        self.clock = clock
        self._last: dict[str, float] = {}  # container id -> clock() of its last action
        self._locks: dict[str, asyncio.Lock] = {}
        self.counts: Counter[tuple[str, str]] = Counter()  # (action, result)
        self.retried = 0

    def configure(self, *, auto_isolate: bool, rate_limit_secs: float, retries: int, retry_backoff_secs: float, stop_timeout_secs: int) -> None:
        self.auto_isolate, self.rate_limit_secs, self.retries = auto_isolate, rate_limit_secs, retries
        self.retry_backoff_secs, self.stop_timeout_secs = retry_backoff_secs, stop_timeout_secs

    # --- public ------------------------------------------------------------------------

    async def execute(self, decision: Decision, alert: AlertEvent | None = None) -> ActionEvent:
        policy, c = decision.policy, decision.container
        ev = ActionEvent(
            action=policy.action, target=c.name, alert_id=alert.id if alert else None, policy=policy.name,
            dry_run=not self.auto_isolate, trace_id=alert.trace_id if alert else "",
            details={"container_id": c.id, "image": c.image},
        )
        self._prune()
        async with self._lock(c.id):
            if c.exempt:
                self._finish(ev, "skipped", "container is exempt (label ironpost.exempt=true)")
            elif self._rate_limited(c.id):
                self._finish(ev, "skipped", f"rate limited: last action on this container less than {self.rate_limit_secs:g}s ago")
            elif not self.auto_isolate:
                self._last[c.id] = self.clock()
                ev.details["would"] = policy.action
                if policy.action == "network_disconnect":
                    ev.details["networks"] = _targets(policy.networks, c.networks)
                self._finish(ev, "dry_run", None)
            else:
                self._last[c.id] = self.clock()
                await self._run(ev, lambda: self._act(policy.action, c, policy.networks, ev, alert))
        await self._emit(ev)
        return ev

    async def release(self, name: str, *, reason: str = "operator") -> ActionEvent:
        """Undo what the guard did to a container (or unpause it when nothing is recorded).
        An explicit operator request, so it runs even when auto_isolate is false."""
        ev = ActionEvent(action="release", target=name, dry_run=False, details={"reason": reason})
        record = self.state.get(name)
        if record:
            ev.policy = record.get("policy")
            ev.alert_id = record.get("alert_id")
            ev.trace_id = record.get("trace_id") or ev.alert_id or ev.id
        async with self._lock(record["id"] if record else name):
            await self._run(ev, lambda: self._release(name, record, ev))
        if ev.result == "ok":
            self.state.forget(name)
            self._last.pop(ev.details.get("container_id", ""), None)
        await self._emit(ev)
        return ev

    def isolations(self) -> dict[str, dict[str, Any]]:
        return self.state.all()

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {f'container_actions_total{{action="{a}",result="{r}"}}': n for (a, r), n in self.counts.items()}
        out["container_action_retries_total"] = self.retried
        out["container_isolations"] = len(self.state.all())
        return out

    # --- internals ---------------------------------------------------------------------

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _prune(self, keep: int = 4096) -> None:
        """Bound the per-container memory: forget containers whose rate-limit window has passed."""
        if len(self._last) <= keep:
            return
        horizon = self.clock() - self.rate_limit_secs
        for cid in [k for k, t in self._last.items() if t < horizon]:
            del self._last[cid]
            lock = self._locks.get(cid)
            if lock is not None and not lock.locked():
                del self._locks[cid]

    def _rate_limited(self, cid: str) -> bool:
        last = self._last.get(cid)
        return last is not None and self.clock() - last < self.rate_limit_secs

    def _finish(self, ev: ActionEvent, result: str, error: str | None) -> None:
        ev.result, ev.error = result, error
        self.counts[(ev.action, result)] += 1
        level = logging.WARNING if result == "failed" else logging.INFO
        log.log(level, "container action", extra={
            "action": ev.action, "target": ev.target, "result": result, "policy": ev.policy,
            "dry_run": ev.dry_run, "error": error, "trace_id": ev.trace_id,
        })

    async def _emit(self, ev: ActionEvent) -> None:
        if self.publish is not None:
            await self.publish(ev)

    async def _run(self, ev: ActionEvent, work: Callable[[], Outcome]) -> None:
        """Run blocking `work` in a thread; retry transient errors with capped exponential backoff."""
        delay = self.retry_backoff_secs
        attempt = 0
        while True:
            attempt += 1
            call = asyncio.ensure_future(asyncio.to_thread(work))
            try:
                result, why = await asyncio.shield(call)
            except asyncio.CancelledError:
                ev.details["attempts"] = attempt
                await self._record_when_done(ev, call)
                raise
            except ContainerError as exc:
                if is_transient(exc) and attempt <= self.retries:
                    self.retried += 1
                    log.info("transient engine error; retrying", extra={"target": ev.target, "attempt": attempt, "error": str(exc)})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_backoff_max_secs)
                    continue
                ev.details["attempts"] = attempt
                self._finish(ev, "failed", str(exc))
                return
            ev.details["attempts"] = attempt
            self._finish(ev, result, why)
            return

    async def _record_when_done(self, ev: ActionEvent, call: asyncio.Future) -> None:
        """Stopped while an engine call runs: the call goes on in its thread whatever we do, so wait
        for it and publish what it did. A container paused during shutdown is never left without
        its ActionEvent (the daemon stores the actions published while modules stop)."""
        try:
            result, why = await call
        except ContainerError as exc:
            self._finish(ev, "failed", str(exc))
        else:
            self._finish(ev, result, why)
        await self._emit(ev)

    # Blocking helpers below run in a worker thread.

    def _act(self, action: str, c: ContainerInfo, networks: tuple[str, ...], ev: ActionEvent, alert: AlertEvent | None) -> Outcome:
        # Inspect fresh: the inventory may be a few seconds old, and an id pins the exact container.
        info = self.engine.inspect(c.id)
        now = ContainerInfo.from_inspect(info)
        if now.exempt:  # labels cannot change on a live container, but the snapshot may be from another one
            return Outcome("skipped", "container is exempt (label ironpost.exempt=true)")
        state = info.get("State") or {}
        origin = {"policy": ev.policy, "alert_id": alert.id if alert else None, "trace_id": ev.trace_id}
        if action == "pause":
            if state.get("Paused"):
                ev.details["already"] = True
            elif not state.get("Running"):
                return Outcome("skipped", f"container is not running ({now.state})")
            else:
                self.engine.run(f"pause {c.name}", lambda cl: cl.api.pause(c.id))
                self.state.record(c.name, c.id, paused=True, **origin)
            return OK
        if action == "stop":
            if not state.get("Running"):
                ev.details["already"] = True
            else:
                self.engine.run(f"stop {c.name}", lambda cl: cl.api.stop(c.id, timeout=self.stop_timeout_secs))
                self.state.record(c.name, c.id, stopped=True, **origin)
            return OK
        if action == "network_disconnect":
            attached = (info.get("NetworkSettings") or {}).get("Networks") or {}
            targets = _targets(networks, tuple(attached))
            removed = []
            for net in targets:
                endpoint = attached[net] or {}
                self.engine.run(f"disconnect {c.name} from {net}", lambda cl, n=net: cl.api.disconnect_container_from_network(c.id, n))
                removed.append({
                    "name": net,
                    "aliases": [a for a in endpoint.get("Aliases") or [] if a not in (c.id[:12], c.name)],
                    "ipv4": ((endpoint.get("IPAMConfig") or {}).get("IPv4Address")) or None,
                })
                # Record after each network: if the next one fails, release still restores this one.
                self.state.record(c.name, c.id, networks=[removed[-1]], **origin)
            ev.details["networks"] = [r["name"] for r in removed]
            if not targets:
                ev.details["already"] = True
            return OK
        raise ContainerError(f"unknown action {action!r}")

    def _release(self, name: str, record: dict[str, Any] | None, ev: ActionEvent) -> Outcome:
        try:
            info = self.engine.inspect(record["id"] if record else name)
        except ContainerNotFound:
            if record:  # the container is gone: nothing left to restore
                self.state.forget(name)
            raise
        cid = info["Id"]
        ev.details["container_id"] = cid
        state = info.get("State") or {}
        restored: list[str] = []
        if state.get("Paused"):
            self.engine.run(f"unpause {name}", lambda cl: cl.api.unpause(cid))
            restored.append("unpause")
        elif record and record.get("stopped") and not state.get("Running"):
            self.engine.run(f"start {name}", lambda cl: cl.api.start(cid))
            restored.append("start")
        attached = (info.get("NetworkSettings") or {}).get("Networks") or {}
        for net in (record or {}).get("networks", []):
            if net["name"] in attached:
                continue
            self.engine.run(
                f"reconnect {name} to {net['name']}",
                lambda cl, n=net: cl.api.connect_container_to_network(cid, n["name"], aliases=n.get("aliases") or None, ipv4_address=n.get("ipv4")),
            )
            restored.append(f"connect:{net['name']}")
        ev.details["restored"] = restored
        if not restored:
            return Outcome("skipped", "nothing to release: no isolation recorded and the container is not paused")
        return OK


def _targets(wanted: tuple[str, ...], attached: tuple[str, ...]) -> list[str]:
    """Networks to disconnect: the policy's list (those attached), or every attached network."""
    return [n for n in attached if not wanted or n in wanted]
