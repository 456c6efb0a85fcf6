"""Coverage-guided fuzzing (atheris, libFuzzer) of every target in atheris_targets.py, each in its
own process: 0 crashes, 0 hangs (libFuzzer -timeout), 0 differences between an extension and its
twin. CI runs IRONPOST_ATHERIS_RUNS (default 3,000) inputs per target; the nightly size,
IRONPOST_RELIABILITY_LONG=1, splits 1,000,000 inputs over the targets. A finding leaves its input
in the test's temp dir (crash-*, timeout-*), quoted in the failure.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import support
from reliability_support import LONG, ROOT, record

HERE = Path(__file__).resolve().parent
TARGETS = ["logparse", "framing", "pktdecode", "pipeline", "syslog_tcp", "rules", "sigma", "policies", "lockfiles"]
RUNS = int(os.environ.get("IRONPOST_ATHERIS_RUNS") or (math.ceil(1_000_000 / len(TARGETS)) if LONG else 3000))
HANG_SECS = 10


@pytest.mark.parametrize("target", TARGETS)
def test_atheris(target, tmp_path):
    try:
        import atheris  # noqa: F401
    except ImportError:
        support.need(False, "atheris is not installed (pip install -e '.[dev]' on x86_64 or aarch64)")
    corpus = tmp_path / "corpus"
    cmd = [sys.executable, str(HERE / "atheris_targets.py"), target, f"-runs={RUNS}", f"-timeout={HANG_SECS}",
           "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/", "-print_final_stats=1", str(corpus)]
    # bounded in time as in count: a CI-size run takes seconds, the nightly one minutes per target
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=7200 if LONG else 600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = r.stdout.decode(errors="replace")
    findings = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    assert r.returncode == 0 and not findings, f"{target}: {findings}\n{out[-4000:]}"
    m = re.search(r"Done (\d+) runs in (\d+) second", out)
    assert m and int(m.group(1)) >= RUNS, out[-2000:]
    execs, secs = int(m.group(1)), int(m.group(2))
    record("atheris", target=target, inputs=execs, seconds=secs, corpus=len(list(corpus.iterdir())),
           coverage=int(cov[-1]) if (cov := re.findall(r"cov: (\d+)", out)) else None)
