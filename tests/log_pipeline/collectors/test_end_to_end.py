"""Collectors feeding the real LogPipelineModule: lines in over TCP, UDP and a tailed file,
alerts out on the bus; and two modules sharing Redis state that see one attacker."""

import asyncio
import os
import socket
from urllib.parse import urlsplit

import redis

import support
from support import free_port
from collector_support import run_uv, stop, wait_until
from ironpost.core.bus import Bus
from ironpost.core.config import parse_config
from ironpost.core.module import ModuleContext
from ironpost.daemon.wiring import build_module
from ironpost.log_pipeline import module

RULE = """id: ssh_brute_force
title: SSH brute force
description: Five or more failed SSH password attempts from one source address within 60 seconds.
severity: high
detection:
  conditions:
    - field: message
      operator: regex
      value: '^Failed password for (invalid user )?\\S+ from \\S+ port \\d+ ssh2'
threshold:
  count: 5
  timeframe_secs: 60
  group_by: src_ip
tags: [attack.credential_access, attack.t1110.001]
"""


def failed(ip, second):
    return b"Nov 30 12:00:%02d web1 sshd[4242]: Failed password for root from %s port 4%04d ssh2\n" % (second, ip.encode(), second)


def make_config(tmp_path, name, **lp):
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "ssh_brute_force.yaml").write_text(RULE)
    data = tmp_path / name
    data.mkdir()
    storage = lp.pop("storage", {})
    return parse_config({"general": {"data_dir": str(data)},
                         "log_pipeline": {"rules_dir": str(rules), "year": 2026, **lp},
                         "log_pipeline.storage": storage}, environ={}), data


async def start(config, data):
    bus = Bus(1000)
    alerts = bus.subscribe("alerts", "test")
    mod = build_module("log_pipeline", config)  # as the daemon builds it: wiring hands in the state backend
    assert isinstance(mod, module.LogPipelineModule)
    task = asyncio.create_task(mod.run(ModuleContext(config=config, bus=bus, data_dir=data)))
    await wait_until(lambda: mod.collectors and all(getattr(c, "started", None) is None or c.started.is_set() for c in mod.collectors),
                     what="collectors listening")
    return mod, task, alerts


def test_tcp_udp_and_file_lines_reach_rules_and_raise_alerts(tmp_path):
    tcp_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    logs = tmp_path / "logs"
    logs.mkdir()
    cfg, data = make_config(tmp_path, "d", syslog_tcp=f"127.0.0.1:{tcp_port}", syslog_udp=f"127.0.0.1:{udp_port}",
                            files=[str(logs / "*.log")], files_poll_interval_secs=0.02)

    async def main():
        mod, task, alerts = await start(cfg, data)
        try:
            _, w = await asyncio.open_connection("127.0.0.1", tcp_port)
            w.write(b"".join(failed("192.0.2.10", s) for s in range(6)))
            await w.drain()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for s in range(6):
                u.sendto(failed("192.0.2.20", s), ("127.0.0.1", udp_port))
            u.close()
            (logs / "auth.log").write_bytes(b"".join(failed("192.0.2.30", s) for s in range(6)))
            got = []
            while len(got) < 3:
                got.append(await asyncio.wait_for(alerts.get(), 5))
            w.close()
            return got, mod.metrics()
        finally:
            await stop(task)

    got, metrics = run_uv(main())
    assert sorted(a.src_ip or a.group.get("src_ip") for a in got) == ["192.0.2.10", "192.0.2.20", "192.0.2.30"]
    assert all(a.rule_id == "ssh_brute_force" and a.severity == "high" for a in got)
    assert any(k.startswith("lp_collector_lines_total") for k in metrics)


def test_two_daemons_sharing_redis_see_one_attacker(tmp_path):
    parts = urlsplit(support.REDIS_URL)
    support.need(support.tcp_open(parts.hostname or "127.0.0.1", parts.port or 6379), "Redis not reachable")
    ip = "198.18.%d.%d" % tuple(os.urandom(2))  # unique per run: the module's key prefix is fixed
    ports = [free_port(), free_port()]
    cfgs = [make_config(tmp_path, f"d{i}", syslog_tcp=f"127.0.0.1:{p}", storage={"redis_url": support.REDIS_URL})
            for i, p in enumerate(ports)]

    async def main():
        started = [await start(c, d) for c, d in cfgs]
        try:
            for i, (port, second_range) in enumerate(zip(ports, (range(0, 3), range(3, 6)))):
                _, w = await asyncio.open_connection("127.0.0.1", port)  # three attempts hit each daemon
                w.write(b"".join(failed(ip, s) for s in second_range))
                await w.drain()
                w.close()
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.3)
            return [sub.drain_nowait() for _, _, sub in started]
        finally:
            for _, task, _ in started:
                await stop(task)

    try:
        per_daemon = run_uv(main())
    finally:
        r = redis.Redis.from_url(support.REDIS_URL)
        keys = list(r.scan_iter(match=f"*{ip}*"))
        if keys:
            r.delete(*keys)
        r.close()
    fired = [a for alerts in per_daemon for a in alerts]
    assert len(fired) == 1, f"one attacker, six attempts over two daemons: expected one alert, got {fired}"
    assert (fired[0].src_ip or fired[0].group.get("src_ip")) == ip
