"""Ban decisions on the real kernel blocklist: only single routable hosts from alert data,
exemptions, detector opt-in and caps, rate-limited alerts still banning, escalation across restarts."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironpost.core.bus import SUPPRESSED_TOPIC, Bus
from ironpost.core.events import AlertEvent
from ironpost.ebpf.bans import CAP_RULE, PORT_SCAN_RULE, SYN_FLOOD_RULE, BanManager

pytestmark = [pytest.mark.root, pytest.mark.bpf]

NO_HOST = {"interface": [], "gateway": [], "ssh_peer": []}


def alert(ip, rule="ssh.bruteforce", module="log_pipeline"):
    return AlertEvent(rule_id=rule, title="t", severity="high", source_module=module, src_ip=ip)


@pytest.fixture
def clean(loader):
    def wipe():
        for e in loader.blocklist.entries():
            loader.blocklist.remove(e.network)
    wipe()
    yield loader.blocklist
    wipe()


def manager(blocklist, bus=None, **kw):
    kw.setdefault("host_exemptions", NO_HOST)
    return BanManager(blocklist, bus or Bus(), auto_block=True, ttl_secs=kw.pop("ttl_secs", 60), **kw)


@pytest.mark.parametrize("src", ["0.0.0.0/0", "::/0", "10.0.0.0/8", "0.0.0.0", "224.0.0.1", "255.255.255.255",
                                 "fe80::1", "127.0.0.2", "::1", "203.0.113.0/24"])
def test_a_log_line_cannot_ban_a_range_or_a_special_address(clean, src):
    async def main():
        bans = manager(clean)
        assert await bans.on_alert(alert(src)) is None
        assert bans.counts["invalid_source"] == 1 and clean.entries() == []
    asyncio.run(main())


def test_mapped_v6_source_is_banned_as_its_ipv4_host(clean):
    async def main():
        bans = manager(clean)
        ev = await bans.on_alert(alert("::ffff:203.0.113.9"))
        assert ev.target == "203.0.113.9/32" and clean.get("203.0.113.9") is not None
        assert await bans.on_alert(alert("203.0.113.9")) is None and bans.counts["already"] == 1
    asyncio.run(main())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=60),
                 st.tuples(st.ip_addresses(), st.integers(0, 127)).map(lambda t: f"{t[0]}/{t[1]}")))
def test_fuzzed_src_ip_never_bans_more_than_one_host(clean, src):
    async def main():
        bans = manager(clean, exempt=["127.0.0.0/8"])
        ev = await bans.on_alert(alert(src))
        entries = clean.entries()
        if ev is None:
            assert entries == []
        else:
            (entry,) = entries
            assert ipaddress.ip_network(entry.network).num_addresses == 1
            clean.remove(entry.network)
    asyncio.run(main())


def test_host_addresses_and_ssh_peer_are_exempt_by_default(clean):
    host = {"interface": [ipaddress.ip_network("198.51.100.1/32")], "gateway": [ipaddress.ip_network("198.51.100.254/32")],
            "ssh_peer": [ipaddress.ip_network("203.0.113.50/32")]}

    async def main():
        bans = manager(clean, exempt_host=True, host_exemptions=host, exempt=["192.0.2.0/24"])
        for ip in ("198.51.100.1", "198.51.100.254", "203.0.113.50", "192.0.2.77"):
            assert await bans.on_alert(alert(ip)) is None
        assert bans.counts["exempt"] == 4 and clean.entries() == []
        assert bans.exempt_reason(ipaddress.ip_network("0.0.0.0/0")) is not None
        assert (await bans.on_alert(alert("203.0.113.51"))).result == "ok"
    asyncio.run(main())


def test_detector_bans_are_opt_in_and_capped_with_an_alert(clean):
    async def main():
        bus = Bus()
        alerts = bus.subscribe("alerts", "t")
        bans = manager(clean, bus, detector_auto_block={PORT_SCAN_RULE: True}, detector_bans_per_minute=3,
                       clock=lambda: 1000.0)
        assert await bans.on_alert(alert("203.0.113.1", SYN_FLOOD_RULE, "ebpf")) is None
        assert bans.counts["detector_not_opted_in"] == 1
        results = [await bans.on_alert(alert(f"203.0.113.{i}", PORT_SCAN_RULE, "ebpf")) for i in range(10, 16)]
        assert [r is not None for r in results] == [True, True, True, False, False, False]
        assert bans.counts["capped"] == 3 and len(clean.entries()) == 3
        cap = alerts.drain_nowait()
        assert [a.rule_id for a in cap] == [CAP_RULE]  # one alert per minute, not one per refused ban
        assert cap[0].src_ip is None  # the cap alert can never ban anything itself
        # a log-pipeline alert is not under the detector cap
        assert (await bans.on_alert(alert("203.0.113.99"))).result == "ok"
        bans.clock = lambda: 1061.0
        assert (await bans.on_alert(alert("203.0.113.30", PORT_SCAN_RULE, "ebpf"))).result == "ok"
    asyncio.run(main())


def test_escalation_survives_a_restart(clean, tmp_path):
    path = tmp_path / "ban_history.db"

    async def main():
        bans = manager(clean, ttl_secs=60, ttl_factor=3, ttl_max_secs=1000, history_path=path)
        first = await bans.on_alert(alert("203.0.113.7"))
        assert first.details["ttl_secs"] == 60 and first.details["offence"] == 1
        await bans.unban("203.0.113.7")
        second = await bans.on_alert(alert("203.0.113.7"))
        assert second.details["ttl_secs"] == 180
        await bans.unban("203.0.113.7")
        bans.close()
        again = manager(clean, ttl_secs=60, ttl_factor=3, ttl_max_secs=1000, history_path=path)  # a restart
        third = await again.on_alert(alert("203.0.113.7"))
        assert third.details["ttl_secs"] == 540 and third.details["offence"] == 3
        await again.unban("203.0.113.7")
        assert (await again.on_alert(alert("203.0.113.7"))).details["ttl_secs"] == 1000  # capped
        assert (await again.on_alert(alert("203.0.113.8"))).details["ttl_secs"] == 60  # others start fresh
        again.close()
    asyncio.run(main())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_rate_limited_alert_still_bans(loader, veth, tmp_path):
    from ironpost.core.config import parse_config
    from ironpost.core.module import ModuleContext
    from ironpost.ebpf.module import EbpfModule

    cfg = parse_config({"ebpf": {"enabled": True, "interface": veth.host_if, "auto_block": True,
                                 "ban_exempt": ["192.0.2.0/24"], "ban_exempt_host": False}})

    async def main():
        bus = Bus()
        actions = bus.subscribe("actions", "t")
        module = EbpfModule(cfg, loader=loader)
        task = asyncio.create_task(module.run(ModuleContext(config=cfg, bus=bus, data_dir=tmp_path)))
        await asyncio.wait_for(module.running.wait(), 10)
        try:
            await bus.publish(SUPPRESSED_TOPIC, alert("203.0.113.66"))
            act = await asyncio.wait_for(actions.get(), 5)
            assert act.action == "block" and act.target == "203.0.113.66/32"
            assert module.bans.counts["from_suppressed"] == 1
            r = await module.control("block", {"target": "192.0.0.0/8"})
            assert not r["ok"] and "--force" in r["error"] and loader.blocklist.get("192.0.0.0/8") is None
            assert (await module.control("block", {"target": "192.0.0.0/8", "force": True}))["ok"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for e in loader.blocklist.entries():
                loader.blocklist.remove(e.network)
    asyncio.run(main())
