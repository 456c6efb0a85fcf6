"""The event bus: publish(topic, event) and subscribe(topic), over bounded asyncio queues.

Kept this narrow on purpose so a Redis Streams transport can stand behind the same calls.
Each subscriber has its own bounded queue. `publish` waits when a queue is full
(backpressure for sources that can wait, such as file tails); `publish_nowait` drops
and counts (for sources that cannot wait, such as UDP syslog or the packet ring buffer).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

# "alerts.suppressed": alerts an alert rate limit kept out of "alerts" (not stored, no container
# action) that still carry a ban decision; the ban manager reads both topics.
SUPPRESSED_TOPIC = "alerts.suppressed"


class Subscription:
    def __init__(self, topic: str, name: str, capacity: int):
        self.topic = topic
        self.name = name
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=capacity)

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

    def subscribe(self, topic: str, name: str = "") -> Subscription:
        sub = Subscription(topic, name or f"{topic}-{len(self._subs.get(topic, ()))}", self.capacity)
        self._subs.setdefault(topic, []).append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic, [])
        if sub in subs:
            subs.remove(sub)

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
