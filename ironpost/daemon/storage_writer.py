"""Moves alerts and actions from the bus into the store, in batches, off the event loop.

A write holds at most batch_size events. With flush_interval > 0 a batch waits up to that long to
fill before it is written (fewer, larger transactions); with 0 whatever is queued is written at once,
and batches form only while a write is in flight. A batch the store refuses is spooled by
SpoolingStore; the spool is retried every few seconds. Retention is enforced once an hour.

The writer is the bus's durable subscriber: once a batch is in the store (or in the spool) it acks
it, and a tailed file saves its offsets only past lines whose alerts are acked.
"""

from __future__ import annotations

import asyncio
import logging
import time

from collections import Counter

from ironpost.core.bus import Bus
from ironpost.storage.spool import SpoolingStore

log = logging.getLogger("ironpost.storage")


class StorageWriter:
    def __init__(self, bus: Bus, store: SpoolingStore, *, batch_size: int = 500, flush_interval: float = 0.0,
                 retention_days: int = 30, replay_every: float = 5.0):
        self.bus = bus
        self.store = store
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retention_days = retention_days
        self.replay_every = replay_every
        self.subs = [bus.subscribe("alerts", "storage", durable=True), bus.subscribe("actions", "storage", durable=True)]
        self._taken: Counter = Counter()  # events per subscription in the batch being written, acked after it
        self.written = 0
        self._inflight: list = []  # a batch being written when the task was cancelled
        self._leftover: list = []  # events taken off a queue but not yet written
        self._last_purge = 0.0

    async def run(self) -> None:
        getters = {sub: asyncio.create_task(sub.get()) for sub in self.subs}
        loop = asyncio.get_running_loop()
        try:
            while True:
                done, _ = await asyncio.wait(getters.values(), timeout=self.replay_every, return_when=asyncio.FIRST_COMPLETED)
                # in-flight from the first event on: a cancel while the batch fills must not lose it
                batch = self._inflight = []
                self._take(done, getters, batch)
                if batch and self.flush_interval > 0:
                    deadline = loop.time() + self.flush_interval
                    while len(batch) < self.batch_size and (left := deadline - loop.time()) > 0:
                        done, _ = await asyncio.wait(getters.values(), timeout=left, return_when=asyncio.FIRST_COMPLETED)
                        self._take(done, getters, batch)
                if batch:
                    for i in range(0, len(batch), self.batch_size):
                        await self._write(batch[i : i + self.batch_size])
                    self._inflight = []
                    self._ack()
                elif self.store.spooled():
                    try:
                        await asyncio.to_thread(self.store.replay)
                    except Exception:  # noqa: BLE001 - a replay bug must not end the writer (tails wait on its acks)
                        log.exception("spool replay failed; retried in %.0f s", self.replay_every)
                await self._maybe_purge()
        finally:
            # A getter may have taken an event off its queue just before the cancel: keep it for flush().
            for task in getters.values():
                task.cancel()
            results = await asyncio.gather(*getters.values(), return_exceptions=True)
            for sub, result in zip(getters, results):
                if not isinstance(result, BaseException):
                    self._leftover.append(result)
                    self._taken[sub] += 1

    def _take(self, done: set, getters: dict, batch: list) -> None:
        """Move the finished getters' events and whatever else their queues hold (up to a batch) into batch."""
        for sub, task in list(getters.items()):
            if task in done:
                more = sub.drain_nowait(max(self.batch_size - len(batch) - 1, 0))
                batch.append(task.result())
                batch.extend(more)
                self._taken[sub] += 1 + len(more)
                getters[sub] = asyncio.create_task(sub.get())

    def _ack(self) -> None:
        for sub, n in self._taken.items():
            self.bus.ack(sub, n)
        self._taken.clear()

    async def _write(self, batch: list) -> None:
        try:
            await asyncio.to_thread(self.store.write, batch)
            self.written += len(batch)
        except Exception:  # never lose a batch to an unexpected backend bug
            log.exception("store write failed unexpectedly; spooling %d events", len(batch))
            await asyncio.to_thread(self.store.spool, batch)

    async def _maybe_purge(self) -> None:
        now = time.time()
        if now - self._last_purge < 3600:
            return
        self._last_purge = now
        try:
            n = await asyncio.to_thread(self.store.purge, now - self.retention_days * 86400)
            if n:
                log.info("retention: deleted %d rows older than %d days", n, self.retention_days)
        except Exception as exc:  # a failed purge is retried next hour; it must not stop the writer
            log.warning("retention purge failed: %s", exc)

    async def flush(self) -> int:
        """Write everything still queued (shutdown). Returns events written."""
        # Inserts are idempotent by event id, so rewriting an in-flight batch cannot duplicate.
        batch, self._inflight, self._leftover = self._inflight + self._leftover, [], []
        for sub in self.subs:
            more = sub.drain_nowait()
            batch.extend(more)
            self._taken[sub] += len(more)
        for i in range(0, len(batch), self.batch_size):
            await self._write(batch[i : i + self.batch_size])
        self._ack()
        return len(batch)
