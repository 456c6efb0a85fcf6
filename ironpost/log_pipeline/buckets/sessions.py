"""Per-connection memory for rules with a `session` block (see rules.model.Session).

A service such as sshd spreads one connection over several lines that share a process id: the
address on "Connection from", the failure without an address, the close with the address but
no reason. The table remembers, per session key, the address and user seen, which rules matched
(with their users), and matches still waiting for an address. It is bounded in sessions
(least recently used evicted, counted) and in time (a session idle past its rule's ttl starts
afresh, so a reused pid does not inherit an old connection).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

MAX_PENDING = 16  # matches one session may hold while waiting for its address
MAX_USERS = 32  # users remembered per rule per session


class _Session:
    __slots__ = ("last", "src_ip", "user", "seen", "pending")

    def __init__(self, ts: float):
        self.last = ts
        self.src_ip: str | None = None
        self.user: str | None = None
        self.seen: dict[str, set] = {}
        self.pending: list = []


class SessionTable:
    def __init__(self, max_sessions: int = 100_000):
        self.max_sessions = max_sessions
        self._t: OrderedDict[tuple, _Session] = OrderedDict()
        self.evicted = 0
        self.expired = 0
        self.pending_dropped = 0
        self.resolved = 0

    def __len__(self) -> int:
        return len(self._t)

    def _get(self, key: tuple, ts: float, ttl: float) -> _Session:
        s = self._t.get(key)
        if s is not None and ts - s.last > ttl:
            self.expired += 1
            s = None
        if s is None:
            s = _Session(ts)
            self._t[key] = s
            if len(self._t) > self.max_sessions:
                self._t.popitem(last=False)
                self.evicted += 1
        else:
            self._t.move_to_end(key)
            if ts > s.last:
                s.last = ts
        return s

    def observe(self, rule: Any, rec: dict, ts: float) -> tuple[dict | None, list]:
        """(record to match now or None, [(rule, record)] earlier matches this line resolved)."""
        cfg = rule.session
        key = tuple(rec.get(k) for k in cfg.key)
        if key[-1] is None:  # no connection id on the line: nothing to correlate with
            if cfg.after or cfg.silent:
                return None, []
            return rec, []
        s = self._get(key, ts, cfg.ttl_secs)
        if cfg.fill:
            if "src_ip" not in rec and "src_host" not in rec and s.src_ip is not None:
                rec["src_ip"] = s.src_ip
            if "user" not in rec and s.user is not None:
                rec["user"] = s.user
        ok = True
        if cfg.after and not any(a in s.seen for a in cfg.after):
            ok = False
        if ok and cfg.unless and any(u in s.seen for u in cfg.unless):
            ok = False
        if ok and cfg.new_user:
            before: set = set()
            for a in cfg.after:
                before |= s.seen.get(a, set())
            ok = rec.get("user") not in before
        users = s.seen.setdefault(rule.id, set())
        if len(users) < MAX_USERS:
            users.add(rec.get("user"))
        if rec.get("user") is not None and s.user is None:
            s.user = rec["user"]
        resolved: list = []
        addr = rec.get("src_ip")
        if addr is not None and s.src_ip is None:
            s.src_ip = addr
            for prule, prec in s.pending:
                prec["src_ip"] = addr
                resolved.append((prule, prec))
            self.resolved += len(s.pending)
            s.pending = []
        if not ok or cfg.silent:
            return None, resolved
        if cfg.wait_for_address and rec.get("src_ip") is None and rec.get("src_host") is None:
            if len(s.pending) < MAX_PENDING:
                s.pending.append((rule, rec))
            else:
                self.pending_dropped += 1
            return None, resolved
        return rec, resolved

    def metrics(self) -> dict[str, float]:
        return {
            "lp_sessions": float(len(self._t)),
            "lp_sessions_evicted_total": float(self.evicted),
            "lp_sessions_expired_total": float(self.expired),
            "lp_sessions_resolved_total": float(self.resolved),
            "lp_sessions_pending_dropped_total": float(self.pending_dropped),
        }
