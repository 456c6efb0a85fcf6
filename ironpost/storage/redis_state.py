"""Threshold and dedup state in Redis, so that several daemons see one attacker.

Implements the rule engine's WindowState protocol (hit, clear, first_seen, mark_once) with
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

# KEYS[1] window zset; ARGV: ts, window, member, ttl_ms, max_events
_HIT = """
local ts = tonumber(ARGV[1])
local low = ts - tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.17g', low))
local cap = tonumber(ARGV[5])
if cap > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(cap + 1)) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCOUNT', KEYS[1], string.format('%.17g', low), ARGV[1])
"""

# KEYS[1] mark; ARGV: ts, window, ttl_ms. A mark older (in event time) than the window no
# longer counts, even if its key has not expired yet (replays run faster than wall time).
_MARK_ONCE = """
local prev = redis.call('GET', KEYS[1])
local ts = tonumber(ARGV[1])
if prev then
  local age = ts - tonumber(prev)
  if age < tonumber(ARGV[2]) and age > -tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""


class RedisState:
    def __init__(self, url: str, prefix: str = "ironpost", *, ttl_slack: float = 60.0, max_events: int = 100_000,
                 timeout: float = 2.0):
        self.prefix = prefix
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
        """Forget a window (e.g. after its threshold fired)."""
        try:
            self._r.delete(self._wkey(key))
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
        """True (and marks it) when key was not marked within `window` of event-time ts."""
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
