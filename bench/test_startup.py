"""Start-up of short commands, as an installed program runs them (bytecode cached, see lp_e2e.py):

- test_startup_version: `ironpost --version`, answered before typer and the command groups load;
- test_startup_rules_test_one_line: `ironpost cli rules test --rule rules/ssh_brute_force.yaml` on a
  one-line file, which registers the rules group alone;
- test_startup_whole_app: the reference, importing the whole typer app with every group (what
  every command paid before).
Goals (issue 13): both commands under 0.15 s from the venv; bench/ratios.toml keeps them well
below the whole-app import measured in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ONE_LINE = "Dec  6 12:00:00 web sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2\n"


@pytest.fixture(scope="module")
def env():
    cache = tempfile.mkdtemp(prefix="ironpost-pyc-")
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    e["PYTHONPYCACHEPREFIX"] = cache
    return e


@pytest.fixture(scope="module")
def one_line(tmp_path_factory):
    p = tmp_path_factory.mktemp("startup") / "one.log"
    p.write_text(ONE_LINE)
    return p


def _run(cmd, env, expect_rc=0):
    r = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == expect_rc, r.stderr.decode()[-2000:]
    return r.stdout


def _bench(benchmark, cmd, env, expect_rc=0):
    _run(cmd, env, expect_rc)  # warm-up: writes the bytecode cache
    out = benchmark.pedantic(_run, (cmd, env, expect_rc), rounds=7, iterations=1)
    benchmark.extra_info["median_ms"] = round(benchmark.stats.stats.median * 1000, 1)
    return out


def test_startup_version(benchmark, env):
    out = _bench(benchmark, [sys.executable, "-m", "ironpost", "--version"], env)
    assert out.startswith(b"ironpost ")


def test_startup_rules_test_one_line(benchmark, env, one_line):
    # one match, no alert (five are needed): exit code 0
    out = _bench(benchmark, [sys.executable, "-m", "ironpost", "cli", "rules", "test", "--rule",
                             "rules/ssh_brute_force.yaml", "--file", str(one_line), "--json"], env)
    assert b'"type":"match","rule_id":"ssh_brute_force"' in out


def test_startup_whole_app(benchmark, env):
    _bench(benchmark, [sys.executable, "-c", "from ironpost.cli import root; root.build()"], env)
