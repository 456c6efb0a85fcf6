"""ContainerModule end to end on the bus, against the real private dockerd, with a real SqliteStore."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from container_support import make_container, networks_of, state_of
from ironpost.container.inventory import Inventory
from ironpost.container.client import Engine
from ironpost.container.module import ContainerModule
from ironpost.core.bus import Bus
from ironpost.core.config import parse_config
from ironpost.core.events import ActionEvent, AlertEvent
from ironpost.core.module import ModuleContext, ModuleUnavailable
from ironpost.storage.sqlite import SqliteStore

pytestmark = pytest.mark.docker

POLICIES = """
[[policy]]
name = "pause-web"
priority = 10
severity_threshold = "medium"
action = "pause"
[policy.filters]
container_names = ["web-*"]

[[policy]]
name = "stop-web-critical"
priority = 50
severity_threshold = "critical"
action = "stop"
[policy.filters]
container_names = ["web-*"]

[[policy]]
name = "cut-db"
priority = 20
severity_threshold = "high"
action = "network_disconnect"
[policy.filters]
container_names = ["db-*"]
"""


def make_config(tmp_path, host, **container):
    pol = tmp_path / "policies"
    pol.mkdir(exist_ok=True)
    (pol / "guard.toml").write_text(POLICIES)
    (pol / "broken.toml").write_text('[[policy]]\nname = "oops"\naction = "pause"\npriority = "x"\n')
    sec = {"enabled": True, "docker_host": host, "policy_path": str(pol), "auto_isolate": True,
           "rate_limit_secs": 0, "stop_timeout_secs": 1, **container}
    return parse_config({"general": {"data_dir": str(tmp_path / "data")}, "container": sec}, environ={})


def alert(severity="high", **kw) -> AlertEvent:
    return AlertEvent(rule_id="web.attack", title="attack", severity=severity, **kw)


@contextlib.asynccontextmanager
async def running(config, tmp_path, store=None):
    """The module in a task, plus a storage writer standing in for the daemon's."""
    bus = Bus(100)
    actions = bus.subscribe("actions", "test")
    mod = ContainerModule(config)
    ctx = ModuleContext(config=config, bus=bus, data_dir=tmp_path, store=store, log=logging.getLogger("test"))
    task = asyncio.create_task(mod.run(ctx))
    for _ in range(200):  # until the module has started its inventory
        if mod.inventory is not None and mod.inventory.connected:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield mod, bus, actions
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_actions(sub, n, timeout=15.0) -> list[ActionEvent]:
    out = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            out.append(await sub.get())
    return out


def test_alert_to_action_on_the_bus_and_stored(trio, docker_client, dockerd, tmp_path):
    store = SqliteStore(tmp_path / "ironpost.db")
    store.migrate()

    async def main():
        async with running(make_config(tmp_path, dockerd.host), tmp_path, store) as (mod, bus, actions):
            assert len(mod.policies) == 3 and len(mod.policies.errors) == 1
            err = mod.policies.errors[0]
            assert err.file.endswith("broken.toml") and err.line == 4
            a1 = alert("high", container_name="web-1")
            await bus.publish("alerts", a1)
            (ev1,) = await next_actions(actions, 1)
            # The alert names no container: cut-db's filters select db-1.
            a2 = alert("high")
            await bus.publish("alerts", a2)
            evs = await next_actions(actions, 2)
            store.write_actions([ev1, *evs])
            return a1, a2, ev1, evs, mod.metrics()

    a1, a2, ev1, evs, metrics = asyncio.run(main())
    assert (ev1.action, ev1.target, ev1.policy, ev1.result, ev1.alert_id) == ("pause", "web-1", "pause-web", "ok", a1.id)
    assert ev1.trace_id == a1.trace_id
    assert state_of(docker_client, "web-1")["Paused"] is True
    by_target = {e.target: e for e in evs}
    assert set(by_target) == {"db-1", "web-1"}
    assert by_target["db-1"].action == "network_disconnect" and by_target["db-1"].result == "ok"
    assert networks_of(docker_client, "db-1") == set()
    assert by_target["web-1"].details.get("already") is True  # still paused: idempotent
    assert state_of(docker_client, "api-1")["Status"] == "running"  # no policy selects api-1
    rows = store.query_actions(limit=10)
    assert {r["id"] for r in rows} == {ev1.id, *(e.id for e in evs)}
    assert {r["alert_id"] for r in rows} == {a1.id, a2.id}
    assert metrics['container_actions_total{action="pause",result="ok"}'] == 2
    assert metrics["container_policy_errors"] == 1
    store.close()


def test_highest_priority_policy_wins_through_the_module(trio, docker_client, dockerd, tmp_path):
    async def main():
        async with running(make_config(tmp_path, dockerd.host), tmp_path) as (mod, bus, actions):
            await bus.publish("alerts", alert("critical", container_name="web-1"))
            return await next_actions(actions, 1)

    (ev,) = asyncio.run(main())
    assert (ev.policy, ev.action, ev.result) == ("stop-web-critical", "stop", "ok")
    assert state_of(docker_client, "web-1")["Status"] == "exited"


def test_dry_run_default_records_without_touching(trio, docker_client, dockerd, tmp_path):
    cfg = make_config(tmp_path, dockerd.host, auto_isolate=False)

    async def main():
        async with running(cfg, tmp_path) as (mod, bus, actions):
            await bus.publish("alerts", alert("critical", container_name="web-1"))
            await bus.publish("alerts", alert("high", container_name="db-1"))
            return await next_actions(actions, 2)

    evs = asyncio.run(main())
    assert [(e.target, e.action, e.result, e.dry_run) for e in evs] == [
        ("web-1", "stop", "dry_run", True), ("db-1", "network_disconnect", "dry_run", True)]
    assert state_of(docker_client, "web-1")["Status"] == "running"
    assert networks_of(docker_client, "db-1") == {"bridge"}


def test_control_ops_release_inventory_policies(trio, docker_client, dockerd, tmp_path):
    async def main():
        async with running(make_config(tmp_path, dockerd.host), tmp_path) as (mod, bus, actions):
            await bus.publish("alerts", alert("high", container_name="web-1"))
            await next_actions(actions, 1)
            inv = await mod.control("inventory", {})
            pols = await mod.control("policies", {})
            rel = await mod.control("release", {"name": "web-1"})
            (rel_ev,) = await next_actions(actions, 1)
            bad = await mod.control("release", {})
            unknown = await mod.control("explode", {})
            return inv, pols, rel, rel_ev, bad, unknown

    inv, pols, rel, rel_ev, bad, unknown = asyncio.run(main())
    names = {c["name"]: c for c in inv["containers"]}
    assert {"web-1", "api-1", "db-1"} <= set(names) and names["web-1"]["state"] == "paused"
    assert "web-1" in inv["isolations"] and inv["isolations"]["web-1"]["paused"] is True
    assert [p["name"] for p in pols["policies"]] == ["stop-web-critical", "cut-db", "pause-web"]
    assert pols["errors"][0]["line"] == 4
    assert rel["ok"] and rel["action"]["result"] == "ok" and rel_ev.action == "release"
    assert state_of(docker_client, "web-1")["Status"] == "running"
    assert not bad["ok"] and not unknown["ok"]


def test_unreachable_engine_at_start_is_module_unavailable(tmp_path):
    cfg = make_config(tmp_path, f"unix://{tmp_path}/missing.sock")

    async def main():
        bus = Bus(10)
        await ContainerModule(cfg).run(ModuleContext(config=cfg, bus=bus, data_dir=tmp_path))

    with pytest.raises(ModuleUnavailable) as info:
        asyncio.run(main())
    msg = str(info.value)
    assert msg == f"container guard: Docker engine at unix://{tmp_path}/missing.sock is unreachable (no such socket)"


def test_inventory_follows_create_and_remove(dockerd, docker_client, trio):
    async def main():
        engine = Engine(dockerd.host)
        inv = Inventory(engine, ttl_secs=3600)  # a long TTL: only the events stream can update it
        await inv.start()
        try:
            names = lambda cs: {c.name for c in cs}  # noqa: E731
            assert {"web-1", "api-1", "db-1"} <= names(inv.cached())
            refreshes = inv.refreshes
            c = await asyncio.to_thread(make_container, docker_client, "new-1")
            assert await inv.wait_for(lambda cs: "new-1" in names(cs) and inv.get("new-1").state == "running", 10)
            await asyncio.to_thread(c.pause)
            assert await inv.wait_for(lambda cs: inv.get("new-1").state == "paused", 10)
            await asyncio.to_thread(c.remove, force=True)
            assert await inv.wait_for(lambda cs: "new-1" not in names(cs), 10)
            assert inv.refreshes == refreshes and inv.events_seen > 0  # events did it, not a re-list
        finally:
            await inv.close()
            engine.close()

    asyncio.run(main())


def test_module_reconnects_after_dockerd_restart(dockerd, docker_client, trio, tmp_path):
    async def main():
        async with running(make_config(tmp_path, dockerd.host, reconnect_max_secs=0.5, inventory_ttl_secs=3600), tmp_path) as (mod, bus, actions):
            inv = mod.inventory
            reconnects = inv.reconnects
            await asyncio.to_thread(dockerd.kill)
            await asyncio.to_thread(dockerd.start)
            async with asyncio.timeout(20):
                while not (inv.connected and inv.reconnects > reconnects):
                    await asyncio.sleep(0.05)
            # Created after the restart: only a working, reconnected events stream can see it.
            await asyncio.to_thread(make_container, docker_client, "late-1", app="late")
            assert await inv.wait_for(lambda cs: any(c.name == "late-1" for c in cs), 10)
            # No policy selects late-1 (no action); web-1 is paused through the restarted engine.
            await bus.publish("alerts", alert("high", container_name="late-1"))
            await bus.publish("alerts", alert("high", container_name="web-1"))
            return await next_actions(actions, 1)

    (web,) = asyncio.run(main())
    assert (web.target, web.action, web.result) == ("web-1", "pause", "ok")
    assert state_of(docker_client, "web-1")["Paused"] is True


def test_reload_applies_new_policies_and_settings(tmp_path):
    """No engine needed: reload only re-reads files and settings."""
    cfg = make_config(tmp_path, "unix:///nonexistent.sock")
    mod = ContainerModule(cfg)
    asyncio.run(mod.reload(cfg))
    assert [p.name for p in mod.policies.policies] == ["stop-web-critical", "cut-db", "pause-web"]
    (tmp_path / "policies" / "guard.toml").write_text('[[policy]]\nname = "only"\naction = "stop"\n')
    (tmp_path / "policies" / "broken.toml").unlink()
    asyncio.run(mod.reload(cfg))
    assert [p.name for p in mod.policies.policies] == ["only"] and mod.policies.errors == []
    assert mod.metrics()["container_policies"] == 1


def test_inventory_ttl_triggers_a_full_refresh(dockerd, trio):
    now = [1000.0]

    async def main():
        engine = Engine(dockerd.host)
        inv = Inventory(engine, ttl_secs=30, clock=lambda: now[0])
        await inv.start()
        try:
            n = inv.refreshes
            await inv.snapshot()
            assert inv.refreshes == n  # fresh: served from the cache
            now[0] += 31
            cs = await inv.snapshot()
            assert inv.refreshes == n + 1 and {"web-1", "api-1", "db-1"} <= {c.name for c in cs}
        finally:
            await inv.close()
            engine.close()

    asyncio.run(main())


def test_inventory_is_relisted_every_poll_interval(dockerd, docker_client, trio):
    """[container] poll_interval_secs: a full list now and then, besides the events stream, so a
    change the stream missed is picked up. With the events watcher stopped, a new container
    appears by the poll alone."""
    async def main():
        engine = Engine(dockerd.host)
        inv = Inventory(engine, ttl_secs=0.3)
        await inv.start()
        inv._task.cancel()  # no events watcher (and no reconnect re-list): only the poll can see what happens now
        await asyncio.gather(inv._task, return_exceptions=True)
        try:
            refreshes = inv.refreshes
            c = await asyncio.to_thread(make_container, docker_client, "poll-1")
            try:
                assert await inv.wait_for(lambda cs: any(x.name == "poll-1" for x in cs), 10)
                assert inv.refreshes > refreshes
            finally:
                await asyncio.to_thread(c.remove, force=True)
        finally:
            await inv.close()
            engine.close()

    asyncio.run(main())


def test_docker_socket_path_and_url_reach_the_same_engine(dockerd):
    """The seed's docker_socket is a path; our docker_host a unix:// URL; both are accepted."""
    from ironpost.core.config import parse_config
    from ironpost.core.config.sections.container import docker_socket_of

    path = docker_socket_of(dockerd.host)
    assert path.startswith("/")
    cfg = parse_config({"container": {"docker_socket": path}}, environ={})
    for addr in (cfg.container.docker_socket, dockerd.host):
        e = Engine(addr)
        try:
            assert e.docker_host == dockerd.host
            e.ping()
        finally:
            e.close()
