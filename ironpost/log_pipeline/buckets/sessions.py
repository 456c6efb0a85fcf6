"""Per-connection memory for rules with a `session` block (see rules.model.Session).

A service such as sshd spreads one connection over several lines that share a process id: the
address on "Connection from", the failure without an address, the close with the address but
no reason. The table remembers, per session key, the address and user seen, which rules matched
(with their users), and matches still waiting for an address. It is bounded in sessions
(least recently used evicted, counted) and in time (a session idle past its rule's ttl starts
afresh, so a reused pid does not inherit an old connection). Sessions whose connection never
comes back (most of them: a new pid per connection) are swept once idle past the longest ttl
and a grace for late lines, so memory follows the sessions of the last hour, not the cap.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ironpost.log_pipeline.buckets.state import MemoryState

MAX_PENDING = 16  # matches one session may hold while waiting for its address
MAX_USERS = 32  # users remembered per rule per session
# a line this late still finds its session; older idle sessions are swept (one grace for all state)
GRACE = MemoryState.GRACE
# event time runs at most this far ahead of the wall clock when it drives the sweep: one line
# with a forged future timestamp must not sweep every live session away
AHEAD = 300.0


class _Session:
    __slots__ = ("last", "src_ip", "user", "seen", "pending")

    def __init__(self, ts: float):
        self.last = ts
        self.src_ip: str | None = None
        self.user: str | None = None
        # per rule the users it saw, as a tuple: nearly always one, and 100k sessions held a
        # 216-byte set each where a 1-tuple takes 48 (and no list until a match waits)
        self.seen: dict[str, tuple] = {}
        self.pending: list | tuple = ()


def _note_user(s: _Session, rule_id: str, user: str | None) -> None:
    users = s.seen.get(rule_id)
    if users is None:
        s.seen[rule_id] = (user,)
    elif len(users) < MAX_USERS and user not in users:
        s.seen[rule_id] = users + (user,)


def key_bytes(key: tuple) -> bytes:
    """A session key as the compiled matcher writes it: per part a 4-byte length (0xffffffff
    when absent) and the text (the pid in decimal)."""
    out = []
    for v in key:
        if v is None:
            out.append(b"\xff\xff\xff\xff")
            continue
        b = str(v).encode("utf-8", "surrogatepass")
        out.append(len(b).to_bytes(4, "little"))
        out.append(b)
    return b"".join(out)


class SessionTable:
    def __init__(self, max_sessions: int = 100_000, ttl_max: float = 600.0):
        self.max_sessions = max_sessions
        self.ttl_max = ttl_max  # the longest ttl of the session rules sharing this table
        self._now = float("-inf")  # newest event time seen, capped by the horizon
        self.horizon = float("inf")  # wall clock + AHEAD, set by the pipeline per batch
        self._t: OrderedDict[tuple, _Session] = OrderedDict()
        # matches the compiled matcher counted and remembered itself (attach): taken per session
        # when one of its lines reaches observe(), and keys whose session waits for an address
        self._take = None
        self._watch = None
        self._rule_of = None
        self._held: dict[tuple, list] = {}
        self.evicted = 0
        self.expired = 0
        self.pending_dropped = 0
        self.resolved = 0

    def attach(self, take, watch, rule_of) -> None:
        """take(key bytes) -> [(rule index, src_ip, user, ts)] or None; watch(key bytes, on);
        rule_of(rule index) -> Rule."""
        self._take, self._watch, self._rule_of = take, watch, rule_of

    def _apply(self, key: tuple, entries: list) -> list:
        out: list = []
        entries.sort(key=lambda e: e[3])
        for ri, src_ip, user, ets in entries:
            out += self.remember(self._rule_of(ri), key, src_ip, user, ets)
        return out

    def __len__(self) -> int:
        return len(self._t)

    def _get(self, key: tuple, ts: float, ttl: float) -> _Session:
        s = self._t.get(key)
        if s is not None and ts - s.last > ttl:
            self.expired += 1
            self._unwatch(key, s)
            s = None
        if s is None:
            s = _Session(ts)
            self._t[key] = s
            if len(self._t) > self.max_sessions:
                self._drop_oldest()
                self.evicted += 1
            now = min(ts, self.horizon)
            if now > self._now:
                self._now = now
            self._sweep()
        else:
            self._t.move_to_end(key)
            if ts > s.last:
                s.last = ts
        return s

    def _unwatch(self, key: tuple, s: _Session) -> None:
        """A session whose waiting matches are resolved, expired or evicted: the compiled matcher
        stops sending this key's lines here (left watched, such keys piled up: 43k after 3M lines
        of an attack log)."""
        if s.pending and self._watch is not None:
            self._watch(key_bytes(key), False)

    def _drop_oldest(self) -> None:
        self._unwatch(*self._t.popitem(last=False))

    def _sweep(self) -> None:
        """Drop sessions idle past ttl_max + GRACE from the least recently used end: at most two
        per new session, which keeps up with any arrival rate and never stalls one line."""
        cutoff = self._now - self.ttl_max - GRACE
        for _ in range(2):
            if not self._t or next(iter(self._t.values())).last >= cutoff:
                return
            self._drop_oldest()
            self.expired += 1

    def remember(self, rule: Any, key: tuple, src_ip: str | None, user: str | None, ts: float) -> list:
        """What observe() does for a rule whose session block only remembers, for a match counted
        elsewhere (the compiled matcher): [(rule, record)] waiting matches its address resolved."""
        if key[-1] is None:
            return []
        s = self._get(key, ts, rule.session.ttl_secs)
        _note_user(s, rule.id, user)
        if user is not None and s.user is None:
            s.user = user
        return self._learn(s, key, src_ip)

    def _learn(self, s: _Session, key: tuple, addr: str | None) -> list:
        resolved: list = []
        if addr is not None and s.src_ip is None:
            s.src_ip = addr
            for prule, prec in s.pending:
                prec["src_ip"] = addr
                resolved.append((prule, prec))
            self.resolved += len(s.pending)
            self._unwatch(key, s)
            s.pending = ()
        return resolved

    def observe(self, rule: Any, rec: dict, ts: float) -> tuple[dict | None, list]:
        """(record to match now or None, [(rule, record)] earlier matches this line resolved).

        With a compiled matcher attached, the matches it remembered for this session are applied
        first when older than this line and after it otherwise (C saw the whole batch before
        Python sees this line); matches within the same second as this line count as after it."""
        cfg = rule.session
        key = tuple(rec.get(k) for k in cfg.key)
        if key[-1] is None:  # no connection id on the line: nothing to correlate with
            if cfg.after or cfg.silent:
                return None, []
            return rec, []
        early: list = []
        late: list = []
        if self._take is not None:
            for e in self._held.pop(key, []) + (self._take(key_bytes(key)) or []):
                (early if e[3] < ts else late).append(e)
        before = self._apply(key, early) if early else []
        out, resolved = self._observe(rule, cfg, key, rec, ts)
        if late:
            self._held[key] = late  # until a later line of the session, or flush() at the end of the batch
        return out, before + resolved

    def flush(self) -> list:
        """Apply the remembered matches no later line of their session claimed (end of a batch)."""
        out: list = []
        held, self._held = self._held, {}
        for key, entries in held.items():
            out += self._apply(key, entries)
        return out

    def _observe(self, rule: Any, cfg: Any, key: tuple, rec: dict, ts: float) -> tuple[dict | None, list]:
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
                before.update(s.seen.get(a, ()))
            ok = rec.get("user") not in before
        _note_user(s, rule.id, rec.get("user"))
        if rec.get("user") is not None and s.user is None:
            s.user = rec["user"]
        resolved = self._learn(s, key, rec.get("src_ip"))
        if not ok or cfg.silent:
            return None, resolved
        if cfg.wait_for_address and rec.get("src_ip") is None and rec.get("src_host") is None:
            if len(s.pending) < MAX_PENDING:
                if not s.pending:
                    s.pending = []
                    if self._watch is not None:
                        self._watch(key_bytes(key), True)  # its next address may come from a line counted in C
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
