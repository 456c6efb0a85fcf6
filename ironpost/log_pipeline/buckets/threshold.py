"""Decide, per rule match, whether an alert fires: threshold, dedup, rate limit (all counted).

Without a threshold every match is an alert (still rate limited). With one, the group's events
in the last timeframe_secs (event time) are counted; reaching `count` fires once, and further
matches of the same rule and group are deduplicated until the group has been quiet for
dedup_secs (default: timeframe_secs). `distinct: field` counts distinct values instead (port scans).

The rate limit (rule.rate_limit alerts a minute) counts per rule *and* group key (the group_by
values; for a rule without a threshold, the line's src_ip): otherwise an attacker floods a rule
from decoy sources and the real source's alert is the one limited away. A rate-limited alert is
still reported as `suppressed`: it is not stored, but its ban decision is still taken.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import orjson

from ironpost.core.errors import StorageError
from ironpost.core.window import WindowState
from ironpost.log_pipeline.buckets.state import MemoryState, MirroredState
from ironpost.log_pipeline.rules.model import Rule


@dataclass
class Decision:
    fire: bool
    count: int
    first_seen: float
    group: dict
    suppressed: bool = False  # would have fired but for the rate limit


RATE_KEYS_MAX = 100_000  # (rule, group) rate-limit counters kept; the least recently used go first


def group_values(rule: Rule, rec: dict) -> dict:
    if rule.threshold is None:
        return {}
    return {f: rec.get(f) for f in rule.threshold.group_by}


class ThresholdEngine:
    def __init__(self, state: WindowState | None = None):
        # when a shared state (Redis) fails, counting goes on locally rather than stopping: the
        # local copy records every event all along, so an incident spanning the outage is
        # neither missed nor alerted twice (MirroredState)
        self.fallback = MemoryState()
        self.state: WindowState = (MemoryState() if state is None else state if isinstance(state, MemoryState)
                                   else MirroredState(state, self.fallback, StorageError))
        self._state_errors = 0
        self.deduped: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.fired: Counter[str] = Counter()
        self._rate: dict[str, tuple[int, int]] = {}

    def _key(self, rule: Rule, group: dict) -> str:
        if len(group) == 1:
            for v in group.values():
                return f"{rule.id}|{v}"
        return f"{rule.id}|{orjson.dumps(list(group.values()), default=str).decode()}"

    def _rate_key(self, rule: Rule, group: dict, rec: dict | None) -> str:
        if group:
            return self._key(rule, group)
        src = rec.get("src_ip") if rec is not None else None
        return f"{rule.id}|{src}" if src is not None else rule.id

    def _rate_ok(self, rule: Rule, ts: float, key: str) -> bool:
        minute = int(ts // 60)
        cur, n = self._rate.pop(key, (minute, 0))
        if cur != minute:
            cur, n = minute, 0
        if len(self._rate) >= RATE_KEYS_MAX:
            del self._rate[next(iter(self._rate))]
        if n >= rule.rate_limit:
            self._rate[key] = (cur, n)
            return False
        self._rate[key] = (cur, n + 1)
        return True

    def rate_ok(self, rule: Rule, ts: float, group: dict | None = None, rec: dict | None = None) -> bool:
        """For alerts decided elsewhere (thresholds counted in the compiled matcher)."""
        if self._rate_ok(rule, ts, self._rate_key(rule, group or {}, rec)):
            self.fired[rule.id] += 1
            return True
        self.rate_limited[rule.id] += 1
        return False

    def decide(self, rule: Rule, rec: dict, ts: float) -> Decision:
        try:
            return self._decide(self.state, rule, rec, ts)
        except StorageError:
            self._state_errors += 1
            return self._decide(self.fallback, rule, rec, ts)

    @property
    def state_errors(self) -> int:
        return self._state_errors + getattr(self.state, "errors", 0)

    def _decide(self, state: WindowState, rule: Rule, rec: dict, ts: float) -> Decision:
        group = group_values(rule, rec)
        t = rule.threshold
        if t is None:
            ok = self._rate_ok(rule, ts, self._rate_key(rule, group, rec))
            if not ok:
                self.rate_limited[rule.id] += 1
            else:
                self.fired[rule.id] += 1
            return Decision(ok, 1, ts, group, suppressed=not ok)
        key = self._key(rule, group)
        if t.distinct:
            v = rec.get(t.distinct)
            if v is None:
                return Decision(False, 0, ts, group)
            if state.mark_once(f"{key}|d|{v}", ts, t.timeframe_secs):
                n = state.hit(key, ts, t.timeframe_secs)
            else:
                return Decision(False, 0, ts, group)
        else:
            n = state.hit(key, ts, t.timeframe_secs)
        if n < t.count:
            return Decision(False, n, ts, group)
        first = state.first_seen(key)
        dedup = t.dedup_secs if t.dedup_secs is not None else t.timeframe_secs
        if not state.mark_once(f"{key}|fired", ts, dedup):
            self.deduped[rule.id] += 1
            return Decision(False, n, first if first is not None else ts, group)
        if not self._rate_ok(rule, ts, key):
            self.rate_limited[rule.id] += 1
            return Decision(False, n, first if first is not None else ts, group, suppressed=True)
        self.fired[rule.id] += 1
        return Decision(True, n, first if first is not None else ts, group)

    def metrics(self) -> dict[str, float]:
        out = {
            "lp_alerts_deduped_total": float(sum(self.deduped.values())),
            "lp_alerts_rate_limited_total": float(sum(self.rate_limited.values())),
            "lp_state_errors_total": float(self.state_errors),
        }
        sm = getattr(self.state, "metrics", None)
        if callable(sm):
            out.update(sm())
        return out
