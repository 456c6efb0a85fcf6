"""Container guard benchmarks against the real private dockerd (packaging/dockerd-test.sh).

- alert -> action latency through ContainerModule on the bus: an AlertEvent naming web-1 is
  published on "alerts", timed until its ActionEvent arrives on "actions" (a real pause;
  the container is unpaused outside the timing before each round). The dry-run path is measured
  alongside, to show how much of the latency is the engine's.
- inventory refresh with 100 containers: one full list (GET /containers/json?all=1) turned into
  ContainerInfo snapshots.
Medians come from pytest-benchmark; p99 is added to extra_info (and printed) from the raw rounds.
Run: python -m pytest bench/test_container.py --benchmark-only -q
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "container"))

from container_support import IMAGE, TEST_LABEL, private_dockerd  # noqa: E402

from ironpost.container.client import Engine  # noqa: E402
from ironpost.container.inventory import Inventory  # noqa: E402
from ironpost.container.module import ContainerModule  # noqa: E402
from ironpost.core.bus import Bus  # noqa: E402
from ironpost.core.config import parse_config  # noqa: E402
from ironpost.core.events import AlertEvent  # noqa: E402
from ironpost.core.module import ModuleContext  # noqa: E402

pytestmark = pytest.mark.docker
ROUNDS = 40
BULK = 100
POLICY = '[[policy]]\nname = "pause-bench"\npriority = 1\nseverity_threshold = "high"\naction = "pause"\n[policy.filters]\ncontainer_names = ["bench-*"]\n'


@pytest.fixture(scope="module")
def dockerd():
    yield from private_dockerd()


@pytest.fixture(scope="module")
def client(dockerd):
    import docker

    c = docker.DockerClient(base_url=dockerd.host, version="auto", timeout=60)
    yield c
    _remove(c)
    c.close()


def _remove(c) -> None:
    leftovers = c.containers.list(all=True, filters={"label": f"{TEST_LABEL}=bench"})
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda x: x.remove(force=True), leftovers))


def _p99(benchmark) -> float:
    data = sorted(benchmark.stats.stats.data)
    return data[min(len(data) - 1, int(round(0.99 * (len(data) - 1))))]


def _report(benchmark, what: str) -> None:
    data = benchmark.stats.stats.data
    med, p99 = statistics.median(data), _p99(benchmark)
    benchmark.extra_info.update({"median_ms": round(med * 1e3, 3), "p99_ms": round(p99 * 1e3, 3), "rounds": len(data)})
    print(f"\n{what}: median {med * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms over {len(data)} rounds")


class ModuleHarness:
    """ContainerModule running on its own event loop, driven one alert at a time."""

    def __init__(self, host: str, tmp_path, auto_isolate: bool):
        pol = tmp_path / f"policies-{auto_isolate}"
        pol.mkdir()
        (pol / "bench.toml").write_text(POLICY)
        self.config = parse_config({"general": {"data_dir": str(tmp_path / "data")}, "container": {
            "docker_host": host, "policy_path": str(pol), "auto_isolate": auto_isolate, "rate_limit_secs": 0}}, environ={})
        self.loop = asyncio.new_event_loop()
        self.bus = Bus(1000)
        self.actions = self.bus.subscribe("actions", "bench")
        self.module = ContainerModule(self.config)
        ctx = ModuleContext(config=self.config, bus=self.bus, data_dir=tmp_path, log=logging.getLogger("bench"))
        self.task = self.loop.create_task(self.module.run(ctx))
        self.loop.run_until_complete(self._started())

    async def _started(self):
        async with asyncio.timeout(20):
            while self.module.inventory is None or not self.module.inventory.connected:
                if self.task.done():
                    self.task.result()
                await asyncio.sleep(0.01)

    def alert_to_action(self, name: str):
        async def one():
            await self.bus.publish("alerts", AlertEvent(rule_id="bench", title="bench", severity="critical", container_name=name))
            async with asyncio.timeout(10):
                return await self.actions.get()

        ev = self.loop.run_until_complete(one())
        assert ev.result in ("ok", "dry_run"), ev.error
        return ev

    def close(self):
        self.task.cancel()
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        self.loop.close()


@pytest.fixture(scope="module")
def bench_container(client):
    _remove(client)
    c = client.containers.run(IMAGE, ["sleep", "3600"], name="bench-1", detach=True, init=True, labels={TEST_LABEL: "bench"})
    yield c


def test_alert_to_action_pause(benchmark, dockerd, client, bench_container, tmp_path):
    h = ModuleHarness(dockerd.host, tmp_path, auto_isolate=True)
    try:
        def unpause():
            bench_container.reload()
            if bench_container.status == "paused":
                bench_container.unpause()

        benchmark.group = "container-alert-to-action"
        benchmark.pedantic(h.alert_to_action, args=("bench-1",), setup=unpause, rounds=ROUNDS, iterations=1, warmup_rounds=2)
        assert client.api.inspect_container("bench-1")["State"]["Paused"] is True
    finally:
        h.close()
        bench_container.reload()
        if bench_container.status == "paused":
            bench_container.unpause()
    _report(benchmark, "alert->pause")


def test_alert_to_action_dry_run(benchmark, dockerd, client, bench_container, tmp_path):
    h = ModuleHarness(dockerd.host, tmp_path, auto_isolate=False)
    try:
        benchmark.group = "container-alert-to-action"
        benchmark.pedantic(h.alert_to_action, args=("bench-1",), rounds=ROUNDS, iterations=1, warmup_rounds=2)
    finally:
        h.close()
    assert client.api.inspect_container("bench-1")["State"]["Running"] is True
    _report(benchmark, "alert->dry-run record")


@pytest.fixture(scope="module")
def hundred(client, bench_container):
    """BULK created (not started: listing does not care, and it keeps the fixture fast) containers."""
    t = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda i: client.containers.create(IMAGE, ["sleep", "3600"], name=f"bulk-{i:03d}",
                                                                labels={TEST_LABEL: "bench"}), range(BULK)))
    print(f"\ncreated {len(made)} containers in {time.monotonic() - t:.1f}s")
    yield made


def test_inventory_refresh_100(benchmark, dockerd, hundred):
    engine = Engine(dockerd.host)
    inv = Inventory(engine, ttl_secs=3600)
    try:
        benchmark.group = "container-inventory"
        result = benchmark.pedantic(inv.refresh_sync, rounds=30, iterations=1, warmup_rounds=2)
        assert sum(1 for c in result.values() if c.name.startswith("bulk-")) == BULK
    finally:
        engine.close()
        inv.events_engine.close()
    _report(benchmark, f"inventory refresh ({len(result)} containers)")
