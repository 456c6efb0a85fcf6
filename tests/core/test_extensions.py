"""A broken build is loud: an extension that does not import is logged, shown by `cli status`
and /metrics, and fails `python -m ironpost.core.extensions` (a step of .ci/run)."""

import logging
import os
import subprocess
import sys
import urllib.request

import support
from daemon_support import ROOT, DaemonProc, write_config
from ironpost.core import extensions


def test_every_ext_source_has_an_entry_and_a_twin():
    assert set(extensions.EXTENSIONS) == {p.stem for p in (ROOT / "ext").glob("*.pyx")}
    for name, twin in extensions.EXTENSIONS.items():
        assert extensions.select(name, twin).__name__ in (f"ironpost._ext.{name}", twin)
        __import__(twin)


def test_every_extension_is_built():
    """Under IRONPOST_NO_SKIP=1 (CI) a missing extension fails here, whatever IRONPOST_NO_EXTENSIONS says."""
    r = subprocess.run([sys.executable, "-m", "ironpost.core.extensions"], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "IRONPOST_NO_EXTENSIONS": "1"})
    support.need(r.returncode == 0, f"extensions not built (make build): {r.stderr.strip()}")
    assert "4 extensions import" in r.stdout


def test_a_failed_import_is_an_error_not_a_silent_fallback(monkeypatch, caplog):
    monkeypatch.delenv("IRONPOST_NO_EXTENSIONS", raising=False)
    monkeypatch.setitem(sys.modules, "ironpost._ext.framing", None)  # importing it now raises ImportError
    monkeypatch.setattr(extensions, "_missing", {})
    with caplog.at_level(logging.ERROR, logger="ironpost.core"):
        mod = extensions.select("framing", "ironpost.core.framing_py")
    assert mod.__name__ == "ironpost.core.framing_py"
    assert any(r.levelno == logging.ERROR and "framing" in r.getMessage() and "twin" in r.getMessage() for r in caplog.records)
    rep = extensions.report()
    assert rep["mode"] == "degraded" and set(rep["missing"]) >= {"framing"}
    assert extensions.metrics()['extensions_missing{name="framing"}'] == 1.0
    # the CI step fails on it
    assert extensions.main() == 1


def test_twins_chosen_on_purpose_are_not_an_error(monkeypatch, caplog):
    monkeypatch.setenv("IRONPOST_NO_EXTENSIONS", "1")
    monkeypatch.setattr(extensions, "_missing", {})
    with caplog.at_level(logging.ERROR, logger="ironpost.core"):
        assert extensions.select("framing", "ironpost.core.framing_py").__name__ == "ironpost.core.framing_py"
    assert not caplog.records
    assert extensions.report() == {"mode": "twins", "missing": {}}
    assert set(extensions.metrics().values()) == {0.0}


def test_daemon_with_a_broken_extension_says_so(tmp_path):
    data = tmp_path / "data"
    cfg = write_config(tmp_path / "ironpost.toml", data)
    d = DaemonProc(cfg, data, before="import sys; sys.modules['ironpost._ext.framing'] = None")
    try:
        st = d.request({"cmd": "status"})
        assert st["extensions"]["mode"] == "degraded" and "framing" in st["extensions"]["missing"]
        with urllib.request.urlopen(f"http://{st['http']}/metrics", timeout=5) as r:
            body = r.read().decode()
        assert 'ironpost_extensions_missing{name="framing"} 1' in body
        out = subprocess.run([sys.executable, "-m", "ironpost", "cli", "status", "--config", str(cfg)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "extensions MISSING" in out.stdout and "framing" in out.stdout
    finally:
        d.stop()
    logged = [line for line in d.log_text().splitlines() if '"level":"error"' in line and "extensions missing" in line]
    assert len(logged) == 1 and '"missing":{"framing":' in logged[0]
