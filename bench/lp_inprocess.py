"""Every shipped rule, in process, on a generated attack-heavy auth log: lines/s and RSS.

Usage: python bench/lp_inprocess.py [--lines 1000000] [--ips 7000] [--runs 3]
The log (bench/authlog.py, seed 11) is generated first, untimed; each run builds a fresh Pipeline
(untimed) and feeds it 1 MiB chunks of whole lines, as the file tail does. Prints the best and
median run, the alerts (the same every run) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import authlog  # noqa: E402
from ironpost.core.extensions import compiled  # noqa: E402
from ironpost.log_pipeline.pipeline import Pipeline  # noqa: E402
from ironpost.log_pipeline.rules.loader import load_rules_strict  # noqa: E402

CHUNK = 1 << 20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--ips", type=int, default=7000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    mt = compiled("matcher")
    if mt is None:
        print("ironpost._ext.matcher is not built (make build)", file=sys.stderr)
        return 2
    rules = load_rules_strict(HERE.parent / "rules")
    data = authlog.generate(args.lines, args.ips, seed=11)
    times, alerts = [], set()
    for _ in range(args.runs):
        pipe = Pipeline(rules, year=2016, matcher_impl=mt, clock=lambda: 1481353000.0, replay=True)
        t0 = time.perf_counter()
        i = 0
        while i < len(data):
            j = data.rfind(b"\n", i, i + CHUNK) + 1 or len(data)
            pipe.process(data[i:j], "bench")
            i = j
        times.append(time.perf_counter() - t0)
        alerts.add(sum(pipe.alerts.values()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{len(rules)} rules, {args.lines} lines: best {args.lines / min(times) / 1e6:.3f}M lines/s, "
          f"median {args.lines / statistics.median(times) / 1e6:.3f}M lines/s; alerts {sorted(alerts)}; "
          f"peak RSS {rss} MiB (log held in memory: {len(data) >> 20} MiB)")
    return 0 if len(alerts) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
