"""LogPipelineModule: collectors -> Pipeline -> alerts on the bus; packet events from the bus too.

Collectors come from ironpost.log_pipeline.collectors.build_collectors(config, data_dir); each
has `name`, `async run(emit)` and `metrics()`, and calls `await emit(chunk, source)` with whole
lines (LineFramer output; an unterminated last piece counts as one line). Their lines go into a
bounded LineBuffer ([log_pipeline] buffer_lines, buffer_drop_policy), which one task drains
through the rules; what is still queued at stop is matched before the module ends. Threshold and dedup
state comes from `state_factory(config)`, which the daemon's wiring passes in (a shared
WindowState such as Redis when [log_pipeline.storage] redis_url is set); without one, or when it
returns None, the state is kept in this process.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Callable

from ironpost.core.bus import SUPPRESSED_TOPIC
from ironpost.core.config import Config
from ironpost.core.errors import LogPipelineError
from ironpost.core.events import LogChunk
from ironpost.core.module import ModuleContext
from ironpost.core.window import WindowState
from ironpost.log_pipeline.buffer import LineBuffer
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules.loader import load_rules_strict

log = logging.getLogger("ironpost.log_pipeline")
PACKET_BATCH = 10_000
StateFactory = Callable[[Config], WindowState | None]


def in_process_state(config: Config) -> WindowState | None:
    return None  # the pipeline keeps it (in the compiled matcher where it can)


def build_pipeline(config: Config, state: WindowState | None) -> Pipeline:
    """Load the rules directory (every problem raised at once) and build the engine."""
    sec = config.section("log_pipeline")
    rules_dir = Path(sec.rules_dir)
    if rules_dir.exists():
        rules = load_rules_strict(rules_dir)
    else:
        log.warning("rules directory missing; running with no rules", extra={"rules_dir": str(rules_dir)})
        rules = []
    return Pipeline.from_section(rules, sec, state=state)


def _collectors(config: Config, data_dir: Path) -> list:
    try:
        from ironpost.log_pipeline.collectors import build_collectors
    except ImportError as exc:
        log.warning("collectors unavailable; only packet events are processed", extra={"error": str(exc)})
        return []
    return list(build_collectors(config, data_dir))


class LogPipelineModule:
    name = "log_pipeline"

    def __init__(self, config: Config, state_factory: StateFactory = in_process_state):
        self.config = config
        self.state_factory = state_factory
        self.pipeline: Pipeline | None = None
        self.collectors: list = []
        self._bus = None
        self.published = 0
        self.reloads = 0
        self.bus_chunks = 0
        sec = config.section("log_pipeline")
        self.buffer = LineBuffer(sec.buffer_lines, sec.buffer_drop_policy)

    async def run(self, ctx: ModuleContext) -> None:
        self._bus = ctx.bus
        self.pipeline = build_pipeline(self.config, self.state_factory(self.config))
        log.info("log pipeline started", extra={"rules": len(self.pipeline.rules)})
        sources = self.config.section("log_pipeline").sources
        subs = []
        self.collectors = _collectors(self.config, ctx.data_dir)
        tasks = [asyncio.create_task(c.run(self._intake(c)), name=f"lp-{c.name}") for c in self.collectors]
        tasks.append(asyncio.create_task(self._drain(), name="lp-engine"))
        # a bus source left out of `sources` is not subscribed, so its publisher is never held back by us
        if "ebpf" in sources:
            subs.append(packets := ctx.bus.subscribe("packets", "log_pipeline"))
            tasks.append(asyncio.create_task(self._packets(packets), name="lp-packets"))
        if "container" in sources:
            subs.append(chunks := ctx.bus.subscribe("logs", "log_pipeline"))  # lines other modules collect
            tasks.append(asyncio.create_task(self._chunks(chunks), name="lp-bus-logs"))
        log.info("log sources", extra={"sources": list(sources), "collectors": [c.name for c in self.collectors]})
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sub in subs:
                ctx.bus.unsubscribe(sub)
            # lines still queued here (syslog TCP, container logs) were taken from their senders: match them before stopping
            await self._flush_buffer()

    def _intake(self, collector):
        """How a collector hands over lines: a tailed file saves its offset once emit returns, so
        its lines run through the rules (alerts on the bus) before emit returns; otherwise a
        SIGKILL lost the lines still queued whose offset was saved (200 in one reliability run).
        Other lossless sources (syslog TCP) wait for room; the rest go through the drop policy."""
        if getattr(collector, "saves_offsets", False):
            collector.stored = self._alerts_stored
            return self.emit
        if getattr(collector, "lossless", False):
            return self.buffer.put_wait

        async def put(chunk: bytes, source: str) -> None:
            self.buffer.put_nowait(chunk, source)
        return put

    async def _alerts_stored(self) -> None:
        await self._bus.wait_durable("alerts")

    async def _drain(self) -> None:
        while True:
            chunk, source = await self.buffer.get()
            await self.emit(chunk, source)

    async def _flush_buffer(self) -> None:
        while len(self.buffer):
            chunk, source = await self.buffer.get()
            await self.emit(chunk, source)

    async def emit(self, chunk: bytes, source: str) -> None:
        """Run a buffer of whole lines through the rules and publish the alerts."""
        pipe = self.pipeline
        if pipe is None or not chunk:
            return
        for alert in pipe.process(chunk, source):
            await self._publish(alert)
        await self._publish_suppressed(pipe)

    async def _publish_suppressed(self, pipe) -> None:
        # Not stored and no container action: only the ban manager reads this topic, so an
        # alert rate limit never drops a ban decision.
        for alert in pipe.take_suppressed():
            await self._bus.publish(SUPPRESSED_TOPIC, alert)

    async def _publish(self, alert) -> None:
        self.published += 1
        # one line per alert (rules rate-limit them), carrying the trace id that the stored alert
        # and any action taken on it share, so the journal can be followed across modules
        log.info("alert fired", extra={"rule_id": alert.rule_id, "severity": alert.severity, "src_ip": alert.src_ip,
                                       "count": alert.count, "trace_id": alert.trace_id})
        await self._bus.publish("alerts", alert)

    async def _chunks(self, sub) -> None:
        while True:
            ev = await sub.get()
            if isinstance(ev, LogChunk):
                self.bus_chunks += 1
                await self.buffer.put_wait(ev.raw(), ev.source)

    async def _packets(self, sub) -> None:
        while True:
            first = await sub.get()
            batch = [first, *sub.drain_nowait(PACKET_BATCH)]
            pipe = self.pipeline
            if pipe is None:
                continue
            for ev in batch:
                for alert in pipe.process_packet(ev):
                    await self._publish(alert)
            await self._publish_suppressed(pipe)

    def metrics(self) -> dict[str, float]:
        m: dict[str, float] = {"lp_alerts_published_total": float(self.published), "lp_reloads_total": float(self.reloads),
                                  "lp_bus_log_chunks_total": float(self.bus_chunks), **self.buffer.metrics()}
        if self.pipeline is not None:
            m.update(self.pipeline.metrics())
        for c in self.collectors:
            try:
                m.update(c.metrics())
            except Exception as exc:  # a collector's metrics must never break /metrics
                log.warning("collector metrics failed", extra={"collector": c.name, "error": str(exc)})
        return m

    async def reload(self, config: Config) -> None:
        """New rules (or rules_dir) take effect at once."""
        # shared (Redis) state survives a reload as is; in-process counts start afresh with the new rules
        self.pipeline = build_pipeline(config, self.state_factory(config))  # raises RuleError: the old pipeline stays
        self.config = config
        sec = config.section("log_pipeline")
        self.buffer.max_lines, self.buffer.drop_policy = sec.buffer_lines, sec.buffer_drop_policy
        self.reloads += 1
        log.info("rules reloaded", extra={"rules": len(self.pipeline.rules)})

    async def control(self, op: str, args: dict) -> dict:
        if self.pipeline is None:
            raise LogPipelineError("log pipeline is not running yet")
        if op == "rules":
            return {"rules": [r.summary() for r in self.pipeline.rules], "count": len(self.pipeline.rules)}
        if op == "explain":
            rid, line = args.get("rule_id"), args.get("line", "")
            rule = next((r for r in self.pipeline.rules if r.id == rid), None)
            if rule is None:
                raise LogPipelineError(f"no loaded rule with id {rid!r}")
            return self.pipeline.explain(rule, line)
        raise LogPipelineError(f"unknown log_pipeline control op {op!r} (supported: rules, explain)")
