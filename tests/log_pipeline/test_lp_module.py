"""LogPipelineModule on a real bus: packet events and collector lines in, AlertEvents out."""

import asyncio
import shutil

import pytest

from lp_support import PACKET_RULES, RULES
from ironpost.log_pipeline.rules.loader import load_rules_strict
from ironpost.core.bus import Bus
from ironpost.core.config import parse_config
from ironpost.core.errors import LogPipelineError, RuleError
from ironpost.core.events import AlertEvent, PacketEvent
from ironpost.core.module import ModuleContext
from ironpost.log_pipeline.module import LogPipelineModule


def cfg(rules_dir, tmp_path, **extra):
    return parse_config({"general": {"data_dir": str(tmp_path)}, "log_pipeline": {"rules_dir": str(rules_dir), **extra}},
                        environ={})


async def started(mod, ctx):
    task = asyncio.create_task(mod.run(ctx))
    for _ in range(200):
        if mod.pipeline is not None:
            return task
        await asyncio.sleep(0.01)
    raise AssertionError("module did not start")


async def start_on_bus(config, tmp_path):
    """The module running on a fresh bus, with a subscriber on "alerts": (module, bus, alerts, task)."""
    bus = Bus(capacity=100_000)
    alerts = bus.subscribe("alerts", "test")
    mod = LogPipelineModule(config)
    task = await started(mod, ModuleContext(config=config, bus=bus, data_dir=tmp_path))
    return mod, bus, alerts, task


def test_packets_and_lines_to_alerts_reload_and_control(tmp_path):
    rules_dir = tmp_path / "rules"
    shutil.copytree(RULES, rules_dir)
    for f in PACKET_RULES.glob("*.yaml"):  # packet events through rules the user wrote
        shutil.copy(f, rules_dir)
    config = cfg(rules_dir, tmp_path, year=2016)

    async def main():
        mod, bus, alerts, task = await start_on_bus(config, tmp_path)
        try:
            for i, port in enumerate(range(1000, 1030)):
                await bus.publish("packets", PacketEvent(src_ip="10.200.0.2", dst_ip="10.200.0.1", dst_port=port,
                                                         tcp_flags=2, timestamp=50.0 + i * 0.01, trace_id="trace-1"))
            got = await asyncio.wait_for(alerts.get(), 5)
            assert isinstance(got, AlertEvent) and got.rule_id == "port_scan" and got.trace_id == "trace-1"
            lines = "".join(f"Dec 10 06:55:{k:02d} LabSZ sshd[1]: Failed password for root from 203.0.113.5 port {k} ssh2\n"
                            for k in range(6))
            await mod.emit(lines.encode(), "/var/log/auth.log")
            got = await asyncio.wait_for(alerts.get(), 5)
            assert got.rule_id == "ssh_brute_force" and got.src_ip == "203.0.113.5"
            assert got.details["source"] == "/var/log/auth.log"
            m = mod.metrics()
            assert m["lp_lines_total"] == 6 and m["lp_packets_total"] == 30 and m["lp_alerts_published_total"] == 2
            listed = await mod.control("rules", {})
            assert listed["count"] == len(load_rules_strict(rules_dir)) and "ssh_brute_force" in {r["id"] for r in listed["rules"]}
            # reload with one rule removed and one broken file: the broken reload is refused, old rules stay
            (rules_dir / "syn_flood.yaml").unlink()
            await mod.reload(cfg(rules_dir, tmp_path, year=2016))
            assert (await mod.control("rules", {}))["count"] == listed["count"] - 1 and mod.metrics()["lp_reloads_total"] == 1
            n_after_unlink = len(load_rules_strict(rules_dir))
            (rules_dir / "broken.yaml").write_text("id: x\n")
            with pytest.raises(RuleError):
                await mod.reload(cfg(rules_dir, tmp_path, year=2016))
            assert (await mod.control("rules", {}))["count"] == n_after_unlink
            res = await mod.control("explain", {"rule_id": "ssh_root_login",
                                                "line": "Dec 10 06:55:46 h sshd[1]: Accepted password for root from 1.2.3.4 port 1 ssh2"})
            assert res["matched"] is True
            with pytest.raises(LogPipelineError):
                await mod.control("nope", {})
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def test_missing_rules_dir_runs_without_rules(tmp_path):
    config = cfg(tmp_path / "nowhere", tmp_path)

    async def main():
        mod = LogPipelineModule(config)
        task = await started(mod, ModuleContext(config=config, bus=Bus(), data_dir=tmp_path))
        assert mod.metrics()["lp_rules_loaded"] == 0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def test_lines_still_buffered_at_stop_are_matched(tmp_path):
    """A tailed file's offset moves when its lines are queued, so a stop must not drop the queue."""
    config = cfg(RULES, tmp_path, year=2016)

    async def main():
        mod, _, alerts, task = await start_on_bus(config, tmp_path)
        lines = "".join(f"Dec 10 06:55:{k:02d} LabSZ sshd[1]: Failed password for root from 203.0.113.{k} port 22 ssh2\n"
                        for k in range(5))
        # queued without yielding: the engine task has not seen them when the stop comes
        await mod.buffer.put_wait((lines * 5).encode(), "/var/log/auth.log")
        assert mod.buffer.lines == 25
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert mod.buffer.lines == 0 and mod.metrics()["lp_lines_total"] == 25
        got = alerts.drain_nowait()
        assert {a.src_ip for a in got if a.rule_id == "ssh_brute_force"} == {f"203.0.113.{k}" for k in range(5)}

    asyncio.run(main())
