"""ContainerModule: alerts in, policy decisions, Docker actions, ActionEvents out."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from ironpost.container.client import DockerUnavailable, Engine
from ironpost.container.collector import DockerLogCollector
from ironpost.container.executor import Executor
from ironpost.container.inventory import Inventory
from ironpost.container.policies import PolicySet, load_policies
from ironpost.core.config import Config
from ironpost.core.errors import ContainerError
from ironpost.core.events import ActionEvent, AlertEvent, LogChunk
from ironpost.core.module import ModuleContext, ModuleUnavailable

log = logging.getLogger("ironpost.container")


def state_path(config: Config) -> Path:
    return config.resolve_path("container", "state_file", "container_isolations.json")


def executor_settings(config: Config) -> dict[str, Any]:
    sec = config.section("container")
    return {"auto_isolate": sec.auto_isolate, "rate_limit_secs": sec.rate_limit_secs, "retries": sec.action_retries,
            "retry_backoff_secs": sec.retry_backoff_secs, "stop_timeout_secs": sec.stop_timeout_secs}


def build_executor(config: Config, engine: Engine, publish=None) -> Executor:
    return Executor(engine, state_path(config), publish=publish, **executor_settings(config))


class ContainerModule:
    name = "container"

    def __init__(self, config: Config):
        self.config = config
        self.policies = PolicySet()
        self.engine: Engine | None = None
        self.inventory: Inventory | None = None
        self.executor: Executor | None = None
        self._bus = None
        self.counts: Counter[str] = Counter()
        self.log_collector: DockerLogCollector | None = None

    async def run(self, ctx: ModuleContext) -> None:
        self._bus = ctx.bus
        # Subscribe before any await so no alert published during start-up is missed.
        sub = ctx.bus.subscribe("alerts", "container")
        sec = self.config.section("container")
        self.engine = Engine(sec.docker_socket, sec.docker_timeout_secs)
        try:
            await asyncio.to_thread(self.engine.ping)
        except ContainerError as exc:
            ctx.bus.unsubscribe(sub)
            raise ModuleUnavailable(f"container guard: {exc}") from None
        self._load_policies()
        self.executor = build_executor(self.config, self.engine, self._publish)
        self.inventory = Inventory(self.engine, ttl_secs=sec.poll_interval_secs, reconnect_max_secs=sec.reconnect_max_secs)
        try:
            await self.inventory.start()
        except DockerUnavailable as exc:
            ctx.bus.unsubscribe(sub)
            raise ModuleUnavailable(f"container guard: went away during start: {exc}") from None
        logs_task = None
        if sec.follow_logs:
            self.log_collector = DockerLogCollector(self.engine, names=tuple(sec.follow_logs_names),
                                                    max_line=self.config.log_pipeline.max_line_bytes)
            logs_task = asyncio.create_task(self.log_collector.run(self._publish_logs), name="container-logs")
        log.info("container guard running", extra={
            "docker_socket": sec.docker_socket, "api_version": self.engine.api_version(), "policies": len(self.policies),
            "auto_isolate": sec.auto_isolate, "containers": len(self.inventory.cached()),
        })
        try:
            while True:
                alert = await sub.get()
                if not isinstance(alert, AlertEvent):
                    self.counts["ignored"] += 1
                    continue
                try:
                    await self.handle(alert)
                except ContainerError as exc:
                    # One bad alert (or a hiccup of the engine) must not stop the guard.
                    self.counts["errors"] += 1
                    log.warning("alert handling failed", extra={"alert_id": alert.id, "error": str(exc), "trace_id": alert.trace_id})
        finally:
            if logs_task is not None:
                logs_task.cancel()
                await asyncio.gather(logs_task, return_exceptions=True)
            ctx.bus.unsubscribe(sub)
            await self.inventory.close()
            self.engine.close()

    async def _publish_logs(self, chunk: bytes, source: str) -> None:
        """Container log lines go to the log pipeline over the bus (modules never import each other)."""
        await self._bus.publish("logs", LogChunk.from_bytes(chunk, source))

    async def handle(self, alert: AlertEvent) -> list[ActionEvent]:
        """Evaluate the policies for one alert and carry out every decision."""
        assert self.inventory is not None and self.executor is not None
        self.counts["alerts"] += 1
        containers = await self.inventory.snapshot()
        plan = self.policies.plan(alert, containers)
        if plan.unresolved and plan.named:
            # The alert names a container we do not know yet: it may be brand new, so look again once.
            containers = await self.inventory.refresh()
            plan = self.policies.plan(alert, containers)
        if plan.unresolved:
            self.counts["unresolved"] += 1
            log.info("alert names an unknown container", extra={"alert_id": alert.id, "container": plan.named, "trace_id": alert.trace_id})
        out = []
        for decision in plan.decisions:
            out.append(await self.executor.execute(decision, alert))
        if not plan.decisions:
            self.counts["no_policy"] += 1
        return out

    async def _publish(self, ev: ActionEvent) -> None:
        if self._bus is not None:
            await self._bus.publish("actions", ev)

    def _load_policies(self) -> None:
        path = self.config.section("container").policy_path
        self.policies = load_policies(path)
        for err in self.policies.errors:
            log.error("policy file rejected", extra={"file": err.file, "line": err.line, "reason": err.reason, "policy": err.policy})
        if not Path(path).exists():
            log.warning("policy path does not exist; no policy will act", extra={"policy_path": path})

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {f'container_alerts_total{{outcome="{k}"}}': v for k, v in self.counts.items()}
        out["container_policies"] = len(self.policies)
        out["container_policy_errors"] = len(self.policies.errors)
        if self.inventory is not None:
            out.update(self.inventory.metrics())
        if self.executor is not None:
            out.update(self.executor.metrics())
        if self.log_collector is not None:
            out.update(self.log_collector.metrics())
        return out

    async def reload(self, config: Config) -> None:
        """New policies and executor settings apply live; a new docker_socket needs a restart."""
        self.config = config
        self._load_policies()
        sec = config.section("container")
        if self.executor is not None:
            self.executor.configure(**executor_settings(config))
        if self.inventory is not None:
            self.inventory.ttl_secs = sec.poll_interval_secs
            self.inventory.reconnect_max_secs = sec.reconnect_max_secs

    async def control(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        if self.executor is None or self.inventory is None:
            return {"ok": False, "error": "container guard is not running"}
        if op == "release":
            name = args.get("name")
            if not isinstance(name, str) or not name:
                return {"ok": False, "error": "release needs args.name (a container name)"}
            ev = await self.executor.release(name)
            return {"ok": ev.result in ("ok", "skipped"), "action": ev.to_dict(), **({"error": ev.error} if ev.error else {})}
        if op == "inventory":
            # An operator asking wants the engine's state now, not the cache the events
            # stream may not have updated yet (a list of 100 containers takes ~7 ms).
            containers = await self.inventory.refresh()
            return {"ok": True, "containers": [c.to_dict() for c in sorted(containers, key=lambda c: c.name)],
                    "isolations": self.executor.isolations()}
        if op == "policies":
            return {"ok": True, "policies": [p.to_dict() for p in self.policies.policies],
                    "errors": [e.to_dict() for e in self.policies.errors], "files": self.policies.files}
        return {"ok": False, "error": f"unknown op {op!r} (release, inventory, policies)"}
