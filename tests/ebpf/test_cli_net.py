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
    # fd00:200::/32 holds the host side of the test veth: exempt, so only --force blocks it
    r = run(app, ["block", "fd00:200::/32"])
    assert r.exit_code == 2 and "--force" in r.output and "interface" in r.output
    r = run(app, ["block", "fd00:200::/32", "--force"])
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


def stored_actions():
    from ironpost.core.config import load_config
    from ironpost.storage import open_store

    store = open_store(load_config(None))
    try:
        store.migrate()
        return store.query_actions(limit=100)
    finally:
        store.close()


def test_direct_block_and_unblock_are_recorded_as_actions(env, tmp_path):
    run = CliRunner().invoke
    assert stored_actions() == []
    r = run(app, ["block", "10.200.251.0/24", "--ttl", "90s", "--direct"])
    assert r.exit_code == 0, r.output
    assert run(app, ["unblock", "10.200.251.0/24"]).exit_code == 0  # no daemon socket: direct too
    assert run(app, ["unblock", "10.200.251.0/24"]).exit_code == 1
    acts = sorted(stored_actions(), key=lambda a: a["timestamp"])
    assert [(a["action"], a["target"], a["result"]) for a in acts] == [
        ("block", "10.200.251.0/24", "ok"), ("unblock", "10.200.251.0/24", "ok"),
        ("unblock", "10.200.251.0/24", "skipped")]
    blk = acts[0]
    assert blk["source_module"] == "ebpf" and blk["dry_run"] in (False, 0)
    assert blk["details"]["ttl_secs"] == 90 and blk["details"]["via"] == "cli"
    assert (tmp_path / "ironpost.db").exists()


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
    from ironpost.daemon import control
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
