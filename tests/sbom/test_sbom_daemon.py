"""`ironpost cli scan now` through a real daemon: the sbom module scans, new findings become alerts."""

import subprocess
import sys
import time

import orjson

from daemon_support import ROOT, DaemonProc, write_config

from ironpost.storage.sqlite import SqliteStore

FIXTURES = ROOT / "tests" / "fixtures" / "sbom"


def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "ironpost", "cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_scan_now_through_the_daemon_alerts_once_per_new_finding(tmp_path):
    data = tmp_path / "data"
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Cargo.lock").write_text(
        'version = 3\n\n[[package]]\nname = "svc"\nversion = "0.1.0"\ndependencies = ["smallvec"]\n\n'
        '[[package]]\nname = "smallvec"\nversion = "0.6.9"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n')
    cfg = write_config(tmp_path / "c.toml", data, extra=f"""
[sbom]
enabled = true
scan_dirs = ["{proj}"]
min_severity = "unknown"
scan_interval_secs = 3600
""")
    data.mkdir()
    r = run_cli("db", "import", str(FIXTURES / "osv"), "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    d = DaemonProc(cfg, data)
    try:
        first = run_cli("scan", "now", "--json", "--config", str(cfg))
        assert first.returncode == 0, first.stderr
        again = run_cli("scan", "now", "--json", "--config", str(cfg))
        s1, s2 = orjson.loads(first.stdout), orjson.loads(again.stdout)
        assert s1["findings"] >= 1 and s2["findings"] == s1["findings"]
        # the module scanned once at start: its findings were alerted then, never again
        assert s1["new"] == 0 and s2["new"] == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alerts = SqliteStore(data / "ironpost.db").query_alerts()
            if len(alerts) >= s1["findings"]:
                break
            time.sleep(0.1)
        assert len(alerts) == s1["findings"]
        assert all(a["source_module"] == "sbom" for a in alerts)
    finally:
        assert d.stop() == 0


def test_scan_now_without_sbom_module_fails_clearly(daemon_proc):
    r = run_cli("scan", "now", "--config", str(daemon_proc.config))
    assert r.returncode == 1
    assert "module 'sbom' is not running (not enabled in the config)" in r.stderr
