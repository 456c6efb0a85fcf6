"""WindowState: the one contract for threshold and dedup state, whatever holds it.

Every state backend meets it:
- MemoryState (ironpost/log_pipeline/buckets/state.py): in this process; the reference
  implementation, and the Python twin of the window counters the compiled matcher keeps
  inline (ext/matcher.pyx, Matcher.aggregate), compared with them by hypothesis
  (tests/log_pipeline/test_lp_fast_thresholds.py, tests/detection/test_ext_twin.py);
- RedisState (ironpost/storage/redis_state.py): shared by several daemons, one atomic Lua
  script per call, compared with MemoryState by hypothesis (tests/storage/test_redis_state.py).
The daemon's wiring picks the backend ([log_pipeline.storage] redis_url) and hands it to the
log pipeline; the threshold engine (log_pipeline/buckets/threshold.py) only sees this protocol.

Times are EVENT times (the log's own timestamp), so a replayed file gives the same alerts as
live traffic. Keys are opaque strings (rule id and group values).

  hit(key, ts, window) -> int     record an event at ts; return how many of the key's events
                                  lie in [ts - window, ts]
  clear(key)                      forget the key's events and mark
  first_seen(key) -> float|None   earliest event of the key still in its window
  mark_once(key, ts, window) -> bool
                                  True when the key was not marked within `window` before ts;
                                  the mark is (re)set to ts on every call, so a burst that keeps
                                  going stays one incident until it has been quiet for `window`
A backend whose store fails raises StorageError; the engine then counts locally.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class WindowState(Protocol):
    def hit(self, key: str, ts: float, window: float) -> int: ...

    def clear(self, key: str) -> None: ...

    def first_seen(self, key: str) -> float | None: ...

    def mark_once(self, key: str, ts: float, window: float) -> bool: ...
