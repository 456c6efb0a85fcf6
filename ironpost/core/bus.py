"""The event bus: publish(topic, event) and subscribe(topic), over bounded asyncio queues.

Kept this narrow on purpose so a Redis Streams transport can stand behind the same calls.
Each subscriber has its own bounded queue. `publish` waits when a queue is full
(backpressure for sources that can wait, such as file tails); `publish_nowait` drops
and counts (for sources that cannot wait, such as UDP syslog or the packet ring buffer).

A durable subscriber (the storage writer) acks what it has made durable, in queue order, so a
source that remembers how far it has read (a tailed file's offsets) can wait until everything it
published is stored before it remembers: a SIGKILL then re-reads a few lines, never loses them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

# "alerts.suppressed": alerts an alert rate limit kept out of "alerts" (not stored, no container
# action) that still carry a ban decision; the ban manager reads both topics.
SUPPRESSED_TOPIC = "alerts.suppressed"


class Subscription:
    def __init__(self, topic: str, name: str, capacity: int, durable: bool = False, base: int = 0):
        self.topic = topic
        self.name = name
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=capacity)
        self.durable = durable
        # the topic's publish count when this subscriber joined, plus what it has acked since:
        # every event published up to that position is durable as far as this subscriber goes
        self.position = base

    async def get(self) -> Any:
        return await self.queue.get()

    def get_nowait(self) -> Any:
        return self.queue.get_nowait()

    def drain_nowait(self, limit: int = 1_000_000) -> list[Any]:
        """Everything queued now, without waiting (used for batching and at shutdown)."""
        out = []
        q = self.queue
        while not q.empty() and len(out) < limit:
            out.append(q.get_nowait())
        return out

    def qsize(self) -> int:
        return self.queue.qsize()

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.queue.get()


class Bus:
    def __init__(self, capacity: int = 10000):
        self.capacity = capacity
        self._subs: dict[str, list[Subscription]] = {}
        self.published: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self._waiters: list[asyncio.Future] = []

    def subscribe(self, topic: str, name: str = "", *, durable: bool = False) -> Subscription:
        """durable=True: the subscriber promises to ack() every event once it is stored."""
        sub = Subscription(topic, name or f"{topic}-{len(self._subs.get(topic, ()))}", self.capacity,
                           durable=durable, base=self.published[topic])
        self._subs.setdefault(topic, []).append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic, [])
        if sub in subs:
            subs.remove(sub)
        if sub.durable:
            self._wake()  # nobody waits on a subscriber that has left

    # ---- durability ----------------------------------------------------------------------
    def ack(self, sub: Subscription, n: int) -> None:
        """The durable subscriber `sub` has stored its next n events (in the order it got them)."""
        if n > 0:
            sub.position += n
            self._wake()

    def durable_through(self, topic: str) -> int:
        """Every event of `topic` up to this publish count is stored by all durable subscribers."""
        return min((s.position for s in self._subs.get(topic, ()) if s.durable), default=self.published[topic])

    async def wait_durable(self, topic: str) -> None:
        """Wait until everything published on `topic` so far is stored."""
        target = self.published[topic]
        loop = asyncio.get_running_loop()
        while self.durable_through(topic) < target:
            fut = loop.create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def publish(self, topic: str, event: Any) -> None:
        """Deliver to every subscriber, waiting while a queue is full."""
        self.published[topic] += 1
        for sub in self._subs.get(topic, ()):
            await sub.queue.put(event)

    def publish_nowait(self, topic: str, event: Any) -> bool:
        """Deliver without waiting; a full subscriber queue drops the event and counts it."""
        self.published[topic] += 1
        ok = True
        for sub in self._subs.get(topic, ()):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped[f"{topic}:{sub.name}"] += 1
                if sub.durable:
                    self.ack(sub, 1)  # dropped and counted: nothing left to wait for
                ok = False
        return ok

    def pending(self) -> int:
        return sum(s.qsize() for subs in self._subs.values() for s in subs)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for topic, n in self.published.items():
            out[f'bus_published_total{{topic="{topic}"}}'] = n
        for key, n in self.dropped.items():
            topic, _, sub = key.partition(":")
            out[f'bus_dropped_total{{topic="{topic}",subscriber="{sub}"}}'] = n
        for topic, subs in self._subs.items():
            for s in subs:
                out[f'bus_queue_depth{{topic="{topic}",subscriber="{s.name}"}}'] = s.qsize()
        return out
