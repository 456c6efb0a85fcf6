"""MemoryState: the in-process WindowState (ironpost.core.window), keyed by rule and group.

The reference implementation of the contract: RedisState and the compiled matcher's inline
window counters are checked against it.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict

from ironpost.core.window import WindowState


class MemoryState(WindowState):
    """Bounded in-process state: at most max_keys groups (least recently used evicted and
    counted), at most max_events timestamps per group, expired groups swept as time advances."""

    # a group idle this long past its window is swept; late (out-of-order) events younger than
    # this still find their group, so replays and live traffic count the same
    GRACE = 3600.0

    def __init__(self, max_keys: int = 100_000, max_events: int = 4096):
        self.max_keys = max_keys
        self.max_events = max_events
        self._events: OrderedDict[str, list[float]] = OrderedDict()
        self._windows: dict[str, float] = {}
        self._marks: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.evictions = 0
        self.expired = 0
        self._now = float("-inf")
        self._swept = float("-inf")
        # the newest event time the sweep may measure by: the pipeline sets it per batch to its
        # wall clock + AHEAD (buckets.sessions), so one line dated years ahead sweeps nothing
        self.horizon = float("inf")

    def _sweep(self, n: int = 8) -> None:
        # the front of an LRU dict holds the stalest groups; drop a few whose window has passed
        for d, last in ((self._events, lambda k, v: v[-1] + self._windows.get(k, 0.0)),
                        (self._marks, lambda k, v: v[0] + v[1])):
            for _ in range(n):
                if not d:
                    break
                k = next(iter(d))
                if last(k, d[k]) + self.GRACE >= self._now:
                    break
                del d[k]
                self._windows.pop(k, None)
                self.expired += 1

    def hit(self, key: str, ts: float, window: float) -> int:
        ev = self._events.get(key)
        if ev is None:
            if len(self._events) >= self.max_keys:
                old, _ = self._events.popitem(last=False)
                self._windows.pop(old, None)
                self.evictions += 1
            ev = self._events[key] = []
        else:
            self._events.move_to_end(key)
        self._windows[key] = window
        if ev and ts >= ev[-1]:
            ev.append(ts)
        else:
            bisect.insort(ev, ts)
        newest = ev[-1]
        cut = bisect.bisect_left(ev, newest - window)
        if cut:
            del ev[:cut]
        if len(ev) > self.max_events:
            del ev[: len(ev) - self.max_events]
        if newest > self.horizon:
            newest = self.horizon
        if newest > self._now:
            self._now = newest
            if newest - self._swept >= 10.0:  # sweeping on every event costs more than it frees
                self._swept = newest
                self._sweep(64)
        lo = bisect.bisect_left(ev, ts - window)
        hi = bisect.bisect_right(ev, ts)
        return hi - lo

    def clear(self, key: str) -> None:
        self._events.pop(key, None)
        self._windows.pop(key, None)
        self._marks.pop(key, None)

    def first_seen(self, key: str) -> float | None:
        ev = self._events.get(key)
        return ev[0] if ev else None

    def mark_once(self, key: str, ts: float, window: float) -> bool:
        prev = self._marks.get(key)
        fresh = prev is None or ts - prev[0] > window or ts < prev[0] - window
        if prev is None and len(self._marks) >= self.max_keys:
            self._marks.popitem(last=False)
            self.evictions += 1
        self._marks[key] = (max(ts, prev[0]) if prev and not fresh else ts, window)
        self._marks.move_to_end(key)
        return fresh

    def groups(self) -> int:
        return len(self._events)

    def metrics(self) -> dict[str, float]:
        return {
            "lp_state_groups": float(len(self._events)),
            "lp_state_marks": float(len(self._marks)),
            "lp_state_evictions_total": float(self.evictions),
            "lp_state_expired_total": float(self.expired),
        }


class MirroredState(WindowState):
    """A shared state (Redis) with a local MemoryState that records every call too, so an outage
    of the shared state neither loses nor repeats an incident of this daemon.

    Counts are the larger of the two: each is at most the true count (the local one sees only
    this daemon's events, the shared one misses what came while it was down or after it was
    restarted empty), so the larger is the better lower bound. A mark is fresh only when it is
    fresh in both: an incident alerted locally during the outage is not alerted again from the
    shared state afterwards, and one alerted by another daemon is not alerted here. Every call
    reaches both, so their marks move together. Failures of the shared state are counted in
    `errors` and the local answer is used.
    """

    def __init__(self, shared, local: MemoryState, errors_exc: type[Exception]):
        self.shared, self.local = shared, local
        self._exc = errors_exc
        self.errors = 0

    def _shared(self, method: str, *args):
        try:
            return getattr(self.shared, method)(*args)
        except self._exc:
            self.errors += 1
            return None

    def hit(self, key: str, ts: float, window: float) -> int:
        n = self.local.hit(key, ts, window)
        shared = self._shared("hit", key, ts, window)
        return n if shared is None else max(n, shared)

    def clear(self, key: str) -> None:
        self.local.clear(key)
        self._shared("clear", key)

    def first_seen(self, key: str) -> float | None:
        seen = [t for t in (self.local.first_seen(key), self._shared("first_seen", key)) if t is not None]
        return min(seen) if seen else None

    def mark_once(self, key: str, ts: float, window: float) -> bool:
        fresh = self.local.mark_once(key, ts, window)
        shared = self._shared("mark_once", key, ts, window)
        return fresh if shared is None else (fresh and shared)

    def metrics(self) -> dict[str, float]:
        sm = getattr(self.shared, "metrics", None)
        return sm() if callable(sm) else {}
