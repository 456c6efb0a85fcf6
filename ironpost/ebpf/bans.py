"""Bans: blocklist entries with a TTL, like a fail2ban bantime, each one recorded.

Every ban is a decision (core/decisions): alerts make `rule:<id>` decisions, the operator `cli`
ones, and decisions from elsewhere (peer nodes, CrowdSec, lists) arrive on DECISIONS_IN and go
through apply(). What is in force is kept in the decision ledger; expiry, revocation and
exemptions hold for every origin. Decisions made on this node are published on DECISIONS for
the fleet; each one from DECISIONS_IN ends on DECISIONS_DONE so its source can acknowledge it.

With auto_block on, an AlertEvent from any module that names a src_ip bans that address.
Manual blocks (CLI/control) go through here too. Every ban and unban is published as an
ActionEvent on "actions" (the daemon stores it). The kernel stops dropping at expiry on its
own (the entry carries its deadline); expire() deletes the entry and records the unban.

What an attacker controls cannot be turned against the host:
- an alert's src_ip is log or packet data, so it must name one routable host (netaddr); a
  range such as 0.0.0.0/0 in a JSON line's own src_ip field is refused and counted;
- exempt networks (ban_exempt, and by default this host's addresses, gateways and the SSH peer
  the daemon started from) are never auto-banned; a manual block of one needs force;
- SYN-flood and port-scan sources are trivially spoofed: their alerts ban only when that
  detector is opted in, and at most `detector_bans_per_minute` new bans per detector, with an
  alert when the cap is reached;
- "alerts.suppressed" carries alerts an alert rate limit held back: they are not stored, but
  their ban decision is still taken, so decoys flooding a rule cannot hide the real source.
Repeat offenders are banned longer (ttl * factor^(n-1), at most ban_ttl_max_secs); the count
per host is kept in <data_dir>/ban_history.db (0600) across restarts.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import sqlite3
import time
from collections import deque
from pathlib import Path

from ironpost.core import decisions
from ironpost.core.bus import Bus
from ironpost.core.decisions import DECISIONS, DECISIONS_DONE, Decision, DecisionLedger
from ironpost.core.errors import EbpfError
from ironpost.core.events import ActionEvent, AlertEvent
from ironpost.core.netaddr import Exemptions
from ironpost.ebpf.maps import Blocklist, Network, parse_target

log = logging.getLogger("ironpost.ebpf")

SYN_FLOOD_RULE = "ebpf.syn_flood"
PORT_SCAN_RULE = "ebpf.port_scan"
DETECTOR_RULES = (SYN_FLOOD_RULE, PORT_SCAN_RULE)
CAP_RULE = "ebpf.ban_cap_reached"
HISTORY_MAX = 100_000
ACTION_EACH_MAX = 100  # a bigger batch of decisions is one "block_many" action  # offenders remembered; the least recently banned are forgotten first


class BanHistory:
    """How often each host was auto-banned, persisted so escalation survives a restart."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._mem: dict[str, tuple[int, float]] = {}
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Created 0600 before sqlite opens it: the history names every address banned.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
            try:
                self._db = sqlite3.connect(self.path, isolation_level=None)
                self._db.execute("CREATE TABLE IF NOT EXISTS offenders (host TEXT PRIMARY KEY, bans INTEGER, last REAL)")
            except sqlite3.Error as exc:
                raise EbpfError(f"ban history {self.path}: {exc}") from None

    def count(self, host: str) -> int:
        if self._db is None:
            return self._mem.get(host, (0, 0.0))[0]
        row = self._db.execute("SELECT bans FROM offenders WHERE host = ?", (host,)).fetchone()
        return row[0] if row else 0

    def record(self, host: str, now: float) -> int:
        n = self.count(host) + 1
        if self._db is None:
            self._mem.pop(host, None)
            self._mem[host] = (n, now)
            while len(self._mem) > HISTORY_MAX:
                del self._mem[next(iter(self._mem))]
            return n
        try:
            self._db.execute("INSERT INTO offenders (host, bans, last) VALUES (?, ?, ?) "
                             "ON CONFLICT(host) DO UPDATE SET bans = excluded.bans, last = excluded.last", (host, n, now))
            if n == 1:
                self._db.execute("DELETE FROM offenders WHERE host IN (SELECT host FROM offenders ORDER BY last DESC "
                                 "LIMIT -1 OFFSET ?)", (HISTORY_MAX,))
        except sqlite3.Error as exc:
            log.error("ban history not written", extra={"error": str(exc), "path": str(self.path)})
        return n

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class BanManager:
    def __init__(self, blocklist: Blocklist, bus: Bus, *, auto_block: bool, ttl_secs: float,
                 exempt: list[str] | tuple[str, ...] = (), exempt_host: bool = False, host_exemptions=None,
                 detector_auto_block: dict[str, bool] | None = None, detector_bans_per_minute: int = 10,
                 ttl_factor: float = 1.0, ttl_max_secs: float | None = None, history_path: str | Path | None = None,
                 clock=time.time, ledger: DecisionLedger | None = None, node_id: str = ""):
        self.blocklist = blocklist
        self.bus = bus
        self.clock = clock
        self._host_exemptions = host_exemptions
        self.history = BanHistory(history_path)
        self.node_id = node_id
        self.ledger = ledger if ledger is not None else DecisionLedger()
        self.counts = {"bans": 0, "unbans": 0, "failed": 0, "exempt": 0, "already": 0, "invalid_source": 0,
                       "detector_not_opted_in": 0, "capped": 0, "from_suppressed": 0, "duplicate": 0,
                       "expired_on_arrival": 0, "from_peers": 0,
                       "revoke_other_origin": 0}
        self._recent: dict[str, deque] = {r: deque() for r in DETECTOR_RULES}
        self._cap_alerted: dict[str, float] = {}
        self.configure(auto_block=auto_block, ttl_secs=ttl_secs, exempt=exempt, exempt_host=exempt_host,
                       detector_auto_block=detector_auto_block, detector_bans_per_minute=detector_bans_per_minute,
                       ttl_factor=ttl_factor, ttl_max_secs=ttl_max_secs)

    def configure(self, *, auto_block: bool, ttl_secs: float, exempt, exempt_host: bool = False,
                  detector_auto_block: dict[str, bool] | None = None, detector_bans_per_minute: int = 10,
                  ttl_factor: float = 1.0, ttl_max_secs: float | None = None) -> None:
        self.auto_block = auto_block
        self.ttl_secs = ttl_secs
        self.exemptions = Exemptions(exempt, include_host=exempt_host, host=self._host_exemptions)
        self.detector_auto_block = {r: bool((detector_auto_block or {}).get(r)) for r in DETECTOR_RULES}
        self.detector_bans_per_minute = detector_bans_per_minute
        self.ttl_factor = ttl_factor
        self.ttl_max_secs = ttl_max_secs if ttl_max_secs is not None else ttl_secs

    def adopt_existing(self, limit: int = 200_000) -> int:
        """Track entries with a TTL already in the pinned map that the ledger does not know
        (set by `cli net block --direct` while no daemon ran) as operator decisions."""
        n = 0
        now = time.time()
        found = []
        for e in self.blocklist.entries(limit):
            net = ipaddress.ip_network(e.network)
            if e.expires_at is not None and e.expires_at > now and net not in self.ledger.active:
                d = decisions.make(str(net), "cli", duration=e.expires_at - now, reason="found in the pinned map",
                                   node_id=self.node_id, created_at=now)
                found.append((net, d))
                n += 1
        if found:
            self.ledger.record_many(found)
        return n

    def exempt_reason(self, net: Network) -> str | None:
        return self.exemptions.reason(net)

    def escalated_ttl(self, previous_bans: int) -> float:
        ttl = self.ttl_secs * self.ttl_factor ** max(0, previous_bans)
        return float(min(ttl, max(self.ttl_max_secs, self.ttl_secs)))

    def _detector_allows(self, rule_id: str, now: float) -> tuple[bool, AlertEvent | None]:
        """A detector ban within its per-minute cap; when the cap is hit, one alert per minute."""
        recent = self._recent[rule_id]
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) < self.detector_bans_per_minute:
            recent.append(now)
            return True, None
        self.counts["capped"] += 1
        if now - self._cap_alerted.get(rule_id, -1e18) < 60:
            return False, None
        self._cap_alerted[rule_id] = now
        return False, AlertEvent(
            rule_id=CAP_RULE, title=f"Ban cap reached for {rule_id}", severity="high", source_module="ebpf",
            description=f"{self.detector_bans_per_minute} new bans from {rule_id} in the last minute; further "
                        f"sources are alerted on but not banned (spoofed sources cannot fill the blocklist)",
            group={"detector": rule_id}, tags=["network", "ban-cap"],
            details={"detector": rule_id, "cap_per_minute": self.detector_bans_per_minute})

    async def on_alert(self, alert: AlertEvent, *, suppressed: bool = False) -> ActionEvent | None:
        """The ban decision for one alert (suppressed: an alert a rate limit kept from the store)."""
        if not self.auto_block or not alert.src_ip:
            return None
        try:
            net = parse_target(alert.src_ip, single_host=True)
        except EbpfError as exc:
            self.counts["invalid_source"] += 1
            log.warning("alert source not banned", extra={"rule_id": alert.rule_id, "why": str(exc)})
            return None
        is_detector = alert.source_module == "ebpf" and alert.rule_id in DETECTOR_RULES
        if is_detector and not self.detector_auto_block[alert.rule_id]:
            self.counts["detector_not_opted_in"] += 1
            return None
        if self.exemptions.covers(net):
            self.counts["exempt"] += 1
            return None
        if net in self.ledger.active:
            self.counts["already"] += 1
            return None
        now = self.clock()
        if is_detector:
            ok, cap_alert = self._detector_allows(alert.rule_id, now)
            if cap_alert is not None:
                log.warning(cap_alert.title, extra={"rule_id": CAP_RULE, "detector": alert.rule_id})
                await self.bus.publish("alerts", cap_alert)
            if not ok:
                return None
        if suppressed:
            self.counts["from_suppressed"] += 1
        host = str(net.network_address)
        previous = self.history.count(host)
        ttl = self.escalated_ttl(previous)
        try:
            d = decisions.make(host, f"rule:{alert.rule_id}", duration=ttl, reason=alert.title,
                               node_id=self.node_id, trace_id=alert.trace_id)
        except decisions.DecisionError as exc:  # the rule id is too long to be an origin
            self.counts["invalid_source"] += 1
            log.warning("alert source not banned", extra={"rule_id": alert.rule_id[:100], "why": str(exc)})
            return None
        ev = await self._add(net, d, alert=alert, reason="auto_block", offence=previous + 1)
        if ev.result == "ok":
            self.history.record(host, now)
        return ev

    async def apply(self, d: Decision, *, force: bool = False) -> ActionEvent | None:
        """Apply a decision of any origin. Local ones (node_id is this node) are then published
        on DECISIONS for the fleet; every one ends on DECISIONS_DONE so its source can ack it.
        Exemptions hold for every origin; only an operator's own `force` overrides them."""
        try:
            if self.ledger.seen(d.id):
                self.counts["duplicate"] += 1  # delivered twice (a peer stream re-read): applied once
                return None
            try:
                net, _, _ = decisions.checked(d.value, d.origin)
            except decisions.DecisionError as exc:
                self.counts["invalid_source"] += 1
                log.warning("decision refused", extra={"origin": d.origin[:100], "why": str(exc)})
                return None
            if d.action == "delete":
                held = self.ledger.active.get(net)
                if decisions.origin_kind(d.origin) in ("list", "crowdsec") and held is not None and held.origin != d.origin:
                    # a list or CrowdSec dropping an entry revokes only its own decision, not
                    # a ban an alert or the operator made on the same address
                    self.counts["revoke_other_origin"] += 1
                    self.ledger.revoke_seen(d.id)
                    return None
                return await self.unban(net, reason=d.reason or f"revoked ({d.origin})", decision=d)
            if not force and self.exemptions.covers(net):
                self.counts["exempt"] += 1
                return None
            left = d.remaining()
            if left is not None and left <= 0:
                self.counts["expired_on_arrival"] += 1
                return None
            held = self.ledger.active.get(net)
            if held is not None and (held.until is None or (d.until is not None and d.until <= held.until)):
                self.counts["already"] += 1  # what is in force already lasts at least as long
                return None
            return await self._add(net, d, reason=d.reason or d.origin)
        finally:
            await self.bus.publish(DECISIONS_DONE, d)

    async def apply_many(self, batch: list[Decision]) -> int:
        """Apply a batch of decisions (a peer's stream read, a list, a CrowdSec poll) with one
        ledger transaction: the same checks as apply(), one by one, in order. A batch of more than
        ACTION_EACH_MAX additions is recorded as one "block_many" action instead of one action per
        address, so a 100k-entry list does not flood the action log. Returns the bans made."""
        if len(batch) <= 1:
            made = 0
            for d in batch:
                ev = await self.apply(d)
                made += ev is not None and ev.result == "ok" and ev.action == "block"
            return made
        adds: dict[Network, Decision] = {}
        failed: list[tuple[Network, Decision, str]] = []
        made = 0
        batch_ids: set[str] = set()
        for d in batch:
            if self.ledger.seen(d.id) or d.id in batch_ids:
                self.counts["duplicate"] += 1
                continue
            try:
                net, _, _ = decisions.checked(d.value, d.origin)
            except decisions.DecisionError as exc:
                self.counts["invalid_source"] += 1
                log.warning("decision refused", extra={"origin": d.origin[:100], "why": str(exc)})
                continue
            if d.action == "delete":
                if adds:  # keep the order: what came before the revocation is in force first
                    made += self._commit_adds(adds)
                    await self._announce(adds)
                    adds = {}
                await self.apply(d)
                continue
            if self.exemptions.covers(net):
                self.counts["exempt"] += 1
                continue
            left = d.remaining()
            if left is not None and left <= 0:
                self.counts["expired_on_arrival"] += 1
                continue
            held = adds.get(net) or self.ledger.active.get(net)
            if held is not None and (held.until is None or (d.until is not None and d.until <= held.until)):
                self.counts["already"] += 1
                continue
            try:
                self.blocklist.add(net, left)
            except EbpfError as exc:
                self.counts["failed"] += 1
                failed.append((net, d, str(exc)))
                continue
            adds[net] = d
            batch_ids.add(d.id)
        made += self._commit_adds(adds)
        await self._announce(adds)
        for net, d, error in failed:
            await self.bus.publish("actions", ActionEvent(
                action="block", target=str(net), source_module="ebpf", dry_run=False, result="failed", error=error,
                details={"origin": d.origin, "decision_id": d.id}, trace_id=d.trace_id))
        for d in batch:
            if d.action != "delete":  # apply() handed the revocations back already
                await self.bus.publish(DECISIONS_DONE, d)
        return made

    def _commit_adds(self, adds: dict[Network, Decision]) -> int:
        self.ledger.record_many(list(adds.items()))
        self.counts["bans"] += len(adds)
        self.counts["from_peers"] += sum(1 for d in adds.values() if d.node_id != self.node_id)
        return len(adds)

    async def _announce(self, adds: dict[Network, Decision]) -> None:
        if not adds:
            return
        if len(adds) <= ACTION_EACH_MAX:
            for net, d in adds.items():
                details = {"reason": d.reason or d.origin, "ttl_secs": d.duration, "origin": d.origin,
                           "decision_id": d.id}
                if d.node_id != self.node_id:
                    details["node_id"] = d.node_id
                await self.bus.publish("actions", ActionEvent(action="block", target=str(net), source_module="ebpf",
                                                              dry_run=False, result="ok", details=details,
                                                              trace_id=d.trace_id))
        else:
            origins = sorted({d.origin for d in adds.values()})
            await self.bus.publish("actions", ActionEvent(
                action="block_many", target=f"{len(adds)} addresses", source_module="ebpf", dry_run=False,
                result="ok", details={"count": len(adds), "origins": origins[:20],
                                      "first": [str(n) for n in itertools.islice(adds, 20)]}))
        log.info("blocked a batch", extra={"count": len(adds)})
        for d in adds.values():
            if d.node_id == self.node_id:
                await self.bus.publish(DECISIONS, d)

    async def ban(self, target: str | Network, ttl_secs: float | None, *, alert: AlertEvent | None = None,
                  reason: str = "manual", offence: int | None = None, origin: str = "cli") -> ActionEvent:
        """An operator's ban (no exemption check: the caller asked, with --force when needed)."""
        net = target if not isinstance(target, str) else parse_target(target)
        d = decisions.make(str(net), origin, duration=ttl_secs or None, reason=reason, node_id=self.node_id)
        return await self._add(net, d, alert=alert, reason=reason, offence=offence)

    async def _add(self, net: Network, d: Decision, *, alert: AlertEvent | None = None, reason: str = "manual",
                   offence: int | None = None) -> ActionEvent:
        ttl_secs = d.remaining()
        details = {"reason": reason, "ttl_secs": d.duration, "origin": d.origin, "decision_id": d.id}
        if d.node_id and d.node_id != self.node_id:
            details["node_id"] = d.node_id
        if offence is not None:
            details["offence"] = offence
        if alert is not None:
            details.update(rule_id=alert.rule_id, alert_source=alert.source_module)
        try:
            self.blocklist.add(net, ttl_secs)
        except EbpfError as exc:
            self.counts["failed"] += 1
            ev = ActionEvent(action="block", target=str(net), source_module="ebpf", dry_run=False, result="failed",
                             error=str(exc), alert_id=alert.id if alert else None, details=details,
                             trace_id=alert.trace_id if alert else d.trace_id)
            await self.bus.publish("actions", ev)
            return ev
        self.ledger.record(net, d)
        self.counts["bans"] += 1
        if d.node_id != self.node_id:
            self.counts["from_peers"] += 1
        ev = ActionEvent(action="block", target=str(net), source_module="ebpf", dry_run=False, result="ok",
                         alert_id=alert.id if alert else None, details=details,
                         trace_id=alert.trace_id if alert else d.trace_id)
        log.info("blocked", extra={"target": str(net), "ttl_secs": ttl_secs, "reason": reason, "origin": d.origin})
        await self.bus.publish("actions", ev)
        if d.node_id == self.node_id:
            await self.bus.publish(DECISIONS, d)
        return ev

    async def unban(self, target: str | Network, reason: str = "manual", *, decision: Decision | None = None,
                    share: bool = True) -> ActionEvent:
        """Remove a ban. A revocation made here (cli) is published for the fleet unless share=False
        (expiry: every node expires its own copy)."""
        net = target if not isinstance(target, str) else parse_target(target)
        if decision is None and share:
            decision = decisions.make(str(net), "cli", action="delete", reason=reason, node_id=self.node_id)
        self.ledger.revoke(net, decision)
        try:
            removed = self.blocklist.remove(net)
            result, error = ("ok" if removed else "skipped"), (None if removed else "not in the blocklist")
        except EbpfError as exc:
            result, error = "failed", str(exc)
        if result == "ok":
            self.counts["unbans"] += 1
        details = {"reason": reason}
        if decision is not None:
            details.update(origin=decision.origin, decision_id=decision.id)
            if decision.node_id != self.node_id:
                details["node_id"] = decision.node_id
        ev = ActionEvent(action="unblock", target=str(net), source_module="ebpf", dry_run=False, result=result,
                         error=error, details=details)
        log.info("unblocked", extra={"target": str(net), "reason": reason, "result": result})
        await self.bus.publish("actions", ev)
        if decision is not None and decision.node_id == self.node_id:
            await self.bus.publish(DECISIONS, decision)
        return ev

    async def expire(self, now: float | None = None) -> list[ActionEvent]:
        now = time.time() if now is None else now
        return [await self.unban(net, reason="ttl expired", share=False) for net in self.ledger.due(now)]

    def restore(self) -> int:
        """Put back in the blocklist what the ledger says is in force but the map lacks (a
        reboot cleared the pinned maps, or a memory backend restarted)."""
        n = 0
        for net, d in list(self.ledger.active.items()):
            left = d.remaining()
            if left is not None and left <= 0:
                continue
            try:
                if self.blocklist.get(net) is None:
                    self.blocklist.add(net, left)
                    n += 1
            except EbpfError as exc:
                log.error("ban not restored", extra={"target": str(net), "error": str(exc)})
        return n

    def close(self) -> None:
        self.history.close()

    @property
    def active(self) -> int:
        return len(self.ledger.active)
