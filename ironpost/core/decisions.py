"""Decisions: one model for every ban, whatever made it.

A decision says "ban this value until then", and who said so. Local alerts, `cli net
block/unblock`, peer nodes (Redis Streams), imported lists and a CrowdSec LAPI all produce
them; the ban manager (network module) applies them to the blocklist and records them in the
ledger; the CrowdSec-compatible API serves the ledger to bouncers.

origin says who made it, and so how far it is trusted:
  rule:<rule id>   an alert (log or packet data, written by an attacker): ONE host only
  cli              the operator (`cli net block`), may be a range
  list:<name>      a configured block list, may be a range
  crowdsec         a CrowdSec LAPI this node polls (bouncer mode), may be a range
  config           [ebpf] blocklist
A decision from data can never name a range or a special address (core/netaddr); the check is
made where a decision is built AND again where one is received from a peer, so a peer (or
anything that can write to the stream) cannot widen what an attacker's log line could ban.

action "delete" revokes whatever decision holds the value, on every node that trusts the origin.
"""

from __future__ import annotations

import ipaddress
import functools
import os
import sqlite3
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable

import orjson

from ironpost.core.errors import IronpostError
from ironpost.core.events import Event, new_id
from ironpost.core.netaddr import AddressError, Network, host_network, operator_network, untrusted_host

ORIGIN_KINDS = ("rule", "cli", "list", "crowdsec", "config")
DATA_ORIGINS = ("rule",)  # origins whose value was read from attacker-controlled data
ACTIONS = ("add", "delete")
MAX_REASON = 512
MAX_ORIGIN = 200

# Bus topics. DECISIONS: what this node decided (alerts, cli, lists, CrowdSec), for the fleet to
# share. DECISIONS_IN: decisions from elsewhere (peers) for the ban manager to apply.
# DECISIONS_DONE: each DECISIONS_IN decision once applied or refused, so its source can acknowledge it.
DECISIONS = "decisions"
DECISIONS_IN = "decisions.in"
DECISIONS_DONE = "decisions.done"


class DecisionError(IronpostError):
    """A decision is malformed, or names what its origin may not ban."""


def origin_kind(origin: str) -> str:
    return origin.partition(":")[0]


@dataclass(slots=True)
class Decision(Event):
    kind: ClassVar[str] = "decision"
    value: str  # "203.0.113.9" (scope ip) or "203.0.113.0/24" (scope range), as CrowdSec writes them
    origin: str  # see the module docstring
    action: str = "add"  # add | delete
    scope: str = "ip"  # ip | range
    type: str = "ban"
    duration: float | None = None  # seconds; None = until revoked
    reason: str = ""
    created_at: float = field(default_factory=time.time)
    until: float | None = None  # wall clock; None = until revoked
    node_id: str = ""
    id: str = field(default_factory=new_id)
    trace_id: str = ""

    def __post_init__(self):
        if not self.trace_id:
            self.trace_id = self.id
        if self.until is None and self.duration:
            self.until = self.created_at + self.duration

    def to_json(self) -> bytes:
        return orjson.dumps(self)  # orjson serializes the dataclass natively: 20x faster than asdict

    def network(self) -> Network:
        return operator_network(self.value)

    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left (None = permanent); <= 0 once expired."""
        if self.until is None:
            return None
        return self.until - (time.time() if now is None else now)


def checked(value: object, origin: object) -> tuple[Network, str, str]:
    """(network, canonical value, scope) for a value from `origin`, or DecisionError.

    Data origins (rule:...) get exactly one routable host; the others a host or a CIDR."""
    if type(value) is str and type(origin) is str:
        # a decision is checked when made and again when applied (a peer's batch, a list):
        # remembering the answer halves the address parsing of a 50k-decision batch
        return _checked_str(value, origin)
    return _checked(value, origin)


@functools.lru_cache(maxsize=1 << 16)
def _checked_str(value: str, origin: str) -> tuple[Network, str, str]:
    return _checked(value, origin)


def _checked(value: object, origin: object) -> tuple[Network, str, str]:
    if not isinstance(origin, str) or not origin or len(origin) > MAX_ORIGIN or origin_kind(origin) not in ORIGIN_KINDS:
        raise DecisionError(f"origin {str(origin)[:80]!r} is not one of {', '.join(k + ':...' if k in ('rule', 'list') else k for k in ORIGIN_KINDS)}")
    if origin_kind(origin) in DATA_ORIGINS:
        try:
            net = host_network(untrusted_host(value))
        except AddressError as exc:
            raise DecisionError(str(exc)) from None
    else:
        if not isinstance(value, str) or len(value) > 64:
            raise DecisionError(f"{str(value)[:80]!r} is not an IP address or CIDR")
        try:
            net = operator_network(value)
        except ValueError:
            raise DecisionError(f"{value[:80]!r} is not an IP address or CIDR") from None
    single = net.prefixlen == net.max_prefixlen
    return net, (str(net.network_address) if single else str(net)), ("ip" if single else "range")


def make(value: object, origin: str, *, action: str = "add", duration: float | None = None, reason: str = "",
         node_id: str = "", trace_id: str = "", created_at: float | None = None) -> Decision:
    """A validated decision (the one way code in Ironpost builds one)."""
    if action not in ACTIONS:
        raise DecisionError(f"action {action!r} is not add or delete")
    if duration is not None and not (duration > 0):
        raise DecisionError(f"duration {duration!r} must be positive (or none for a permanent ban)")
    _, canon, scope = checked(value, origin)
    now = time.time() if created_at is None else created_at
    return Decision(value=canon, origin=origin, action=action, scope=scope, duration=duration, reason=reason[:MAX_REASON],
                    created_at=now, until=(now + duration) if duration else None, node_id=node_id, trace_id=trace_id)


def from_wire(data: object) -> Decision:
    """A decision received from outside this process (a peer, through Redis), re-validated
    as if made here: the same single-host rule, bounded strings, sane times."""
    if not isinstance(data, dict):
        raise DecisionError("a decision must be a JSON object")
    try:
        created = float(data.get("created_at") or time.time())
        duration = data.get("duration")
        duration = float(duration) if duration not in (None, 0, "") else None
        until = data.get("until")
        until = float(until) if until not in (None, "") else None
    except (TypeError, ValueError):
        raise DecisionError("created_at, duration and until must be numbers") from None
    d = make(data.get("value"), data.get("origin"), action=str(data.get("action", "add")), duration=duration,
             reason=str(data.get("reason", ""))[:MAX_REASON], node_id=str(data.get("node_id", ""))[:MAX_ORIGIN],
             trace_id=str(data.get("trace_id", ""))[:64], created_at=created)
    if until is not None:
        d.until = until
    if data.get("type", "ban") != "ban":
        raise DecisionError(f"decision type {str(data.get('type'))[:40]!r} is not supported (only ban)")
    ident = data.get("id")
    if isinstance(ident, str) and 0 < len(ident) <= 64:
        d.id = ident
    return d


class DecisionLedger:
    """The decisions in force on this node, and the changes to them in order.

    Written by the ban manager only; read by the CrowdSec-compatible API (a bouncer asks for
    the changes since its last poll) and the CLI. Every change gets a sequence number; the
    last `history` changes are kept so a bouncer polling every few seconds gets deltas, and
    one that fell further behind gets the whole set again. Persisted to SQLite (0600) when a
    path is given, so what is in force, and where it came from, survives a restart; decision
    ids applied are remembered too, so a decision delivered twice (a peer's stream re-read
    after a crash) is applied once."""

    def __init__(self, path: str | Path | None = None, *, history: int = 100_000, seen_max: int = 200_000):
        self.path = Path(path) if path else None
        self.active: dict[Network, Decision] = {}
        self.seq = 0
        self._changes: deque[tuple[int, str, Decision]] = deque(maxlen=history)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_max = seen_max
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._open()

    # -- persistence ------------------------------------------------------------------
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS decisions (network TEXT PRIMARY KEY, body BLOB NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at REAL)")
            now = time.time()
            for net_text, body in db.execute("SELECT network, body FROM decisions"):
                try:
                    d = Decision.from_dict(orjson.loads(body))
                except (ValueError, TypeError):
                    continue
                if d.until is not None and d.until <= now:
                    continue  # expired while we were down: the kernel already stopped dropping
                self.active[ipaddress.ip_network(net_text)] = d
            for (ident,) in db.execute("SELECT id FROM seen ORDER BY at DESC LIMIT ?", (self._seen_max,)):
                self._seen[ident] = None
        except sqlite3.Error as exc:
            raise DecisionError(f"decision ledger {self.path}: {exc}") from None
        self._db = db

    def _write(self, adds: Iterable[tuple[Network, Decision]], deletes: Iterable[Network], seen: Iterable[str]) -> None:
        if self._db is None:
            return
        now = time.time()
        try:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO decisions (network, body) VALUES (?, ?)",
                                 [(str(n), d.to_json()) for n, d in adds])
            self._db.executemany("DELETE FROM decisions WHERE network = ?", [(str(n),) for n in deletes])
            self._db.executemany("INSERT OR IGNORE INTO seen (id, at) VALUES (?, ?)", [(i, now) for i in seen])
            self._db.execute("COMMIT")
            if len(self._seen) >= self._seen_max and self.seq % 1000 == 0:
                self._db.execute("DELETE FROM seen WHERE id NOT IN (SELECT id FROM seen ORDER BY at DESC LIMIT ?)",
                                 (self._seen_max,))
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    # -- changes ----------------------------------------------------------------------
    def seen(self, decision_id: str) -> bool:
        return decision_id in self._seen

    def _mark_seen(self, decision_id: str) -> None:
        self._seen[decision_id] = None
        while len(self._seen) > self._seen_max:
            self._seen.popitem(last=False)

    def revoke_seen(self, decision_id: str) -> None:
        """A decision handled without a change (so a second delivery is skipped too)."""
        self._mark_seen(decision_id)
        self._write((), (), [decision_id])

    def record(self, net: Network, decision: Decision) -> None:
        self.record_many([(net, decision)])

    def record_many(self, items: list[tuple[Network, Decision]]) -> None:
        """Decisions now in force (a new decision on a network replaces the old one)."""
        for net, d in items:
            self.active[net] = d
            self.seq += 1
            self._changes.append((self.seq, "add", d))
            self._mark_seen(d.id)
        self._write(items, (), [d.id for _, d in items])

    def revoke(self, net: Network, by: Decision | None = None) -> Decision | None:
        """Remove what holds `net`; `by` is the delete decision (None: expiry). Returns the old one."""
        old = self.active.pop(net, None)
        if by is not None:
            self._mark_seen(by.id)
        if old is not None:
            self.seq += 1
            self._changes.append((self.seq, "delete", old))
        self._write((), [net] if old is not None else (), [by.id] if by is not None else ())
        return old

    def due(self, now: float | None = None) -> list[Network]:
        now = time.time() if now is None else now
        return [n for n, d in self.active.items() if d.until is not None and d.until <= now]

    def changes_since(self, seq: int) -> tuple[list[Decision], list[Decision], int] | None:
        """(added, deleted, newest seq) since `seq`, or None when the history no longer reaches
        back that far (the caller then sends the whole active set)."""
        if seq > self.seq:
            return None
        if seq < self.seq and (not self._changes or self._changes[0][0] > seq + 1):
            return None
        added: dict[str, Decision] = {}
        deleted: dict[str, Decision] = {}
        for s, op, d in reversed(self._changes):
            if s <= seq:
                break
            key = d.value
            if key in added or key in deleted:
                continue  # the newest change of a value wins
            (added if op == "add" else deleted)[key] = d
        return list(added.values()), list(deleted.values()), self.seq

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
