"""Alert rate limits count per rule and group key, so decoys flooding a rule cannot hide the
real source; an alert the limit holds back still carries its ban decision (alerts.suppressed)."""

import asyncio

import pytest

from ironpost.core.bus import SUPPRESSED_TOPIC, Bus
from ironpost.core.config import parse_config
from ironpost.core.extensions import compiled
from ironpost.core.module import ModuleContext
from ironpost.log_pipeline import matcher_py as twin
from ironpost.log_pipeline.module import LogPipelineModule
from ironpost.log_pipeline.pipeline import Pipeline
from ironpost.log_pipeline.rules import load_rules

ext = compiled("matcher")
IMPLS = [twin] + ([ext] if ext is not None else [])

NO_THRESHOLD = """id: ssh_fail
title: ssh failure
severity: high
rate_limit: 5
detection:
  conditions:
    - field: message
      operator: contains
      value: Failed password
"""
THRESHOLD = NO_THRESHOLD + """threshold:
  count: 2
  timeframe_secs: 60
  group_by: [src_ip]
"""


def line(src: str, k: int) -> bytes:
    return f"Dec 10 06:55:{k % 60:02d} host sshd[1]: Failed password for root from {src} port {k} ssh2\n".encode()


def rules_from(tmp_path, text):
    (tmp_path / "r.yaml").write_text(text)
    rules, problems = load_rules(tmp_path)
    assert not problems
    return rules


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("text", [NO_THRESHOLD, THRESHOLD], ids=["plain", "threshold"])
def test_decoys_do_not_rate_limit_the_real_source(tmp_path, impl, text):
    p = Pipeline(rules_from(tmp_path, text), year=2026, matcher_impl=impl)
    decoys = b"".join(line(f"198.51.100.{i % 200 + 1}", i) + line(f"198.51.100.{i % 200 + 1}", i)
                      for i in range(200))
    p.process(decoys)
    alerts = p.process(line("203.0.113.66", 1) + line("203.0.113.66", 2))
    assert alerts and {a.src_ip for a in alerts} == {"203.0.113.66"}


@pytest.mark.parametrize("impl", IMPLS, ids=lambda m: m.__name__)
def test_a_rate_limited_alert_keeps_its_ban_decision(tmp_path, impl):
    p = Pipeline(rules_from(tmp_path, NO_THRESHOLD), year=2026, matcher_impl=impl)
    alerts = p.process(b"".join(line("203.0.113.7", k) for k in range(8)))
    assert len(alerts) == 5  # rate_limit: 5 a minute for this rule and source
    held = p.take_suppressed()
    assert len(held) == 3 and {a.src_ip for a in held} == {"203.0.113.7"}
    assert all(a.details["rate_limited"] for a in held)
    assert p.take_suppressed() == []
    m = p.metrics()
    assert m["lp_alerts_total"] == 5 and m["lp_rate_limited_ban_decisions_total"] == 3


def test_the_module_publishes_held_back_decisions_but_not_as_alerts(tmp_path):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "r.yaml").write_text(NO_THRESHOLD)
    config = parse_config({"general": {"data_dir": str(tmp_path)},
                           "log_pipeline": {"rules_dir": str(rules_dir), "year": 2026}}, environ={})

    async def main():
        bus = Bus(capacity=10_000)
        alerts = bus.subscribe("alerts", "t")
        held = bus.subscribe(SUPPRESSED_TOPIC, "t")
        mod = LogPipelineModule(config)
        task = asyncio.create_task(mod.run(ModuleContext(config=config, bus=bus, data_dir=tmp_path)))
        for _ in range(200):
            if mod.pipeline is not None:
                break
            await asyncio.sleep(0.01)
        try:
            await mod.emit(b"".join(line("203.0.113.8", k) for k in range(7)), "test")
            assert alerts.qsize() == 5 and held.qsize() == 2
            assert held.get_nowait().src_ip == "203.0.113.8"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
