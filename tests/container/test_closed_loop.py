"""The whole loop inside one daemon, against the real private dockerd: a container writes an
attack line to its own log -> the container module follows it -> LogChunk on the bus -> the log
pipeline's rule fires -> AlertEvent naming the container -> policy -> the container is paused ->
ActionEvent stored with the alert id and the same trace id."""

import asyncio
import time

from container_support import IMAGE, TEST_LABEL

from ironpost.core.config import parse_config
from ironpost.daemon.app import Daemon
from ironpost.storage.sqlite import SqliteStore

RULE = """\
id: container_reverse_shell
title: Reverse shell spawned in a container
severity: critical
detection:
  conditions:
    - field: message
      operator: contains
      value: "REVSHELL-MARKER"
"""

POLICY = """\
[[policy]]
name = "pause-web"
priority = 10
severity_threshold = "high"
action = "pause"
[policy.filters]
container_names = ["web-*"]
"""


def test_attack_in_container_log_pauses_the_container(tmp_path, dockerd, docker_client):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "revshell.yaml").write_text(RULE)
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "guard.toml").write_text(POLICY)
    for c in docker_client.containers.list(all=True, filters={"name": "web-loop"}):
        c.remove(force=True)
    cfg = parse_config({
        "general": {"data_dir": str(tmp_path / "data"), "http_listen": ""},
        "log_pipeline": {"rules_dir": str(rules)},
        "container": {"enabled": True, "docker_host": dockerd.host, "policy_path": str(policies), "auto_isolate": True},
    }, environ={})
    (tmp_path / "data").mkdir()
    daemon = Daemon(None, config=cfg)
    container = None

    async def go():
        nonlocal container
        task = asyncio.create_task(daemon.main())
        try:
            deadline = time.monotonic() + 20
            while daemon.status_or_none() is None or daemon.supervisor.status().get("container", {}).get("state") != "running":
                assert time.monotonic() < deadline, "container module did not start"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # the collector lists containers once at start
            container = await asyncio.to_thread(
                docker_client.containers.run, IMAGE, ["sh", "-c", "sleep 1; echo 'bash -i REVSHELL-MARKER to 10.200.9.9'; sleep 3600"],
                name="web-loop", detach=True, init=True, labels={TEST_LABEL: "1"},
            )
            while True:
                await asyncio.to_thread(container.reload)
                if container.status == "paused":
                    break
                assert time.monotonic() < deadline + 20, f"container not paused: {container.status}"
                await asyncio.sleep(0.1)
        finally:
            daemon.request_stop()
            await task

    try:
        asyncio.run(go())
        store = SqliteStore(tmp_path / "data" / "ironpost.db")
        alerts = store.query_alerts()
        actions = store.query_actions()
        assert [a["rule_id"] for a in alerts] == ["container_reverse_shell"]
        assert alerts[0]["details"]["source"].startswith("docker:web-loop:")
        assert len(actions) == 1
        act = actions[0]
        assert act["action"] == "pause" and act["result"] == "ok" and not act["dry_run"]
        assert act["alert_id"] == alerts[0]["id"] and act["trace_id"] == alerts[0]["trace_id"]
        assert act["policy"] == "pause-web"
    finally:
        if container is not None:
            container.remove(force=True)
