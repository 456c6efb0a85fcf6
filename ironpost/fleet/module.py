"""FleetModule: this node's decisions and alerts out to Redis Streams, the other nodes' decisions in.

Out: every decision this node makes (bus DECISIONS: its alerts' bans, its operator's blocks and
unblocks, its lists and CrowdSec feed) and, with share_alerts, its alerts, XADDed with approximate
MAXLEN trimming. While Redis is unreachable they wait in a bounded outbox (oldest dropped and
counted) and go out in order when it returns; the node keeps protecting itself meanwhile, as the
ban manager never waits for the fleet.

In: one consumer group per node on the decisions stream ("node:<node_id>", created at the
stream's start so a new node learns every ban still in the stream). Each entry is re-validated
(core.decisions.from_wire: a peer's rule decision still names one host), filtered by `trust`,
and handed to the ban manager on DECISIONS_IN; it is acknowledged only once the ban manager
says it was handled (DECISIONS_DONE). On start, entries this node read but never acknowledged
(it died in between) are read again first, and those idle longer than claim_idle_secs under
another consumer name of the group are claimed; the ledger's memory of decision ids makes a
second delivery a no-op, so nothing is applied twice and nothing is missed.

Heartbeat: HSET nodes_key <node_id> {version, last_seen, applied, lag, outbox, ...} (`cli fleet nodes`).
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from ironpost import __version__
from ironpost.core.config import Config
from ironpost.core.config.sections.fleet import node_id_of
from ironpost.core.decisions import DECISIONS, DECISIONS_DONE, DECISIONS_IN, Decision, DecisionError, from_wire, origin_kind
from ironpost.core.errors import IronpostError
from ironpost.core.events import AlertEvent
from ironpost.core.module import ModuleContext, wake_or_timeout
from ironpost.fleet.outbox import Outbox

log = logging.getLogger("ironpost.fleet")

READ_COUNT = 1000
READ_BLOCK_MS = 250  # a stream read waits this long at most, so a stop is noticed soon
PUBLISH_BATCH = 1000
BACKOFF_MAX = 5.0


class FleetError(IronpostError):
    """The fleet module: Redis refused what it must not refuse."""



async def _cancel_all(tasks: list, rounds: int = 20) -> None:
    """Cancel tasks and wait until they end. redis-py 8 can swallow a cancel that lands during a
    command (a probe lost it in 78 of 300 tries), so a task still running after half a second is
    cancelled again; the loops also stop on _stopping. Bounded: a task that outlives 20 rounds
    (10 s) is left behind and said."""
    pending = list(tasks)
    for _ in range(rounds):
        for t in pending:
            t.cancel()
        _, still = await asyncio.wait(pending, timeout=0.5)
        pending = list(still)
        if not pending:
            break
    for t in tasks:
        if t.done() and not t.cancelled():
            t.exception()  # retrieved: an error a loop ended with is not re-reported at exit
    if pending:
        log.error("fleet tasks did not stop", extra={"tasks": [t.get_name() for t in pending]})

class FleetModule:
    name = "fleet"

    def __init__(self, config: Config):
        self._apply(config)
        self.outbox = Outbox(self.cfg.queue_max)
        self.counts = {"published": 0, "received": 0, "applied": 0, "acked": 0, "untrusted": 0, "invalid": 0,
                       "own": 0, "redis_errors": 0, "claimed": 0, "reread": 0}
        self.redis_up = False
        self.lag = 0
        self._awaiting: dict[str, bytes] = {}  # decision id -> stream entry id, until the ban manager is done
        self._to_ack: list[bytes] = []
        self.redis: aioredis.Redis | None = None
        self._stopping = False

    def _apply(self, config: Config) -> None:
        self.config = config
        self.cfg = config.section("fleet")
        self.node_id = node_id_of(config)
        self.group = f"node:{self.node_id}"
        self.trust = set(self.cfg.trust)

    async def reload(self, config: Config) -> None:
        old = self.cfg
        self._apply(config)
        self.outbox.capacity = self.cfg.queue_max
        changed = [k for k in ("node_id", "redis_url", "decisions_stream", "alerts_stream", "nodes_key")
                   if getattr(old, k) != getattr(self.cfg, k)]
        if changed:
            log.warning("these fleet keys take effect after a restart", extra={"keys": changed})

    # -- lifecycle ----------------------------------------------------------------------
    async def run(self, ctx: ModuleContext) -> None:
        c = self.cfg
        self._stopping = False
        self.redis = aioredis.from_url(c.redis_url, socket_timeout=c.redis_timeout_secs,
                                       socket_connect_timeout=c.redis_timeout_secs)
        subs = [ctx.bus.subscribe(DECISIONS, "fleet"), ctx.bus.subscribe(DECISIONS_DONE, "fleet")]
        if c.share_alerts:
            subs.append(ctx.bus.subscribe("alerts", "fleet"))
        wake = asyncio.Event()
        tasks = [
            asyncio.create_task(self._collect(subs[0], wake), name="fleet-collect-decisions"),
            asyncio.create_task(self._done_loop(subs[1]), name="fleet-done"),
            asyncio.create_task(self._publish_loop(wake), name="fleet-publish"),
            asyncio.create_task(self._consume_loop(ctx), name="fleet-consume"),
            asyncio.create_task(self._heartbeat_loop(), name="fleet-heartbeat"),
        ]
        if c.share_alerts:
            tasks.append(asyncio.create_task(self._collect(subs[2], wake), name="fleet-collect-alerts"))
        log.info("fleet node started", extra={"node_id": self.node_id, "stream": c.decisions_stream,
                                              "trust": sorted(self.trust)})
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()
        finally:
            # redis-py cannot cancel a blocking XREADGROUP cleanly (the cancelled task waits on its
            # connection forever): ask the reader to stop after its current, short, block instead.
            self._stopping = True
            consume = tasks[3]
            if not consume.done():
                await asyncio.wait([consume], timeout=READ_BLOCK_MS / 1000 * 2 + c.redis_timeout_secs)
            await _cancel_all(tasks)
            for sub in subs:
                ctx.bus.unsubscribe(sub)
            # A last attempt to hand Redis what is queued and acknowledge what was applied.
            try:
                async with asyncio.timeout(min(2.0, c.redis_timeout_secs)):
                    await self._flush_acks()
                    await self._publish_some()
            except (RedisError, OSError, TimeoutError):
                pass
            if self.outbox:
                log.warning("fleet stopped with decisions not published", extra={"queued": len(self.outbox)})
            await self.redis.aclose()

    # -- out ------------------------------------------------------------------------------
    async def _collect(self, sub, wake: asyncio.Event) -> None:
        c = self.cfg
        async for ev in sub:
            if isinstance(ev, Decision):
                if ev.node_id != self.node_id:
                    continue  # a peer's decision we applied: its node already published it
                self.outbox.put(c.decisions_stream, ev.to_json())
            elif isinstance(ev, AlertEvent):
                d = ev.to_dict()
                d["node_id"] = self.node_id
                self.outbox.put(c.alerts_stream, orjson.dumps(d))
            else:
                continue
            wake.set()

    async def _publish_some(self) -> int:
        batch = self.outbox.peek(PUBLISH_BATCH)
        if not batch:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, payload in batch:
                pipe.xadd(stream, {"e": payload, "n": self.node_id}, maxlen=self.cfg.stream_maxlen, approximate=True)
            await pipe.execute()
        self.outbox.pop(len(batch))
        self.counts["published"] += len(batch)
        return len(batch)

    async def _publish_loop(self, wake: asyncio.Event) -> None:
        backoff = 0.1
        while not self._stopping:  # (not only the cancel: redis-py can swallow one, see _cancel_all)
            if not self.outbox:
                wake.clear()
                if not await wake_or_timeout(wake, 1.0):
                    continue
            try:
                while await self._publish_some():
                    pass
                self._up()
                backoff = 0.1
            except (RedisError, OSError) as exc:
                self._down(exc)
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)

    # -- in -------------------------------------------------------------------------------
    async def _ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.cfg.decisions_stream, self.group, id="0", mkstream=True)
            log.info("fleet consumer group created", extra={"group": self.group})
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume_loop(self, ctx: ModuleContext) -> None:
        c = self.cfg
        backoff = 0.1
        recovered = False
        while not self._stopping:
            try:
                if not recovered:
                    await self._ensure_group()
                    await self._recover(ctx)
                    recovered = True
                resp = await self.redis.xreadgroup(self.group, self.node_id, {c.decisions_stream: ">"},
                                                   count=READ_COUNT, block=READ_BLOCK_MS)
                self._up()
                backoff = 0.1
                for _, entries in resp or ():
                    await self._handle(ctx, entries)
                await self._flush_acks()
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted under us: start again
                    recovered = False
                    self._down(exc)
                    await asyncio.sleep(backoff)
                    continue
                raise FleetError(f"Redis refused a stream read: {exc}") from None
            except (RedisError, OSError) as exc:
                self._down(exc)
                recovered = False  # after an outage, re-read what was delivered but not acknowledged
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)

    async def _recover(self, ctx: ModuleContext) -> None:
        """Entries delivered to this node earlier and never acknowledged: ours first, then
        those idle under another consumer name of our group."""
        c = self.cfg
        start = "0"
        while True:
            resp = await self.redis.xreadgroup(self.group, self.node_id, {c.decisions_stream: start}, count=READ_COUNT)
            entries = resp[0][1] if resp else []
            entries = [e for e in entries if e[1]]  # trimmed-away entries come back with no fields
            if not entries:
                break
            self.counts["reread"] += len(entries)
            await self._handle(ctx, entries)
            start = entries[-1][0]
        cursor = "0-0"
        while True:
            res = await self.redis.xautoclaim(c.decisions_stream, self.group, self.node_id,
                                              min_idle_time=int(c.claim_idle_secs * 1000), start_id=cursor,
                                              count=READ_COUNT)
            cursor, entries = res[0], [e for e in res[1] if e[1]]
            if entries:
                self.counts["claimed"] += len(entries)
                await self._handle(ctx, entries)
            if cursor in (b"0-0", "0-0"):
                break
        await self._flush_acks()

    async def _handle(self, ctx: ModuleContext, entries) -> None:
        for entry_id, fields in entries:
            self.counts["received"] += 1
            raw = fields.get(b"e") if fields else None
            try:
                data = orjson.loads(raw) if raw else None
                d = from_wire(data)
            except (orjson.JSONDecodeError, DecisionError) as exc:
                self.counts["invalid"] += 1
                log.warning("fleet decision refused", extra={"entry": entry_id.decode(), "why": str(exc)[:200]})
                self._to_ack.append(entry_id)
                continue
            if d.node_id == self.node_id:
                self.counts["own"] += 1
                self._to_ack.append(entry_id)
                continue
            if origin_kind(d.origin) not in self.trust:
                self.counts["untrusted"] += 1
                self._to_ack.append(entry_id)
                continue
            self._awaiting[d.id] = entry_id
            await ctx.bus.publish(DECISIONS_IN, d)

    async def _done_loop(self, sub) -> None:
        async for d in sub:
            entry_id = self._awaiting.pop(getattr(d, "id", None), None)
            if entry_id is not None:
                self.counts["applied"] += 1
                self._to_ack.append(entry_id)
                if len(self._to_ack) >= READ_COUNT:
                    try:
                        await self._flush_acks()
                    except (RedisError, OSError) as exc:
                        self._down(exc)

    async def _flush_acks(self) -> None:
        if not self._to_ack:
            return
        ids, self._to_ack = self._to_ack, []
        try:
            await self.redis.xack(self.cfg.decisions_stream, self.group, *ids)
        except BaseException:
            self._to_ack = ids + self._to_ack  # unacknowledged entries are re-read after a restart anyway
            raise
        self.counts["acked"] += len(ids)

    # -- heartbeat ---------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        c = self.cfg
        while not self._stopping:
            try:
                await self._flush_acks()
                lag = 0
                for g in await self.redis.xinfo_groups(c.decisions_stream):
                    if g.get("name") in (self.group, self.group.encode()):
                        lag = int(g.get("lag") or 0) + int(g.get("pending") or 0)
                self.lag = lag
                beat = {"node_id": self.node_id, "version": __version__, "last_seen": time.time(),
                        "applied": self.counts["applied"], "published": self.counts["published"], "lag": lag,
                        "outbox": len(self.outbox), "outbox_dropped": self.outbox.dropped}
                await self.redis.hset(c.nodes_key, self.node_id, orjson.dumps(beat))
                self._up()
            except ResponseError as exc:
                if "no such key" not in str(exc).lower():
                    self._down(exc)
            except (RedisError, OSError) as exc:
                self._down(exc)
            await asyncio.sleep(c.heartbeat_secs)

    # -- state -------------------------------------------------------------------------------
    def _up(self) -> None:
        if not self.redis_up:
            log.info("fleet: Redis reachable", extra={"outbox": len(self.outbox)})
        self.redis_up = True

    def _down(self, exc: BaseException) -> None:
        self.counts["redis_errors"] += 1
        if self.redis_up:
            log.warning("fleet: Redis unreachable; protecting this host alone and queueing what to publish",
                        extra={"error": str(exc)[:200]})
        self.redis_up = False

    def metrics(self) -> dict[str, float]:
        out = {f"fleet_{k}_total": v for k, v in self.counts.items()}
        out["fleet_redis_up"] = 1 if self.redis_up else 0
        out["fleet_queue_depth"] = len(self.outbox)
        out["fleet_queue_dropped_total"] = self.outbox.dropped
        out["fleet_lag"] = self.lag
        return out

    async def control(self, op: str, args: dict) -> dict:
        if op == "status":
            return {"ok": True, "node_id": self.node_id, "redis_up": self.redis_up, "outbox": len(self.outbox),
                    "counts": dict(self.counts), "lag": self.lag}
        return {"ok": False, "error": f"unknown op {op!r}; expected status"}
