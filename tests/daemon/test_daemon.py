import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request

import pytest
from daemon_support import ROOT, DaemonProc, write_config

from ironpost.core.config import load_config
from ironpost.core.events import AlertEvent
from ironpost.daemon.app import Daemon
from ironpost.storage.sqlite import SqliteStore


def test_status_socket_permissions_and_http(daemon_proc):
    st = daemon_proc.request({"cmd": "status"})
    assert st["ok"] and st["pid"] == daemon_proc.proc.pid
    assert st["store"] == "sqlite"
    mode = stat.S_IMODE(os.stat(daemon_proc.sock).st_mode)
    assert mode == 0o600
    assert int(daemon_proc.pid_file.read_text()) == daemon_proc.proc.pid
    base = f"http://{st['http']}"
    with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
        assert r.status == 200 and b'"status":"ok"' in r.read()
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        body = r.read().decode()
    assert "# TYPE ironpost_up gauge" in body and "\nironpost_up 1\n" in body
    assert "ironpost_storage_written_total 0" in body
    bad = daemon_proc.request({"cmd": "frobnicate"})
    assert not bad["ok"] and "unknown command" in bad["error"]


def test_reload_applied_and_rejected(daemon_proc):
    write_config(daemon_proc.config, daemon_proc.data_dir, log_level="debug")
    resp = daemon_proc.request({"cmd": "reload"})
    assert resp == {"ok": True, "changed": ["general"], "reloaded": [], "restart_needed": []}
    daemon_proc.config.write_text('[general]\nlog_level = "shouty"\ndata_dir = "x"\n')
    resp = daemon_proc.request({"cmd": "reload"})
    assert not resp["ok"] and "running config is kept" in resp["error"]
    assert any("general.log_level" in p and "'shouty'" in p for p in resp["problems"])
    assert daemon_proc.request({"cmd": "status"})["ok"]  # still up, old config
    m = daemon_proc.request({"cmd": "metrics"})["metrics"]
    assert m['reloads_total{result="applied"}'] == 1 and m['reloads_total{result="rejected"}'] == 1


def test_sighup_reloads(daemon_proc):
    write_config(daemon_proc.config, daemon_proc.data_dir, log_level="warning")
    daemon_proc.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if daemon_proc.request({"cmd": "metrics"})["metrics"]['reloads_total{result="applied"}'] == 1:
            break
        time.sleep(0.05)
    assert daemon_proc.request({"cmd": "metrics"})["metrics"]['reloads_total{result="applied"}'] == 1


def test_sigterm_removes_pid_file_and_socket(daemon_proc):
    assert daemon_proc.stop() == 0
    assert not daemon_proc.pid_file.exists()
    assert not daemon_proc.sock.exists()
    assert "ironpost daemon stopped" in daemon_proc.log_text()


def test_second_daemon_refused_while_first_lives(daemon_proc):
    r = subprocess.run(
        [sys.executable, "-m", "ironpost", "daemon", "--config", str(daemon_proc.config)],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 1
    assert f"another ironpost daemon is running (pid {daemon_proc.proc.pid}" in r.stderr
    assert daemon_proc.request({"cmd": "status"})["ok"]


@pytest.mark.parametrize("holder", ["dead", "reused"])
def test_stale_pid_file_is_replaced(tmp_path, holder):
    data = tmp_path / "data"
    data.mkdir()
    if holder == "dead":
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        pid = dead.pid
    else:
        pid = os.getpid()  # a reused PID: alive, but no daemon holds the file's lock
    (data / "ironpost.pid").write_text(f"{pid}\n")
    d = DaemonProc(write_config(tmp_path / "c.toml", data), data)
    try:
        assert int((data / "ironpost.pid").read_text()) == d.proc.pid
        assert "replaced a stale PID file" in d.log_text()
    finally:
        assert d.stop() == 0
    assert not (data / "ironpost.pid").exists()


def test_invalid_config_exits_2_with_every_problem(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[general]\nlog_level = "x"\nbus_capacity = 1\n')
    r = subprocess.run([sys.executable, "-m", "ironpost", "daemon", "-c", str(cfg)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "2 problems" in r.stderr and "line 2: general.log_level" in r.stderr and "line 3: general.bus_capacity" in r.stderr


def test_graceful_shutdown_flushes_every_queued_alert(tmp_path):
    """In process, so the test can put 3000 alerts on the bus right before the stop."""
    data = tmp_path / "data"
    cfg = load_config(write_config(tmp_path / "c.toml", data), environ={})
    d = Daemon(str(tmp_path / "c.toml"), config=cfg)
    data.mkdir()

    async def go():
        task = asyncio.create_task(d.main())
        while not d.socket_path.exists():
            await asyncio.sleep(0.01)
        for i in range(3000):
            await d.bus.publish("alerts", AlertEvent(rule_id="r", title="t", severity="low", details={"i": i}))
        d.request_stop()
        return await task

    assert asyncio.run(go()) == 0
    rows = SqliteStore(data / "ironpost.db").query_alerts(limit=10000)
    assert len(rows) == 3000
    assert {r["details"]["i"] for r in rows} == set(range(3000))


RULE = "id: {id}\ntitle: t\nseverity: low\ndetection:\n  conditions:\n    - field: message\n      operator: contains\n      value: {value}\n"


def test_reload_reads_rules_again_and_keeps_old_ones_when_new_are_broken(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yaml").write_text(RULE.format(id="rule_a", value="AAA"))
    data = tmp_path / "data"
    cfg = write_config(tmp_path / "c.toml", data, log_pipeline=f'enabled = true\nrules_dir = "{rules}"')
    d = DaemonProc(cfg, data)
    try:
        def loaded():
            resp = d.request({"cmd": "module", "module": "log_pipeline", "op": "rules"})
            assert resp["ok"], resp
            return sorted(r["id"] for r in resp["rules"])

        deadline = time.monotonic() + 10
        while d.request({"cmd": "status"})["modules"].get("log_pipeline", {}).get("state") != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)
        assert loaded() == ["rule_a"]
        (rules / "b.yaml").write_text(RULE.format(id="rule_b", value="BBB"))
        resp = d.request({"cmd": "reload"})
        assert resp["ok"] and resp["changed"] == [] and resp["reloaded"] == ["log_pipeline"]
        assert loaded() == ["rule_a", "rule_b"]
        (rules / "c.yaml").write_text("id: rule_c\ntitle: t\nseverity: apocalyptic\ndetection:\n  conditions: []\n")
        resp = d.request({"cmd": "reload"})
        assert not resp["ok"] and "keep their previous state" in resp["error"]
        assert any("c.yaml" in p and "severity" in p for p in resp["problems"]), resp["problems"]
        assert loaded() == ["rule_a", "rule_b"]
    finally:
        assert d.stop() == 0


def test_taken_http_port_is_a_clear_error_before_anything_starts(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = write_config(tmp_path / "ironpost.toml", tmp_path / "data")
        cfg.write_text(cfg.read_text().replace('http_listen = "127.0.0.1:0"', f'http_listen = "127.0.0.1:{port}"'))
        proc = subprocess.run([sys.executable, "-m", "ironpost", "daemon", "--config", str(cfg)], capture_output=True,
                              text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for /healthz and /metrics ([general] http_listen)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "ironpost.sock").exists()
