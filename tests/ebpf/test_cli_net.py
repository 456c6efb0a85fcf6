"""`cli net` on the pinned maps (no daemon), and through a daemon control socket when present."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from typer.testing import CliRunner

from ironpost.cli.net import app, parse_ttl

pytestmark = [pytest.mark.root, pytest.mark.bpf]


@pytest.fixture
def env(loader, tmp_path, monkeypatch):
    monkeypatch.setenv("IRONPOST_EBPF_PIN_DIR", loader.pin_dir)
    monkeypatch.setenv("IRONPOST_GENERAL_DATA_DIR", str(tmp_path))  # no daemon socket there
    monkeypatch.delenv("IRONPOST_CONFIG", raising=False)
    yield
    for e in loader.blocklist.entries():
        loader.blocklist.remove(e.network)


def test_ttl_parsing():
    assert parse_ttl("1h") == 3600 and parse_ttl("90") == 90 and parse_ttl("2d") == 172800
    import typer

    with pytest.raises(typer.BadParameter):
        parse_ttl("soon")


def test_block_list_unblock_on_pinned_maps(env, attached, veth, tcp_server):
    run = CliRunner().invoke
    r = run(app, ["block", veth.ns_ip, "--ttl", "1h"])
    assert r.exit_code == 0, r.output
    assert f"blocked {veth.ns_ip}/32" in r.output and "pinned maps" in r.output
    # the attached program drops right away: the CLI edited the very map it reads
    assert veth.client("tcp", veth.host_ip, tcp_server, 1)["ok"] == 0
    r = run(app, ["block", "fd00:200::/32"])
    assert r.exit_code == 0
    r = run(app, ["list", "--json"])
    entries = {e["network"]: e for e in orjson.loads(r.output)}
    assert entries[f"{veth.ns_ip}/32"]["hits"] >= 1 and entries[f"{veth.ns_ip}/32"]["expires_at"] is not None
    assert entries["fd00:200::/32"]["expires_at"] is None
    r = run(app, ["list"])
    assert "fd00:200::/32" in r.output and "never" in r.output
    r = run(app, ["stats", "--json"])
    assert orjson.loads(r.output)["dropped_packets"] >= 1
    assert run(app, ["stats"]).exit_code == 0
    assert run(app, ["unblock", veth.ns_ip]).exit_code == 0
    assert veth.client("tcp", veth.host_ip, tcp_server, 1)["ok"] == 1
    r = run(app, ["unblock", veth.ns_ip])
    assert r.exit_code == 1 and "not in the blocklist" in r.output


def test_usage_errors_exit_2(env):
    r = CliRunner().invoke(app, ["block", "10.0.0.300"])
    assert r.exit_code == 2 and "not an IP address or CIDR" in r.output
    r = CliRunner().invoke(app, ["block", "10.200.0.2", "--ttl", "soon"])
    assert r.exit_code == 2


def test_missing_pins_is_a_clear_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("IRONPOST_EBPF_PIN_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("IRONPOST_GENERAL_DATA_DIR", str(tmp_path))
    r = CliRunner().invoke(app, ["list"])
    assert r.exit_code == 1 and "no pinned BPF map" in r.output


def test_goes_through_the_daemon_when_it_runs(env, loader, veth, tmp_path):
    control = pytest.importorskip("ironpost.daemon.control", reason="daemon control socket not on this branch yet")
    from ironpost.core.bus import Bus
    from ironpost.core.config import parse_config
    from ironpost.core.module import ModuleContext
    from ironpost.ebpf.module import EbpfModule

    cfg = parse_config({"ebpf": {"enabled": True, "interface": veth.host_if}})

    async def main():
        bus = Bus()
        actions = bus.subscribe("actions", "test")
        module = EbpfModule(cfg, loader=loader)
        task = asyncio.create_task(module.run(ModuleContext(config=cfg, bus=bus, data_dir=tmp_path)))
        await asyncio.wait_for(module.running.wait(), 10)

        async def handler(req):  # what the daemon does for {"cmd": "module"}
            return await module.control(req["op"], req.get("args") or {})

        server = control.ControlServer(tmp_path / "ironpost.sock", handler)
        await server.start()
        try:
            r = await asyncio.to_thread(CliRunner().invoke, app, ["block", veth.ns_ip, "--ttl", "10m"])
            assert r.exit_code == 0 and "via the daemon" in r.output, r.output
            act = await asyncio.wait_for(actions.get(), 5)
            assert act.action == "block" and act.target == f"{veth.ns_ip}/32"
        finally:
            await server.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
