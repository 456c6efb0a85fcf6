"""The executor against the real private dockerd: actions really happen, as inspect shows."""

from __future__ import annotations

import asyncio
import threading
import time
from unittest import mock

import pytest

from container_support import make_container, networks_of, state_of
from ironpost.container.client import DockerCallError, Engine, connect
from ironpost.container.executor import Executor
from ironpost.container.model import ContainerInfo
from ironpost.container.policies import Decision, Policy
from ironpost.core.events import AlertEvent

pytestmark = pytest.mark.docker


def info(client, name) -> ContainerInfo:
    return ContainerInfo.from_inspect(client.api.inspect_container(name))


def decide(client, name, action, networks=(), policy="p") -> Decision:
    return Decision(Policy(name=policy, action=action, networks=tuple(networks)), info(client, name))


def alert(**kw) -> AlertEvent:
    return AlertEvent(rule_id="r", title="t", severity="critical", **kw)


@pytest.fixture
def engine(dockerd):
    e = Engine(dockerd.host, 10)
    yield e
    e.close()


@pytest.fixture
def make_executor(engine, tmp_path):
    published = []

    async def publish(ev):
        published.append(ev)

    def build(**kw):
        kw.setdefault("auto_isolate", True)
        kw.setdefault("rate_limit_secs", 0)
        kw.setdefault("stop_timeout_secs", 1)
        ex = Executor(engine, tmp_path / "state.json", publish=publish, **kw)
        ex.published = published
        return ex

    return build


def test_api_version_is_negotiated_not_pinned(dockerd, docker_client):
    client = connect(dockerd.host)
    try:
        server = docker_client.version()["ApiVersion"]
        assert client.api.api_version == server  # docker.io 20.10 offers 1.41; the SDK default is newer
    finally:
        client.close()


def test_pause_really_pauses_and_is_idempotent(trio, docker_client, make_executor):
    ex = make_executor()
    a = alert()
    ev = asyncio.run(ex.execute(decide(docker_client, "web-1", "pause"), a))
    assert (ev.result, ev.error, ev.dry_run) == ("ok", None, False)
    assert ev.alert_id == a.id and ev.trace_id == a.trace_id and ev.policy == "p" and ev.target == "web-1"
    assert state_of(docker_client, "web-1")["Paused"] is True
    assert state_of(docker_client, "api-1")["Paused"] is False
    again = asyncio.run(ex.execute(decide(docker_client, "web-1", "pause"), a))
    assert again.result == "ok" and again.details.get("already") is True
    assert [e.id for e in ex.published] == [ev.id, again.id]


def test_stop_really_stops(trio, docker_client, make_executor):
    ex = make_executor()
    t = time.monotonic()
    ev = asyncio.run(ex.execute(decide(docker_client, "db-1", "stop"), alert()))
    assert ev.result == "ok"
    assert time.monotonic() - t < 5
    st = state_of(docker_client, "db-1")
    assert st["Running"] is False and st["Status"] == "exited"
    again = asyncio.run(ex.execute(decide(docker_client, "db-1", "stop"), alert()))
    assert again.result == "ok" and again.details["already"] is True


def test_network_disconnect_and_release_reconnects(trio, docker_client, make_executor):
    ex = make_executor()
    assert networks_of(docker_client, "web-1") == {"bridge", "ipt-front"}
    ev = asyncio.run(ex.execute(decide(docker_client, "web-1", "network_disconnect", ["ipt-front"]), alert()))
    assert ev.result == "ok" and ev.details["networks"] == ["ipt-front"]
    assert networks_of(docker_client, "web-1") == {"bridge"}
    ev = asyncio.run(ex.execute(decide(docker_client, "web-1", "network_disconnect"), alert()))
    assert ev.result == "ok" and ev.details["networks"] == ["bridge"]
    assert networks_of(docker_client, "web-1") == set()
    rel = asyncio.run(ex.release("web-1"))
    assert rel.result == "ok", rel.error
    assert rel.trace_id == ev.trace_id and rel.alert_id == ev.alert_id  # traceable to the isolating alert
    assert sorted(rel.details["restored"]) == ["connect:bridge", "connect:ipt-front"]
    nets = docker_client.api.inspect_container("web-1")["NetworkSettings"]["Networks"]
    assert set(nets) == {"bridge", "ipt-front"}
    assert "frontend-web" in nets["ipt-front"]["Aliases"]  # reconnected as it was
    assert ex.isolations() == {}
    assert ex.published[-1].action == "release"


def test_release_restores_paused_and_stopped(trio, docker_client, make_executor):
    ex = make_executor()
    asyncio.run(ex.execute(decide(docker_client, "web-1", "pause"), alert()))
    asyncio.run(ex.execute(decide(docker_client, "api-1", "stop"), alert()))
    assert set(ex.isolations()) == {"web-1", "api-1"}
    r1 = asyncio.run(ex.release("web-1"))
    r2 = asyncio.run(ex.release("api-1"))
    assert (r1.result, r1.details["restored"]) == ("ok", ["unpause"])
    assert (r2.result, r2.details["restored"]) == ("ok", ["start"])
    assert state_of(docker_client, "web-1")["Status"] == "running"
    assert state_of(docker_client, "api-1")["Status"] == "running"
    nothing = asyncio.run(ex.release("db-1"))
    assert nothing.result == "skipped" and "nothing to release" in nothing.error
    gone = asyncio.run(ex.release("no-such-container"))
    assert gone.result == "failed" and "not found" in gone.error


def test_dry_run_touches_nothing(trio, docker_client, make_executor):
    ex = make_executor(auto_isolate=False)
    before = {n: (state_of(docker_client, n)["Status"], networks_of(docker_client, n)) for n in trio}
    evs = [
        asyncio.run(ex.execute(decide(docker_client, "web-1", "network_disconnect"), alert())),
        asyncio.run(ex.execute(decide(docker_client, "api-1", "pause"), alert())),
        asyncio.run(ex.execute(decide(docker_client, "db-1", "stop"), alert())),
    ]
    assert [(e.result, e.dry_run) for e in evs] == [("dry_run", True)] * 3
    assert evs[0].details["would"] == "network_disconnect" and sorted(evs[0].details["networks"]) == ["bridge", "ipt-front"]
    after = {n: (state_of(docker_client, n)["Status"], networks_of(docker_client, n)) for n in trio}
    assert after == before
    assert ex.isolations() == {}


def test_exempt_label_is_never_touched(trio, docker_client, make_executor):
    make_container(docker_client, "ops-1", **{"ironpost.exempt": "true"})
    ex = make_executor()
    for action in ("pause", "stop", "network_disconnect"):
        ev = asyncio.run(ex.execute(decide(docker_client, "ops-1", action), alert()))
        assert ev.result == "skipped" and "exempt" in ev.error
    st = state_of(docker_client, "ops-1")
    assert st["Status"] == "running" and networks_of(docker_client, "ops-1") == {"bridge"}
    # The snapshot may be stale or forged: the executor checks the live labels too.
    stale = Decision(Policy(name="p", action="pause"), ContainerInfo(info(docker_client, "ops-1").id, "ops-1", "x", "running", {}, ()))
    ev = asyncio.run(ex.execute(stale, alert()))
    assert ev.result == "skipped" and state_of(docker_client, "ops-1")["Paused"] is False


def test_rate_limit_per_container(trio, docker_client, make_executor):
    ex = make_executor(rate_limit_secs=60)
    first = asyncio.run(ex.execute(decide(docker_client, "web-1", "pause"), alert()))
    second = asyncio.run(ex.execute(decide(docker_client, "web-1", "stop"), alert()))
    other = asyncio.run(ex.execute(decide(docker_client, "api-1", "pause"), alert()))
    assert (first.result, second.result, other.result) == ("ok", "skipped", "ok")
    assert "rate limited" in second.error
    assert state_of(docker_client, "web-1")["Status"] == "paused"  # the stop never happened


def test_transient_error_is_retried(trio, docker_client, make_executor, engine):
    """The engine cannot be made to answer 503 on demand, so that one fault is injected."""
    ex = make_executor(retries=3, retry_backoff_secs=0.01)
    real = engine.run
    failures = {"n": 0}

    def flaky(what, fn):
        if what.startswith("pause") and failures["n"] < 2:
            failures["n"] += 1
            raise DockerCallError(f"{what}: 503 engine busy", status=503, transient=True)
        return real(what, fn)

    with mock.patch.object(engine, "run", side_effect=flaky):
        ev = asyncio.run(ex.execute(decide(docker_client, "web-1", "pause"), alert()))
    assert ev.result == "ok" and ev.details["attempts"] == 3 and ex.retried == 2
    assert state_of(docker_client, "web-1")["Paused"] is True

    def refusing(what, fn):
        if what.startswith("stop"):
            raise DockerCallError(f"{what}: 409 conflict", status=409, transient=False)
        return real(what, fn)

    with mock.patch.object(engine, "run", side_effect=refusing):
        ev = asyncio.run(ex.execute(decide(docker_client, "api-1", "stop"), alert()))
    assert ev.result == "failed" and "409" in ev.error and ev.details["attempts"] == 1


def test_executor_survives_dockerd_restart_mid_run(trio, docker_client, dockerd, make_executor):
    ex = make_executor(retries=8, retry_backoff_secs=0.2)
    assert asyncio.run(ex.execute(decide(docker_client, "web-1", "pause"), alert())).result == "ok"
    api_decision = decide(docker_client, "api-1", "pause")
    dockerd.kill()
    restarter = threading.Timer(1.0, dockerd.start)
    restarter.start()
    try:
        t = time.monotonic()
        ev = asyncio.run(ex.execute(api_decision, alert()))
        elapsed = time.monotonic() - t
    finally:
        restarter.join(60)
    assert ev.result == "ok", ev.error
    assert ev.details["attempts"] > 1 and elapsed > 0.5  # it really waited for the engine
    assert state_of(docker_client, "api-1")["Paused"] is True
    assert state_of(docker_client, "web-1")["Paused"] is True  # live-restore kept it as it was
    # The same executor keeps working on the restarted engine.
    assert asyncio.run(ex.release("web-1")).result == "ok"
    assert state_of(docker_client, "web-1")["Status"] == "running"


def test_unreachable_engine_fails_cleanly(tmp_path):
    e = Engine(f"unix://{tmp_path}/none.sock", 2)
    ex = Executor(e, tmp_path / "s.json", auto_isolate=True, retries=1, retry_backoff_secs=0.01)
    c = ContainerInfo("f" * 64, "web-9", "img", "running")
    ev = asyncio.run(ex.execute(Decision(Policy(name="p", action="pause"), c), alert()))
    assert ev.result == "failed" and "unreachable" in ev.error and ev.details["attempts"] == 2


def test_an_action_under_way_at_stop_is_still_published(trio, docker_client, make_executor, engine):
    """Cancel (the daemon stopping) while the engine pauses the container: the pause happens in
    its thread anyway, so its ActionEvent must still be published, not lost."""
    ex = make_executor()
    release = threading.Event()
    real_run = engine.run

    def slow_run(what, fn):  # fault injection: hold the engine call until the task is cancelled
        release.wait(10)
        return real_run(what, fn)

    async def main():
        with mock.patch.object(engine, "run", side_effect=slow_run):
            task = asyncio.create_task(ex.execute(decide(docker_client, "web-1", "pause"), alert()))
            await asyncio.sleep(0.3)
            task.cancel()
            await asyncio.sleep(0.1)
            assert not task.done()  # it waits for the engine call rather than dropping it
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert [(e.action, e.result) for e in ex.published] == [("pause", "ok")]
    assert state_of(docker_client, "web-1")["Paused"] is True
    assert asyncio.run(ex.release("web-1")).result == "ok"
