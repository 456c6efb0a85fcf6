"""End to end: `cli rules test --file` with the ssh brute-force rule on a 1M-line auth log
(OpenSSH-like, ~7000 source IPs), start-up included, against a plain-Python `re` script.

Usage: python bench/lp_e2e.py [--lines 1000000] [--ips 7000] [--runs 3] [--env as-is]
Prints lines/s (wall) and peak RSS of each child process, and the alert counts of both.

By default the children run as an installed program would: bytecode cached (in a temporary
PYTHONPYCACHEPREFIX, after one untimed warm-up run of each command) and stdout buffered, i.e.
without PYTHONDONTWRITEBYTECODE / PYTHONUNBUFFERED from this shell. Recompiling ~60 modules
from source costs ~40 ms per start. `--env as-is` keeps the caller's environment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import authlog  # bench/, beside this script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CLI = ("import sys\n"
       "try:\n"
       "    from ironpost.cli import main\n"
       "    sys.argv = ['ironpost', 'cli', 'rules', *sys.argv[1:]]\n"
       "    main()\n"
       "except ImportError:\n"
       "    from ironpost.cli.rules import app\n"
       "    app(sys.argv[1:])\n")


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, output lines) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    out = proc.stdout.read()
    _, _, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    return wall, ru.ru_maxrss, out.count(b"\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--ips", type=int, default=7000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--env", choices=("installed", "as-is"), default="installed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "auth.log"
        authlog.write_in_child(log, args.lines, args.ips, seed=11)
        ours = [sys.executable, "-c", CLI, "test", "--rule", str(ROOT / "rules" / "ssh_brute_force.yaml"),
                "--file", str(log), "--json", "--alerts-only", "--year", "2016", "--no-progress"]
        plain = [sys.executable, str(HERE / "lp_plain_re.py"), str(log), "2016"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.env == "installed":
            for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
                env.pop(k, None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        for name, cmd in (("ironpost rules test", ours), ("plain python re", plain)):
            if args.env == "installed":
                run(cmd, env)  # fills the bytecode cache
            res = [run(cmd, env) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in res)
            print(f"{name:20} {args.lines / wall:>12,.0f} lines/s  wall {wall:6.2f} s  "
                  f"peak RSS {max(r[1] for r in res) / 1024:6.1f} MiB  alerts {res[0][2]}")


if __name__ == "__main__":
    main()
