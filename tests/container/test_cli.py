"""CLI groups policy, actions, container (typer CliRunner on each app)."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from container_support import state_of
from ironpost.cli import actions as actions_cli
from ironpost.cli import container as container_cli
from ironpost.cli import policy as policy_cli
from ironpost.core.events import ActionEvent
from ironpost.storage.sqlite import SqliteStore

runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()

GOOD = """
[[policy]]
name = "pause-web"
priority = 10
action = "pause"
[policy.filters]
container_names = ["web-*"]
"""


@pytest.fixture
def cfg_file(tmp_path):
    def make(host="unix:///nonexistent/docker.sock", policies=GOOD, broken=False):
        pol = tmp_path / "policies"
        pol.mkdir(exist_ok=True)
        (pol / "good.toml").write_text(policies)
        if broken:
            (pol / "zz-broken.toml").write_text('[[policy]]\nname = "b"\naction = "pause"\nseverity_threshold = "urgent"\n')
        p = tmp_path / "ironpost.toml"
        p.write_text(f'[general]\ndata_dir = "{tmp_path / "data"}"\n[container]\ndocker_host = "{host}"\npolicy_path = "{pol}"\n'
                     f'stop_timeout_secs = 1\n')
        return p
    return make


def test_policy_validate_ok_and_broken(cfg_file, tmp_path):
    r = runner.invoke(policy_cli.app, ["validate", "--config", str(cfg_file())])
    assert r.exit_code == 0, r.output
    assert "pause-web" in r.stdout and "1 policies loaded from 1 files, 0 errors" in r.stdout
    r = runner.invoke(policy_cli.app, ["validate", "--config", str(cfg_file(broken=True))])
    assert r.exit_code == 2
    assert "pause-web" in r.stdout  # the valid file still loads
    assert f"{tmp_path / 'policies' / 'zz-broken.toml'}:4 [b]: severity_threshold must be one of" in r.stderr
    r = runner.invoke(policy_cli.app, ["validate", "--dir", str(tmp_path / "policies"), "--json", "--config", str(cfg_file(broken=True))])
    doc = orjson.loads(r.stdout)
    assert [p["name"] for p in doc["policies"]] == ["pause-web"] and doc["errors"][0]["line"] == 4


def test_policy_test_offline(cfg_file):
    cfg = str(cfg_file())
    r = runner.invoke(policy_cli.app, ["test", "--offline", "--config", cfg, "--alert", '{"severity": "critical", "container_name": "web-7"}'])
    assert r.exit_code == 0, r.output
    assert "pause-web: pause -> web-7" in r.stdout
    r = runner.invoke(policy_cli.app, ["test", "--offline", "--config", cfg, "--alert", '{"severity": "critical", "container_name": "db-1"}'])
    assert r.exit_code == 1 and "no policy would act" in r.stdout
    r = runner.invoke(policy_cli.app, ["test", "--config", cfg, "--alert", '{"severity": "urgent"}'])
    assert r.exit_code == 2 and "severity must be one of" in r.stderr
    r = runner.invoke(policy_cli.app, ["test", "--config", cfg, "--alert", "[1]"])
    assert r.exit_code == 2


@pytest.mark.docker
def test_policy_test_against_engine(cfg_file, dockerd, trio):
    cfg = str(cfg_file(dockerd.host))
    r = runner.invoke(policy_cli.app, ["test", "--json", "--config", cfg, "--alert", '{"severity": "high"}'])
    assert r.exit_code == 0, r.output
    doc = orjson.loads(r.stdout)
    assert [(d["policy"], d["container"], d["action"]) for d in doc["decisions"]] == [("pause-web", "web-1", "pause")]
    assert doc["containers_from"].startswith("engine ")
    assert state_of(trio["web-1"].client, "web-1")["Running"] is True  # a test changes nothing


def test_actions_list_reads_the_store(cfg_file, tmp_path):
    cfg = str(cfg_file())
    store = SqliteStore(tmp_path / "data" / "ironpost.db")
    store.migrate()
    store.write_actions([
        ActionEvent(action="pause", target="web-1", policy="pause-web", alert_id="a1", result="ok", dry_run=False, timestamp=1000.0),
        ActionEvent(action="stop", target="db-1", policy="p2", alert_id="a2", result="dry_run", timestamp=2000.0),
    ])
    store.close()
    r = runner.invoke(actions_cli.app, ["list", "--config", cfg, "--limit", "50"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "db-1" in lines[1] and "dry_run" in lines[1] and "web-1" in lines[2]  # newest first
    r = runner.invoke(actions_cli.app, ["list", "--config", cfg, "--limit", "1", "--json"])
    rows = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["target"] == "db-1" and rows[0]["alert_id"] == "a2"


@pytest.mark.docker
def test_container_ls_and_release_direct(cfg_file, dockerd, trio, docker_client, tmp_path):
    import asyncio

    from ironpost.container.client import Engine
    from ironpost.container.module import build_executor
    from ironpost.core.config import load_config

    cfg_path = cfg_file(dockerd.host)
    cfg = load_config(cfg_path, environ={})
    engine = Engine(dockerd.host)
    ex = build_executor(load_config(cfg_path, environ={"IRONPOST_CONTAINER_AUTO_ISOLATE": "true"}), engine)
    from ironpost.container.policies import Decision, Policy
    from ironpost.container.model import ContainerInfo

    c = ContainerInfo.from_inspect(docker_client.api.inspect_container("web-1"))
    assert asyncio.run(ex.execute(Decision(Policy(name="p", action="pause"), c))).result == "ok"
    engine.close()
    r = runner.invoke(container_cli.app, ["ls", "--config", str(cfg_path)])
    assert r.exit_code == 0, r.output
    web = next(line for line in r.stdout.splitlines() if line.startswith("web-1"))
    assert "paused" in web and "isolated: paused" in web
    r = runner.invoke(container_cli.app, ["release", "web-1", "--config", str(cfg_path)])
    assert r.exit_code == 0, r.output
    assert "release web-1: ok (restored: unpause)" in r.stdout
    assert state_of(docker_client, "web-1")["Status"] == "running"
    store = SqliteStore(cfg.data_dir / "ironpost.db")
    rows = store.query_actions(limit=5)
    store.close()
    assert rows[0]["action"] == "release" and rows[0]["target"] == "web-1" and rows[0]["result"] == "ok"
    r = runner.invoke(container_cli.app, ["release", "ghost-1", "--config", str(cfg_path)])
    assert r.exit_code == 1 and "failed" in r.stdout


def test_help_has_examples():
    for app, cmds in ((policy_cli.app, ["validate", "test"]), (actions_cli.app, ["list"]), (container_cli.app, ["ls", "release"])):
        for cmd in cmds:
            r = runner.invoke(app, [cmd, "--help"])
            assert r.exit_code == 0 and "Example: ironpost cli" in r.stdout, (cmd, r.stdout)
