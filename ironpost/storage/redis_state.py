"""Threshold and dedup state in Redis, so that several daemons see one attacker.

Meets the WindowState contract (ironpost.core.window: hit, clear, first_seen, mark_once) with
one Lua script per call, so each update is atomic across daemons and costs one round trip.
Windows run on EVENT time (the log's timestamp), like the in-memory state, so a replayed
file gives the same result; key expiry (wall time) only bounds memory: every key gets a TTL of
its window plus `ttl_slack` seconds, and a window keeps at most `max_events` entries.
Redis failures raise StorageError, so the caller can fall back to local state.
"""

from __future__ import annotations

import itertools
import os

import redis

from ironpost.core.errors import StorageError
from ironpost.core.window import WindowState

# KEYS[1] window zset; ARGV: ts, window, member, ttl_ms, max_events.
# Same rules as the in-memory MemoryState: events older than (newest - window) are dropped,
# at most max_events are kept, and the count is of events in [ts - window, ts].
_HIT = """
local ts = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.17g', newest - win))
local cap = tonumber(ARGV[5])
if cap > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(cap + 1)) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCOUNT', KEYS[1], string.format('%.17g', ts - win), ARGV[1])
"""

# KEYS[1] mark; ARGV: ts, window, ttl_ms. Fresh when unmarked or the mark is more than a
# window away in event time; otherwise the mark moves forward to ts, so a burst that keeps
# going stays one incident until it has been quiet for a window (as in MemoryState).
# Event time, not key expiry, decides: replays run far faster than wall time.
_MARK_ONCE = """
local ts = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local prev = redis.call('GET', KEYS[1])
local mark = ts
local fresh = 1
if prev then
  prev = tonumber(prev)
  if ts - prev <= win and ts >= prev - win then
    fresh = 0
    if prev > ts then mark = prev end
  end
end
redis.call('SET', KEYS[1], string.format('%.17g', mark), 'PX', ARGV[3])
return fresh
"""


class RedisState(WindowState):
    def __init__(self, url: str, prefix: str = "ironpost:lp", *, ttl_slack: float = 60.0, max_events: int = 4096,
                 timeout: float = 2.0):
        self.prefix = prefix.rstrip(":")
        self.ttl_slack = ttl_slack
        self.max_events = max_events
        try:
            self._r = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        except (ValueError, redis.RedisError) as exc:
            raise StorageError(f"bad Redis URL: {exc}") from exc
        self._hit = self._r.register_script(_HIT)
        self._mark = self._r.register_script(_MARK_ONCE)
        # members must be unique across daemons, or two hits at one timestamp would count once
        self._me = os.urandom(6).hex()
        self._seq = itertools.count()

    def _wkey(self, key: str) -> str:
        return f"{self.prefix}:win:{key}"

    def _okey(self, key: str) -> str:
        return f"{self.prefix}:once:{key}"

    def _ttl_ms(self, window: float) -> int:
        return max(1, int((window + self.ttl_slack) * 1000))

    def hit(self, key: str, ts: float, window: float) -> int:
        """Record an event at event-time ts; return how many events fall in [ts - window, ts]."""
        member = f"{ts!r}:{self._me}:{next(self._seq)}"
        try:
            return int(self._hit(keys=[self._wkey(key)], args=[repr(float(ts)), repr(float(window)), member,
                                                                self._ttl_ms(window), self.max_events]))
        except redis.RedisError as exc:
            raise StorageError(f"Redis hit failed: {exc}") from exc

    def clear(self, key: str) -> None:
        """Forget the key's events and its mark."""
        try:
            self._r.delete(self._wkey(key), self._okey(key))
        except redis.RedisError as exc:
            raise StorageError(f"Redis clear failed: {exc}") from exc

    def first_seen(self, key: str) -> float | None:
        """Event time of the oldest event still in the window, or None."""
        try:
            rows = self._r.zrange(self._wkey(key), 0, 0, withscores=True)
        except redis.RedisError as exc:
            raise StorageError(f"Redis query failed: {exc}") from exc
        return float(rows[0][1]) if rows else None

    def mark_once(self, key: str, ts: float, window: float) -> bool:
        """True when key was not marked within `window` before event-time ts; the mark moves to ts either way."""
        try:
            return bool(self._mark(keys=[self._okey(key)], args=[repr(float(ts)), repr(float(window)), self._ttl_ms(window)]))
        except redis.RedisError as exc:
            raise StorageError(f"Redis mark failed: {exc}") from exc

    def ping(self) -> None:
        try:
            self._r.ping()
        except redis.RedisError as exc:
            raise StorageError(f"Redis unreachable: {exc}") from exc

    def close(self) -> None:
        self._r.close()
