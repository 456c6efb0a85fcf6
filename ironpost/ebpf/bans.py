"""Bans: blocklist entries with a TTL, like a fail2ban bantime, each one recorded.

With auto_block on, an AlertEvent from any module that names a src_ip bans that address.
Manual blocks (CLI/control) go through here too. Every ban and unban is published as an
ActionEvent on "actions" (the daemon stores it). The kernel stops dropping at expiry on its
own (the entry carries its deadline); expire() deletes the entry and records the unban.
"""

from __future__ import annotations

import ipaddress
import logging
import time

from ironpost.core.bus import Bus
from ironpost.core.errors import EbpfError
from ironpost.core.events import ActionEvent, AlertEvent
from ironpost.ebpf.maps import Blocklist, Network, parse_target

log = logging.getLogger("ironpost.ebpf")


class BanManager:
    def __init__(self, blocklist: Blocklist, bus: Bus, *, auto_block: bool, ttl_secs: float,
                 exempt: list[str] | tuple[str, ...] = ()):
        self.blocklist = blocklist
        self.bus = bus
        self.auto_block = auto_block
        self.ttl_secs = ttl_secs
        self.exempt = [ipaddress.ip_network(e, strict=False) for e in exempt]
        self.expiry: dict[Network, float] = {}  # banned network -> wall-clock expiry
        self.counts = {"bans": 0, "unbans": 0, "failed": 0, "exempt": 0, "already": 0}

    def configure(self, *, auto_block: bool, ttl_secs: float, exempt) -> None:
        self.auto_block = auto_block
        self.ttl_secs = ttl_secs
        self.exempt = [ipaddress.ip_network(e, strict=False) for e in exempt]

    def adopt_existing(self, limit: int = 200_000) -> int:
        """Track entries with a TTL already in the pinned map (set by the CLI, or before a restart)."""
        n = 0
        for e in self.blocklist.entries(limit):
            if e.expires_at is not None:
                self.expiry[ipaddress.ip_network(e.network)] = e.expires_at
                n += 1
        return n

    def _exempt(self, net: Network) -> bool:
        return any(net.version == ex.version and net.subnet_of(ex) for ex in self.exempt)

    async def on_alert(self, alert: AlertEvent) -> ActionEvent | None:
        if not self.auto_block or not alert.src_ip:
            return None
        try:
            net = parse_target(alert.src_ip)
        except EbpfError:
            self.counts["failed"] += 1
            return None
        if self._exempt(net):
            self.counts["exempt"] += 1
            return None
        if net in self.expiry:
            self.counts["already"] += 1
            return None
        return await self.ban(net, self.ttl_secs, alert=alert, reason="auto_block")

    async def ban(self, target: str | Network, ttl_secs: float | None, *, alert: AlertEvent | None = None,
                  reason: str = "manual") -> ActionEvent:
        net = target if not isinstance(target, str) else parse_target(target)
        details = {"reason": reason, "ttl_secs": ttl_secs}
        if alert is not None:
            details.update(rule_id=alert.rule_id, alert_source=alert.source_module)
        try:
            self.blocklist.add(net, ttl_secs)
        except EbpfError as exc:
            self.counts["failed"] += 1
            ev = ActionEvent(action="block", target=str(net), source_module="ebpf", dry_run=False, result="failed",
                             error=str(exc), alert_id=alert.id if alert else None, details=details,
                             trace_id=alert.trace_id if alert else "")
            await self.bus.publish("actions", ev)
            return ev
        if ttl_secs:
            self.expiry[net] = time.time() + ttl_secs
        else:
            self.expiry.pop(net, None)
        self.counts["bans"] += 1
        ev = ActionEvent(action="block", target=str(net), source_module="ebpf", dry_run=False, result="ok",
                         alert_id=alert.id if alert else None, details=details,
                         trace_id=alert.trace_id if alert else "")
        log.info("blocked", extra={"target": str(net), "ttl_secs": ttl_secs, "reason": reason})
        await self.bus.publish("actions", ev)
        return ev

    async def unban(self, target: str | Network, reason: str = "manual") -> ActionEvent:
        net = target if not isinstance(target, str) else parse_target(target)
        self.expiry.pop(net, None)
        try:
            removed = self.blocklist.remove(net)
            result, error = ("ok" if removed else "skipped"), (None if removed else "not in the blocklist")
        except EbpfError as exc:
            result, error = "failed", str(exc)
        if result == "ok":
            self.counts["unbans"] += 1
        ev = ActionEvent(action="unblock", target=str(net), source_module="ebpf", dry_run=False, result=result,
                         error=error, details={"reason": reason})
        log.info("unblocked", extra={"target": str(net), "reason": reason, "result": result})
        await self.bus.publish("actions", ev)
        return ev

    async def expire(self, now: float | None = None) -> list[ActionEvent]:
        now = time.time() if now is None else now
        due = [net for net, t in self.expiry.items() if t <= now]
        return [await self.unban(net, reason="ttl expired") for net in due]

    @property
    def active(self) -> int:
        return len(self.expiry)
