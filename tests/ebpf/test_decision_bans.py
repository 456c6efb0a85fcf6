"""The ban manager as the consumer of decisions of every origin (memory backend: no kernel
needed; tests/ebpf/test_bans.py covers the kernel maps)."""

from __future__ import annotations

import asyncio

from ironpost.core import decisions
from ironpost.core.bus import Bus
from ironpost.core.decisions import DECISIONS, DECISIONS_DONE, DecisionLedger
from ironpost.core.events import AlertEvent
from ironpost.ebpf.bans import BanManager
from ironpost.ebpf.memory_blocklist import MemoryBlocklist

NO_HOST = {"interface": [], "gateway": [], "ssh_peer": []}


def manager(bus=None, ledger=None, **kw):
    kw.setdefault("host_exemptions", NO_HOST)
    kw.setdefault("exempt", ["192.0.2.0/24"])
    return BanManager(MemoryBlocklist(), bus or Bus(), auto_block=True, ttl_secs=kw.pop("ttl_secs", 60),
                      ledger=ledger, node_id="n1", **kw)


def test_alert_ban_is_a_rule_decision_published_for_the_fleet():
    async def main():
        bus = Bus()
        out = bus.subscribe(DECISIONS)
        bans = manager(bus)
        ev = await bans.on_alert(AlertEvent(rule_id="ssh.bf", title="t", severity="high", src_ip="203.0.113.9"))
        assert ev.result == "ok" and ev.details["origin"] == "rule:ssh.bf"
        (d,) = out.drain_nowait()
        assert (d.value, d.origin, d.node_id, d.duration) == ("203.0.113.9", "rule:ssh.bf", "n1", 60)
        assert bans.blocklist.get("203.0.113.9") is not None
        held = bans.ledger.active[d.network()]
        assert held.id == d.id and held.until == d.until
    asyncio.run(main())


def test_peer_decisions_obey_exemptions_and_are_not_republished():
    async def main():
        bus = Bus()
        out, done = bus.subscribe(DECISIONS), bus.subscribe(DECISIONS_DONE)
        bans = manager(bus)
        exempt = decisions.make("192.0.2.0/25", "cli", node_id="n2")
        assert await bans.apply(exempt) is None and bans.counts["exempt"] == 1
        peer = decisions.make("203.0.113.0/24", "cli", duration=30, node_id="n2")
        ev = await bans.apply(peer)
        assert ev.result == "ok" and ev.details["node_id"] == "n2" and bans.blocklist.get("203.0.113.0/24")
        assert out.drain_nowait() == []  # n2 published it already
        assert [d.id for d in done.drain_nowait()] == [exempt.id, peer.id]
        assert await bans.apply(peer) is None and bans.counts["duplicate"] == 1  # delivered twice, applied once
    asyncio.run(main())


def test_a_revocation_from_any_node_clears_a_ban_of_any_origin():
    async def main():
        bans = manager()
        await bans.on_alert(AlertEvent(rule_id="r", title="t", severity="high", src_ip="203.0.113.4"))
        ev = await bans.apply(decisions.make("203.0.113.4", "cli", action="delete", node_id="n2"))
        assert ev.result == "ok" and bans.blocklist.get("203.0.113.4") is None and bans.active == 0
    asyncio.run(main())


def test_a_list_dropping_an_entry_does_not_revoke_an_alert_ban():
    async def main():
        bans = manager()
        await bans.on_alert(AlertEvent(rule_id="r", title="t", severity="high", src_ip="203.0.113.4"))
        assert await bans.apply(decisions.make("203.0.113.4", "list:drop", action="delete", node_id="n1")) is None
        assert bans.blocklist.get("203.0.113.4") is not None and bans.counts["revoke_other_origin"] == 1
    asyncio.run(main())


def test_a_longer_decision_extends_a_shorter_one_never_the_reverse():
    async def main():
        bans = manager()
        short = decisions.make("203.0.113.8", "crowdsec", duration=60, node_id="n1")
        long = decisions.make("203.0.113.8", "crowdsec", duration=600, node_id="n1")
        assert (await bans.apply(short)).result == "ok"
        assert (await bans.apply(long)).result == "ok"
        assert await bans.apply(decisions.make("203.0.113.8", "crowdsec", duration=30, node_id="n1")) is None
        assert bans.ledger.active[long.network()].id == long.id
        entry = bans.blocklist.get("203.0.113.8")
        assert abs(entry.expires_at - long.until) < 1
    asyncio.run(main())


def test_unblock_is_shared_expiry_is_not():
    async def main():
        bus = Bus()
        out = bus.subscribe(DECISIONS)
        now = [1000.0]
        bans = manager(bus)
        await bans.ban("203.0.113.0/24", 5)
        await bans.unban("203.0.113.0/24")
        adds_and_deletes = [(d.action, d.origin) for d in out.drain_nowait()]
        assert adds_and_deletes == [("add", "cli"), ("delete", "cli")]
        d = decisions.make("198.51.100.7", "rule:r", duration=1, node_id="n9", created_at=now[0])
        bans.ledger.record(d.network(), d)
        (ev,) = await bans.expire(now=now[0] + 2)
        assert ev.details["reason"] == "ttl expired" and out.drain_nowait() == []
    asyncio.run(main())


def test_restart_restores_bans_from_the_ledger(tmp_path):
    async def main():
        led = DecisionLedger(tmp_path / "decisions.db")
        bans = manager(ledger=led)
        await bans.apply(decisions.make("203.0.113.3", "list:x", duration=300, node_id="n1"))
        await bans.ban("198.51.100.0/24", None)
        led.close()
        again = manager(ledger=DecisionLedger(tmp_path / "decisions.db"))  # a fresh (memory) blocklist
        assert again.blocklist.entries() == []
        assert again.restore() == 2
        assert {e.network for e in again.blocklist.entries()} == {"203.0.113.3/32", "198.51.100.0/24"}
        assert again.blocklist.get("198.51.100.0/24").expires_at is None
    asyncio.run(main())


def test_a_batch_applies_like_one_by_one_in_order():
    async def main():
        bus = Bus(capacity=100_000)
        actions, done = bus.subscribe("actions"), bus.subscribe(DECISIONS_DONE)
        bans = manager(bus)
        first = decisions.make("203.0.113.1", "cli", duration=60, node_id="n2")
        batch = [first, first,  # a duplicate within the batch
                 decisions.make("192.0.2.9", "cli", node_id="n2"),  # exempt
                 decisions.make("203.0.113.1", "cli", action="delete", node_id="n2"),  # revoked in order
                 *[decisions.make(f"198.51.100.{i}", "list:x", node_id="n2") for i in range(1, 201)]]
        assert await bans.apply_many(batch) == 201  # first, then the 200 list entries
        assert bans.blocklist.get("203.0.113.1") is None and len(bans.blocklist.entries()) == 200
        assert bans.counts["duplicate"] == 1 and bans.counts["exempt"] == 1
        kinds = [a.action for a in actions.drain_nowait()]
        assert kinds == ["block", "unblock", "block_many"]  # 200 list entries are one action
        assert len(done.drain_nowait()) == len(batch)  # each decision handed back once, for its source to ack
    asyncio.run(main())


def test_a_batch_of_one_goes_through_apply():
    async def main():
        bans = manager()
        assert await bans.apply_many([decisions.make("203.0.113.3", "cli", node_id="n2")]) == 1
        assert await bans.apply_many([]) == 0
        assert bans.blocklist.get("203.0.113.3") is not None
    asyncio.run(main())
