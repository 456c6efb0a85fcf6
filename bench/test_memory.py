"""Peak RSS of `cli rules test --rule rules/ --file` (every shipped rule) on the generated attack-heavy
auth log (bench/authlog.py, 7000 sources), at 1M and 3M lines.

Goal (issue 13): at most 100 MB, flat as the log grows. State is bounded by the sources active
within the longest window (threshold groups, sessions and distinct marks idle past their window
+ an hour are swept), not by the lines read. By hand, 10M lines with 70k sources: 86 MB
(`/usr/bin/time -f %M`, see docs/benchmarks.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import authlog  # bench/ (conftest puts it on the path)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LIMIT_MIB = 100
SOURCES = 7000


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("rss")
    big = d / "3m.log"
    authlog.write_in_child(big, 3_000_000, SOURCES, seed=11)
    small = d / "1m.log"
    with open(big, "rb") as src, open(small, "wb") as dst:
        for _, line in zip(range(1_000_000), src):
            dst.write(line)
    return {"1m": small, "3m": big}


# ru_maxrss survives exec: a child forked straight from this process (300 MB once the other
# benchmarks have run) would report that as its own peak. A small Python in between forks the
# measured command and reports the command's ru_maxrss (KiB) on stderr.
_MEASURE = ("import os, sys\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.execv(sys.argv[1], sys.argv[1:])\n"
            "_, status, ru = os.wait4(pid, 0)\n"
            "sys.stderr.write(f'maxrss={ru.ru_maxrss}\\n')\n"
            "sys.exit(os.waitstatus_to_exitcode(status))\n")


def _rules_test(log: Path) -> int:
    """Peak RSS in KiB of one `rules test` child; its alerts are checked to be there."""
    cmd = [sys.executable, "-m", "ironpost", "cli", "rules", "test", "--rule", str(ROOT / "rules"),
           "--file", str(log), "--alerts-only", "--year", "2016", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-c", _MEASURE, *cmd], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    alerts = sum(1 for line in proc.stdout if line.startswith(b"ALERT "))
    err = proc.stderr.read().decode(errors="replace")
    assert proc.wait() == 1 and alerts > 10_000, err[-2000:]  # 1: alerts fired
    return int(err.rsplit("maxrss=", 1)[1].split()[0])


RSS: dict[str, float] = {}


@pytest.mark.parametrize("size", ["1m", "3m"])
def test_rules_test_peak_rss(benchmark, logs, size):
    kib = benchmark.pedantic(_rules_test, (logs[size],), rounds=1, iterations=1)
    RSS[size] = kib / 1024
    benchmark.extra_info["peak_rss_mib"] = round(kib / 1024, 1)
    assert kib / 1024 <= LIMIT_MIB, f"{size} lines: peak RSS {kib / 1024:.0f} MiB > {LIMIT_MIB} MiB"
    if size == "3m" and "1m" in RSS:
        # flat: three times the lines from the same sources may not grow the state
        assert RSS["3m"] - RSS["1m"] <= 10, RSS
